"""The hadronization task: train a conditional GAN, score it by the Wasserstein distance.

Data comes from ``configure(data)`` (the config's ``data:`` section, carried to every
worker with the job); keys it omits take the defaults below. A missing file at the
default path is generated on first use (atomically, so two workers doing it at once are
safe).

``data`` keys: ``path`` (.h5/.hdf5, or the public text format), ``n_clusters``,
``seed``, ``smearing`` (used when generating a missing file; ``seed`` also fixes the
split), ``n_train``/``n_val``/``n_test`` (default 70/15/15 % of the file),
``frame`` ("quark" or "lab", see ``prep.py``), ``variation_smearing`` (null disables the
variation comparison), ``eval_every`` (epochs between evaluations), ``bins``
(histogram bins of the saved replicate histograms).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from uqhpo.data_task import DataTask
from uqhpo.space import Categorical, Integer, Real, Space
from uqhpo.task import TrialContext

DEFAULT_PATH = "datasets/hadronization/clusters.h5"
DATA_DEFAULTS: dict[str, Any] = {
    "path": DEFAULT_PATH, "n_clusters": 500_000, "seed": 0, "smearing": 0.78,
    "n_train": None, "n_val": None, "n_test": None, "frame": "quark",
    "variation_smearing": 0.3, "eval_every": 1, "bins": 40,
}
_INT_KEYS = ("n_clusters", "seed", "n_train", "n_val", "n_test", "eval_every", "bins")


class HadronizationTask(DataTask):
    """Conditional GAN for two-body cluster decays; loss = best-epoch W1 on validation."""

    data_defaults = DATA_DEFAULTS
    generates_missing_data = True

    # -- data ---------------------------------------------------------------------------------
    def validate_data(self, data: dict) -> dict:
        """Known keys (base class), positive integers, a known frame, positive smearings."""
        data = super().validate_data(data)
        for key in _INT_KEYS:
            v = data.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < (0 if key == "seed" else 1)):
                raise ValueError(f"data.{key} must be a positive integer, got {v!r}")
        if data.get("frame", "quark") not in ("quark", "lab"):
            raise ValueError(f"data.frame must be 'quark' or 'lab', got {data['frame']!r}")
        for key in ("smearing", "variation_smearing"):
            v = data.get(key)
            if v is not None and (not isinstance(v, (int, float)) or v <= 0):
                raise ValueError(f"data.{key} must be a positive number, got {v!r}")
        return data

    def ensure_data(self, settings: dict) -> None:
        """Generate the default file when it is missing (another path must exist)."""
        from . import data as hdata  # noqa: PLC0415

        path = Path(settings["path"])
        if not path.exists() and path.resolve() == Path(DEFAULT_PATH).resolve():
            hdata.ensure_file(path, n=settings["n_clusters"], seed=settings["seed"], smearing=settings["smearing"])

    def load(self, settings: dict) -> Any:
        """The prepared splits (``prep.Prepared``) of the file."""
        from . import data as hdata  # noqa: PLC0415
        from .prep import prepare  # noqa: PLC0415

        s = settings
        return prepare(hdata.load_clusters(s["path"]), n_train=s["n_train"], n_val=s["n_val"], n_test=s["n_test"],
                       seed=s["seed"], frame=s["frame"], variation_smearing=s["variation_smearing"])

    def check(self) -> None:
        """Fail early, naming the file, when the data is missing, malformed or too small."""
        n_train = len(self.dataset().cond["train"])
        if n_train < 128:
            raise ValueError(f"data file '{self.settings()['path']}': only {n_train} "
                             "training clusters, need at least 128 (the smallest batch)")

    # -- search space and training ----------------------------------------------------------
    def search_space(self) -> Space:
        return Space({
            "noise_dim": Integer(2, 32),
            "g_width": Integer(32, 512, log=True),
            "g_depth": Integer(1, 10),
            "d_width": Integer(32, 512, log=True),
            "d_depth": Integer(1, 10),
            "g_lr": Real(1e-6, 1e-3, log=True),
            "d_lr": Real(1e-5, 1e-3, log=True),
            "batch_size": Categorical([2 ** k for k in range(7, 14)], ordered=True),
            "r1_weight": Real(0.0, 10.0),
            "activation": Categorical(["leaky_relu", "relu", "elu", "gelu", "tanh"]),
            "g_norm": Categorical(["none", "batch", "layer"]),
            "d_norm": Categorical(["none", "layer", "spectral"]),
            "epochs": Integer(5, 100),
        })

    def run(self, config: dict, ctx: TrialContext) -> dict:
        """Train once with ``ctx.seed``; report the validation W1 after every evaluation (a
        replicate killed mid-training resumes from its checkpoint ``ctx.checkpoint_path``).

        Returns:
            ``{"loss": best-epoch validation W1 (radians, mean over phi*, theta*), ...}`` with
            ``w1_phi``, ``w1_theta``, ``sliced_w1``, ``baseline_w1`` (isotropic decay),
            ``test_w1``, ``baseline_test_w1``, ``best_epoch``, ``w1_variation`` /
            ``variation_gap`` (when enabled) and ``hist_path`` (this replicate's histograms).
        """
        from . import uq  # noqa: PLC0415
        from .model import sample, train_gan  # noqa: PLC0415 - torch only when training

        s = self.settings()
        d = self.dataset()
        n_train = len(d.cond["train"])
        if int(config["batch_size"]) > n_train:
            raise ValueError(f"data file '{s['path']}': {n_train} training clusters is fewer than "
                             f"batch_size={config['batch_size']}")
        eval_seed = int(ctx.seed) + 1_000_003   # same evaluation noise at every epoch

        def generated(gen, split: str) -> np.ndarray:
            z = sample(gen, d.cond[split], seed=eval_seed, device=ctx.device)
            return d.target_scaler.inverse(z.astype(np.float64))

        result = train_gan(config, d.cond["train"], d.target["train"], ctx=ctx, eval_every=int(s["eval_every"]),
                           evaluate=lambda gen, epoch: uq.w1(generated(gen, "val"), d.angles["val"]))
        val, test = generated(result.generator, "val"), generated(result.generator, "test")
        w1_val = uq.w1_per_angle(val, d.angles["val"])
        iso_val = uq.isotropic_angles(len(val), seed=s["seed"])
        iso_test = uq.isotropic_angles(len(test), seed=s["seed"] + 1)
        out: dict[str, Any] = {
            "loss": float(result.best_score), "w1_phi": float(w1_val[0]), "w1_theta": float(w1_val[1]),
            "sliced_w1": uq.sliced_w1(val, d.angles["val"], seed=s["seed"]),
            "baseline_w1": uq.w1(iso_val, d.angles["val"]),
            "test_w1": uq.w1(test, d.angles["test"]),
            "baseline_test_w1": uq.w1(iso_test, d.angles["test"]),
            "best_epoch": int(result.best_epoch), "initial_w1": float(result.history[0]["w1"]),
        }
        if "test" in d.variation:
            out["w1_variation"] = uq.w1(test, d.variation["test"])
            out["variation_gap"] = out["w1_variation"] - out["test_w1"]  # > 0: closer to nominal
        path = Path(ctx.workdir) / f"replicate{ctx.replicate}_hist.npz"
        uq.save_histograms(path, test, d.angles["test"], iso_test, bins=int(s["bins"]),
                           scores={k: out[k] for k in ("loss", "test_w1", "baseline_test_w1", "sliced_w1")}
                           | {"seed": ctx.seed})
        out["hist_path"] = str(path.resolve())
        return out


task = HadronizationTask()
