"""Random search: uniform configs in the encoded cube, never a repeat."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..design import sample_unseen
from ..space import Space
from ..trial import Observations
from .base import Strategy


class RandomStrategy(Strategy):
    """Uniformly random configs, de-duplicated after rounding against evaluated, failed
    and pending configs.

    Args:
        space: the search space.
        seed: the study seed (unused: randomness comes from the ``rng`` of ``propose``).
    """

    name = "random"

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        super().__init__(space, **options)
        self.seed = int(seed)

    def propose(self, observations: Observations, pending: Sequence[Mapping[str, Any]], n: int,
                rng: np.random.Generator) -> list[dict]:
        return sample_unseen(self.space, int(n), rng, self.taken(observations, pending))
