"""Preprocessing shared by training, evaluation and the baselines.

The series is split chronologically by days (default 200 / 100 / 65: train, validation,
test) and scaled per link with the training period's mean and standard deviation. A
sample is a forecast *origin* ``t`` (the last observed hour): inputs are the ``window``
hours ending at ``t``, targets the ``horizon`` hours after it. An origin belongs to the
split that holds all its targets; its inputs may reach back into the previous split (the
past is known at forecast time). Validation and test origins do not depend on the window,
so every configuration and both baselines are scored on the same windows.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .data import TrafficData

SPLITS = ("train", "val", "test")
MAX_WINDOW = 48          # the largest input window the search space offers
N_TIME_FEATURES = 4      # sin/cos of the hour of day and of the day of week


@dataclass
class Prepared:
    """The scaled series with its split origins.

    Attributes:
        scaled: ``(T, L)`` float32 per-link standardised traffic.
        raw: ``(T, L)`` float64 traffic in file units (Gbps).
        mean, std: ``(L,)`` training statistics (``raw = scaled * std + mean``).
        time_features: ``(T, 4)`` float32 calendar features.
        origins: split -> ``(n,)`` int64 forecast origins (after the split's stride).
        bounds: split -> ``(first, end)`` hour indices of the split.
        horizon: hours forecast; season: steps in one week (the seasonal-naive lag).
        adjacency: ``(L, L)`` int8 link graph; link_names; capacity ``(L,)`` or None.
    """

    scaled: np.ndarray
    raw: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    time_features: np.ndarray
    origins: dict
    bounds: dict
    horizon: int
    season: int
    adjacency: np.ndarray
    link_names: list
    capacity: Optional[np.ndarray]
    path: Path

    @property
    def n_links(self) -> int:
        return self.scaled.shape[1]

    def unscale(self, z: np.ndarray) -> np.ndarray:
        """Scaled values ``(..., L)`` -> file units."""
        return z * self.std + self.mean


def calendar_features(time: np.ndarray) -> np.ndarray:
    """``(T,)`` seconds since 1970 UTC -> ``(T, 4)`` sin/cos of hour of day and day of week."""
    day = 2 * np.pi * (time % 86400) / 86400.0
    week = 2 * np.pi * ((time // 86400 + 3) % 7 + (time % 86400) / 86400.0) / 7.0   # 1970-01-01 was a Thursday
    return np.column_stack([np.sin(day), np.cos(day), np.sin(week), np.cos(week)]).astype(np.float32)


def split_bounds(n_steps: int, steps_per_day: int, days: tuple[int, int, int], source: str) -> dict:
    """Chronological split by days -> ``{split: (first, end)}``; refuses more days than the file has."""
    if sum(days) * steps_per_day > n_steps:
        raise ValueError(f"data.train_days + val_days + test_days = {sum(days)} days exceeds the "
                         f"{n_steps / steps_per_day:.1f} days in '{source}'")
    edges = np.cumsum((0,) + tuple(int(d) * steps_per_day for d in days))
    return {s: (int(edges[i]), int(edges[i + 1])) for i, s in enumerate(SPLITS)}


def split_origins(bounds: tuple[int, int], horizon: int, first_allowed: int, stride: int) -> np.ndarray:
    """Origins whose ``horizon`` targets lie in ``bounds`` (``t >= first_allowed``), every ``stride``-th."""
    lo, hi = max(bounds[0] - 1, first_allowed), bounds[1] - 1 - horizon
    return np.arange(lo, hi + 1, max(1, int(stride)), dtype=np.int64)


def prepare(data: TrafficData, *, train_days: int = 200, val_days: int = 100, test_days: int = 65,
            horizon: int = 6, train_stride: int = 1, eval_stride: int = 1) -> Prepared:
    """Split, scale on the training period and list the forecast origins of each split."""
    spd = data.steps_per_day
    season = 7 * spd
    bounds = split_bounds(len(data.time), spd, (train_days, val_days, test_days), str(data.path))
    first_train = MAX_WINDOW - 1
    if bounds["train"][1] - first_train - horizon < 1 or bounds["val"][0] < season:
        raise ValueError(f"data.train_days = {train_days} is too short for '{data.path}': the training "
                         f"period needs at least one week ({season} steps) and a {MAX_WINDOW}-step window")
    lo, hi = bounds["train"]
    mean = data.traffic[lo:hi].mean(axis=0)
    std = data.traffic[lo:hi].std(axis=0)
    std = np.where(std > 1e-9 * max(1.0, float(np.abs(mean).max())), std, 1.0)   # a constant link stays 0
    origins = {"train": split_origins(bounds["train"], horizon, first_train, train_stride)}
    for s in ("val", "test"):
        origins[s] = split_origins(bounds[s], horizon, season, eval_stride)
        if len(origins[s]) == 0:
            raise ValueError(f"data.{s}_days = {val_days if s == 'val' else test_days} leaves no "
                             f"{horizon}-step forecast window in '{data.path}'")
    return Prepared(scaled=((data.traffic - mean) / std).astype(np.float32), raw=data.traffic, mean=mean, std=std,
                    time_features=calendar_features(data.time), origins=origins, bounds=bounds,
                    horizon=int(horizon), season=season, adjacency=data.adjacency, link_names=data.link_names,
                    capacity=data.capacity, path=data.path)


def gather(series: np.ndarray, origins: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``series[origins + offsets]`` -> ``(n, len(offsets), ...)``."""
    return series[origins[:, None] + offsets[None, :]]


def targets(prep: Prepared, split: str, scaled: bool = True, origins: Optional[np.ndarray] = None) -> np.ndarray:
    """``(n, horizon, L)`` true values after each origin of ``split``."""
    o = prep.origins[split] if origins is None else origins
    return gather(prep.scaled if scaled else prep.raw, o, np.arange(1, prep.horizon + 1))


def persistence(prep: Prepared, split: str, origins: Optional[np.ndarray] = None) -> np.ndarray:
    """Last value repeated over the horizon, scaled: ``(n, horizon, L)``."""
    o = prep.origins[split] if origins is None else origins
    return np.repeat(prep.scaled[o][:, None, :], prep.horizon, axis=1)


def same_hour_last_week(prep: Prepared, split: str, origins: Optional[np.ndarray] = None) -> np.ndarray:
    """The value one week before each target, scaled: ``(n, horizon, L)``."""
    o = prep.origins[split] if origins is None else origins
    return gather(prep.scaled, o, np.arange(1, prep.horizon + 1) - prep.season)
