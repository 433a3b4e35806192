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

from abc import abstractmethod
from typing import Any, Mapping, Optional, Sequence

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
        n_initial: size of the initial design (default ``2 * (d + 1)``, ``d = space.dim``).
        design: initial design method (``"lhs"``, ``"sobol"``, ``"random"``).
        seed: the study seed (passed by the study); fixes the initial design.
    """

    def __init__(self, space: Space, n_initial: Optional[int] = None, design: str = "lhs", seed: int = 0,
                 **options: Any):
        from ..design import DESIGN_METHODS
        super().__init__(space, **options)
        self.n_initial = 2 * (space.dim + 1) if n_initial is None else int_option(self.name, "n_initial", n_initial, 0,
                                                                                    maximum=MAX_INITIAL)
        if design not in DESIGN_METHODS:
            raise ValueError(f"strategy '{self.name}': design '{design}' is unknown; "
                             f"choose one of {', '.join(DESIGN_METHODS)}")
        self.design = design
        self.seed = int(seed)
        self._design: Optional[list[dict]] = None

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
        taken = self.taken(observations, pending)
        out: list[dict] = []
        n_seen = len(observations.configs) + len(observations.failed) + len(pending)
        if n_seen < self.n_initial:
            out += select_new(self.space, self.initial_configs(), taken, min(n, self.n_initial - n_seen))
        design_done = n_seen + len(out) >= self.n_initial
        if len(out) < n and design_done and self.space.dim and self.space.cardinality() > len(taken):
            out += self._search(observations, pending + out, n - len(out), rng, taken)
        if len(out) < n:
            out += sample_unseen(self.space, n - len(out), rng, taken)
        return out

    @abstractmethod
    def _search(self, observations: Observations, pending: list, n: int, rng: np.random.Generator,
                taken: set[str]) -> list[dict]:
        """Up to ``n`` surrogate-guided configs not in ``taken`` (add the chosen keys to it);
        ``[]`` when there is no usable model (the caller falls back to random)."""


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
