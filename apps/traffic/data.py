"""Traffic data on disk: the seeded synthetic network year (HDF5) and the readers.

HDF5 layout (``T`` hours, ``L`` directed links, ``n`` sites, ``P`` site pairs):
``/traffic (T, L)`` Gbps, ``/time (T,)`` seconds since 1970 UTC, ``/links (L, 4)``
(source, target, capacity in Gbps, length in km), ``/link_names (L,)``,
``/adjacency (L, L)`` (1 where two links share a router), ``/routing (L, P)`` with
``/pairs (P, 2)``, ``/outage (T, L)``, and per site ``/node_names``, ``/node_kind``,
``/node_timezones``, ``/node_utc_offset``, ``/node_lat_lon``. The readers need only
``/traffic``, ``/time`` and ``/adjacency``; CSV (first column a timestamp, one column
per link) is read too. Run ``python -m uqhpo.apps.traffic.data --out FILE``.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from uqhpo.atomic_file import atomic_path

from .simulate import DEFAULTS, simulate
from .topology import build_topology, link_adjacency

GENERATOR_VERSION = "1"
REQUIRED_KEYS = ("traffic", "time", "adjacency")
_log = logging.getLogger("uqhpo")


@dataclass
class TrafficData:
    """One traffic table as read from disk.

    Attributes:
        traffic: ``(T, L)`` float64 load per link (Gbps for the synthetic file).
        time: ``(T,)`` int64 seconds since 1970 UTC, increasing.
        adjacency: ``(L, L)`` int8 symmetric link graph, zero diagonal.
        link_names: ``L`` names; capacity: ``(L,)`` Gbps or None; path: the file.
    """

    traffic: np.ndarray
    time: np.ndarray
    adjacency: np.ndarray
    link_names: list[str]
    capacity: Optional[np.ndarray]
    path: Path

    @property
    def steps_per_day(self) -> int:
        step = float(np.median(np.diff(self.time))) if len(self.time) > 1 else 3600.0
        return max(1, int(round(86400.0 / step)))


# -- generation -------------------------------------------------------------------------------
def generate_file(path: str | os.PathLike, days: int = 365, seed: int = 0, **options: Any) -> Path:
    """Simulate ``days`` of hourly traffic and write the HDF5 layout atomically."""
    topo = build_topology()
    sim = simulate(topo, seed=seed, days=days, **options)
    links = np.column_stack([topo.source, topo.target, topo.capacity, topo.length_km])
    text = lambda xs: np.array([x.encode() for x in xs], dtype="S")  # noqa: E731
    arrays = {
        "traffic": sim["traffic"].astype(np.float32), "time": sim["time"], "links": links,
        "link_names": text(topo.link_names), "adjacency": topo.adjacency(), "routing": topo.routing,
        "pairs": topo.pairs.astype(np.int32), "outage": sim["outage"].astype(np.int8),
        "node_names": text(topo.names), "node_kind": text(topo.kinds), "node_timezones": text(topo.timezones),
        "node_utc_offset": topo.utc_offset, "node_lat_lon": topo.lat_lon,
    }
    attrs = {"generator": "uqhpo.apps.traffic.data", "generator_version": GENERATOR_VERSION, "seed": int(seed),
             "parameters": json.dumps(sim["params"], sort_keys=True), "scale_gbps": sim["scale"],
             "units": "traffic in Gbps (hourly mean), time in s since 1970 UTC",
             "links_columns": "source,target,capacity_gbps,length_km"}
    return write_h5(path, arrays, attrs)


def write_h5(path: str | os.PathLike, arrays: dict, attrs: dict) -> Path:
    """Write datasets and attributes to ``path`` (temporary name, then rename; no timestamps)."""
    import h5py  # noqa: PLC0415 - optional dependency

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value, track_times=False)
        for key, value in attrs.items():
            f.attrs[key] = value
    return Path(path)


def ensure_file(path: str | os.PathLike, days: int, seed: int) -> Path:
    """Generate ``path`` when missing (atomic: concurrent workers are safe)."""
    path = Path(path)
    if not path.exists():
        _log.info("traffic: generating %d days of link traffic into %s", days, path)
        generate_file(path, days=days, seed=seed)
    return path


# -- reading ----------------------------------------------------------------------------------
def check(data: TrafficData) -> TrafficData:
    """Validate shapes and values; one-line errors naming the file and the dataset."""
    src, t = data.path, data.traffic
    if t.ndim != 2 or t.shape[0] < 2 or t.shape[1] < 2:
        raise ValueError(f"{src}: dataset '/traffic' has shape {t.shape}, expected (T, L) with T, L >= 2")
    T, L = t.shape
    if data.time.shape != (T,):
        raise ValueError(f"{src}: dataset '/time' has shape {data.time.shape}, expected ({T},) like /traffic")
    if data.adjacency.shape != (L, L):
        raise ValueError(f"{src}: dataset '/adjacency' has shape {data.adjacency.shape}, expected ({L}, {L}) "
                         "(one row and column per link of /traffic)")
    bad = ~np.isfinite(t)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise ValueError(f"{src}: dataset '/traffic' contains NaN or inf (first at row {row}, link {col})")
    if not np.all(np.diff(data.time) > 0):
        raise ValueError(f"{src}: dataset '/time' must be strictly increasing")
    if not np.array_equal(data.adjacency, data.adjacency.T):
        raise ValueError(f"{src}: dataset '/adjacency' must be symmetric")
    data.adjacency = (data.adjacency != 0).astype(np.int8)
    np.fill_diagonal(data.adjacency, 0)
    return data


def read_h5(path: str | os.PathLike) -> TrafficData:
    """Read the HDF5 layout (only ``/traffic``, ``/time``, ``/adjacency`` are required)."""
    import h5py  # noqa: PLC0415

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"traffic data file not found: {path}")
    with h5py.File(path, "r") as f:
        missing = [k for k in REQUIRED_KEYS if k not in f]
        if missing:
            raise ValueError(f"{path}: missing dataset '/{missing[0]}' (need /traffic, /time, /adjacency)")
        traffic = np.asarray(f["traffic"][...], dtype=np.float64)
        names = ([n.decode() if isinstance(n, bytes) else str(n) for n in f["link_names"][...]]
                 if "link_names" in f else [f"link{i}" for i in range(traffic.shape[-1])])
        capacity = np.asarray(f["links"][:, 2], dtype=np.float64) if "links" in f and f["links"].ndim == 2 \
            and f["links"].shape[1] >= 3 else None
        data = TrafficData(traffic, np.asarray(f["time"][...]).astype(np.int64),
                           np.asarray(f["adjacency"][...]), names, capacity, path)
    return check(data)


def _seconds(stamp: str, where: str) -> int:
    try:
        return int(round(float(stamp)))
    except ValueError:
        pass
    try:
        return int(np.datetime64(stamp.strip().rstrip("Z").replace(" ", "T"), "s").astype(np.int64))
    except ValueError:
        raise ValueError(f"{where}: cannot read timestamp {stamp!r} (use ISO 8601 or seconds since 1970)") from None


def adjacency_from_names(names: list[str]) -> Optional[np.ndarray]:
    """Links named ``A->B`` -> ``(L, L)`` shared-router adjacency; None if a name does not parse."""
    ends = [n.split("->") for n in names]
    if not all(len(e) == 2 and e[0].strip() and e[1].strip() for e in ends):
        return None
    routers = {r: i for i, r in enumerate(sorted({x.strip() for e in ends for x in e}))}
    source = np.array([routers[e[0].strip()] for e in ends])
    target = np.array([routers[e[1].strip()] for e in ends])
    return link_adjacency(source, target)


def read_adjacency(path: str | os.PathLike) -> np.ndarray:
    """An ``(L, L)`` adjacency from ``.npy`` or a headerless numeric CSV."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data.adjacency_file: file not found: {path}")
    try:
        return np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError as e:
        raise ValueError(f"data.adjacency_file: cannot read {path} as a numeric matrix ({e})") from None


