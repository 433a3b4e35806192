"""Scores in metres and the two non-learned baselines (persistence, seasonal climatology).

All scores pool every window, lead day and well of a split: RMSE and MAE in metres, and
the Nash-Sutcliffe efficiency ``1 - SSE / sum((obs - mean(obs))^2)`` of the levels (1 is
perfect, 0 is no better than the split's mean level).
"""
from __future__ import annotations

import numpy as np

from . import prep
from .prep import Prepared

CLIMATOLOGY_WINDOW = 31   # days of the circular moving average over the day of year


def rmse(pred: np.ndarray, obs: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, float) - obs) ** 2)))


def mae(pred: np.ndarray, obs: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(pred, float) - obs)))


def nse(pred: np.ndarray, obs: np.ndarray) -> float:
    denom = float(np.sum((obs - obs.mean()) ** 2))
    return float(1.0 - np.sum((np.asarray(pred, float) - obs) ** 2) / denom) if denom > 0 else float("nan")


def all_scores(pred: np.ndarray, obs: np.ndarray, prefix: str = "") -> dict:
    """``{prefix}rmse``, ``{prefix}mae``, ``{prefix}nse`` of ``(n, H)`` forecasts."""
    return {f"{prefix}rmse": rmse(pred, obs), f"{prefix}mae": mae(pred, obs), f"{prefix}nse": nse(pred, obs)}


def climatology_table(p: Prepared) -> np.ndarray:
    """Mean training-period head by day of year, smoothed: ``(W, 367)`` (column = day 1..366)."""
    i_val = p.bounds["val"][0]
    sums = np.zeros((p.head.shape[1], 367))
    counts = np.zeros(367)
    np.add.at(sums.T, p.doy[:i_val], p.head[:i_val])
    np.add.at(counts, p.doy[:i_val], 1.0)
    kernel = np.ones(CLIMATOLOGY_WINDOW)
    half = CLIMATOLOGY_WINDOW // 2

    def smooth(x: np.ndarray) -> np.ndarray:   # circular over days 1..366
        body = x[..., 1:]
        wrapped = np.concatenate([body[..., -half:], body, body[..., :half]], axis=-1)
        out = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), -1, wrapped)
        return np.concatenate([np.zeros(out.shape[:-1] + (1,)), out], axis=-1)

    s, c = smooth(sums), smooth(counts)
    return s / np.where(c > 0, c, 1.0)


def persistence(p: Prepared, well: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """The last observed level for every lead day: ``(n, H)``."""
    return np.repeat(p.head[origin, well][:, None], p.horizon, axis=1)


def climatology(p: Prepared, well: np.ndarray, origin: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The well's mean training-period level on each target day of year: ``(n, H)``."""
    ahead = origin[:, None] + np.arange(1, p.horizon + 1)[None, :]
    return table[well[:, None], p.doy[ahead]]


def baselines(p: Prepared, split: str, lag: int) -> dict:
    """Baseline RMSEs on the split's windows for ``lag`` (the windows the model is scored on).

    Returns:
        ``persistence``, ``climatology`` (RMSE, m) and ``best`` (the smaller).
    """
    well, origin = prep.origins(p, split, lag)
    obs = prep.observed(p, well, origin)
    out = {"persistence": rmse(persistence(p, well, origin), obs),
           "climatology": rmse(climatology(p, well, origin, climatology_table(p)), obs)}
    out["best"] = min(out["persistence"], out["climatology"])
    return out
