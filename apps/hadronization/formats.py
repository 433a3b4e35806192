"""Readers and a writer of the public text formats of Herwig cluster decays.

Two layouts are read, line by line (one event per line, clusters separated by ``|``):

* **flat**: a cluster is ``q1;q2;cluster;h1;h2``; each object ``pid,E,px,py,pz``, and
  quark objects may carry a sixth field ``pert`` (0/1, the perturbative flag). Quark
  records ``88,0,0,0,0`` are placeholders (the cluster came from the fission of a heavy
  cluster): the cluster is kept, usable wherever the frame needs no quark. A chunk whose
  cluster itself is a placeholder holds nothing and is skipped.
* **AllClusters**: a whole cluster tree per chunk, each object
  ``(index),pid,[ children ], E,px,py,pz`` (quarks may add ``,pert``). Every cluster
  (pid 81) whose two children are hadrons is one decay; its quarks are the two records
  that list it as a child, and a cluster made by fission (its parent is a cluster) gets
  placeholder quarks. Heavy clusters (children are clusters) are not decays and are skipped.

Anything else is refused with a one-line error naming the file and line.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

import numpy as np

from . import physics as ph
from .data import check_arrays

_PLACEHOLDER = np.array([ph.PLACEHOLDER_PID, 0.0, 0.0, 0.0, 0.0])
_TREE_OBJECT = re.compile(r"^\((\d+)\),\s*(-?\d+),\s*\[([^\]]*)\],\s*(.*)$")


class FormatError(ValueError):
    """A chunk of the text file that fits no known layout (message: file:line: what)."""


def _numbers(text: str, where: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in text.split(",") if v.strip()], dtype=float)
    except ValueError:
        raise FormatError(f"{where}: non-numeric value in {text.strip()[:60]!r}") from None


def _quark(values: np.ndarray, where: str) -> tuple[np.ndarray, int]:
    """``pid,E,px,py,pz[,pert]`` -> (row ``(5,)``, pert flag)."""
    if len(values) not in (5, 6):
        raise FormatError(f"{where}: a quark needs 'pid,E,px,py,pz' or 'pid,E,px,py,pz,pert', got {len(values)} fields")
    return values[:5], int(values[5]) if len(values) == 6 else 0


def _flat_cluster(chunk: str, where: str) -> Optional[tuple[np.ndarray, tuple[int, int]]]:
    """``q1;q2;cluster;h1;h2`` -> (``(5, 5)`` rows, pert flags); None for a placeholder cluster."""
    objects = [o for o in chunk.split(";") if o.strip()]
    if len(objects) != 5:
        raise FormatError(f"{where}: a cluster needs 5 objects 'q1;q2;cluster;h1;h2' separated by ';', "
                          f"got {len(objects)} in {chunk[:60]!r}")
    values = [_numbers(o, where) for o in objects]
    if values[2][0] == ph.PLACEHOLDER_PID:
        return None
    for v in values[2:]:
        if len(v) != 5:
            raise FormatError(f"{where}: cluster and hadrons need 'pid,E,px,py,pz', got {chunk[:60]!r}")
    (q1, p1), (q2, p2) = _quark(values[0], where), _quark(values[1], where)
    return np.stack([q1, q2, *values[2:]]), (p1, p2)


def _tree_clusters(chunk: str, where: str) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """One AllClusters chunk -> its two-hadron cluster decays (see the module doc)."""
    objects: dict[int, tuple[int, list[int], np.ndarray]] = {}
    order: list[int] = []
    for text in (o.strip() for o in chunk.split(";")):
        if not text:
            continue
        m = _TREE_OBJECT.match(text)
        if m is None:
            raise FormatError(f"{where}: expected '(index),pid,[ children ], E,px,py,pz', got {text[:60]!r}")
        children = [int(c) for c in m.group(3).split()]
        objects[int(m.group(1))] = (int(m.group(2)), children, _numbers(m.group(4), where))
        order.append(int(m.group(1)))
    decays = []
    for index in order:
        pid, children, p4 = objects[index]
        kids = [objects.get(c) for c in children]
        if pid != ph.CLUSTER_PID or len(kids) != 2 or any(k is None or k[0] == ph.CLUSTER_PID for k in kids):
            continue                       # a quark, a hadron, a heavy cluster or a one-hadron cluster
        parents = [objects[i] for i in order if index in objects[i][1]]
        quarks = [q for q in parents if q[0] != ph.CLUSTER_PID]
        if len(quarks) == 2:
            (q1, p1), (q2, p2) = (_quark(np.concatenate([[q[0]], q[2]]), where) for q in quarks)
        else:                              # made by fission: no quark record
            q1, q2, p1, p2 = _PLACEHOLDER, _PLACEHOLDER, 0, 0
        hadrons = [np.concatenate([[k[0]], k[2][:4]]) for k in kids]  # type: ignore[index]
        if len(p4) < 4:
            raise FormatError(f"{where}: cluster ({index}) needs E,px,py,pz")
        decays.append((np.stack([q1, q2, np.concatenate([[pid], p4[:4]]), *hadrons]), (p1, p2)))
    return decays


def read_text(path: str | os.PathLike) -> dict:
    """Read a public text file (flat or AllClusters layout) -> dict of arrays (validated).

    Placeholder quark rows are kept as ``(88, 0, 0, 0, 0)``; ``pert`` holds the sixth
    quark field where present, else 0.
    """
    path = Path(path)
    rows, flags = [], []
    try:
        with open(path, encoding="ascii") as f:
            for line_no, line in enumerate(f, 1):
                where = f"{path}:{line_no}"
                for chunk in (c.strip() for c in line.strip().split("|")):
                    if not chunk:
                        continue
                    found = _tree_clusters(chunk, where) if chunk.startswith("(") else [_flat_cluster(chunk, where)]
                    for item in found:
                        if item is not None:
                            rows.append(item[0])
                            flags.append(item[1])
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text data file (binary content); use .h5/.hdf5 for HDF5") from None
    if not rows:
        raise ValueError(f"{path}: no clusters found")
    table = np.stack(rows)
    arrays = {"q1": table[:, 0], "q2": table[:, 1], "cluster": table[:, 2, 1:],
              "pert": np.array(flags, dtype=float), "h1": table[:, 3], "h2": table[:, 4]}
    return check_arrays(arrays, str(path))


def write_text(path: str | os.PathLike, arrays: dict, clusters_per_event: int = 3, *,
               placeholder_quarks_every: int = 0, with_pert: bool = False, layout: str = "flat") -> Path:
    """Write ``arrays`` in a public text layout (for tests and examples).

    Args:
        arrays: the HDF5 layout's dict of arrays.
        clusters_per_event: clusters per line.
        placeholder_quarks_every: every k-th cluster gets placeholder quarks (0: none).
        with_pert: add the ``pert`` field to quark records.
        layout: ``"flat"`` or ``"allclusters"`` (each cluster then becomes a heavy cluster
            with pid 81 that fissions into this cluster and a second, one-hadron cluster).
    """
    fmt = lambda v: ",".join(f"{x:.10g}" for x in v)  # noqa: E731
    lines, n = [], len(arrays["cluster"])
    for start in range(0, n, clusters_per_event):
        chunks = []
        for i in range(start, min(n, start + clusters_per_event)):
            placeholder = bool(placeholder_quarks_every) and (i + 1) % placeholder_quarks_every == 0
            quarks = [np.asarray(arrays[q][i], float) for q in ("q1", "q2")]
            pert = [int(arrays["pert"][i][k]) for k in range(2)]
            if layout == "flat":
                qs = ["88,0,0,0,0"] * 2 if placeholder else [
                    fmt(q) + (f",{f}" if with_pert else "") for q, f in zip(quarks, pert)]
                cl = np.concatenate([[ph.CLUSTER_PID], arrays["cluster"][i]])
                chunks.append(";".join(qs + [fmt(cl), fmt(arrays["h1"][i]), fmt(arrays["h2"][i])]) + ";")
            else:
                chunks.append(_tree_chunk(arrays, i, placeholder, with_pert, fmt))
        lines.append("|".join(chunks) + "|")
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def _tree_chunk(arrays: dict, i: int, placeholder: bool, with_pert: bool, fmt) -> str:
    """One cluster as an AllClusters tree; with ``placeholder`` it is the child of a heavy cluster."""
    cl, h1, h2 = arrays["cluster"][i], arrays["h1"][i], arrays["h2"][i]
    obj = lambda idx, pid, kids, p4: f"({idx}),{int(pid)},[ {' '.join(map(str, kids))} ], {fmt(p4)}"  # noqa: E731
    hadrons = [obj(20, h1[0], [], h1[1:]), obj(21, h2[0], [], h2[1:])]
    if not placeholder:
        pert = [f",{int(arrays['pert'][i][k])}" if with_pert else "" for k in range(2)]
        qs = [obj(k + 1, arrays[q][i][0], [10], arrays[q][i][1:]) + pert[k] for k, q in enumerate(("q1", "q2"))]
        return ";".join(qs + [obj(10, ph.CLUSTER_PID, [20, 21], cl)] + hadrons) + ";"
    # a heavy cluster (9) = this cluster (10) + a one-pion cluster (11) at rest-ish, both pid 81
    extra = np.array([0.2, 0.0, 0.0, 0.1])
    extra_pion = obj(22, ph.PI_ZERO, [], extra)
    heavy = obj(9, ph.CLUSTER_PID, [10, 11], cl + extra)
    return ";".join([obj(1, 2, [9], (cl + extra) / 2), obj(2, -2, [9], (cl + extra) / 2), heavy,
                     obj(10, ph.CLUSTER_PID, [20, 21], cl), obj(11, ph.CLUSTER_PID, [22], extra)]
                    + hadrons + [extra_pion]) + ";"
