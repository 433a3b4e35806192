"""The groundwater task: train the forecasting LSTM, score it by the validation RMSE in metres.

Data comes from ``configure(data)`` (the config's ``data:`` section, carried to every
worker with the job); keys it omits take the defaults below. A missing file at the
default path is generated on first use (atomically, so two workers doing it at once are
safe).

``data`` keys: ``path`` (.h5/.hdf5, a per-well .csv, or a folder of them); ``seed``,
``n_years``, ``n_wells``, ``drought_start_year``, ``drought_years`` (generation of a
missing default file); ``wells`` (names or indices to pool; null: all); ``horizon``
(forecast days H); ``val_start``, ``test_start`` (ISO dates; null: the 1 January nearest
50 % and 70 % of the record); ``stride`` (days between training windows);
``framework`` (``keras``, the reference, or ``torch``, the twin); ``figure_lead`` (the lead
day whose forecasts each replicate saves for the figure; null: H).
"""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np

from uqhpo.data_task import DataTask
from uqhpo.space import Categorical, Integer, Real, Space
from uqhpo.task import TrialContext

DEFAULT_PATH = "datasets/groundwater/basin.h5"
FRAMEWORKS = ("keras", "torch")
DATA_DEFAULTS: dict[str, Any] = {
    "path": DEFAULT_PATH, "seed": 0, "n_years": 20, "n_wells": 5, "drought_start_year": 12, "drought_years": 5,
    "wells": None, "horizon": 30, "val_start": None, "test_start": None, "stride": 1, "framework": "keras",
    "figure_lead": None,
}
_INT_KEYS = ("seed", "n_years", "n_wells", "drought_start_year", "drought_years", "horizon", "stride", "figure_lead")
_GENERATOR_KEYS = ("n_years", "n_wells", "drought_start_year", "drought_years")
MIN_TRAIN_WINDOWS = 16


