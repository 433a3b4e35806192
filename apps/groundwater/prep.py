"""Preprocessing shared by training and evaluation: split, scaling, forecast windows.

The record is split chronologically at ``val_start`` and ``test_start`` (by default
the 1 January nearest to 50 % and 70 % of the record: 2010 and 2014 for the default
basin, so validation holds the drought's onset and test its depth and the recovery).
Scaling is fitted on the training period only.

Inputs per day (7 columns, plus a one-hot well indicator when several wells are pooled):
the well's head (standardised per well), log(1 + precipitation), temperature,
log(1 + streamflow), pumping (standardised), sin and cos of the day of year. A window
ending on day ``t`` (the forecast origin) holds the ``lag`` days ``t - lag + 1 .. t``;
its targets are the heads on days ``t + 1 .. t + H`` as changes from the head on day
``t``, in units of the well's training standard deviation (an untrained network that
outputs zeros is the persistence forecast). A window belongs to the split that holds
all of its target days; its inputs may reach back into earlier periods (the history
is known at forecast time).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .hydrology import DAYS_PER_YEAR
from .records import Basin

SPLITS = ("train", "val", "test")
INPUT_NAMES = ("head", "log_precipitation", "temperature", "log_streamflow", "pumping", "season_sin", "season_cos")


@dataclass
class Prepared:
    """A basin ready for windowing.

    Attributes:
        dates: ``(T,)`` datetime64[D]; doy: ``(T,)`` day of year.
        inputs: ``(W, T, F)`` float32 scaled inputs per selected well.
        head: ``(T, W)`` heads in metres; head_mean, head_std: ``(W,)`` training statistics.
        wells: the selected well names; horizon: forecast days ``H``.
        bounds: split -> (first, last) allowed target day index.
        drought: (first, last) drought day when known; source: the data file.
    """

    dates: np.ndarray
    doy: np.ndarray
    inputs: np.ndarray
    head: np.ndarray
    head_mean: np.ndarray
    head_std: np.ndarray
    wells: list
    horizon: int
    bounds: dict
    drought: Optional[tuple] = None
    source: str = ""

    @property
    def n_inputs(self) -> int:
        return int(self.inputs.shape[2])


def day_index(dates: np.ndarray, when: Optional[str], fraction: float, key: str) -> int:
    """Index of the split date ``when`` (ISO) or, when None, of the 1 January nearest to
    ``fraction`` of the record (the exact fraction for records shorter than 3 years)."""
    n = len(dates)
    if when is not None:
        day = np.datetime64(str(when), "D")
        if day <= dates[0] or day > dates[-1]:
            raise ValueError(f"data.{key}={when} lies outside the record {dates[0]}..{dates[-1]}")
        return int((day - dates[0]).astype(int))
    idx = int(round(fraction * n))
    if n >= 3 * 365:
        year = dates[min(idx, n - 1)].astype("datetime64[Y]")
        options = [np.datetime64(y, "D") for y in (year, year + 1)]
        idx = min((int((o - dates[0]).astype(int)) for o in options), key=lambda i: abs(i - idx))
    return int(np.clip(idx, 1, n - 1))


def select_wells(basin: Basin, wells: Optional[Sequence]) -> list[int]:
    """Well names or indices -> column indices (None: all)."""
    if wells is None:
        return list(range(len(basin.wells)))
    out = []
    for w in wells:
        if isinstance(w, str) and w in basin.wells:
            out.append(basin.wells.index(w))
        elif isinstance(w, int) and not isinstance(w, bool) and 0 <= w < len(basin.wells):
            out.append(w)
        else:
            raise ValueError(f"data.wells: no well {w!r} in {basin.source} (wells: {', '.join(basin.wells)})")
    return out


def _standardise(x: np.ndarray, train: slice) -> np.ndarray:
    sd = x[train].std(axis=0)
    return (x - x[train].mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def prepare(basin: Basin, *, wells: Optional[Sequence] = None, horizon: int = 30, val_start: Optional[str] = None,
            test_start: Optional[str] = None) -> Prepared:
    """Split, scale and assemble the daily inputs (see the module docstring)."""
    cols = select_wells(basin, wells)
    dates = basin.dates.astype("datetime64[D]")
    i_val = day_index(dates, val_start, 0.5, "val_start")
    i_test = day_index(dates, test_start, 0.7, "test_start")
    if not i_val < i_test:
        raise ValueError(f"data.val_start ({dates[i_val]}) must come before data.test_start ({dates[i_test]})")
    train = slice(0, i_val)
    head = basin.head[:, cols]
    mean, sd = head[train].mean(axis=0), head[train].std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    doy = (dates - dates.astype("datetime64[Y]")).astype(int) + 1
    f = basin.forcing
    shared = np.column_stack([
        _standardise(np.log1p(np.maximum(f[:, 0], 0.0)), train), _standardise(f[:, 1], train),
        _standardise(np.log1p(np.maximum(f[:, 2], 0.0)), train), _standardise(f[:, 3], train),
        np.sin(2 * np.pi * doy / DAYS_PER_YEAR), np.cos(2 * np.pi * doy / DAYS_PER_YEAR)])
    n_w, n_t = len(cols), len(dates)
    per_well = []
    for k in range(n_w):
        parts = [((head[:, k] - mean[k]) / sd[k])[:, None], shared]
        if n_w > 1:
            parts.append(np.tile(np.eye(n_w)[k], (n_t, 1)))
        per_well.append(np.concatenate(parts, axis=1))
    bounds = {"train": (1, i_val - 1), "val": (i_val, i_test - 1), "test": (i_test, n_t - 1)}
    return Prepared(dates=dates, doy=doy, inputs=np.stack(per_well).astype(np.float32), head=head,
                    head_mean=mean, head_std=sd, wells=[basin.wells[c] for c in cols], horizon=int(horizon),
                    bounds=bounds, drought=basin.drought, source=basin.source)


def origins(p: Prepared, split: str, lag: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Forecast windows of a split: well index ``(n,)`` and origin day ``(n,)``.

    An origin ``t`` needs ``lag`` days of history (``t >= lag - 1``) and its targets
    ``t + 1 .. t + H`` inside the split.
    """
    first, last = p.bounds[split]
    t = np.arange(max(first - 1, lag - 1), last - p.horizon + 1, int(stride))
    n_w = p.inputs.shape[0]
    return np.repeat(np.arange(n_w), len(t)), np.tile(t, n_w)


def windows(p: Prepared, well: np.ndarray, origin: np.ndarray, lag: int) -> np.ndarray:
    """Input windows ``(n, lag, F)`` float32 for the given wells and origins."""
    steps = np.arange(-int(lag) + 1, 1)
    return p.inputs[well[:, None], origin[:, None] + steps[None, :]]


def targets(p: Prepared, well: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Scaled head changes ``(n, H)`` float32 (see the module docstring)."""
    ahead = np.arange(1, p.horizon + 1)
    future = p.head[origin[:, None] + ahead[None, :], well[:, None]]
    now = p.head[origin, well][:, None]
    return ((future - now) / p.head_std[well][:, None]).astype(np.float32)


def to_metres(p: Prepared, well: np.ndarray, origin: np.ndarray, scaled: np.ndarray) -> np.ndarray:
    """Scaled changes ``(..., n, H)`` -> forecast heads in metres, same shape."""
    return p.head[origin, well][:, None] + np.asarray(scaled, dtype=np.float64) * p.head_std[well][:, None]


def observed(p: Prepared, well: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Observed heads ``(n, H)`` on the target days, metres."""
    ahead = np.arange(1, p.horizon + 1)
    return p.head[origin[:, None] + ahead[None, :], well[:, None]]
