"""Synthetic multi-well basin (HDF5) and the readers of HDF5 and per-well CSV records.

HDF5 layout (one file per basin; ``T`` days, ``W`` wells):

* ``/time (T,) int64``: days since 1970-01-01, consecutive;
* ``/forcing (T, 4) float64``: columns named by the attribute ``names``
  (precipitation mm/day, temperature degC, streamflow m3/s, pumping mm/day);
* ``/head (T, W) float64``: level of each well in metres, well names in attribute ``wells``;
* ``/well_params (W, P)`` (optional): the generator's response parameters, attribute
  ``columns``.

Root attributes: generator, version, parameters (JSON), seed, drought start/end dates.
The CSV form of public well records is read too: one file per well with the columns
``date, head, precipitation, temperature, streamflow, pumping`` (see :mod:`.records`).
Run ``python -m uqhpo.apps.groundwater.data --out FILE [--csv FOLDER]``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from uqhpo.atomic_file import atomic_path

from . import hydrology as hy
from .records import Basin, check_basin, read_csv_records, write_csv_records

GENERATOR_VERSION = "1"
DEFAULTS: dict[str, Any] = {"n_years": 20, "n_wells": 5, "start": "2000-01-01",
                            "drought_start_year": 12, "drought_years": 5}
H5_KEYS = ("time", "forcing", "head")
_log = logging.getLogger("uqhpo")


def generate(n_years: int = 20, n_wells: int = 5, seed: int = 0, start: str = "2000-01-01",
             drought_start_year: int = 12, drought_years: int = 5) -> Basin:
    """Simulate a basin with a multi-year drought.

    Args:
        n_years: length of the record; n_wells: number of wells (the first has the
            reference response of :class:`hydrology.Well`).
        seed: seeds the one NumPy generator used; start: first day (ISO date).
        drought_start_year: first drought year, counted from 1 (12: the 12th year);
        drought_years: its length in years (0: no drought).
    """
    if n_years < 1 or n_wells < 1:
        raise ValueError(f"need n_years >= 1 and n_wells >= 1, got {n_years}, {n_wells}")
    rng = np.random.default_rng(seed)
    first = np.datetime64(start, "D")
    year0 = first.astype("datetime64[Y]").astype(int) + 1970
    end = np.datetime64(f"{year0 + n_years}-01-01", "D")
    all_days = np.arange(first - hy.SPIN_UP_DAYS, end, dtype="datetime64[D]")
    years = all_days.astype("datetime64[Y]").astype(int) + 1970
    doy = (all_days - all_days.astype("datetime64[Y]")).astype(int) + 1
    d0 = year0 + drought_start_year - 1
    drought = (years >= d0) & (years < d0 + drought_years)
    f = hy.forcing(doy, years, drought, hy.Climate(), rng)
    wells = hy.draw_wells(n_wells, rng)
    heads = np.column_stack([hy.head(f["recharge"], f["pumping"], w, rng) for w in wells])
    keep = slice(hy.SPIN_UP_DAYS, None)
    span = None
    if drought_years > 0 and drought[keep].any():
        days = all_days[keep][drought[keep]]
        span = (days[0], days[-1])
    return Basin(dates=all_days[keep], forcing=np.column_stack([f[k] for k in hy.FORCING_NAMES])[keep],
                 head=heads[keep], wells=[f"W{i + 1}" for i in range(n_wells)], drought=span, source="generated",
                 well_params={name: np.array([asdict(w)[name] for w in wells]) for name in hy.Well.columns()})


# -- HDF5 --------------------------------------------------------------------------------------
def write_h5(path: str | os.PathLike, basin: Basin, attrs: dict) -> Path:
    """Write the HDF5 layout atomically (temporary name, then rename); byte-reproducible."""
    import h5py  # noqa: PLC0415 - optional dependency, only for files

    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=False) as f:
        f.create_dataset("time", data=basin.dates.astype("datetime64[D]").astype(np.int64), track_times=False)
        f["time"].attrs["units"] = "days since 1970-01-01"
        f.create_dataset("forcing", data=np.asarray(basin.forcing, np.float64), track_times=False)
        f["forcing"].attrs["names"] = list(hy.FORCING_NAMES)
        f["forcing"].attrs["units"] = list(hy.FORCING_UNITS)
        f.create_dataset("head", data=np.asarray(basin.head, np.float64), track_times=False)
        f["head"].attrs["wells"] = list(basin.wells)
        f["head"].attrs["units"] = "m"
        if basin.well_params:
            cols = list(basin.well_params)
            f.create_dataset("well_params", data=np.column_stack([basin.well_params[c] for c in cols]),
                             track_times=False)
            f["well_params"].attrs["columns"] = cols
        for k, v in attrs.items():
            f.attrs[k] = v
    return Path(path)


def generate_file(path: str | os.PathLike, seed: int = 0, **options: Any) -> Path:
    """Generate a basin (options: see :data:`DEFAULTS`) and write it with its parameters."""
    params = {**DEFAULTS, **options}
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown generator option(s): {', '.join(sorted(unknown))}")
    basin = generate(seed=seed, **params)
    attrs = {"generator": "uqhpo.apps.groundwater.data", "generator_version": GENERATOR_VERSION,
             "seed": int(seed), "parameters": json.dumps(params, sort_keys=True),
             "climate": json.dumps(asdict(hy.Climate()), sort_keys=True)}
    if basin.drought is not None:
        attrs["drought_start"], attrs["drought_end"] = str(basin.drought[0]), str(basin.drought[1])
    return write_h5(path, basin, attrs)


def ensure_file(path: str | os.PathLike, seed: int, **options: Any) -> Path:
    """Generate ``path`` when it is missing (atomic, so concurrent workers are safe)."""
    path = Path(path)
    if not path.exists():
        _log.info("groundwater: generating a synthetic basin into %s", path)
        generate_file(path, seed=seed, **options)
    return path


def read_h5(path: str | os.PathLike) -> Basin:
    """Read the HDF5 layout -> :class:`Basin` (validated; one-line errors name file and key)."""
    import h5py  # noqa: PLC0415

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"groundwater data file not found: {path}")
    with h5py.File(path, "r") as f:
        missing = [k for k in H5_KEYS if k not in f]
        if missing:
            raise ValueError(f"{path}: missing dataset '/{missing[0]}' (need {', '.join('/' + k for k in H5_KEYS)})")
        time, forcing, heads = (np.asarray(f[k][...]) for k in H5_KEYS)
        names = [str(n) for n in f["forcing"].attrs.get("names", hy.FORCING_NAMES)]
        wells = [str(w) for w in f["head"].attrs.get("wells", [])]
        params = {}
        if "well_params" in f:
            cols = [str(c) for c in f["well_params"].attrs.get("columns", [])]
            params = {c: np.asarray(f["well_params"][:, i]) for i, c in enumerate(cols)}
        span = (np.datetime64(str(f.attrs["drought_start"]), "D"), np.datetime64(str(f.attrs["drought_end"]), "D")) \
            if "drought_start" in f.attrs else None
    if forcing.ndim == 2 and sorted(names) == sorted(hy.FORCING_NAMES) and len(names) == forcing.shape[1]:
        forcing = forcing[:, [names.index(n) for n in hy.FORCING_NAMES]]
    elif forcing.ndim == 2 and forcing.shape[1] == len(hy.FORCING_NAMES):
        raise ValueError(f"{path}: dataset '/forcing' names {names}, expected {list(hy.FORCING_NAMES)}")
    if heads.ndim == 1:
        heads = heads[:, None]
    wells = wells if len(wells) == heads.shape[-1] else [f"W{i + 1}" for i in range(heads.shape[-1])]
    dates = time.astype(np.int64).astype("datetime64[D]") if time.ndim == 1 else time
    basin = Basin(dates=dates, forcing=forcing, head=heads, wells=wells, drought=span, source=str(path),
                  well_params=params)
    return check_basin(basin, str(path))


def load_basin(path: str | os.PathLike) -> Basin:
    """``.h5``/``.hdf5`` file, one ``.csv`` file, or a folder of ``.csv`` files (one per well)."""
    p = Path(path)
    if p.suffix.lower() in (".h5", ".hdf5"):
        return read_h5(p)
    return read_csv_records(p)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate a synthetic groundwater basin (HDF5, optional CSVs).")
    parser.add_argument("--out", default="datasets/groundwater/basin.h5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--years", type=int, default=DEFAULTS["n_years"])
    parser.add_argument("--wells", type=int, default=DEFAULTS["n_wells"])
    parser.add_argument("--drought-start-year", type=int, default=DEFAULTS["drought_start_year"])
    parser.add_argument("--drought-years", type=int, default=DEFAULTS["drought_years"])
    parser.add_argument("--csv", default=None, help="also write one CSV per well into this folder")
    args = parser.parse_args(argv)
    if args.years < 1 or args.wells < 1:
        parser.error("--years and --wells must be positive")
    path = generate_file(args.out, seed=args.seed, n_years=args.years, n_wells=args.wells,
                         drought_start_year=args.drought_start_year, drought_years=args.drought_years)
    print(f"wrote {args.years} years x {args.wells} wells to {path}")
    if args.csv:
        written = write_csv_records(args.csv, read_h5(path))
        print(f"wrote {len(written)} CSV files to {args.csv}")


if __name__ == "__main__":
    main()
