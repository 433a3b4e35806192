"""The template task: train an MLP regressor on a table, return the validation MSE.

Where the data comes from, in order:

1. ``configure(data)``: the config's ``data`` section (the CLI calls it in the driver);
2. the environment variable ``UQHPO_TASK_DATA`` (JSON), which the CLI sets before the
   executor spawns workers, so a worker that imports ``uqhpo.apps.template:task`` by
   path sees the same data;
3. the default file ``datasets/template/regression.h5``.

``data`` keys: ``path`` (.h5/.hdf5/.csv), ``val_fraction`` (default 0.2), ``max_rows``
(use only the first rows; handy for quick runs), ``split_seed`` (the fixed
train/validation split, default 0; it is part of the data, not of a training).
torch is imported only inside :meth:`TemplateTask.run`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from uqhpo.config import task_data_from_env
from uqhpo.space import Integer, Real, Space
from uqhpo.task import Task, TrialContext

_DATA_KEYS = {"path", "val_fraction", "max_rows", "split_seed"}


class TemplateTask(Task):
    """MLP regression on a tabular data set; loss = best-epoch validation MSE (target units)."""

    def __init__(self) -> None:
        self._data: Optional[dict] = None
        self._cache: dict[tuple, dict] = {}

    # -- data ---------------------------------------------------------------------------------
    def configure(self, data: dict) -> None:
        """Take the config's ``data`` section (see the module docstring for its keys)."""
        unknown = sorted(set(data) - _DATA_KEYS)
        if unknown:
            raise ValueError(f"unknown data key '{unknown[0]}' for the template task; "
                             f"known: {', '.join(sorted(_DATA_KEYS))}")
        frac = data.get("val_fraction", 0.2)
        if not isinstance(frac, (int, float)) or not 0 < frac < 1:
            raise ValueError(f"data.val_fraction must be a number in (0, 1), got {frac!r}")
        rows = data.get("max_rows")
        if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool) or rows < 4):
            raise ValueError(f"data.max_rows must be an integer >= 4, got {rows!r}")
        self._data = dict(data)

    def settings(self) -> dict:
        """The data settings in effect (configured, else from the environment)."""
        return dict(self._data) if self._data is not None else task_data_from_env()

    @property
    def data_path(self) -> Path:
        from .data import DEFAULT_PATH  # noqa: PLC0415 - keeps `python -m ...template.data` clean

        return Path(self.settings().get("path", DEFAULT_PATH))

    def dataset(self) -> dict[str, Any]:
        """Split and standardised arrays, cached per process.

        Returns:
            dict with ``X_train`` ``(n_train, d)``, ``y_train`` ``(n_train,)``, ``X_val``,
            ``y_val`` (standardised), ``y_val_raw`` ``(n_val,)`` in target units, the
            training target's ``y_mean`` and ``y_std``, and the file ``path``.
        """
        s = self.settings()
        path = self.data_path
        key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0,
               s.get("val_fraction", 0.2), s.get("max_rows"), s.get("split_seed", 0))
        if key not in self._cache:
            self._cache.clear()
            self._cache[key] = self._prepare(path, s)
        return self._cache[key]

    @staticmethod
    def _prepare(path: Path, s: dict) -> dict[str, Any]:
        from .data import load_table  # noqa: PLC0415

        X, y = load_table(path, min_rows=4)
        if s.get("max_rows"):
            X, y = X[: s["max_rows"]], y[: s["max_rows"]]
        order = np.random.default_rng(int(s.get("split_seed", 0))).permutation(len(y))
        n_val = max(1, int(round(len(y) * float(s.get("val_fraction", 0.2)))))
        val, train = order[:n_val], order[n_val:]
        x_mean, x_std = X[train].mean(axis=0), X[train].std(axis=0) + 1e-8
        y_mean, y_std = float(y[train].mean()), float(y[train].std() + 1e-8)
        return {"X_train": (X[train] - x_mean) / x_std, "y_train": (y[train] - y_mean) / y_std,
                "X_val": (X[val] - x_mean) / x_std, "y_val": (y[val] - y_mean) / y_std,
                "y_val_raw": y[val].astype(np.float64), "y_mean": y_mean, "y_std": y_std,
                "path": str(path)}

    def check(self) -> None:
        """Fail early, with the file named, when the data is missing or malformed."""
        d = self.dataset()
        if len(d["y_train"]) < 16:
            raise ValueError(f"data file '{d['path']}': only {len(d['y_train'])} training rows, need at least 16")

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
        """Train once with ``ctx.seed``; report validation MSE per epoch.

        Returns:
            ``{"loss": validation MSE, "baseline_mse": ..., "best_epoch": ...}`` plus, with
            Monte-Carlo dropout, ``mc_pred_std`` and ``deterministic_mse``.
        """
        from .model import train_regressor  # noqa: PLC0415 - torch only when training

        d = self.dataset()
        batch_size = int(config["batch_size"])
        if len(d["y_train"]) < batch_size:
            raise ValueError(f"data file '{d['path']}': {len(d['y_train'])} training rows is fewer than "
                             f"batch_size={batch_size}")
        scale = d["y_std"] ** 2  # standardised MSE -> MSE in target units
        result = train_regressor(
            d["X_train"], d["y_train"], d["X_val"], d["y_val"],
            layers=config["layers"], width=config["width"], dropout=config["dropout"], lr=config["lr"],
            batch_size=batch_size, epochs=config["epochs"], seed=ctx.seed, device=ctx.device,
            mc_passes=ctx.mc_dropout, on_epoch=lambda epoch, mse: ctx.report(epoch, val_mse=mse * scale))
        y_val = d["y_val_raw"]
        pred = result.val_pred.astype(np.float64) * d["y_std"] + d["y_mean"]
        deterministic = float(np.mean((pred - y_val) ** 2))
        out = {"loss": deterministic, "best_epoch": result.best_epoch,
               "baseline_mse": float(np.mean((d["y_mean"] - y_val) ** 2))}
        if result.mc_pred is not None:
            from uqhpo.uq import mc_dropout_summary  # noqa: PLC0415

            mc = result.mc_pred.astype(np.float64) * d["y_std"] + d["y_mean"]       # (m, n_val)
            summary = mc_dropout_summary(mc[None], y_val)                           # k = 1 training
            out.update(loss=summary["loss_mean"], deterministic_mse=deterministic,
                       mc_pred_std=float(np.mean(summary["prediction_std"])))
        return out


task = TemplateTask()
