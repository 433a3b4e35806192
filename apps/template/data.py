"""Synthetic tabular regression data for the template app: generator and loader.

The target is a smooth nonlinear function of 8 features in [0, 1] plus noise whose
scale grows with one feature (heteroscedastic), so the repeated trainings of a config
really do scatter::

    y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + 2 x5 x6 + eps,
    eps ~ N(0, (0.3 + 1.5 x7)^2)

Features 5-7 matter little (x7 only through the noise). Generate the file with::

    python -m uqhpo.apps.template.data --out datasets/template/regression.h5

The HDF5 file holds ``X`` ``(n, 8)`` and ``y`` ``(n,)`` (float32) with attributes that
record the generator version, its parameters and the seed; the same seed gives a
byte-identical file. :func:`load_table` reads such a file or a CSV whose last column
is the target.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

GENERATOR_VERSION = "1"
DEFAULT_PATH = Path("datasets/template/regression.h5")
N_FEATURES = 8


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


def load_table(path: str | os.PathLike, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Read features and target from an HDF5 file (datasets ``X``, ``y``) or a CSV file
    (header optional, last column = target).

    Args:
        path: ``.h5``/``.hdf5`` or ``.csv`` file.
        min_rows: fewer rows than this is an error.

    Returns:
        ``X`` ``(n, d)`` float32 and ``y`` ``(n,)`` float32.

    Raises:
        FileNotFoundError / ValueError: one line naming the file and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file '{path}' not found (generate it with: "
                                f"python -m uqhpo.apps.template.data --out {path})")
    if path.suffix.lower() in (".h5", ".hdf5"):
        X, y = _read_hdf5(path)
    elif path.suffix.lower() == ".csv":
        X, y = _read_csv(path)
    else:
        raise ValueError(f"data file '{path}': unsupported format '{path.suffix}' (use .h5, .hdf5 or .csv)")
    if X.ndim != 2 or X.shape[1] < 1:
        raise ValueError(f"data file '{path}': X must be 2-D (rows, features), got shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"data file '{path}': y must be 1-D with {X.shape[0]} rows, got shape {y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        bad = int((~np.isfinite(X)).any(axis=1).sum() + (~np.isfinite(y)).sum())
        raise ValueError(f"data file '{path}': {bad} row(s) contain NaN or inf")
    if X.shape[0] < min_rows:
        raise ValueError(f"data file '{path}': only {X.shape[0]} rows, need at least {min_rows}")
    return X.astype(np.float32), y.astype(np.float32)


def _read_hdf5(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import h5py  # noqa: PLC0415

    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("X", "y") if k not in f]
            if missing:
                raise ValueError(f"data file '{path}': missing dataset(s) {missing} (expected 'X' and 'y')")
            return np.asarray(f["X"][()], dtype=np.float64), np.asarray(f["y"][()], dtype=np.float64)
    except OSError as e:
        raise ValueError(f"data file '{path}': not a readable HDF5 file ({e})") from None


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path) as fh:
        first = fh.readline()
    try:  # a first line that is not all numbers is a header
        [float(x) for x in first.split(",")]
        header = False
    except ValueError:
        header = True
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1 if header else 0, ndmin=2, dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"data file '{path}': not a numeric CSV ({str(e).splitlines()[0]})") from None
    if table.shape[1] < 2:
        raise ValueError(f"data file '{path}': need at least 2 columns (features..., target), got {table.shape[1]}")
    return table[:, :-1], table[:, -1]


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
