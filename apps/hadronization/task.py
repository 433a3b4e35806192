"""The hadronization task: train a conditional GAN, score it by the Wasserstein distance.

Where the data comes from, in order: ``configure(data)`` (the config's ``data``
section), the environment variable ``UQHPO_TASK_DATA`` (JSON, inherited by spawned
workers), the defaults below. A missing file at the default path is generated on first
use (atomically, so two workers doing it at once are safe).

``data`` keys: ``path`` (.h5/.hdf5, or the public text format), ``n_clusters``,
``seed``, ``smearing`` (used when generating a missing file; ``seed`` also fixes the
split), ``n_train``/``n_val``/``n_test`` (default 70/15/15 % of the file),
``frame`` ("quark" or "lab", see ``prep.py``), ``variation_smearing`` (null disables the
variation comparison), ``eval_every`` (epochs between evaluations), ``bins``
(histogram bins of the saved replicate histograms).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from uqhpo.config import task_data_from_env
from uqhpo.space import Categorical, Integer, Real, Space
from uqhpo.task import Task, TrialContext

DEFAULT_PATH = "datasets/hadronization/clusters.h5"
DATA_DEFAULTS: dict[str, Any] = {
    "path": DEFAULT_PATH, "n_clusters": 500_000, "seed": 0, "smearing": 0.78,
    "n_train": None, "n_val": None, "n_test": None, "frame": "quark",
    "variation_smearing": 0.3, "eval_every": 1, "bins": 40,
}
_INT_KEYS = ("n_clusters", "seed", "n_train", "n_val", "n_test", "eval_every", "bins")


class HadronizationTask(Task):
    """Conditional GAN for two-body cluster decays; loss = best-epoch W1 on validation."""

    def __init__(self) -> None:
        self._data: Optional[dict] = None
        self._cache: dict[tuple, Any] = {}

    # -- data ---------------------------------------------------------------------------------
    def configure(self, data: dict) -> None:
        """Take the config's ``data`` section (keys: see the module docstring)."""
        self._data = self._validated(dict(data))

    @staticmethod
    def _validated(data: dict) -> dict:
        unknown = sorted(set(data) - set(DATA_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown data key '{unknown[0]}' for the hadronization task; "
                             f"known: {', '.join(sorted(DATA_DEFAULTS))}")
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

    def settings(self) -> dict:
        """The data settings in effect (configured, else the environment, else defaults)."""
        given = self._data if self._data is not None else self._validated(task_data_from_env())
        return {**DATA_DEFAULTS, **given}

    def dataset(self):
        """The prepared splits (``prep.Prepared``), generated/loaded once per process."""
        from . import data as hdata  # noqa: PLC0415
        from .prep import prepare  # noqa: PLC0415

        s = self.settings()
        path = Path(s["path"])
        if not path.exists() and path.resolve() == Path(DEFAULT_PATH).resolve():
            hdata.ensure_file(path, n=s["n_clusters"], seed=s["seed"], smearing=s["smearing"])
        key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0,
               tuple(sorted((k, str(v)) for k, v in s.items())))
        if key not in self._cache:
            self._cache.clear()
            arrays = hdata.load_clusters(path)
            self._cache[key] = prepare(arrays, n_train=s["n_train"], n_val=s["n_val"], n_test=s["n_test"],
                                       seed=s["seed"], frame=s["frame"],
                                       variation_smearing=s["variation_smearing"])
        return self._cache[key]

    def check(self) -> None:
        """Fail early, naming the file, when the data is missing or malformed."""
        d = self.dataset()
        if len(d.cond["train"]) < 128:
            raise ValueError(f"data file '{self.settings()['path']}': only {len(d.cond['train'])} "
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
        """Train once with ``ctx.seed``; report the validation W1 after every evaluation.

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

        result = train_gan(config, d.cond["train"], d.target["train"], seed=ctx.seed, device=ctx.device,
                           evaluate=lambda gen, epoch: uq.w1(generated(gen, "val"), d.angles["val"]),
                           eval_every=int(s["eval_every"]), report=ctx.report)
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
            "best_epoch": int(result.best_epoch), "initial_w1": float(result.history[0]["score"]),
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
