"""Tables for the template app: a synthetic generator and a reader for your own file.

**Your data.** :func:`load_table` reads a table from a CSV, HDF5 or NPZ file and returns
the feature matrix and the target column. A CSV has a header row (column names), then
one row per sample; HDF5/NPZ files hold one dataset per column (``(n,)``) or per block
of columns (``(n, k)``). Which column is the target and which are features is data, not
code (the config's ``data:`` section, see ``task.py``).

**Synthetic data** (for ``make demo`` and the tests): a smooth nonlinear target of 8
features in [0, 1] plus noise whose scale grows with one feature, so that repeated
trainings of a config really do scatter::

    y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + 2 x5 x6 + eps,
    eps ~ N(0, (0.3 + 1.5 x7)^2)

``python -m uqhpo.apps.template.data --out datasets/template/regression.h5`` writes
``X`` ``(n, 8)`` and ``y`` ``(n,)`` (float32) with the generator version, parameters and
seed as attributes; the same seed gives a byte-identical file.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .columns import read_columns

GENERATOR_VERSION = "1"
DEFAULT_PATH = Path("datasets/template/regression.h5")
N_FEATURES = 8
KINDS = ("regression", "classification")


# -- synthetic data ----------------------------------------------------------------------------
def generate(n_rows: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw the synthetic data set.

    Args:
        n_rows: number of rows ``n``.
        seed: the only source of randomness.

    Returns:
        ``X`` ``(n, 8)`` float32 in [0, 1], ``y`` ``(n,)`` float32.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    rng = np.random.default_rng(seed)
    X = rng.random((n_rows, N_FEATURES))
    clean = (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3]
             + 5 * X[:, 4] + 2 * X[:, 5] * X[:, 6])
    noise = rng.standard_normal(n_rows) * (0.3 + 1.5 * X[:, 7])
    return X.astype(np.float32), (clean + noise).astype(np.float32)


def write_hdf5(path: str | os.PathLike, n_rows: int = 4000, seed: int = 0) -> Path:
    """Generate and write the data set; written to a temporary name, then renamed.

    Returns:
        The path written.
    """
    import h5py  # noqa: PLC0415 - only the generator needs it at import time

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    X, y = generate(n_rows, seed)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        # track_times=False keeps modification times out of the file: same seed, same bytes
        with h5py.File(tmp, "w", track_order=False) as f:
            f.create_dataset("X", data=X, track_times=False)
            f.create_dataset("y", data=y, track_times=False)
            f.attrs["generator"] = "uqhpo.apps.template.data"
            f.attrs["generator_version"] = GENERATOR_VERSION
            f.attrs["parameters"] = json.dumps({"n_rows": int(n_rows), "n_features": N_FEATURES})
            f.attrs["seed"] = int(seed)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# -- your data ---------------------------------------------------------------------------------
@dataclass
class Table:
    """Features and target of one file, ready to split.

    Attributes:
        X: ``(n, d)`` float32 features.
        y: ``(n,)`` float32 target (regression) or int64 class index (classification).
        feature_names: ``d`` names (``"X[3]"`` for column 3 of a 2-D dataset ``X``).
        target: the target column's name.
        classes: class labels (classification; ``y`` indexes them), else empty.
        path: the file read.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target: str
    classes: list
    path: Path


def default_target(names: Sequence[str]) -> str:
    """The target when none is named: the last column (HDF5 datasets come in name order)."""
    return names[-1]


