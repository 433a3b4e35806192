"""A tiny PyTorch task built on the app kit, importable by path for executor tests.

``"uqhpo.testing.torch_tasks:tiny"`` trains a small MLP (Linear -> BatchNorm -> ReLU ->
Dropout -> Linear) on a synthetic regression table with :func:`uqhpo.torch.fit`: batches
drawn with a registered ``torch.Generator``, dropout from torch's global RNG, so a
resumed run must restore both to match an uninterrupted one. Seconds per training on
one CPU core. Config keys besides the space (all optional):

- ``interrupt_after`` (int): on attempt 0, stop the worker right after the checkpoint
  of that epoch is written (at the start of the next epoch);
- ``interrupt`` ("kill" or "raise"): SIGKILL the process (refused in a main process,
  so a serial run cannot kill the test session) or raise ``RuntimeError``.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from typing import Any

import numpy as np

from ..data_task import DataTask
from ..space import Fixed, Integer, Real, Space
from ..task import TrialContext


class TinyTorchTask(DataTask):
    """MLP regression on ``y = sin(x0) + x1 * x2 + noise``; loss = best validation MSE."""

    data_defaults = {"n_rows": 384, "n_features": 4, "noise": 0.1, "seed": 0}
    data_path_key = None

    def validate_data(self, data: dict) -> dict:
        data = super().validate_data(data)
        for key in ("n_rows", "n_features"):
            if key in data and (not isinstance(data[key], int) or data[key] < 4):
                raise ValueError(f"data.{key} must be an integer >= 4, got {data[key]!r}")
        return data

    def load(self, settings: dict) -> dict[str, np.ndarray]:
        """Synthetic table split 2:1 into train/val: ``x_*`` ``(n, d)``, ``y_*`` ``(n, 1)``."""
        rng = np.random.default_rng(settings["seed"])
        x = rng.standard_normal((settings["n_rows"], settings["n_features"])).astype(np.float32)
        y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2] + settings["noise"] * rng.standard_normal(len(x))
        n_train = 2 * len(x) // 3
        y = y.astype(np.float32)[:, None]
        return {"x_train": x[:n_train], "y_train": y[:n_train], "x_val": x[n_train:], "y_val": y[n_train:]}

    def search_space(self) -> Space:
        return Space({"lr": Real(1e-3, 3e-2, log=True), "width": Integer(8, 32), "dropout": Fixed(0.1),
                      "batch_size": Fixed(32), "epochs": Fixed(6)})

    def run(self, config: dict, ctx: TrialContext) -> dict[str, Any]:
        import torch  # noqa: PLC0415 - torch only when training
        from torch import nn  # noqa: PLC0415

        from ..torch import fit, mc_predict, seed_everything  # noqa: PLC0415

        d = self.dataset()
        seed_everything(ctx.seed)
        width = int(config["width"])
        model = nn.Sequential(nn.Linear(d["x_train"].shape[1], width), nn.BatchNorm1d(width), nn.ReLU(),
                              nn.Dropout(float(config.get("dropout", 0.1))), nn.Linear(width, 1)).to(ctx.device)
        opt = torch.optim.Adam(model.parameters(), lr=float(config["lr"]))
        order = torch.Generator().manual_seed(int(ctx.seed) + 1)
        x, y = torch.as_tensor(d["x_train"], device=ctx.device), torch.as_tensor(d["y_train"], device=ctx.device)
        x_val, y_val = torch.as_tensor(d["x_val"], device=ctx.device), torch.as_tensor(d["y_val"], device=ctx.device)
        batch = int(config.get("batch_size", 32))

        def train_epoch(epoch: int) -> dict:
            _maybe_interrupt(config, ctx, epoch)
            total, steps = 0.0, 0
            for idx in torch.randperm(len(x), generator=order).split(batch):
                if len(idx) < 2:       # BatchNorm needs two rows
                    continue
                loss = nn.functional.mse_loss(model(x[idx.to(ctx.device)]), y[idx.to(ctx.device)])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, steps = total + float(loss.detach()), steps + 1
            return {"train_mse": total / max(steps, 1)}

        def evaluate(epoch: int) -> float:
            with torch.no_grad():
                return float(nn.functional.mse_loss(model(x_val), y_val))

        result = fit(ctx, models=model, optimizers=opt, train_epoch=train_epoch, evaluate=evaluate,
                     epochs=int(config.get("epochs", 6)), metric="val_mse", generators={"order": order})
        out: dict[str, Any] = {"loss": result.best_score, "best_epoch": result.best_epoch,
                               "resumed_from": -1 if result.resumed_from is None else result.resumed_from}
        if ctx.mc_dropout:
            preds = mc_predict(model, lambda m: m(x_val), passes=ctx.mc_dropout)   # (passes, n_val, 1)
            out["mc_std"] = float(preds.std(axis=0).mean())
        return out


def _maybe_interrupt(config: dict, ctx: TrialContext, epoch: int) -> None:
    """Stop attempt 0 at the start of epoch ``interrupt_after + 1`` (its checkpoint is on disk)."""
    after = config.get("interrupt_after")
    if after is None or ctx.attempt != 0 or epoch != int(after) + 1:
        return
    if config.get("interrupt", "kill") == "raise":
        raise RuntimeError(f"interrupted at the start of epoch {epoch} (attempt 0)")
    if multiprocessing.parent_process() is None:
        raise RuntimeError("interrupt='kill' refuses to kill a main process; use the local executor")
    os.kill(os.getpid(), signal.SIGKILL)


tiny = TinyTorchTask()