class GroundwaterTask(DataTask):
    """Stacked-LSTM forecast of well levels; loss = best-epoch validation RMSE (m)."""

    data_defaults = DATA_DEFAULTS
    generates_missing_data = True

    # -- data ---------------------------------------------------------------------------------
    def validate_data(self, data: dict) -> dict:
        """Known keys (base class), integers, ISO dates, a known framework, a list of wells."""
        data = super().validate_data(data)
        for key in _INT_KEYS:
            v = data.get(key)
            low = 0 if key in ("seed", "drought_years") else 1
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
                raise ValueError(f"data.{key} must be an integer >= {low}, got {v!r}")
        for key in ("val_start", "test_start"):
            v = data.get(key)
            if isinstance(v, datetime.date):          # YAML reads 2010-01-01 as a date
                data[key] = v = v.isoformat()
            if v is not None:
                try:
                    np.datetime64(str(v), "D")
                except ValueError:
                    raise ValueError(f"data.{key} must be a date like 2010-01-01, got {v!r}") from None
        if data.get("framework", "keras") not in FRAMEWORKS:
            raise ValueError(f"data.framework must be one of {', '.join(FRAMEWORKS)}, got {data['framework']!r}")
        wells = data.get("wells")
        if wells is not None and (not isinstance(wells, (list, tuple)) or not wells
                                  or not all(isinstance(w, (str, int)) and not isinstance(w, bool) for w in wells)):
            raise ValueError(f"data.wells must be a non-empty list of well names or indices, got {wells!r}")
        if wells is not None:
            data["wells"] = list(wells)
        return data

    def ensure_data(self, settings: dict) -> None:
        """Generate the default file when it is missing (another path must exist)."""
        from . import data as gdata  # noqa: PLC0415

        path = Path(settings["path"])
        if not path.exists() and path.resolve() == Path(DEFAULT_PATH).resolve():
            gdata.ensure_file(path, seed=settings["seed"], **{k: settings[k] for k in _GENERATOR_KEYS})

    def load(self, settings: dict) -> Any:
        """The prepared record (``prep.Prepared``) of the file."""
        from . import data as gdata  # noqa: PLC0415
        from .prep import prepare  # noqa: PLC0415

        s = settings
        return prepare(gdata.load_basin(s["path"]), wells=s["wells"], horizon=s["horizon"],
                       val_start=s["val_start"], test_start=s["test_start"])

    def check(self) -> None:
        """Fail early, naming the file, when the record is too short for the splits."""
        from . import prep  # noqa: PLC0415

        p = self.dataset()
        for split, lag in (("train", 1), ("val", 1), ("test", 1)):
            n = len(prep.origins(p, split, lag)[0])
            if n < (MIN_TRAIN_WINDOWS if split == "train" else 1):
                raise ValueError(f"data file '{self.settings()['path']}': the {split} period holds {n} windows "
                                 f"of horizon={p.horizon} days; move data.val_start/test_start or lower horizon")

    # -- search space and training ----------------------------------------------------------
    def search_space(self) -> Space:
        return Space({
            "layers": Integer(1, 3),
            "units": Integer(8, 128, log=True),
            "lag": Integer(7, 365, log=True),
            "dropout": Real(0.0, 0.5),
            "recurrent_dropout": Real(0.0, 0.3),
            "lr": Real(1e-4, 1e-2, log=True),
            "batch_size": Categorical([16, 32, 64, 128, 256], ordered=True),
            "epochs": Integer(5, 100),
        })

    def run(self, config: dict, ctx: TrialContext) -> dict:
        """Train once with ``ctx.seed``; report the validation RMSE after every epoch (a
        replicate killed mid-training resumes from ``ctx.checkpoint_path``).

        Returns:
            ``{"loss": validation RMSE (m), ...}`` with ``mae``, ``nse``, ``test_loss``,
            ``test_mae``, ``test_nse``, ``baseline_loss`` (the better of persistence and
            climatology on the same windows), ``persistence_loss``, ``climatology_loss``,
            ``baseline_test_loss``, ``drought_rmse`` / ``drought_persistence_rmse`` (windows
            whose targets lie in the drought), ``best_epoch``, ``framework`` and
            ``forecast_path``; with ``ctx.mc_dropout`` passes the scores are those of the
            mean forecast, plus ``deterministic_loss``, ``mc_pred_std`` and ``mc_coverage95``.
        """
        from . import prep, scores, uq  # noqa: PLC0415
        from .model import train  # noqa: PLC0415

        s, p = self.settings(), self.dataset()
        lag = int(config["lag"])
        w_tr, o_tr = prep.origins(p, "train", lag, int(s["stride"]))
        if len(w_tr) < max(int(config["batch_size"]), MIN_TRAIN_WINDOWS):
            raise ValueError(f"data file '{s['path']}': lag={lag} leaves {len(w_tr)} training windows before "
                             f"{p.dates[p.bounds['val'][0]]}, fewer than batch_size={config['batch_size']}")
        split = {name: prep.origins(p, name, lag) for name in ("val", "test")}
        x = {name: prep.windows(p, w, o, lag) for name, (w, o) in split.items()}
        obs = {name: prep.observed(p, w, o) for name, (w, o) in split.items()}

        def score(scaled: np.ndarray) -> float:
            return scores.rmse(prep.to_metres(p, *split["val"], scaled), obs["val"])

        trained = train(s["framework"], config, prep.windows(p, w_tr, o_tr, lag), prep.targets(p, w_tr, o_tr),
                        x["val"], score, ctx)
        out: dict[str, Any] = {}
        forecasts = {}
        for name, prefix in (("val", ""), ("test", "test_")):
            passes = prep.to_metres(p, *split[name], trained.predict(x[name], ctx.mc_dropout))   # (m, n, H)
            forecasts[name] = passes
            sc = scores.all_scores(passes.mean(axis=0), obs[name])
            out.update({f"{prefix}loss": sc["rmse"], f"{prefix}mae": sc["mae"], f"{prefix}nse": sc["nse"]})
        base_val, base_test = scores.baselines(p, "val", lag), scores.baselines(p, "test", lag)
        out.update(baseline_loss=base_val["best"], persistence_loss=base_val["persistence"],
                   climatology_loss=base_val["climatology"], baseline_test_loss=base_test["best"],
                   best_epoch=int(trained.best_epoch), framework=trained.framework)
        out.update(uq.drought_scores(p, split, forecasts, obs))
        if ctx.mc_dropout:
            out["deterministic_loss"] = float(trained.best_score)
            out.update(uq.mc_scores(forecasts["val"], obs["val"]))
        path = Path(ctx.workdir) / f"replicate{ctx.replicate}_forecast.npz"
        uq.save_forecast(path, p, split, forecasts, obs, lead=s["figure_lead"] or p.horizon,
                         extra={k: out[k] for k in ("loss", "test_loss", "baseline_loss", "baseline_test_loss")}
                         | {"seed": ctx.seed})
        out["forecast_path"] = str(path.resolve())
        return out


task = GroundwaterTask()
