"""Shared skeleton of the surrogate strategies (``rbf``, ``gp``).

Every proposal follows the same three steps, so they live here once:

1. while fewer than ``n_initial`` configs are evaluated, failed or pending, hand out the
   next points of an initial design drawn from the study seed alone (the same design on
   every call and after a resume);
2. then ask the subclass's surrogate-guided ``_search``;
3. fill whatever is still missing with random configs not seen before (a failed fit, a
   tiny space), so a batch always has ``n`` distinct configs unless the space is exhausted.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import MutableSet
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import numpy as np

from ..seeding import derived_rng
from ..space import Space, select_new
from ..trial import Observations
from .base import Strategy

# key of the seed stream the initial design is drawn from (seeding.derived_rng)
DESIGN_STREAM = 1


class ModelBasedStrategy(Strategy):
    """Initial design, then a surrogate-guided search. Subclasses implement ``_search``.

    Args:
        space: the search space.
        n_initial: size of the initial design (default :meth:`default_n_initial`).
        design: initial design method (``"lhs"``, ``"sobol"``, ``"random"``).
        seed: the study seed (passed by the study); fixes the initial design.
    """

    def __init__(self, space: Space, n_initial: Optional[int] = None, design: str = "lhs", seed: int = 0,
                 **options: Any):
        from ..design import DESIGN_METHODS
        super().__init__(space, **options)
        self.n_initial = (self.default_n_initial(space) if n_initial is None
                          else int_option(self.name, "n_initial", n_initial, 0, maximum=MAX_INITIAL))
        if design not in DESIGN_METHODS:
            raise ValueError(f"strategy '{self.name}': design '{design}' is unknown; "
                             f"choose one of {', '.join(DESIGN_METHODS)}")
        self.design = design
        self.seed = int(seed)
        self._design: Optional[list[dict]] = None

    @staticmethod
    def default_n_initial(space: Space) -> int:
        """Initial design size when ``n_initial`` is not given: ``2 * (d + 1)``."""
        return 2 * (space.dim + 1)

    def initial_configs(self) -> list[dict]:
        """The whole initial design: ``n_initial`` configs, a function of the seed only."""
        if self._design is None:
            from ..design import initial_design
            self._design = initial_design(self.space, self.n_initial, derived_rng(self.seed, DESIGN_STREAM),
                                          method=self.design)
        return self._design

    def propose(self, observations: Observations, pending: Sequence[Mapping[str, Any]], n: int,
                rng: np.random.Generator) -> list[dict]:
        """``n`` distinct new configs (fewer only when a finite space is exhausted)."""
        from ..design import sample_unseen
        n = int(n)
        if n <= 0:
            return []
        pending = list(pending)
        # the keys of every config seen cost ~10 us each: built only when something asks for them
        # (the surrogate searches keep proposals away from seen points by distance instead)
        taken = LazyKeys(lambda: self.taken(observations, pending))
        out: list[dict] = []
        n_seen = len(observations.configs) + len(observations.failed) + len(pending)
        if n_seen < self.n_initial:
            out += select_new(self.space, self.initial_configs(), taken, min(n, self.n_initial - n_seen))  # type: ignore[arg-type]
        design_done = n_seen + len(out) >= self.n_initial
        cardinality = self.space.cardinality()
        if len(out) < n and design_done and self.space.dim and (cardinality == math.inf or cardinality > len(taken)):
            out += self._search(observations, pending + out, n - len(out), rng, taken)
        if len(out) < n:
            out += sample_unseen(self.space, n - len(out), rng, taken)  # type: ignore[arg-type]
        return out

    @abstractmethod
    def _search(self, observations: Observations, pending: list, n: int, rng: np.random.Generator,
                taken: MutableSet[str]) -> list[dict]:
        """Up to ``n`` surrogate-guided configs not in ``taken`` (add the chosen keys to it);
        ``[]`` when there is no usable model (the caller falls back to random)."""


class LazyKeys(MutableSet):
    """A set of config keys built on first use (membership, length, iteration) by ``build``.

    ``add`` / ``discard`` before that are remembered and applied when it is built, so a
    caller can record its choices without paying for the keys of the whole history.
    """

    def __init__(self, build: Callable[[], MutableSet[str]]):
        self._build: Optional[Callable[[], MutableSet[str]]] = build
        self._keys: MutableSet[str] = set()
        self._log: list[tuple[bool, str]] = []

    def _full(self) -> MutableSet[str]:
        if self._build is not None:
            keys, self._build = self._build(), None
            for added, k in self._log:
                (keys.add if added else keys.discard)(k)
            self._keys, self._log = keys, []
        return self._keys

    @property
    def built(self) -> bool:
        """True once the keys of the history have been computed."""
        return self._build is None

    def __contains__(self, key: object) -> bool:
        return key in self._full()

    def __iter__(self) -> Iterator[str]:
        return iter(self._full())

    def __len__(self) -> int:
        return len(self._full())

    def add(self, key: str) -> None:
        if self._build is None:
            self._keys.add(key)
        else:
            self._log.append((True, key))

    def discard(self, key: str) -> None:
        if self._build is None:
            self._keys.discard(key)
        else:
            self._log.append((False, key))


def encode_configs(space: Space, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``space.encode(configs)`` ``(n, d)``, column by column: linear real and integer
    parameters in one array operation (the same arithmetic, so the same bits), the rest
    value by value. About 10x faster than the row-by-row encoding for a long history."""
    from ..parameters import Integer, Real

    n = len(configs)
    if n == 0:
        return np.zeros((0, space.dim))
    out = np.empty((n, space.dim))
    try:
        for name, p in space.params.items():
            sl = space.slice_of(name)
            if sl.stop == sl.start:
                continue
            values = [c[name] for c in configs]
            if isinstance(p, Real) and not p.log:
                lo, hi = float(p.low), float(p.high)
                out[:, sl.start] = (np.asarray(values, dtype=float) - lo) / (hi - lo)
            elif isinstance(p, Integer) and not p.log:
                v = np.asarray([int(x) for x in values], dtype=np.int64)
                out[:, sl.start] = (v - p.low + 0.5) / (p.high - p.low + 1)
            else:
                out[:, sl] = np.vstack([p.encode(x) for x in values])
    except (KeyError, TypeError, ValueError):
        return space.encode(configs)  # its one-line error names the problem
    return out


#: the largest initial design a strategy builds (``n_initial: 1e9`` would allocate tens of GiB)
MAX_INITIAL = 100_000


def int_option(strategy: str, option: str, value: Any, minimum: int, maximum: Optional[int] = None) -> int:
    """Validate an integer strategy option (one-line error naming strategy and option)."""
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"strategy '{strategy}': {option} must be an integer, got {value!r}") from None
    if v != value or v < minimum:
        raise ValueError(f"strategy '{strategy}': {option} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and v > maximum:
        raise ValueError(f"strategy '{strategy}': {option} must be at most {maximum}, got {value!r}")
    return v