def read_csv(path: str | os.PathLike, adjacency: Optional[str | os.PathLike] = None) -> TrafficData:
    """CSV with a header; first column a timestamp, then one column per link.

    The link graph comes from ``adjacency`` (``.npy`` or CSV matrix) or, when the link
    columns are named ``A->B``, from the routers they share.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"traffic data file not found: {path}")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 3 or len(rows[0]) < 3:
        raise ValueError(f"{path}: need a header and at least 2 rows of 'timestamp, link1, link2, ...'")
    names = [n.strip() for n in rows[0][1:]]
    try:
        values = np.array([[float(v) if v.strip() else np.nan for v in r[1:]] for r in rows[1:]])
    except ValueError as e:
        raise ValueError(f"{path}: non-numeric traffic value ({e})") from None
    if values.ndim != 2 or values.shape[1] != len(names):
        raise ValueError(f"{path}: every row needs {len(names) + 1} columns like the header")
    time = np.array([_seconds(r[0], f"{path}:{i + 2}") for i, r in enumerate(rows[1:])], dtype=np.int64)
    adj = read_adjacency(adjacency) if adjacency is not None else adjacency_from_names(names)
    if adj is None:
        raise ValueError(f"{path}: no link graph: name the columns 'A->B' or set data.adjacency_file to an (L, L) file")
    return check(TrafficData(values, time, np.asarray(adj), names, None, path))


def load_traffic(path: str | os.PathLike, adjacency: Optional[str | os.PathLike] = None) -> TrafficData:
    """HDF5 (``.h5``/``.hdf5``) or CSV (anything else) -> :class:`TrafficData`."""
    if Path(path).suffix.lower() in (".h5", ".hdf5"):
        data = read_h5(path)
        if adjacency is not None:
            data.adjacency = np.asarray(read_adjacency(adjacency))
            data = check(data)
        return data
    return read_csv(path, adjacency)


def write_csv(path: str | os.PathLike, data: TrafficData) -> Path:
    """Write ``data`` in the CSV form (ISO timestamps, one column per link)."""
    stamps = np.datetime_as_string(data.time.astype("datetime64[s]"), unit="s")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", *data.link_names])
        for s, row in zip(stamps, data.traffic):
            w.writerow([s, *(f"{v:.6g}" for v in row)])
    return Path(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate synthetic hourly link traffic of a research network (HDF5).")
    parser.add_argument("--out", default="datasets/traffic/traffic.h5")
    parser.add_argument("--days", type=int, default=int(DEFAULTS["days"]))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be positive")
    path = generate_file(args.out, days=args.days, seed=args.seed)
    print(f"wrote {args.days} days x 102 links to {path}")


if __name__ == "__main__":
    main()
