"""Regularized (aging) evolution for architecture-like choices.

After Real et al. (2019), "Regularized evolution for image classifier architecture
search": the population is the most recent ``population_size`` finished configs (old
ones age out however good they were); a child is a one-parameter mutation of the best
of ``sample_size`` members drawn at random. Everything derives from the history, so
the strategy keeps no state between calls.
"""
from __future__ import annotations

import math
from collections.abc import MutableSet
from typing import Any, Mapping, Sequence

import numpy as np

from ..design import initial_design, sample_unseen
from ..space import Categorical, Integer, Real, Space
from ..trial import Observations
from .base import Strategy

# tries to find an unseen mutant before falling back to a random config
_MUTATION_TRIES = 50


class EvolutionStrategy(Strategy):
    """Aging evolution.

    Args:
        space: the search space.
        population_size: number of most recent finished configs forming the population.
        sample_size: members drawn (without replacement) per tournament.
        mutation_scale: std of the Gaussian step of a Real parameter in the unit cube.
        max_integer_step: an Integer moves by 1..this many steps, up or down.
        seed: the study seed (unused: randomness comes from the ``rng`` of ``propose``).
    """

    name = "evolution"

    def __init__(self, space: Space, population_size: int = 20, sample_size: int = 5,
                 mutation_scale: float = 0.1, max_integer_step: int = 3, seed: int = 0, **options: Any):
        super().__init__(space, **options)
        if int(population_size) < 1:
            raise ValueError(f"strategy 'evolution': population_size must be >= 1, got {population_size}")
        if not 1 <= int(sample_size) <= int(population_size):
            raise ValueError(f"strategy 'evolution': sample_size must be in [1, population_size], got {sample_size}")
        if not mutation_scale > 0:
            raise ValueError(f"strategy 'evolution': mutation_scale must be > 0, got {mutation_scale}")
        if int(max_integer_step) < 1:
            raise ValueError(f"strategy 'evolution': max_integer_step must be >= 1, got {max_integer_step}")
        self.population_size = int(population_size)
        self.sample_size = int(sample_size)
        self.mutation_scale = float(mutation_scale)
        self.max_integer_step = int(max_integer_step)
        self.seed = int(seed)
        self._mutable = [n for n, p in space.params.items() if p.cardinality() > 1]

    def propose(self, observations: Observations, pending: Sequence[Mapping[str, Any]], n: int,
                rng: np.random.Generator) -> list[dict]:
        n = int(n)
        taken = self.taken(observations, pending)
        handed_out = len(observations) + len(observations.failed) + len(pending)
        # the first population_size configs are a space-filling random start
        n_initial = min(n, max(0, self.population_size - handed_out))
        if len(observations) == 0:
            n_initial = n
        exclude = [*observations.configs, *observations.failed, *pending]
        out = initial_design(self.space, n_initial, rng, method="lhs", exclude=exclude) if n_initial else []
        taken |= {self.space.key(c) for c in out}
        if len(out) < n:
            population = self.population(observations)
            out += self._children(population, n - len(out), rng, taken)
        if len(out) < n:  # mutations all seen (tiny space): any unseen config
            out += sample_unseen(self.space, n - len(out), rng, taken)
        return out

    def population(self, observations: Observations) -> list[tuple[dict, float]]:
        """The most recent ``population_size`` finished configs with their values (NaN -> inf)."""
        start = max(0, len(observations) - self.population_size)
        return [(observations.configs[i], _finite_or_inf(observations.values[i]))
                for i in range(start, len(observations))]

    def _children(self, population: list[tuple[dict, float]], n: int, rng: np.random.Generator,
                  taken: MutableSet[str]) -> list[dict]:
        out: list[dict] = []
        if not self._mutable:
            return out
        for _ in range(n * _MUTATION_TRIES):
            if len(out) >= n:
                break
            idx = rng.choice(len(population), size=min(self.sample_size, len(population)), replace=False)
            parent = min((population[i] for i in idx), key=lambda cv: cv[1])[0]
            child = self.mutate(parent, rng)
            key = self.space.key(child)
            if key not in taken:
                taken.add(key)
                out.append(child)
        return out

    def mutate(self, parent: Mapping[str, Any], rng: np.random.Generator) -> dict:
        """A copy of ``parent`` with one mutable parameter changed (a valid config)."""
        child = dict(parent)
        name = self._mutable[int(rng.integers(len(self._mutable)))]
        p = self.space[name]
        if isinstance(p, Real):
            u = p.encode(parent[name])[0] + rng.normal(0.0, self.mutation_scale)
            child[name] = p.decode(np.array([_reflect(u)]))
        elif isinstance(p, Integer):
            reach = min(self.max_integer_step, p.high - p.low)
            step = int(rng.integers(1, reach + 1)) * (1 if rng.random() < 0.5 else -1)
            value = int(parent[name]) + step
            if not p.low <= value <= p.high:  # bounce off the bound instead of sticking to it
                value = int(parent[name]) - step
            child[name] = int(min(max(value, p.low), p.high))
        else:
            assert isinstance(p, Categorical)
            current = next(i for i, c in enumerate(p.choices) if c == parent[name])
            other = int(rng.integers(len(p.choices) - 1))
            child[name] = p.choices[other if other < current else other + 1]
        return child


def _reflect(u: float) -> float:
    """Fold a point back into [0, 1] (mirror at the walls) so steps near a bound are not lost."""
    u = abs(u) % 2.0
    return 2.0 - u if u > 1.0 else u


def _finite_or_inf(v: float) -> float:
    return float(v) if math.isfinite(v) else math.inf
