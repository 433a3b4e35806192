"""Read the named columns of a CSV, HDF5 or NPZ file, whatever they mean.

:func:`read_columns` returns ``{name: array}`` with one entry per row along the first
axis: a CSV column becomes ``(n,)`` float64 when every cell is a number (empty cells and
``NA``/``nan`` become NaN), else ``(n,)`` str; an HDF5 dataset (any group depth, named by
its path without the leading ``/``) or an NPZ array keeps its shape. Choosing target and
features is ``data.py``'s job.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

SUFFIXES = (".csv", ".h5", ".hdf5", ".npz")
_MISSING = {"", "na", "nan", "null", "none"}


def read_columns(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All columns of the file, in file order.

    Raises:
        FileNotFoundError / ValueError: one line naming the file and what is wrong.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"data file '{path}' is a directory, not a CSV, HDF5 or NPZ file")
    if not path.is_file():
        raise FileNotFoundError(f"data file '{path}' not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        columns = _read_csv(path)
    elif suffix in (".h5", ".hdf5"):
        columns = _read_hdf5(path)
    elif suffix == ".npz":
        columns = _read_npz(path)
    else:
        raise ValueError(f"data file '{path}': unsupported format '{path.suffix}' (use {', '.join(SUFFIXES)})")
    if not columns:
        raise ValueError(f"data file '{path}': no columns found")
    return columns


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            first = fh.readline()
            delimiter = max(",;\t", key=first.count) if any(d in first for d in ",;\t") else ","
            fh.seek(0)
            reader = csv.reader(fh, delimiter=delimiter)
            rows, lines = [], []
            for row in reader:
                if any(cell.strip() for cell in row):  # blank lines carry nothing
                    rows.append([cell.strip() for cell in row])
                    lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise ValueError(f"data file '{path}': not a UTF-8 text file") from None
    if not rows:
        raise ValueError(f"data file '{path}': empty")
    header = not all(_is_number(cell) for cell in rows[0])
    names = [c or f"col{i}" for i, c in enumerate(rows[0])] if header else [f"col{i}" for i in range(len(rows[0]))]
    seen = {n for n in names if names.count(n) > 1}
    if seen:
        raise ValueError(f"data file '{path}': column name '{sorted(seen)[0]}' appears more than once in the header")
    body, body_lines = (rows[1:], lines[1:]) if header else (rows, lines)
    for row, line in zip(body, body_lines):
        if len(row) != len(names):
            raise ValueError(f"data file '{path}': line {line} has {len(row)} fields, expected {len(names)} "
                             f"(delimiter {delimiter!r})")
    return {name: _column([row[i] for row in body]) for i, name in enumerate(names)}


def _column(cells: list[str]) -> np.ndarray:
    """Numbers as float64 (missing -> NaN) when every present cell is one, else str."""
    try:
        return np.array(["nan" if c.lower() in _MISSING else c for c in cells], dtype=np.float64)
    except ValueError:
        return np.array(cells, dtype=str)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_hdf5(path: Path) -> dict[str, np.ndarray]:
    import h5py  # noqa: PLC0415 - only HDF5 files need it

    columns: dict[str, np.ndarray] = {}

    def take(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset) and obj.ndim >= 1:
            values = obj[()]
            columns[name] = values.astype(str) if values.dtype.kind in "SO" else np.asarray(values)

    groups: list[str] = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(take)
            groups = [k for k, v in f.items() if isinstance(v, h5py.Group)]
    except (OSError, RuntimeError, KeyError) as e:  # h5py raises these for damaged files
        raise ValueError(f"data file '{path}': not a readable HDF5 file ({str(e).splitlines()[0]})") from None
    for group in groups:  # a group is no column: its datasets are, as 'group/name'
        columns.pop(group, None)
    return columns


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    import zipfile  # noqa: PLC0415

    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files if npz[k].ndim >= 1}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"data file '{path}': not a readable NPZ file ({str(e).splitlines()[0]})") from None