def load_table(path: str | os.PathLike, *, target: Optional[str] = None, features: Optional[Sequence[str]] = None,
               kind: str = "regression", min_rows: int = 2) -> Table:
    """Read the target and feature columns of a ``.csv``, ``.h5``/``.hdf5`` or ``.npz`` file.

    Args:
        path: the file.
        target: target column / dataset key; None: see :func:`default_target`.
        features: feature columns / keys; None: every other column with one value per row.
        kind: "regression" (numeric target) or "classification" (any labels, >= 2 classes).
        min_rows: fewer rows than this is an error.

    Raises:
        FileNotFoundError / ValueError: one line naming the file and the column at fault.
    """
    path = Path(path)
    if kind not in KINDS:
        raise ValueError(f"data.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    columns = read_columns(path)
    names = list(columns)
    target = default_target(names) if target is None else str(target)
    _require(path, [target], names, "target")
    y_raw = columns[target]
    n = len(y_raw)
    if features is None:  # every other column with one entry per row
        features = [k for k in names if k != target and len(columns[k]) == n]
    features = [str(f) for f in features]
    _require(path, features, names, "feature")
    if target in features:
        raise ValueError(f"data file '{path}': column '{target}' is both the target and a feature")
    if not features:
        raise ValueError(f"data file '{path}': no feature columns besides the target '{target}'")
    if y_raw.ndim == 2 and y_raw.shape[1] == 1:
        y_raw = y_raw[:, 0]
    if y_raw.ndim != 1:
        raise ValueError(f"data file '{path}': target '{target}' must be one value per row, got shape {y_raw.shape}")
    blocks, feature_names = [], []
    for name in features:
        block = _float32(path, name, _numeric(path, name, columns[name], "feature"), "feature")
        if len(block) != n:
            raise ValueError(f"data file '{path}': feature '{name}' has {len(block)} rows, target '{target}' has {n}")
        block = block.reshape(n, -1)
        blocks.append(block)
        feature_names += [name] if block.shape[1] == 1 and columns[name].ndim == 1 else \
            [f"{name}[{i}]" for i in range(block.shape[1])]
    if n < min_rows:
        raise ValueError(f"data file '{path}': only {n} rows, need at least {min_rows}")
    X = np.concatenate(blocks, axis=1).astype(np.float32)
    if kind == "regression":
        return Table(X, _float32(path, target, _numeric(path, target, y_raw, "target"), "target"), feature_names,
                     target, [], path)
    y, classes = _class_index(path, target, y_raw)
    return Table(X, y, feature_names, target, classes, path)


def _float32(path: Path, name: str, values: np.ndarray, role: str) -> np.ndarray:
    """``values`` as float32, refusing numbers beyond float32 range (they would become inf)."""
    out = values.astype(np.float32)
    if not np.isfinite(out).all():
        big = float(np.max(np.abs(values)))
        raise ValueError(f"data file '{path}': {role} column '{name}' has values beyond the float32 range "
                         f"(largest magnitude {big:.3g} > {float(np.finfo(np.float32).max):.3g}); rescale it")
    return out


def _require(path: Path, wanted: Sequence[str], names: Sequence[str], role: str) -> None:
    import difflib  # noqa: PLC0415

    for name in wanted:
        if name not in names:
            hint = [n for n in names if n.lower() == name.lower()] or difflib.get_close_matches(name, names, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ValueError(f"data file '{path}': no {role} column '{name}'{extra}; columns: {', '.join(names)}")


def _numeric(path: Path, name: str, values: np.ndarray, role: str) -> np.ndarray:
    """The column as float64, refusing text, NaN and inf with one line naming it."""
    if values.dtype.kind not in "biuf":
        example = str(next((v for v in values.ravel() if not _is_number(v)), values.ravel()[0]))
        raise ValueError(f"data file '{path}': {role} column '{name}' is not numeric (e.g. {example!r})"
                         + ("; use data.kind: classification for class labels" if role == "target" else ""))
    out = values.astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        rows = int(bad.reshape(len(out), -1).any(axis=1).sum())
        raise ValueError(f"data file '{path}': {role} column '{name}' has {rows} missing or non-finite value(s)")
    return out


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _class_index(path: Path, name: str, values: np.ndarray) -> tuple[np.ndarray, list]:
    """Class labels -> indices ``(n,)`` int64 into the sorted unique labels."""
    if values.dtype.kind in "biuf":
        values = _numeric(path, name, values, "target")
    elif (values == "").any():
        raise ValueError(f"data file '{path}': target column '{name}' has {int((values == '').sum())} empty value(s)")
    classes, y = np.unique(values, return_inverse=True)
    labels = [c.item() for c in classes]                 # plain str / float, for messages and metadata
    if len(labels) < 2:
        raise ValueError(f"data file '{path}': target column '{name}' has only one class ({labels[0]!r})")
    if len(labels) > max(2, len(values) // 2):
        raise ValueError(f"data file '{path}': target column '{name}' has {len(labels)} distinct values in "
                         f"{len(values)} rows: a regression target? (data.kind)")
    return y.astype(np.int64), labels


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uqhpo.apps.template.data",
                                     description="Write the template app's synthetic regression data (HDF5).")
    parser.add_argument("--out", default=str(DEFAULT_PATH), help="output file (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=4000, help="number of rows (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be >= 1")
    out = write_hdf5(args.out, n_rows=args.rows, seed=args.seed)
    print(f"wrote {out} ({args.rows} rows, {N_FEATURES} features, seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
