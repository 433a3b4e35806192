"""Search spaces: the only place that maps configurations to the unit cube and back.

A configuration is a plain ``dict`` from parameter name to value. Surrogates and
acquisition functions work on encoded points in ``[0, 1]^d``; the parameter types
(:mod:`uqhpo.parameters`, re-exported here) define each column. The space also owns
what every proposer needs to stay valid and new: vectorised rounding of candidates
(:meth:`Space.round`), the number of distinct configs (:meth:`Space.cardinality`),
hashable config keys (:meth:`Space.key`) and de-duplication against evaluated and
pending configs (:func:`taken_keys`, :func:`select_new`).
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, MutableSet
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .parameters import Categorical, Fixed, Integer, Parameter, Real, parameter_from_dict

__all__ = ["Parameter", "Real", "Integer", "Categorical", "Fixed", "Space", "Column", "parameter_from_dict",
           "taken_keys", "select_new", "KeyOverlay"]


@dataclass(frozen=True)
class Column:
    """Metadata of one encoded column: which parameter and what kind of step it takes."""

    param: str
    kind: str  # "real" | "integer" | "onehot" | "ordinal"
    #: size of one discrete step in the unit cube (0 for real columns and log-scaled integers)
    step: float


class Space:
    """An ordered set of named parameters.

    Args:
        params: mapping name -> Parameter (insertion order is the column order).
    """

    def __init__(self, params: Mapping[str, Parameter]):
        if isinstance(params, Space):
            params = params.params
        self.params: dict[str, Parameter] = {}
        for name, p in params.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"parameter names must be non-empty strings, got {name!r}")
            if name in self.params:
                raise ValueError(f"parameter '{name}': duplicate name")
            if not isinstance(p, Parameter):
                raise ValueError(f"parameter '{name}': expected Real/Integer/Categorical/Fixed, got {type(p).__name__}")
            self.params[name] = p._bind(name)
        self.columns: list[Column] = []
        self._slices: dict[str, slice] = {}
        for name, p in self.params.items():
            start = len(self.columns)
            self.columns += [Column(name, p.kind, float(p.step))] * p.width
            self._slices[name] = slice(start, len(self.columns))

    # -- basic protocol -------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Number of encoded columns ``d``."""
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        return list(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self):
        return iter(self.params)

    def __getitem__(self, name: str) -> Parameter:
        return self.params[name]

    def __repr__(self) -> str:
        return f"Space({self.to_dict()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    # -- encoding -------------------------------------------------------------------------
    def encode(self, configs: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> np.ndarray:
        """Configs -> ``(n, d)`` array in the unit cube (a single dict gives ``(1, d)``)."""
        if isinstance(configs, Mapping):
            configs = [configs]
        rows = []
        for c in configs:
            missing = [n for n, p in self.params.items() if n not in c and not isinstance(p, Fixed)]
            if missing:
                raise ValueError(f"config is missing parameter(s) {missing}")
            parts = [p.encode(c[n]) for n, p in self.params.items() if p.width]
            rows.append(np.concatenate(parts) if parts else np.zeros(0))
        return np.asarray(rows, dtype=float).reshape(len(rows), self.dim)

    def decode(self, X: np.ndarray) -> list[dict]:
        """``(n, d)`` array (clipped to the cube) -> list of n valid configs."""
        X = self._finite(X)
        return [{n: _plain(p.decode(row[self._slices[n]])) for n, p in self.params.items()} for row in X]

    def round(self, X: np.ndarray) -> np.ndarray:
        """Snap ``(n, d)`` points to the encodings of the configs they decode to.

        Vectorised ``encode(decode(X))``: integers go to the centre of their bin (in their
        own scale), one-hot blocks to their largest column, real columns are clipped to
        the cube; fixed parameters have no column. Idempotent.

        Returns:
            ``(n, d)`` array of encodings of valid configs.
        """
        X = self._finite(X)
        out = np.empty_like(X)
        for name, p in self.params.items():
            sl = self._slices[name]
            if p.width:
                out[:, sl] = p.round_encoded(X[:, sl])
        return out

    def _finite(self, X: np.ndarray) -> np.ndarray:
        """``X`` as a float ``(n, d)`` array; a surrogate's NaN must not crash decoding."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        if X.shape[1] != self.dim:
            raise ValueError(f"expected {self.dim} columns, got {X.shape[1]}")
        return np.nan_to_num(X, nan=0.5, posinf=1.0, neginf=0.0)

    def sample(self, rng: np.random.Generator, n: int = 1) -> list[dict]:
        """n uniformly random valid configs (uniform in the encoded cube)."""
        U = rng.random((n, self.dim))
        # one-hot blocks: uniform choice via argmax of uniform draws
        return self.decode(U)

    def contains(self, config: Mapping[str, Any]) -> bool:
        """True when config has exactly this space's parameters with valid values."""
        if set(config) != set(self.params):
            return False
        return all(p.contains(config[n]) for n, p in self.params.items())

    def slice_of(self, name: str) -> slice:
        """Columns of parameter ``name`` in the encoded array."""
        return self._slices[name]

    def cardinality(self) -> float:
        """Number of distinct configs: an ``int``, or ``math.inf`` when a parameter is real."""
        size: float = 1
        for p in self.params.values():
            size *= p.cardinality()
            if size == math.inf:
                return math.inf
        return size

    # -- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {n: p.to_dict() for n, p in self.params.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, Any]]) -> Space:
        return cls({n: parameter_from_dict(n, spec) for n, spec in d.items()})

    def fingerprint(self) -> str:
        """Stable short hash of the definition. Order-sensitive: the order fixes the columns."""
        blob = json.dumps([[n, d] for n, d in self.to_dict().items()], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def key(self, config: Mapping[str, Any]) -> str:
        """Hashable canonical form of a config: equal for configs that are the same point
        (key order and numpy scalar types do not matter). Used for de-duplication."""
        return json.dumps({n: _plain(config[n]) for n in self.params if n in config}, sort_keys=True, default=str)

    #: former name of :meth:`key`
    config_key = key


def taken_keys(space: Space, *groups: Iterable[Mapping[str, Any]]) -> set[str]:
    """Keys of every config in the given groups (evaluated, failed, pending...)."""
    return {space.key(c) for g in groups for c in g}


class KeyOverlay(MutableSet):
    """A set of config keys: a read-only ``base`` (not copied: a long history's keys cost
    nothing per proposal) plus the keys added here. Removing a base key copies the base."""

    def __init__(self, base: AbstractSet[str], extra: Iterable[str] = ()):
        self._base: AbstractSet[str] = base
        self._added: set[str] = {k for k in extra if k not in base}

    def __contains__(self, key: object) -> bool:
        return key in self._added or key in self._base

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        yield from self._added

    def __len__(self) -> int:
        return len(self._base) + len(self._added)

    def add(self, key: str) -> None:
        if key not in self._base:
            self._added.add(key)

    def discard(self, key: str) -> None:
        if key in self._added:
            self._added.discard(key)
        elif key in self._base:
            self._base = set(self._base) - {key}


def select_new(space: Space, candidates: Sequence[Mapping[str, Any]], taken: MutableSet[str], n: int) -> list[dict]:
    """The first ``n`` candidates (in the given order: best first) whose key is not in
    ``taken`` and not repeated. ``taken`` is updated with the selected keys."""
    out: list[dict] = []
    for c in candidates:
        if len(out) >= n:
            break
        k = space.key(c)
        if k in taken:
            continue
        taken.add(k)
        out.append(dict(c))
    return out


def _plain(v: Any) -> Any:
    """numpy scalars -> Python scalars so configs serialise as JSON."""
    if isinstance(v, np.generic):
        return v.item()
    return v
