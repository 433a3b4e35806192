"""Scores, baselines and prediction intervals of the traffic forecasts.

Intervals: a replicate's forecast of link l, ``h`` steps ahead, has the variance
``s_mc^2 + s_res^2[h, l]``: the spread of the MC-dropout passes (zero without MC dropout)
plus the residual variance the MC spread does not explain on the validation split. The
95 % interval is the mean ± 1.96 of its square root; its coverage is checked on test.
Each replicate saves the test-week forecasts and the per-link errors of the model and the
baselines (``replicate{r}_forecast.npz``); :func:`aggregate` folds replicates together.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from .prep import Prepared, persistence, same_hour_last_week, targets

Z95 = 1.959964
BASELINES = {"persistence": persistence, "same_hour_last_week": same_hour_last_week}
MAPE_FLOOR = 0.1          # MAPE skips hours below 10 % of the link's mean (outages, idle links)


def mse_per_link(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(n, H, L)`` scaled forecasts and truth -> ``(L,)`` mean squared error."""
    return np.mean((pred - truth) ** 2, axis=(0, 1))


def mae_per_link(pred_raw: np.ndarray, truth_raw: np.ndarray) -> np.ndarray:
    """``(n, H, L)`` in file units -> ``(L,)`` mean absolute error (Gbps)."""
    return np.mean(np.abs(pred_raw - truth_raw), axis=(0, 1))


def mape_per_link(pred_raw: np.ndarray, truth_raw: np.ndarray, link_mean: np.ndarray) -> np.ndarray:
    """``(L,)`` mean absolute percentage error over hours with truth >= 10 % of the link's
    mean (NaN for a link without such hours)."""
    ok = truth_raw >= MAPE_FLOOR * np.abs(link_mean)
    ape = np.where(ok, np.abs(pred_raw - truth_raw) / np.where(ok, np.abs(truth_raw), 1.0), 0.0)
    count = ok.sum(axis=(0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, 100.0 * ape.sum(axis=(0, 1)) / count, np.nan)


def scores(prep: Prepared, split: str, pred: np.ndarray) -> dict:
    """Errors of scaled forecasts ``(n, H, L)`` on ``split``.

    Returns:
        ``loss`` (summed MSE, scaled), ``mse`` ``(L,)``, ``mae`` ``(L,)`` Gbps,
        ``mape`` ``(L,)`` %, ``step_mse`` ``(H,)`` (summed over links).
    """
    truth = targets(prep, split)
    raw_pred, raw_truth = prep.unscale(pred), targets(prep, split, scaled=False)
    mse = mse_per_link(pred, truth)
    return {"loss": float(mse.sum()), "mse": mse, "mae": mae_per_link(raw_pred, raw_truth),
            "mape": mape_per_link(raw_pred, raw_truth, prep.mean),
            "step_mse": np.mean((pred - truth) ** 2, axis=0).sum(axis=-1)}


def baseline_scores(prep: Prepared, split: str) -> dict[str, dict]:
    """:func:`scores` of each non-learned baseline on ``split``."""
    return {name: scores(prep, split, make(prep, split)) for name, make in BASELINES.items()}


def residual_variance(mean: np.ndarray, mc_std: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(H, L)`` residual variance (scaled) not explained by the MC spread, from validation."""
    return np.maximum(np.mean((mean - truth) ** 2, axis=0) - np.mean(mc_std ** 2, axis=0), 0.0)


def interval_halfwidth(mc_std: np.ndarray, res_var: np.ndarray) -> np.ndarray:
    """``(n, H, L)`` MC std and ``(H, L)`` residual variance -> 95 % half-widths (same units)."""
    return Z95 * np.sqrt(mc_std ** 2 + res_var[None])


def coverage(truth: np.ndarray, mean: np.ndarray, half: np.ndarray) -> float:
    """Fraction of true values inside ``mean ± half``."""
    return float(np.mean(np.abs(truth - mean) <= half))


def save_forecast(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write one replicate's arrays to ``path`` (compressed .npz, atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return path


def aggregate(paths: Iterable[str | os.PathLike]) -> dict:
    """Replicates' saved forecasts -> one forecast with the combined spread.

    Returns:
        dict with the first file's shared arrays (``truth``, ``time``, ``link_names``,
        baseline per-link errors, ...), ``mean`` ``(n, H, L)`` (mean over replicates),
        ``std`` ``(n, H, L)`` (within-replicate MC + residual variance, plus the variance
        between replicates), and ``k`` stacked per-link model errors ``test_mae``
        ``(k, L)``, ``test_mse`` ``(k, L)``.
    """
    loaded = [dict(np.load(p, allow_pickle=False)) for p in sorted(map(str, paths))]
    if not loaded:
        raise ValueError("no replicate forecasts to aggregate")
    means = np.stack([f["week_mean"] for f in loaded])
    within = np.stack([f["week_mc_std"] ** 2 + f["res_std"][None] ** 2 for f in loaded])
    out = {k: v for k, v in loaded[0].items() if k not in ("week_mean", "week_mc_std", "test_mae", "test_mse")}
    out.update(k=len(loaded), mean=means.mean(0), std=np.sqrt(within.mean(0) + means.var(0)),
               test_mae=np.stack([f["test_mae"] for f in loaded]), test_mse=np.stack([f["test_mse"] for f in loaded]))
    return out
