"""The traffic task: a graph-convolutional GRU forecasts the load on every link.

Data comes from ``configure(data)`` (the config's ``data:`` section, carried to every
worker with the job); keys it omits take the defaults below. A missing file at the
default path is generated on first use (atomically, so workers doing it at once are safe).

``data`` keys: ``path`` (.h5/.hdf5 layout or CSV), ``adjacency_file`` (an ``(L, L)`` .npy/CSV
link graph; needed for a CSV whose columns are not named ``A->B``), ``days`` and ``seed``
(generation of a missing default file), ``train_days``/``val_days``/``test_days``
(chronological split, default 200/100/65), ``horizon`` (hours forecast, 6),
``train_stride``/``eval_stride`` (use every k-th forecast origin: quick runs).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from uqhpo.data_task import DataTask
from uqhpo.space import Categorical, Integer, Real, Space
from uqhpo.task import TrialContext

DEFAULT_PATH = "datasets/traffic/traffic.h5"
DATA_DEFAULTS: dict[str, Any] = {
    "path": DEFAULT_PATH, "adjacency_file": None, "days": 365, "seed": 0,
    "train_days": 200, "val_days": 100, "test_days": 65, "horizon": 6, "train_stride": 1, "eval_stride": 1,
}
_POSITIVE = ("days", "train_days", "val_days", "test_days", "horizon", "train_stride", "eval_stride")


class TrafficTask(DataTask):
    """Graph GRU over the 102 links; loss = validation MSE (scaled) summed over links."""

    data_defaults = DATA_DEFAULTS
    generates_missing_data = True

    # -- data ---------------------------------------------------------------------------------
    def validate_data(self, data: dict) -> dict:
        """Known keys (base class) with positive integers where counts are expected."""
        data = super().validate_data(data)
        for key in _POSITIVE + ("seed",):
            v = data.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < (0 if key == "seed" else 1)):
                raise ValueError(f"data.{key} must be a positive integer, got {v!r}")
        if data.get("adjacency_file") is not None and not isinstance(data["adjacency_file"], str):
            raise ValueError(f"data.adjacency_file must be a file path, got {data['adjacency_file']!r}")
        return data

    def data_files(self, settings: dict) -> list[Path]:
        return [Path(settings["path"])] + ([Path(settings["adjacency_file"])] if settings["adjacency_file"] else [])

    def ensure_data(self, settings: dict) -> None:
        """Generate the default file when it is missing (another path must exist)."""
        from . import data as tdata  # noqa: PLC0415

        path = Path(settings["path"])
        if not path.exists() and path.resolve() == Path(DEFAULT_PATH).resolve():
            tdata.ensure_file(path, days=settings["days"], seed=settings["seed"])

    def load(self, settings: dict) -> Any:
        """The split, scaled series with its forecast origins (``prep.Prepared``)."""
        from .data import load_traffic  # noqa: PLC0415
        from .prep import prepare  # noqa: PLC0415

        s = settings
        return prepare(load_traffic(s["path"], s["adjacency_file"]), train_days=s["train_days"], val_days=s["val_days"],
                       test_days=s["test_days"], horizon=s["horizon"], train_stride=s["train_stride"],
                       eval_stride=s["eval_stride"])

    def check(self) -> None:
        """Fail early, naming the file, when there are too few windows for the smallest batch."""
        n = len(self.dataset().origins["train"])
        if n < 16:
            raise ValueError(f"data file '{self.settings()['path']}': only {n} training windows, "
                             "need at least 16 (the smallest batch)")

    # -- search space and training ----------------------------------------------------------
    def search_space(self) -> Space:
        return Space({
            "conv": Categorical(["gcn", "cheb", "diffusion"]),
            "K": Integer(1, 4),
            "layers": Integer(1, 3),
            "hidden": Integer(16, 128, log=True),
            "window": Integer(6, 48),
            "lr": Real(1e-4, 1e-2, log=True),
            "batch_size": Categorical([16, 32, 64, 128], ordered=True),
            "dropout": Real(0.0, 0.5),
            "adjacency": Categorical(["static", "dynamic"]),
            "epochs": Integer(2, 100),
        })

    def run(self, config: dict, ctx: TrialContext) -> dict:
        """Train once with ``ctx.seed`` (validation loss reported every epoch; a replicate
        killed mid-training resumes from ``ctx.checkpoint_path``) and score the forecasts.

        Returns:
            ``loss`` (validation MSE of scaled traffic, per link over windows and steps,
            summed over links; with ``ctx.mc_dropout`` passes, of their mean), ``test_loss``,
            ``baseline_loss`` (the better of persistence and same-hour-last-week on the same
            validation windows), the per-link ``mae_per_link`` (Gbps) and ``mape_per_link`` (%)
            on validation, summaries, 95 % interval coverage on test, and ``forecast_path``.
        """
        from . import uq  # noqa: PLC0415
        from .model import forecast, mc_forecast, train  # noqa: PLC0415 - torch only when training
        from .prep import MAX_WINDOW, targets  # noqa: PLC0415

        d = self.dataset()
        if not 1 <= int(config["window"]) <= MAX_WINDOW:
            raise ValueError(f"window must be between 1 and {MAX_WINDOW} hours, got {config['window']}")
        model, batches, result = train(config, d, ctx)
        passes = int(ctx.mc_dropout or 0)

        def predict(origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:   # scaled mean, MC std
            if passes:
                p = mc_forecast(model, batches, origins, passes)
                return p.mean(0), p.std(0)
            p = forecast(model.eval(), batches, origins)
            return p, np.zeros_like(p)

        val_mean, val_std = predict(d.origins["val"])
        test_mean, test_std = predict(d.origins["test"])
        val, test = uq.scores(d, "val", val_mean), uq.scores(d, "test", test_mean)
        base_val, base_test = uq.baseline_scores(d, "val"), uq.baseline_scores(d, "test")
        best_base = min(base_val, key=lambda k: base_val[k]["loss"])
        res_var = uq.residual_variance(val_mean, val_std, targets(d, "val"))
        half = uq.interval_halfwidth(test_std, res_var)
        worst = int(np.argmax(val["mse"]))
        out: dict[str, Any] = {
            "loss": val["loss"], "test_loss": test["loss"], "baseline_loss": base_val[best_base]["loss"],
            "baseline_test_loss": base_test[best_base]["loss"], "best_baseline": best_base,
            **{f"{name}_loss": s["loss"] for name, s in base_val.items()},
            "mae": float(np.mean(val["mae"])), "mape": float(np.nanmean(val["mape"])),
            "test_mae": float(np.mean(test["mae"])), "test_mape": float(np.nanmean(test["mape"])),
            "baseline_mae": float(np.mean(base_val[best_base]["mae"])),
            "mae_per_link": np.round(val["mae"], 5), "mape_per_link": np.round(val["mape"], 4),
            "step_mse": val["step_mse"], "worst_link": d.link_names[worst], "worst_link_mse": float(val["mse"][worst]),
            "interval_coverage": uq.coverage(targets(d, "test"), test_mean, half),
            "interval_width_gbps": float(np.mean(2 * half * d.std)),
            "best_epoch": int(result.best_epoch),
        }
        if passes:
            out["deterministic_loss"] = float(result.best_score)
            out["mc_std"] = float(np.mean(val_std))
        out["forecast_path"] = str(self._save_week(ctx, d, predict, res_var, test, base_test).resolve())
        return out

    @staticmethod
    def _save_week(ctx: TrialContext, d: Any, predict: Any, res_var: np.ndarray, test: dict, base_test: dict) -> Path:
        """The first test week's forecasts (every origin, every lead) and per-link test errors."""
        from . import uq  # noqa: PLC0415

        first, end = d.bounds["test"]
        hours = min(d.season, end - first - d.horizon)          # one week (or what the split holds)
        origins = np.arange(first - d.horizon, first + hours, dtype=np.int64)
        mean, mc_std = predict(origins)
        span = slice(first - d.horizon, first + hours + d.horizon)
        arrays = {
            "week_mean": d.unscale(mean).astype(np.float32), "week_mc_std": (mc_std * d.std).astype(np.float32),
            "res_std": (np.sqrt(res_var) * d.std).astype(np.float32), "origins": origins,
            "truth": d.raw[span].astype(np.float32), "truth_start": np.int64(span.start),
            "first_hour": np.int64(first), "hours": np.int64(hours), "horizon": np.int64(d.horizon),
            "link_names": np.array(d.link_names), "test_mae": test["mae"], "test_mse": test["mse"],
            **{f"{name}_test_mae": s["mae"] for name, s in base_test.items()},
            **{f"{name}_test_mse": s["mse"] for name, s in base_test.items()},
            "seed": np.int64(ctx.seed),
        }
        return uq.save_forecast(Path(ctx.workdir) / f"replicate{ctx.replicate}_forecast.npz", **arrays)


task = TrafficTask()
