"""The template task: an MLP on one table, regression or classification.

The config's ``data:`` section (all keys optional; defaults in :data:`DATA_DEFAULTS`):

- ``path``: ``.csv`` (header row), ``.h5``/``.hdf5`` or ``.npz`` file; a relative default
  is read from the current folder;
- ``target``: the target column / dataset key (default: the last one);
- ``features``: list of feature columns / keys (default: every other column);
- ``kind``: ``regression`` or ``classification``;
- ``val_fraction``, ``test_fraction``: the held-out shares (validation: what the search
  selects on; test: seen by nothing but the final score);
- ``max_rows``: use a random subset of this many rows (quick runs on big files);
- ``split_seed``: the fixed shuffle behind the split and the subset (part of the data,
  not of a training).

The data reaches every worker with its job (``configure``); without it the defaults
apply. torch is imported only inside :meth:`TemplateTask.run`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from uqhpo.data_task import DataTask
from uqhpo.space import Integer, Real, Space
from uqhpo.task import TrialContext

DATA_DEFAULTS: dict[str, Any] = {
    "path": "datasets/template/regression.h5",
    "target": None,
    "features": None,
    "kind": "regression",
    "val_fraction": 0.2,
    "test_fraction": 0.2,
    "max_rows": None,
    "split_seed": 0,
}
SPLITS = ("train", "val", "test")
MIN_TRAIN_ROWS = 16


@dataclass
class Prepared:
    """One table split into train/validation/test, scaled with training statistics.

    Attributes:
        X: split -> ``(n_split, d)`` float32 standardised features.
        y: split -> ``(n_split,)`` float32 standardised target (regression) or int64
            class index (classification).
        y_raw: split -> ``(n_split,)`` target in its own units (regression) / class index.
        kind: "regression" or "classification".
        y_mean, y_std: training target mean and std (regression; 0 and 1 otherwise).
        classes: class labels (classification).
        class_freq: ``(n_classes,)`` training class frequencies (add-one smoothed).
        path: the data file.
    """

    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    y_raw: dict[str, np.ndarray]
    kind: str
    y_mean: float
    y_std: float
    classes: list
    class_freq: np.ndarray
    path: Path

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.kind == "classification" else 1


class TemplateTask(DataTask):
    """An MLP on a table; loss = best-epoch validation MSE (target units) or cross-entropy."""

    data_defaults = DATA_DEFAULTS

    # -- data ---------------------------------------------------------------------------------
    def validate_data(self, data: dict) -> dict:
        data = super().validate_data(data)
        from .data import KINDS  # noqa: PLC0415 - keeps `python -m ...template.data` warning-free

        if data.get("kind", "regression") not in KINDS:
            raise ValueError(f"data.kind must be one of {', '.join(KINDS)}, got {data['kind']!r}")
        for key in ("val_fraction", "test_fraction"):
            v = data.get(key, DATA_DEFAULTS[key])
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
                raise ValueError(f"data.{key} must be a number in (0, 1), got {v!r}")
        if data.get("val_fraction", DATA_DEFAULTS["val_fraction"]) + data.get(
                "test_fraction", DATA_DEFAULTS["test_fraction"]) >= 0.9:
            raise ValueError("data.val_fraction + data.test_fraction must leave at least 10 % for training")
        for key, low in (("max_rows", 2 * MIN_TRAIN_ROWS), ("split_seed", 0)):
            v = data.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
                raise ValueError(f"data.{key} must be an integer >= {low}, got {v!r}")
        if data.get("target") is not None and not isinstance(data["target"], str):
            raise ValueError(f"data.target must be a column name (a string), got {data['target']!r}")
        feats = data.get("features")
        if feats is not None and (not isinstance(feats, list) or not all(isinstance(f, str) for f in feats)):
            raise ValueError(f"data.features must be a list of column names, got {feats!r}")
        return data

    def ensure_data(self, settings: dict) -> None:
        """The default file is generated, not shipped: say how when it is missing."""
        from .data import DEFAULT_PATH  # noqa: PLC0415

        path = Path(settings["path"])
        if path == DEFAULT_PATH and not path.exists():
            raise FileNotFoundError(f"data.path: data file '{path}' does not exist (generate it with: "
                                    f"python -m uqhpo.apps.template.data --out {path})")

    def load(self, settings: dict) -> Prepared:
        """Read the table, draw the split with ``split_seed`` and standardise on the training rows."""
        from .data import load_table  # noqa: PLC0415

        path = Path(settings["path"])
        table = load_table(path, target=settings["target"], features=settings["features"],
                           kind=settings["kind"], min_rows=2 * MIN_TRAIN_ROWS)
        order = np.random.default_rng(int(settings["split_seed"])).permutation(len(table.y))
        order = order[: settings["max_rows"]] if settings["max_rows"] else order
        n_val = max(1, round(len(order) * settings["val_fraction"]))
        n_test = max(1, round(len(order) * settings["test_fraction"]))
        rows = dict(zip(SPLITS, (order[n_val + n_test:], order[:n_val], order[n_val:n_val + n_test])))
        train_X = table.X[rows["train"]]
        x_mean, x_std = train_X.mean(axis=0), train_X.std(axis=0)
        x_std[x_std == 0] = 1.0                        # a constant column stays constant
        X = {s: ((table.X[r] - x_mean) / x_std).astype(np.float32) for s, r in rows.items()}
        y_raw = {s: table.y[r] for s, r in rows.items()}
        if settings["kind"] == "regression":
            y_mean, y_std = float(y_raw["train"].mean()), float(y_raw["train"].std()) or 1.0
            y = {s: ((v - y_mean) / y_std).astype(np.float32) for s, v in y_raw.items()}
            y_raw = {s: v.astype(np.float64) for s, v in y_raw.items()}
            freq = np.zeros(0)
        else:
            y_mean, y_std, y = 0.0, 1.0, y_raw
            freq = (np.bincount(y_raw["train"], minlength=len(table.classes)) + 1.0)
            freq /= freq.sum()
        return Prepared(X=X, y=y, y_raw=y_raw, kind=settings["kind"], y_mean=y_mean, y_std=y_std,
                        classes=table.classes, class_freq=freq, path=path)

    def check(self) -> None:
        """Fail early, with the file named, when the data is missing, malformed or too small."""
        d = self.dataset()
        if len(d.y["train"]) < MIN_TRAIN_ROWS:
            raise ValueError(f"data file '{d.path}': only {len(d.y['train'])} training rows, "
                             f"need at least {MIN_TRAIN_ROWS}")

    # -- search space and training ----------------------------------------------------------
    def search_space(self) -> Space:
        return Space({
            "layers": Integer(1, 4),
            "width": Integer(8, 256, log=True),
            "dropout": Real(0.0, 0.5),
            "lr": Real(1e-4, 1e-1, log=True),
            "batch_size": Integer(16, 256, log=True),
            "epochs": Integer(5, 60),
        })

    def run(self, config: dict, ctx: TrialContext) -> dict:
        """Train once with ``ctx.seed``; report the validation loss after every epoch.

        Returns:
            ``loss`` (validation MSE in target units, or cross-entropy), ``test_loss``,
            ``baseline_loss`` (training mean / class frequencies as the prediction),
            ``best_epoch``; classification adds ``accuracy`` and ``test_accuracy``; with
            Monte-Carlo dropout (``ctx.mc_dropout`` passes) the losses are those of the
            mean prediction and ``mc_pred_std`` and ``deterministic_loss`` are added.
        """
        from .model import predict, train  # noqa: PLC0415 - torch only when training

        d = self.dataset()
        if len(d.y["train"]) < int(config["batch_size"]):
            raise ValueError(f"data file '{d.path}': {len(d.y['train'])} training rows is fewer than "
                             f"batch_size={config['batch_size']}")
        model, best_epoch = train(d, config, ctx)
        out: dict[str, Any] = {}
        for split, prefix in (("val", ""), ("test", "test_")):
            passes = predict(model, d, split, ctx.mc_dropout, ctx.device)       # (m, n, outputs)
            out.update({prefix + k: v for k, v in scores(d, split, passes.mean(axis=0)).items()})
            if split == "val" and ctx.mc_dropout:
                out["deterministic_loss"] = scores(d, split, predict(model, d, split, 0, ctx.device)[0])["loss"]
                out["mc_pred_std"] = float(passes.std(axis=0).mean())
        out["baseline_loss"] = scores(d, "val", baseline(d, len(d.y["val"])))["loss"]
        out["best_epoch"] = best_epoch
        return out


def baseline(d: Prepared, n: int) -> np.ndarray:
    """The best prediction that learns nothing: ``(n, outputs)`` training mean / class frequencies."""
    if d.kind == "regression":
        return np.full((n, 1), d.y_mean)
    return np.tile(d.class_freq, (n, 1))


def scores(d: Prepared, split: str, pred: np.ndarray) -> dict[str, float]:
    """Loss (and accuracy) of ``pred`` ``(n, outputs)``: values in target units (regression)
    or class probabilities (classification)."""
    y = d.y_raw[split]
    if d.kind == "regression":
        return {"loss": float(np.mean((pred[:, 0] - y) ** 2))}
    p = np.clip(pred[np.arange(len(y)), y], 1e-12, None)
    return {"loss": float(-np.mean(np.log(p))), "accuracy": float(np.mean(pred.argmax(axis=1) == y))}


task = TemplateTask()
