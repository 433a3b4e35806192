"""Forecast bands: Monte-Carlo dropout within a training, replicates across trainings.

Each replicate saves ``replicate{r}_forecast.npz`` in its trial's work dir: for the first
pooled well, the forecasts made ``lead`` days ahead over the validation and test periods
(mean and standard deviation over the dropout passes), the observed levels, the two
baselines, and the RMSE per lead day. :func:`aggregate_forecasts` folds a trial's
replicates into one band: the total variance is the spread of the replicate means plus
the mean dropout variance (law of total variance).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from uqhpo.analysis.saved_files import replicate_files

from . import scores
from .prep import Prepared

PATTERN = "replicate*_forecast.npz"


def mc_scores(passes: np.ndarray, obs: np.ndarray) -> dict:
    """Spread of ``(m, n, H)`` dropout forecasts (m) and the share of ``(n, H)`` observations
    inside mean ± 1.96 std."""
    mean, std = passes.mean(axis=0), passes.std(axis=0)
    return {"mc_pred_std": float(std.mean()), "mc_coverage95": float(np.mean(np.abs(obs - mean) <= 1.96 * std))}


def drought_scores(p: Prepared, split: dict, forecasts: dict, obs: dict) -> dict:
    """RMSE of the model and of persistence over validation and test windows whose target
    days all lie in the drought (empty when the record has no known drought there)."""
    if p.drought is None:
        return {}
    first = int((np.datetime64(p.drought[0], "D") - p.dates[0]).astype(int))
    last = int((np.datetime64(p.drought[1], "D") - p.dates[0]).astype(int))
    pred, seen, pers = [], [], []
    for name in ("val", "test"):
        well, origin = split[name]
        inside = (origin + 1 >= first) & (origin + p.horizon <= last)
        pred.append(forecasts[name].mean(axis=0)[inside])
        seen.append(obs[name][inside])
        pers.append(scores.persistence(p, well[inside], origin[inside]))
    if not sum(len(s) for s in seen):
        return {}
    o = np.concatenate(seen)
    return {"drought_rmse": scores.rmse(np.concatenate(pred), o),
            "drought_persistence_rmse": scores.rmse(np.concatenate(pers), o)}


def save_forecast(path: str | os.PathLike, p: Prepared, split: dict, forecasts: dict, obs: dict, *, lead: int,
                  extra: dict | None = None) -> Path:
    """Write one replicate's forecasts of the first well at ``lead`` days (atomic ``.npz``).

    Args:
        split: name -> (well ``(n,)``, origin ``(n,)``); forecasts: name -> ``(m, n, H)``
            in metres; obs: name -> ``(n, H)``; lead: 1..H.
        extra: scalars stored alongside (loss, seed, ...).
    """
    lead = int(min(max(lead, 1), p.horizon))
    table = scores.climatology_table(p)
    rows: dict[str, list] = {k: [] for k in ("date", "observed", "forecast", "mc_std", "persistence",
                                              "climatology", "split")}
    by_lead: dict[str, np.ndarray] = {}
    for code, name in enumerate(("val", "test")):
        well, origin = split[name]
        first = well == 0
        w, o = well[first], origin[first]
        mean, std = forecasts[name].mean(axis=0)[first], forecasts[name].std(axis=0)[first]
        rows["date"].append(p.dates[o + lead].astype(np.int64))
        rows["observed"].append(obs[name][first][:, lead - 1])
        rows["forecast"].append(mean[:, lead - 1])
        rows["mc_std"].append(std[:, lead - 1])
        rows["persistence"].append(scores.persistence(p, w, o)[:, lead - 1])
        rows["climatology"].append(scores.climatology(p, w, o, table)[:, lead - 1])
        rows["split"].append(np.full(len(o), code, np.int8))
        pooled = forecasts[name].mean(axis=0)
        by_lead[f"{name}_rmse_by_lead"] = np.sqrt(np.mean((pooled - obs[name]) ** 2, axis=0))
        by_lead[f"{name}_persistence_by_lead"] = np.sqrt(np.mean(
            (scores.persistence(p, *split[name]) - obs[name]) ** 2, axis=0))
    extra = extra or {}
    drought = [str(np.datetime64(d, "D")) for d in p.drought] if p.drought is not None else []
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    test_start = str(p.dates[p.bounds["test"][0]])
    np.savez(tmp, **{k: np.concatenate(v) for k, v in rows.items()}, **by_lead, lead=np.int64(lead),
             well=np.array(p.wells[0]), drought=np.array(drought), test_start=np.array(test_start),
             **{k: np.float64(v) for k, v in extra.items()})
    os.replace(tmp, path)
    return path


def aggregate_forecasts(paths: Iterable[str | os.PathLike]) -> dict:
    """Replicate forecast files of one trial -> the band.

    Returns:
        dict with ``date (n,)`` datetime64[D], ``observed``, ``persistence``, ``split (n,)``,
        ``forecast (k, n)``, ``mean (n,)``, ``replicate_std``, ``mc_std``, ``total_std`` (n,),
        ``val_rmse_by_lead``/``test_rmse_by_lead`` (k, H), the persistence curves ``(H,)``,
        ``lead``, ``well``, ``drought`` (list of 2 ISO dates or empty), ``test_start``, and
        ``scores`` (name -> ``(k,)``).
    """
    loaded = [np.load(pth) for pth in sorted(map(str, paths))]
    if not loaded:
        raise ValueError("no replicate forecasts to aggregate")
    f0 = loaded[0]
    forecast = np.stack([f["forecast"] for f in loaded])
    mc_var = np.mean(np.stack([f["mc_std"] for f in loaded]) ** 2, axis=0)
    rep_std = forecast.std(axis=0, ddof=1) if len(loaded) > 1 else np.zeros(forecast.shape[1])
    array_keys = {"date", "observed", "forecast", "mc_std", "persistence", "climatology", "split", "lead", "well",
                  "drought", "test_start"}
    score_keys = [k for k in f0.files if k not in array_keys and "_by_lead" not in k]
    return {
        "date": f0["date"].astype("datetime64[D]"), "observed": f0["observed"], "persistence": f0["persistence"],
        "climatology": f0["climatology"], "split": f0["split"], "forecast": forecast, "mean": forecast.mean(axis=0),
        "replicate_std": rep_std, "mc_std": np.sqrt(mc_var), "total_std": np.sqrt(rep_std ** 2 + mc_var),
        "val_rmse_by_lead": np.stack([f["val_rmse_by_lead"] for f in loaded]),
        "test_rmse_by_lead": np.stack([f["test_rmse_by_lead"] for f in loaded]),
        "val_persistence_by_lead": f0["val_persistence_by_lead"],
        "test_persistence_by_lead": f0["test_persistence_by_lead"],
        "lead": int(f0["lead"]), "well": str(f0["well"]), "drought": [str(d) for d in f0["drought"]],
        "test_start": str(f0["test_start"]),
        "scores": {k: np.array([float(f[k]) for f in loaded]) for k in score_keys},
    }


def forecast_paths(trial: Any, search_dirs: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """The saved replicate files of a trial (a ``Trial`` or a folder); sorted, maybe empty."""
    return replicate_files(trial, "forecast_path", PATTERN, search_dirs)
