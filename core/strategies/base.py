"""The strategy plug point: what to try next.

A strategy is a pure function of (observations, pending, n, rng). It keeps no state
between calls that is not re-derivable from its arguments, so resuming a study is:
reopen the storage, rebuild the observations, call ``propose`` again. Nothing is pickled.

A new strategy proves it keeps the contract with ``uqhpo.testing.strategies.check_strategy``.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import MutableSet
from typing import Any, Mapping, Sequence

import numpy as np

from ..space import KeyOverlay, Space, taken_keys
from ..trial import Observations


class Strategy(ABC):
    """Base class. Subclasses set ``name`` and implement ``propose``.

    Args:
        space: the search space.
        **options: strategy-specific options (validated by the subclass; unknown ones
            raise ``ValueError`` naming the option).
    """

    name: str = "base"

    def __init__(self, space: Space, **options: Any):
        self.space = space
        if options:
            raise ValueError(f"strategy '{self.name}': unknown option(s) {sorted(options)}")

    @abstractmethod
    def propose(self, observations: Observations, pending: Sequence[Mapping[str, Any]], n: int,
                rng: np.random.Generator) -> list[dict]:
        """Return ``n`` distinct valid configs, none equal (after rounding) to an evaluated,
        failed or pending config when the space allows it.

        Args:
            observations: finished configs with their aggregate objective (minimised),
                failed configs, and the study's budget (``observations.budget``, or None).
            pending: configs being evaluated now (their replicates are not all finished).
            n: number of configs wanted.
            rng: the only source of randomness.
        """

    def taken(self, observations: Observations, pending: Sequence[Mapping[str, Any]]) -> MutableSet[str]:
        """Keys (``Space.key``) of every evaluated, failed and pending config: never propose these."""
        if observations.seen_keys is not None:  # kept by the study per trial: no re-encoding of the history
            return KeyOverlay(observations.seen_keys, taken_keys(self.space, pending))
        return taken_keys(self.space, observations.configs, observations.failed, pending)

    def is_exhausted(self, observations: Observations, pending: Sequence[Mapping[str, Any]]) -> bool:
        """True when there is nothing left to propose: by default, when every config of a
        finite space is evaluated, failed or pending (a strategy over a subset overrides it)."""
        if self.space.cardinality() == math.inf:
            return False  # a real parameter: never (and no need to key the whole history)
        return len(self.taken(observations, pending)) >= self.space.cardinality()
