"""Every registered strategy passes the shipped invariant suite (uqhpo.testing.strategies),
and the suite catches strategies that break the contract."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pytest

from uqhpo.design import sample_unseen
from uqhpo.space import Integer, Real, Space
from uqhpo.strategies import STRATEGY_NAMES, make_strategy
from uqhpo.strategies.base import Strategy
from uqhpo.strategies.gp import GPStrategy
from uqhpo.strategies.grid import GridStrategy
from uqhpo.testing import strategies as suite
from uqhpo.trial import Observations


def grid_factory(space: Space) -> GridStrategy:
    """A grid with 4 values for each real and each wide integer parameter."""
    values: dict[str, list] = {}
    for name, p in space.params.items():
        if isinstance(p, Real):
            values[name] = [float(v) for v in (np.geomspace if p.log else np.linspace)(p.low, p.high, 4)]
        elif isinstance(p, Integer) and p.n_values > 20:
            values[name] = sorted({int(round(v)) for v in np.linspace(p.low, p.high, 4)})
    return GridStrategy(space, values=values, seed=0)


FACTORIES = {
    "random": lambda space: make_strategy("random", space, seed=0),
    "grid": grid_factory,
    "rbf": lambda space: make_strategy("rbf", space, seed=0),
    "gp": lambda space: make_strategy("gp", space, seed=0),
    "evolution": lambda space: make_strategy("evolution", space, seed=0),
}


def test_every_registered_strategy_is_checked():
    assert set(FACTORIES) == set(STRATEGY_NAMES)


@pytest.mark.parametrize("check", suite.STRATEGY_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_strategy_keeps_the_contract(name, check):
    check(FACTORIES[name])


@pytest.mark.parametrize("options", [{"acquisition": "lcb"}, {"incumbent": "mean"}, {"n_initial": 0}])
def test_gp_variants_propose_valid_new_configs(options):
    suite.check_valid_new_and_pure(lambda space: GPStrategy(space, seed=2, **options))


def test_rbf_with_explicit_budget_and_no_design_keeps_the_contract():
    suite.check_strategy(lambda space: make_strategy("rbf", space, seed=1, n_initial=0, budget=20),
                         checks=[suite.check_valid_new_and_pure, suite.check_asynchronous_loop])


# -- strategies that break one rule each: the suite must notice ------------------------------
class _Random(Strategy):
    name = "broken"

    def propose(self, observations: Observations, pending: Sequence[Mapping[str, Any]], n: int,
                rng: np.random.Generator) -> list[dict]:
        return sample_unseen(self.space, n, rng, self.taken(observations, pending))


class RepeatsPending(_Random):
    def propose(self, observations, pending, n, rng):
        out = super().propose(observations, pending, n, rng)
        return list(pending[:1]) + out[: n - 1] if pending and n else out


class FloatIntegers(_Random):
    def propose(self, observations, pending, n, rng):
        out = super().propose(observations, pending, n, rng)
        return [{k: float(v) if isinstance(v, int) else v for k, v in c.items()} for c in out]


class KeepsState(_Random):
    calls = 0

    def propose(self, observations, pending, n, rng):
        self.calls += 1
        return super().propose(observations, pending, n, np.random.default_rng(self.calls))


class OneShort(_Random):
    def propose(self, observations, pending, n, rng):
        return super().propose(observations, pending, n, rng)[: max(n - 1, 0)]


class ForgetsTheFailed(_Random):
    def propose(self, observations, pending, n, rng):
        return sample_unseen(self.space, n, rng, {self.space.key(c) for c in [*observations.configs, *pending]})


class ChangesPending(_Random):
    def propose(self, observations, pending, n, rng):
        out = super().propose(observations, pending, n, rng)
        if isinstance(pending, list):
            pending.extend(out)
        return out


class NeverExhausted(_Random):
    def is_exhausted(self, observations, pending):
        return False


@pytest.mark.parametrize("broken, check, message", [
    (RepeatsPending, suite.check_pending_only, "repeat evaluated, failed or pending"),
    (FloatIntegers, suite.check_empty_observations, "is a float, not int"),
    (KeepsState, suite.check_deterministic, "a second call gave different proposals"),
    (OneShort, suite.check_asynchronous_loop, "asked for 3 configs"),
    (ForgetsTheFailed, suite.check_all_failed, "repeat evaluated, failed or pending"),
    (ChangesPending, suite.check_valid_new_and_pure, "changed its observations or pending"),
    (NeverExhausted, suite.check_finite_space_runs_out, "is_exhausted is false"),
])
def test_the_suite_catches_a_broken_strategy(broken, check, message):
    with pytest.raises(AssertionError, match=message):
        check(broken)
    with pytest.raises(AssertionError, match=f"{check.__name__}: .*{message}"):
        suite.check_strategy(broken, checks=[check])


def test_a_correct_strategy_passes_in_one_call():
    suite.check_strategy(_Random)
