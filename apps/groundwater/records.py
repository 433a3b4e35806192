"""The basin record in memory, its checks, and the per-well CSV form of public well records.

CSV (one file per well; a folder of them is one basin, well name = file name without
``.csv``): a header row with at least ``date, head, precipitation, temperature,
streamflow, pumping`` (any order, other columns ignored), one row per consecutive day,
dates as ``YYYY-MM-DD``. Several files must cover the same dates; the forcing columns of
the first file (by name) are the basin's forcing, each file gives its well's head.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .hydrology import FORCING_NAMES

CSV_COLUMNS = ("date", "head", *FORCING_NAMES)


@dataclass
class Basin:
    """Daily records of one basin.

    Attributes:
        dates: ``(T,)`` datetime64[D], consecutive days.
        forcing: ``(T, 4)`` in the order of :data:`hydrology.FORCING_NAMES`.
        head: ``(T, W)`` levels in metres.
        wells: the ``W`` well names.
        drought: (first, last) day of the drought when known (the generator records it).
        source: the file or folder read.
        well_params: generator response parameters, name -> ``(W,)`` (empty for real data).
    """

    dates: np.ndarray
    forcing: np.ndarray
    head: np.ndarray
    wells: list[str]
    drought: Optional[tuple[np.datetime64, np.datetime64]] = None
    source: str = ""
    well_params: dict = field(default_factory=dict)


def check_basin(basin: Basin, source: str) -> Basin:
    """Shapes, finiteness and consecutive days; one-line ``ValueError`` naming source and key."""
    t = basin.dates
    if t.ndim != 1 or len(t) < 2:
        raise ValueError(f"{source}: dataset '/time' has shape {t.shape}, expected (T,) with T >= 2 days")
    for key, a, width in (("forcing", basin.forcing, len(FORCING_NAMES)), ("head", basin.head, None)):
        if a.ndim != 2 or a.shape[0] != len(t) or (width is not None and a.shape[1] != width):
            expected = f"({len(t)}, {width if width is not None else 'W'})"
            raise ValueError(f"{source}: dataset '/{key}' has shape {a.shape}, expected {expected}")
        bad = np.argwhere(~np.isfinite(a))
        if len(bad):
            raise ValueError(f"{source}: dataset '/{key}' contains NaN or inf (first at row {bad[0][0]}, "
                             f"column {bad[0][1]})")
    steps = np.diff(t.astype("datetime64[D]").astype(np.int64))
    if np.any(steps != 1):
        at = int(np.argmax(steps != 1))
        raise ValueError(f"{source}: dataset '/time' is not consecutive daily dates (break after {t[at]})")
    if basin.head.shape[1] == 0:
        raise ValueError(f"{source}: dataset '/head' holds no well")
    return basin


def _read_one(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One CSV -> dates ``(T,)`` and column -> ``(T,)`` values."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column '{missing[0]}' (need {', '.join(CSV_COLUMNS)})")
        index = {c: header.index(c) for c in CSV_COLUMNS}
        dates: list = []
        values: dict[str, list] = {c: [] for c in CSV_COLUMNS[1:]}
        for line_no, row in enumerate(reader, 2):
            if not row or not "".join(row).strip():
                continue
            try:
                dates.append(np.datetime64(row[index["date"]].strip(), "D"))
            except (ValueError, IndexError):
                raise ValueError(f"{path}:{line_no}: column 'date' needs YYYY-MM-DD, "
                                 f"got {(row + [''])[index['date']]!r}") from None
            for c in values:
                text = row[index[c]].strip() if index[c] < len(row) else ""
                try:
                    values[c].append(float(text) if text else np.nan)
                except ValueError:
                    raise ValueError(f"{path}:{line_no}: column '{c}' value {text!r} is not a number") from None
    if not dates:
        raise ValueError(f"{path}: no data rows")
    cols = {c: np.asarray(v, dtype=np.float64) for c, v in values.items()}
    for c, v in cols.items():
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{path}: column '{c}' contains NaN or an empty value "
                             f"(first on {dates[int(np.argmax(~np.isfinite(v)))]})")
    return np.asarray(dates, dtype="datetime64[D]"), cols


def read_csv_records(path: str | os.PathLike) -> Basin:
    """A ``.csv`` file (one well) or a folder of them -> :class:`Basin` (validated)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"groundwater data file not found: {path}")
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: folder holds no .csv files")
    dates, first = _read_one(files[0])
    heads = [first["head"]]
    for other in files[1:]:
        d, cols = _read_one(other)
        if len(d) != len(dates) or np.any(d != dates):
            raise ValueError(f"{other}: its dates differ from those of {files[0].name} "
                             f"({d[0]}..{d[-1]} vs {dates[0]}..{dates[-1]})")
        heads.append(cols["head"])
    basin = Basin(dates=dates, forcing=np.column_stack([first[c] for c in FORCING_NAMES]),
                  head=np.column_stack(heads), wells=[f.stem for f in files], source=str(path))
    return check_basin(basin, str(files[0]) if len(files) == 1 else str(path))


def write_csv_records(folder: str | os.PathLike, basin: Basin) -> list[Path]:
    """Write one ``<well>.csv`` per well (the form :func:`read_csv_records` reads)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for w, name in enumerate(basin.wells):
        path = folder / f"{name}.csv"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for i, day in enumerate(basin.dates):
                writer.writerow([str(day), f"{basin.head[i, w]:.6f}",
                                 *(f"{basin.forcing[i, j]:.6f}" for j in range(len(FORCING_NAMES)))])
        os.replace(tmp, path)
        out.append(path)
    return out
