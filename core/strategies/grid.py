"""Grid search: a full-factorial sweep (e.g. epochs x learning rate) in a fixed order."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..design import describe_values, enumerate_configs, validate_points
from ..space import Categorical, Fixed, Integer, Space, select_new
from ..trial import Observations
from .base import Strategy

#: an Integer parameter without listed values uses all of them up to this many
MAX_IMPLICIT_INTEGER_VALUES = 20
#: refuse grids larger than this (they are a mistake, not a sweep)
MAX_GRID_POINTS = 1_000_000


class GridStrategy(Strategy):
    """Full factorial over given values, row-major in the order of the space (the last
    parameter varies fastest).

    Args:
        space: the search space.
        values: parameter name -> list of values. Parameters not listed use all their
            values when they are Fixed, Categorical, or Integer with at most 20 values.
        seed: the study seed (unused: the grid order is deterministic).

    Raises:
        ValueError: naming the parameter without values, an unknown parameter, or a value
            outside the space.
    """

    name = "grid"

    def __init__(self, space: Space, values: Mapping[str, Sequence[Any]] | None = None, seed: int = 0,
                 **options: Any):
        super().__init__(space, **options)
        self.seed = int(seed)
        self.values = self._check_values(dict(values or {}))
        n_points = int(np.prod([len(v) for v in self.values.values()], dtype=float))
        if n_points > MAX_GRID_POINTS:
            raise ValueError(f"strategy 'grid': {n_points} grid points is more than {MAX_GRID_POINTS}; "
                             "list fewer values")
        #: every grid point in order (derived from the options only, not from history)
        self.points: list[dict] = list(enumerate_configs(space, self.values))

    def _check_values(self, values: dict[str, Sequence[Any]]) -> dict[str, list]:
        unknown = [k for k in values if k not in self.space.params]
        if unknown:
            raise ValueError(f"strategy 'grid': values given for unknown parameter '{unknown[0]}' "
                             f"(space has {', '.join(self.space.names)})")
        out: dict[str, list] = {}
        for name, p in self.space.params.items():
            if name in values:
                given = values[name]
                if isinstance(given, (str, bytes)) or not isinstance(given, Sequence) or len(given) == 0:
                    raise ValueError(f"strategy 'grid': parameter '{name}': values must be a non-empty list")
                checked = []
                for v in given:
                    if not p.contains(v):
                        raise ValueError(f"strategy 'grid': parameter '{name}': value {v!r} is not in "
                                         f"{describe_values(p)}")
                    v = validate_points(Space({name: p}), [{name: v}])[0][name]
                    if v in checked:
                        raise ValueError(f"strategy 'grid': parameter '{name}': value {v!r} is listed twice")
                    checked.append(v)
                out[name] = checked
            elif isinstance(p, Fixed):
                out[name] = [p.value]
            elif isinstance(p, Categorical):
                out[name] = list(p.choices)
            elif isinstance(p, Integer) and p.n_values <= MAX_IMPLICIT_INTEGER_VALUES:
                out[name] = list(range(p.low, p.high + 1))
            else:
                raise ValueError(f"strategy 'grid': parameter '{name}' needs a list of values "
                                 "(only Fixed, Categorical and Integer with <= 20 values default to all)")
        return out

    def propose(self, observations: Observations, pending: Sequence[Mapping[str, Any]], n: int,
                rng: np.random.Generator) -> list[dict]:
        """The next ``n`` grid points not evaluated, failed or pending (fewer at the end)."""
        return select_new(self.space, self.points, self.taken(observations, pending), int(n))

    def is_exhausted(self, observations: Observations, pending: Sequence[Mapping[str, Any]]) -> bool:
        taken = self.taken(observations, pending)
        return all(self.space.key(c) in taken for c in self.points)

    @property
    def size(self) -> int:
        """Number of grid points."""
        return len(self.points)
