"""The CT task: train a sinogram-inpainting U-Net, score it on the missing angles.

Data comes from ``configure(data)`` (the config's ``data:`` section, carried to every
worker with the job); keys it omits take the defaults below. Without ``path`` the file
is the generated one for the generation keys (``datasets/ct/sinograms.h5`` for the
defaults, ``datasets/ct/sinograms_<size>px_<angles>a_<hash>.h5`` otherwise), written on
first use (atomically: workers racing to write it are safe). A ``path`` given must exist;
the generation keys are then ignored.

``data`` keys: ``path``; generation: ``image_size``, ``n_angles``, ``n_train``,
``n_valid``, ``n_test``, ``kinds``, ``attenuation``, ``i0`` (a number or [low, high]),
``ring_std``, ``sampling`` (regular | random), ``k`` (keep every k-th angle / n_angles // k
random ones), ``seed``; evaluation: ``recon_backend`` (auto | skimage | tomopy | astra),
``recon_filter`` (ramp), ``recon_samples`` (valid/test samples reconstructed, null: all),
``eval_every`` (epochs), ``examples`` (test samples saved for the figure).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from uqhpo.data_task import DataTask
from uqhpo.space import Categorical, Integer, Real, Space
from uqhpo.task import TrialContext

DEFAULT_DIR = "datasets/ct"
GENERATION_KEYS = ("image_size", "n_angles", "n_train", "n_valid", "n_test", "kinds", "attenuation", "i0",
                   "ring_std", "sampling", "k", "seed")
DATA_DEFAULTS: dict[str, Any] = {
    "path": None, "image_size": 128, "n_angles": 180, "n_train": 2000, "n_valid": 300, "n_test": 300,
    "kinds": ["shepp_logan", "ellipses", "foam"], "attenuation": 1.0, "i0": [1.0e3, 1.0e4], "ring_std": 0.0,
    "sampling": "regular", "k": 4, "seed": 0,
    "recon_backend": "auto", "recon_filter": "ramp", "recon_samples": None, "eval_every": 1, "examples": 3,
}


def generation(settings: dict) -> Any:
    """The ``data.Generation`` of the settings (validated, one-line errors)."""
    from .data import Generation  # noqa: PLC0415

    i0 = settings["i0"]
    pair = [i0, i0] if isinstance(i0, (int, float)) and not isinstance(i0, bool) else i0
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"data.i0 must be a number or [low, high], got {i0!r}")
    low, high = pair
    return Generation(image_size=settings["image_size"], n_angles=settings["n_angles"], n_train=settings["n_train"],
                      n_valid=settings["n_valid"], n_test=settings["n_test"], kinds=tuple(settings["kinds"]),
                      attenuation=float(settings["attenuation"]), i0_low=float(low), i0_high=float(high),
                      ring_std=float(settings["ring_std"]), sampling=settings["sampling"], k=settings["k"],
                      seed=settings["seed"]).validate()


def default_path(settings: dict) -> Path:
    """The generated file for the generation keys of ``settings`` (relative to the current folder)."""
    gen = {k: settings[k] for k in GENERATION_KEYS}
    if gen == {k: DATA_DEFAULTS[k] for k in GENERATION_KEYS}:
        return Path(DEFAULT_DIR) / "sinograms.h5"
    digest = hashlib.sha256(json.dumps(gen, sort_keys=True).encode()).hexdigest()[:8]
    return Path(DEFAULT_DIR) / f"sinograms_{gen['image_size']}px_{gen['n_angles']}a_{digest}.h5"


class CTTask(DataTask):
    """U-Net sinogram inpainting for sparse-angle CT; loss = validation MSE on missing rows."""

    data_defaults = DATA_DEFAULTS
    generates_missing_data = True

    # -- data ---------------------------------------------------------------------------------
    def validate_data(self, data: dict) -> dict:
        """Known keys (base class), then every value checked with a one-line error."""
        from .recon import BACKENDS, FILTERS  # noqa: PLC0415

        data = super().validate_data(data)
        s = {**self.data_defaults, **data}
        generation(s)
        for key in ("eval_every", "examples", "recon_samples"):
            v = s[key]
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < (0 if key == "examples" else 1)):
                raise ValueError(f"data.{key} must be a positive integer, got {v!r}")
        if s["recon_backend"] not in BACKENDS:
            raise ValueError(f"data.recon_backend must be one of {', '.join(BACKENDS)}, got {s['recon_backend']!r}")
        if s["recon_filter"] not in FILTERS:
            raise ValueError(f"data.recon_filter must be one of {', '.join(FILTERS)}, got {s['recon_filter']!r}")
        return data

    def data_path(self, settings: dict) -> Path:
        return Path(settings["path"]) if settings["path"] is not None else default_path(settings)

    def data_files(self, settings: dict) -> list[Path]:
        return [self.data_path(settings)]

    def ensure_data(self, settings: dict) -> None:
        """Generate the file of the generation keys when no ``path`` is given and it is missing."""
        from . import data as cdata  # noqa: PLC0415

        if settings["path"] is None:
            cdata.ensure_file(self.data_path(settings), generation(settings))

    def load(self, settings: dict) -> Any:
        """The prepared splits (``prep.Prepared``), reference reconstructions included."""
        from . import data as cdata  # noqa: PLC0415
        from .prep import prepare  # noqa: PLC0415
        from .recon import resolve_backend  # noqa: PLC0415

        path = self.data_path(settings)
        return prepare(cdata.read_h5(path), str(path), backend=resolve_backend(settings["recon_backend"]),
                       filter_name=settings["recon_filter"], recon_samples=settings["recon_samples"])

    def check(self) -> None:
        """Fail early, naming the file, when the data is missing, malformed or too small."""
        d = self.dataset()
        n = len(d.splits["train"].full)
        if n < 4 or len(d.splits["valid"].full) < 1 or len(d.splits["test"].full) < 1:
            raise ValueError(f"data file '{d.path}': need at least 4 training and 1 valid/test sinogram, "
                             f"got {n} training")

    # -- search space and training ----------------------------------------------------------
    def search_space(self) -> Space:
        return Space({
            "depth": Integer(2, 5),
            "base_channels": Integer(8, 64, log=True),
            "kernel_size": Categorical([3, 5, 7], ordered=True),
            "dropout": Real(0.0, 0.5),
            "lr": Real(1e-4, 1e-2, log=True),
            "batch_size": Categorical([4, 8, 16, 32, 64], ordered=True),
            "epochs": Integer(5, 100),
            "residual": Categorical([True, False]),
        })

    def run(self, config: dict, ctx: TrialContext) -> dict:
        """Train once with ``ctx.seed``, reporting the validation MSE after every evaluation
        (a replicate killed mid-training resumes from ``ctx.checkpoint_path``).

        Returns:
            ``loss`` / ``test_loss``: MSE on the missing rows of the valid / test sinograms
            (line integrals², best epoch; with ``ctx.mc_dropout`` passes, of the MC mean);
            ``baseline_loss`` / ``baseline_test_loss``: the same for linear interpolation
            between measured angles; ``psnr_<r>``, ``ssim_<r>`` (valid) and ``test_psnr_<r>``,
            ``test_ssim_<r>`` for r in inpainted, sparse, interp, full; ``best_epoch``,
            ``loss_ratio`` (loss / baseline_loss), ``examples_path``; with MC dropout also
            ``deterministic_loss``, ``mc_sino_std``, ``mc_recon_std`` (mean per-pixel stds).
        """
        from . import uq  # noqa: PLC0415
        from .model import predict, sample_passes, tensors, train  # noqa: PLC0415 - torch only here
        from .prep import REFERENCES, image_scores, missing_mse  # noqa: PLC0415

        s, d = self.settings(), self.dataset()
        n_train = len(d.splits["train"].full)
        if int(config["batch_size"]) > n_train:
            raise ValueError(f"data file '{d.path}': {n_train} training sinograms is fewer than "
                             f"batch_size={config['batch_size']}")
        t = {name: tensors(split, d.scale, ctx.device) for name, split in d.splits.items()}
        model, result = train(config, t["train"], t["valid"], d.scale, ctx, eval_every=int(s["eval_every"]))
        passes = int(ctx.mc_dropout)
        out: dict[str, Any] = {"best_epoch": int(result.best_epoch)}
        for name, prefix in (("valid", ""), ("test", "test_")):
            split = d.splits[name]
            mean, std = predict(model, t[name], d.scale, passes=passes)
            out[prefix + "loss"] = missing_mse(mean, split.full, split.mask)
            out[f"baseline_{prefix}loss"] = missing_mse(split.interp, split.full, split.mask)
            scores = {**split.scores, "inpainted": image_scores(d.reconstruct(mean[split.scored]),
                                                                split.phantom[split.scored])}
            for ref in ("inpainted", *REFERENCES):
                out[f"{prefix}psnr_{ref}"], out[f"{prefix}ssim_{ref}"] = scores[ref]["psnr"], scores[ref]["ssim"]
            if passes and name == "valid":
                out["deterministic_loss"] = missing_mse(predict(model, t[name], d.scale)[0], split.full, split.mask)
                out["mc_sino_std"] = float(std[~split.mask].mean())
        out["loss_ratio"] = out["loss"] / out["baseline_loss"] if out["baseline_loss"] > 0 else float("nan")

        test = d.splits["test"]
        idx = test.scored[: int(s["examples"])]
        if len(idx):
            stats = uq.pass_statistics(sample_passes(model, t["test"], idx, d.scale, passes), d.reconstruct)
            if passes:
                out["mc_recon_std"] = float(stats["recon_std"].mean())
            arrays = {"phantom": test.phantom[idx], "recon_full": test.recon["full"][: len(idx)],
                      "recon_sparse": test.recon["sparse"][: len(idx)],
                      "recon_interp": test.recon["interp"][: len(idx)], "sino_full": test.full[idx],
                      "mask": test.mask[idx], **stats}
            path = Path(ctx.workdir) / f"replicate{ctx.replicate}_examples.npz"
            uq.save_examples(path, arrays, {"loss": out["loss"], "test_loss": out["test_loss"],
                                            "baseline_test_loss": out["baseline_test_loss"], "seed": ctx.seed,
                                            "mc_passes": passes})
            out["examples_path"] = str(path.resolve())
        return out


task = CTTask()
