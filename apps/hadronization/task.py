"""The hadronization task: train a conditional GAN, score it by a loss that needs the conditions.

Data comes from ``configure(data)`` (the config's ``data:`` section, carried to every
worker with the job); keys it omits take the defaults below. A missing file at the
default path (or one written by an older generator version) is generated on first use
(atomically, so two workers doing it at once are safe).

``data`` keys: ``path`` (.h5/.hdf5, or a public text format), ``n_clusters``, ``seed``,
``smearing`` (used when generating the default file; ``seed`` also fixes the split),
``n_train``/``n_val``/``n_test`` (default 70/15/15 % of the usable clusters), ``frame``
("quark", "helicity" or "lab", see ``prep.py``), ``mass_bins``/``momentum_bins`` (the
loss's kinematic bins per perturbative class), ``c2st`` (run the classifier two-sample
test), ``variation_smearing`` (null disables the variation comparison), ``eval_every``
(epochs between evaluations), ``bins`` (histogram bins of the saved replicate histograms).
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
    "n_train": None, "n_val": None, "n_test": None, "frame": "quark", "mass_bins": 2, "momentum_bins": 2,
    "c2st": True, "variation_smearing": 0.3, "eval_every": 1, "bins": 40,
}
_INT_KEYS = ("n_clusters", "seed", "n_train", "n_val", "n_test", "eval_every", "bins", "mass_bins", "momentum_bins")
FRAMES = ("quark", "helicity", "lab")


class HadronizationTask(DataTask):
    """Conditional GAN for two-body cluster decays; loss = stratified W1 of theta* on validation."""

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
        if data.get("frame", "quark") not in FRAMES:
            raise ValueError(f"data.frame must be one of {', '.join(repr(f) for f in FRAMES)}, got {data['frame']!r}")
        if not isinstance(data.get("c2st", True), bool):
            raise ValueError(f"data.c2st must be true or false, got {data['c2st']!r}")
        for key in ("smearing", "variation_smearing"):
            v = data.get(key)
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0):
                raise ValueError(f"data.{key} must be a positive number, got {v!r}")
        return data

    def ensure_data(self, settings: dict) -> None:
        """Generate the default file when it is missing or of an older generator version."""
        from . import data as hdata  # noqa: PLC0415

        path = Path(settings["path"])
        if path.resolve() != Path(DEFAULT_PATH).resolve():
            return
        attrs = hdata.file_attrs(path) if path.is_file() else {}
        # only a file this generator wrote is replaced; a user's own file is never touched
        stale = attrs.get("generator") == hdata.GENERATOR_NAME and not hdata.is_synthetic(attrs)
        if stale:
            hdata.generate_file(path, n=settings["n_clusters"], seed=settings["seed"], smearing=settings["smearing"])
        else:
            hdata.ensure_file(path, n=settings["n_clusters"], seed=settings["seed"], smearing=settings["smearing"])

    def load(self, settings: dict) -> Any:
        """The prepared splits (``prep.Prepared``) of the file."""
        from . import data as hdata  # noqa: PLC0415
        from . import scores  # noqa: PLC0415
        from .prep import prepare  # noqa: PLC0415

        s = settings
        attrs = hdata.file_attrs(s["path"])
        synthetic = hdata.is_synthetic(attrs)
        return prepare(hdata.load_clusters(s["path"]), n_train=s["n_train"], n_val=s["n_val"], n_test=s["n_test"],
                       seed=s["seed"], frame=s["frame"], mass_bins=s["mass_bins"], momentum_bins=s["momentum_bins"],
                       variation_smearing=s["variation_smearing"] if synthetic else None,
                       redecay_smearing=float(attrs["smearing"]) if synthetic else None,
                       floor_draws=scores.FLOOR_DRAWS)

    def references(self, d: Any) -> dict:
        """The dataset's reference scores (``scores.references``), computed once per process."""
        from . import scores  # noqa: PLC0415

        if not d.references:
            s = self.settings()
            d.references.update(scores.references(d, seed=int(s["seed"]), c2st=bool(s["c2st"])))
        return d.references

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
        """Train once with ``ctx.seed``; report the validation loss after every evaluation (a
        replicate killed mid-training resumes from its checkpoint ``ctx.checkpoint_path``).

        Returns:
            ``{"loss": validation loss at the best epoch, "test_loss": the same generator on the
            test split, ...}`` with the reference points (``baseline_loss``, ``floor_loss``,
            their ``_test_`` versions, ``blind_*``, ``isotropic_*``, ``lookup_*``), ``c2st_auc``
            (test split), ``w1_theta_<class>``, ``w1_phi``, ``best_epoch``, ``variation_loss`` /
            ``variation_gap`` (generated files) and ``hist_path`` (this replicate's histograms).
        """
        from . import scores, uq  # noqa: PLC0415
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
                           evaluate=lambda gen, epoch: scores.loss_on(d, generated(gen, "val"), "val"))
        test = generated(result.generator, "test")
        out: dict[str, Any] = {
            "loss": float(result.best_score), "test_loss": scores.loss_on(d, test, "test"),
            **self.references(d),
            "w1_phi": scores.w1_1d(test[:, 0], d.angles["test"][:, 0]),
            **scores.per_class_w1(test, d.angles["test"], d.classes["test"]),
            "best_epoch": int(result.best_epoch), "initial_loss": float(result.history[0]["val_loss"]),
        }
        if s["c2st"]:
            out["c2st_auc"] = scores.c2st_auc(d.angles["test"], test, d.cond["test"], seed=int(s["seed"]))
        if "test" in d.variation:
            out["variation_loss"] = scores.stratified_w1(test, d.variation["test"], d.strata["test"],
                                                         d.strata_fit.weights)
            out["variation_gap"] = out["variation_loss"] - out["test_loss"]  # > 0: closer to nominal
        path = Path(ctx.workdir) / f"replicate{ctx.replicate}_hist.npz"
        blind = scores.blind_angles(d, len(test), int(s["seed"]))
        keep = ("loss", "test_loss", "baseline_test_loss", "floor_test_loss", "c2st_auc")
        uq.save_histograms(path, test, d.angles["test"], blind, d.classes["test"], bins=int(s["bins"]),
                           scores={k: out[k] for k in keep if k in out} | {"seed": ctx.seed})
        out["hist_path"] = str(path.resolve())
        return out


task = HadronizationTask()
