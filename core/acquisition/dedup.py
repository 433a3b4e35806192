"""De-duplication of proposals after rounding: shared by every strategy.

Two configs are "the same" when their canonical keys (``Space.config_key``) match after
decoding, so a candidate that rounds onto an evaluated or pending integer point is dropped.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from ..space import Space


def taken_keys(space: Space, *groups: Iterable[Mapping[str, Any]]) -> set[str]:
    """Keys of every config in the given groups (evaluated, failed, pending...)."""
    return {space.config_key(c) for g in groups for c in g}


def select_new(space: Space, candidates: Sequence[Mapping[str, Any]], taken: set[str], n: int) -> list[dict]:
    """The first ``n`` candidates (in the given order: best first) whose key is not in
    ``taken`` and not repeated. ``taken`` is updated with the selected keys."""
    out: list[dict] = []
    for c in candidates:
        if len(out) >= n:
            break
        k = space.config_key(c)
        if k in taken:
            continue
        taken.add(k)
        out.append(dict(c))
    return out


def space_size(space: Space) -> float:
    """Number of distinct configs (``inf`` when any parameter is real)."""
    from ..space import Categorical, Integer, Real
    size = 1.0
    for p in space.params.values():
        if isinstance(p, Real):
            return float("inf")
        if isinstance(p, Integer):
            size *= p.n_values
        elif isinstance(p, Categorical):
            size *= len(p.choices)
    return size
