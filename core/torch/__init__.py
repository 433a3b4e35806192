"""The PyTorch app kit: what every torch app would otherwise write by hand.

``import uqhpo`` never imports this package; a task imports it inside ``run``::

    from uqhpo.torch import fit, seed_everything

    def run(self, config, ctx):
        seed_everything(ctx.seed)
        model = build(config)
        opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
        result = fit(ctx, models=model, optimizers=opt, epochs=config["epochs"],
                     train_epoch=lambda epoch: {"train_loss": one_epoch(model, opt)},
                     evaluate=lambda epoch: validation_loss(model))
        return {"loss": result.best_score, "best_epoch": result.best_epoch}

Modules: ``seeding`` (seeds, determinism flags, random states), ``loop`` (:func:`fit`),
``checkpoint`` (atomic checkpoint files), ``mc_dropout`` (dropout-only MC prediction).
"""
from __future__ import annotations

try:
    import torch as _torch  # noqa: F401 - fail here with an install hint, not deep inside
except ImportError:  # pragma: no cover - depends on the installation
    raise ImportError("uqhpo.torch needs PyTorch: pip install 'uqhpo[torch]'") from None

from .checkpoint import load_checkpoint, save_checkpoint
from .loop import FitResult, fit
from .mc_dropout import DROPOUT_TYPES, mc_dropout, mc_predict
from .seeding import capture_rng_state, restore_rng_state, seed_everything

__all__ = ["seed_everything", "fit", "FitResult", "mc_dropout", "mc_predict", "DROPOUT_TYPES",
           "save_checkpoint", "load_checkpoint", "capture_rng_state", "restore_rng_state"]
