"""Invariants every strategy must keep, as plain functions a new strategy runs in one call.

    from uqhpo.testing.strategies import check_strategy
    check_strategy(lambda space: MyStrategy(space, seed=0))

A *factory* builds the strategy for a given space (the checks use a mixed space, a small
finite space and a space of fixed values only). Each ``check_*`` function raises
``AssertionError`` with a message naming what broke; ``STRATEGY_CHECKS`` lists them all,
so a test suite can parametrize over them and see each one pass or fail on its own::

    @pytest.mark.parametrize("check", STRATEGY_CHECKS, ids=lambda c: c.__name__)
    def test_my_strategy(check):
        check(my_factory)

The contract: proposals are valid configs of the space (integers are ``int``, reals
finite ``float``, categoricals one of the choices, encode/decode gives them back); ``n``
of them when the space has room; no duplicates among themselves nor of evaluated,
failed or pending configs; the same arguments and rng seed give the same proposals
(``propose`` is a pure function: it neither keeps state nor changes its arguments); it
copes with empty observations, only failures, only pending configs and non-finite values;
a finite space runs out cleanly (fewer proposals, then none, and ``is_exhausted``).
Nothing here imports pytest.
"""
from __future__ import annotations

import copy
import json
import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..space import Categorical, Fixed, Integer, Real, Space, taken_keys
from ..strategies.base import Strategy
from ..trial import Observations

__all__ = ["StrategyFactory", "STRATEGY_CHECKS", "check_strategy", "check_valid_config", "check_proposals",
           "mixed_space", "finite_space", "fixed_space", "observe", "toy_loss",
           "check_valid_new_and_pure", "check_deterministic", "check_empty_observations", "check_all_failed",
           "check_pending_only", "check_non_finite_values", "check_asynchronous_loop",
           "check_finite_space_runs_out", "check_fixed_space"]

#: builds the strategy under test for a given space
StrategyFactory = Callable[[Space], Strategy]


# -- the spaces and histories the checks use -------------------------------------------------
def mixed_space() -> Space:
    """Every parameter kind: log and linear reals, linear and log integers, one-hot and
    ordered categoricals (with non-string choices), a fixed value. 8 encoded columns."""
    return Space({
        "lr": Real(1e-4, 1e-1, log=True),
        "dropout": Real(0.0, 0.5),
        "layers": Integer(1, 6),
        "width": Integer(8, 512, log=True),
        "act": Categorical(["relu", "tanh", "gelu"]),
        "batch": Categorical([16, 32, 64, 128], ordered=True),
        "optimizer": Fixed("adam"),
    })


def finite_space() -> Space:
    """A small finite space of 3 * 4 * 2 = 24 configs."""
    return Space({"a": Integer(0, 2), "k": Integer(1, 4, log=True), "c": Categorical(["x", "y"]), "f": Fixed(1)})


def fixed_space() -> Space:
    """A space with exactly one config."""
    return Space({"epochs": Fixed(3), "act": Fixed("relu")})


def toy_loss(space: Space, config: Mapping[str, Any]) -> float:
    """A smooth deterministic objective of any space: squared distance to 0.3 in the cube."""
    return float(((space.encode(config)[0] - 0.3) ** 2).sum())


def observe(space: Space, configs: Sequence[Mapping[str, Any]], failed: Sequence[Mapping[str, Any]] = (),
            values: Iterable[float] | None = None) -> Observations:
    """Observations of ``configs`` (values from :func:`toy_loss` unless given)."""
    configs = [dict(c) for c in configs]
    vals = np.array([toy_loss(space, c) for c in configs] if values is None else list(values), dtype=float)
    return Observations(configs=configs, values=vals, variances=np.full(len(configs), 1e-3),
                        failed=[dict(c) for c in failed], n_evaluations=len(configs))


def _distinct_sample(space: Space, n: int, seed: int, exclude: Iterable[Mapping[str, Any]] = ()) -> list[dict]:
    """``n`` distinct random configs of ``space``, none in ``exclude``."""
    taken, out = taken_keys(space, exclude), []  # type: set[str], list[dict]
    for config in space.sample(np.random.default_rng(seed), 20 * n + 20):
        if len(out) < n and space.key(config) not in taken:
            taken.add(space.key(config))
            out.append(config)
    return out


def _history(space: Space, n_done: int = 30, n_failed: int = 2, n_pending: int = 3, seed: int = 0
             ) -> tuple[Observations, list[dict]]:
    """Observations past any default initial design, with failures, and pending configs."""
    configs = _distinct_sample(space, n_done + n_failed + n_pending, seed)
    done, failed, pending = (configs[:n_done], configs[n_done:n_done + n_failed],
                             configs[n_done + n_failed:])
    return observe(space, done, failed), pending


# -- assertions on proposals -----------------------------------------------------------------
def check_valid_config(space: Space, config: Any) -> None:
    """``config`` is a valid config of ``space`` in canonical Python types that survives
    JSON and an encode/decode round trip."""
    assert isinstance(config, dict), f"a proposal must be a dict, got {type(config).__name__}"
    assert set(config) == set(space.params), f"proposal {config} has keys {sorted(config)}, expected {space.names}"
    for name, p in space.params.items():
        v = config[name]
        if isinstance(p, Integer):
            assert type(v) is int, f"parameter '{name}': integer value {v!r} is a {type(v).__name__}, not int"
        elif isinstance(p, Real):
            assert type(v) is float and math.isfinite(v), f"parameter '{name}': real value {v!r} is not a finite float"
        elif isinstance(p, Categorical):
            assert any(type(c) is type(v) and c == v for c in p.choices), \
                f"parameter '{name}': {v!r} is not one of the choices {p.choices}"
        elif isinstance(p, Fixed):
            assert v == p.value, f"parameter '{name}': fixed value {p.value!r} changed to {v!r}"
    assert space.contains(config), f"proposal {config} is not in the space"
    back = space.decode(space.encode(config))[0]
    for name, p in space.params.items():
        same = (math.isclose(back[name], config[name], rel_tol=1e-9, abs_tol=1e-12) if isinstance(p, Real)
                else back[name] == config[name])
        assert same, f"parameter '{name}': {config[name]!r} decodes back as {back[name]!r}"
    json.dumps(config)  # stored as JSON


def check_proposals(space: Space, proposals: Any, n: int, *taken_groups: Iterable[Mapping[str, Any]]) -> None:
    """``proposals`` is a list of exactly ``n`` valid, distinct configs, none of them in
    any of ``taken_groups`` (evaluated, failed, pending...)."""
    assert isinstance(proposals, list), f"propose must return a list, got {type(proposals).__name__}"
    for config in proposals:
        check_valid_config(space, config)
    assert len(proposals) == n, f"asked for {n} configs with room in the space, got {len(proposals)}"
    keys = [space.key(c) for c in proposals]
    assert len(set(keys)) == len(keys), f"proposals repeat a config: {proposals}"
    again = set(keys) & taken_keys(space, *taken_groups)
    assert not again, f"proposals repeat evaluated, failed or pending configs: {sorted(again)}"


# -- the checks ------------------------------------------------------------------------------
def check_valid_new_and_pure(factory: StrategyFactory) -> None:
    """After a history with failures and pending configs: ``n`` valid new configs for
    several ``n`` (none for ``n = 0``), and the arguments are left unchanged."""
    space = mixed_space()
    obs, pending = _history(space)
    configs, values, failed, waiting = copy.deepcopy((obs.configs, obs.values, obs.failed, pending))
    strategy = factory(space)
    for n in (1, 4):
        proposals = strategy.propose(obs, pending, n, np.random.default_rng(n))
        unchanged = ((obs.configs, obs.failed, pending) == (configs, failed, waiting)
                     and np.array_equal(obs.values, values))
        assert unchanged, "propose changed its observations or pending arguments"
        check_proposals(space, proposals, n, configs, failed, waiting)
    assert strategy.propose(obs, pending, 0, np.random.default_rng(0)) == [], "n = 0 must give []"


def check_deterministic(factory: StrategyFactory) -> None:
    """The same observations, pending configs and rng seed give the same proposals, from a
    fresh instance and from the same instance called again (no hidden state)."""
    space = mixed_space()
    for n_done in (0, 30):
        obs, pending = _history(space, n_done=n_done, seed=1)
        first_strategy = factory(space)
        runs = [first_strategy.propose(obs, pending, 3, np.random.default_rng(11)),
                factory(space).propose(obs, pending, 3, np.random.default_rng(11)),
                first_strategy.propose(obs, pending, 3, np.random.default_rng(11))]
        assert runs[0] == runs[1], f"two instances gave different proposals ({n_done} observations)"
        assert runs[0] == runs[2], f"a second call gave different proposals ({n_done} observations)"


def check_empty_observations(factory: StrategyFactory) -> None:
    """A fresh study: ``n`` valid distinct configs."""
    space = mixed_space()
    check_proposals(space, factory(space).propose(Observations(), [], 5, np.random.default_rng(2)), 5)


def check_all_failed(factory: StrategyFactory) -> None:
    """Every finished config failed: ``n`` new configs, none of the failed ones."""
    space = mixed_space()
    failed = _distinct_sample(space, 12, seed=3)
    obs = Observations(failed=failed)
    check_proposals(space, factory(space).propose(obs, [], 4, np.random.default_rng(3)), 4, failed)


def check_pending_only(factory: StrategyFactory) -> None:
    """Nothing finished yet, several configs pending: ``n`` configs, none of the pending."""
    space = mixed_space()
    pending = _distinct_sample(space, 6, seed=4)
    check_proposals(space, factory(space).propose(Observations(), pending, 4, np.random.default_rng(4)), 4, pending)


def check_non_finite_values(factory: StrategyFactory) -> None:
    """NaN and infinite values among the observations (some, then all) are survived."""
    space = mixed_space()
    obs, pending = _history(space, seed=5)
    values = obs.values.copy()
    values[::3], values[1::7] = np.nan, np.inf
    for vals in (values, np.full(len(values), np.nan)):
        some = observe(space, obs.configs, obs.failed, vals)
        proposals = factory(space).propose(some, pending, 3, np.random.default_rng(5))
        check_proposals(space, proposals, 3, some.configs, some.failed, pending)


def check_asynchronous_loop(factory: StrategyFactory, rounds: int = 10, batch: int = 3) -> None:
    """An asynchronous study from scratch: each batch is proposed while the previous one is
    still pending, past the initial design of a model-based strategy; every batch is full,
    valid and new."""
    space = mixed_space()
    strategy = factory(space)
    rng = np.random.default_rng(6)
    done: list[dict] = []
    pending: list[dict] = []
    for _ in range(rounds):
        new = strategy.propose(observe(space, done), pending, batch, rng)
        check_proposals(space, new, batch, done, pending)
        done, pending = done + pending, new


def check_finite_space_runs_out(factory: StrategyFactory, batch: int = 5) -> None:
    """A finite space is handed out whole, ``min(n, left)`` configs per call, then nothing;
    ``is_exhausted`` turns true exactly when every config is taken."""
    space = finite_space()
    size = int(space.cardinality())
    strategy = factory(space)
    rng = np.random.default_rng(7)
    done: list[dict] = []
    pending: list[dict] = []
    for _ in range(size + 2):  # a bound, so a strategy that never runs out fails instead of hanging
        obs = observe(space, done)
        assert not strategy.is_exhausted(obs, pending), \
            f"is_exhausted is true with {size - len(done) - len(pending)} of {size} configs left"
        new = strategy.propose(obs, pending, batch, rng)
        check_proposals(space, new, min(batch, size - len(done) - len(pending)), done, pending)
        done, pending = done + pending, new
        if len(done) + len(pending) == size:
            break
    assert len(done) + len(pending) == size, f"handed out {len(done) + len(pending)} of {size} configs"
    obs = observe(space, done)
    assert strategy.is_exhausted(obs, pending), "is_exhausted is false with every config taken"
    assert strategy.propose(obs, pending, batch, rng) == [], "proposals from an exhausted space"


def check_fixed_space(factory: StrategyFactory) -> None:
    """A space of one config: it is proposed once, then never again."""
    space = fixed_space()
    strategy = factory(space)
    first = strategy.propose(Observations(), [], 3, np.random.default_rng(8))
    check_proposals(space, first, 1)
    assert strategy.propose(observe(space, first), [], 3, np.random.default_rng(8)) == []
    assert strategy.propose(Observations(), first, 2, np.random.default_rng(8)) == []


STRATEGY_CHECKS: tuple[Callable[[StrategyFactory], None], ...] = (
    check_valid_new_and_pure, check_deterministic, check_empty_observations, check_all_failed,
    check_pending_only, check_non_finite_values, check_asynchronous_loop, check_finite_space_runs_out,
    check_fixed_space,
)


def check_strategy(factory: StrategyFactory,
                   checks: Sequence[Callable[[StrategyFactory], None]] = STRATEGY_CHECKS) -> None:
    """Run every check on the strategy built by ``factory``.

    Raises:
        AssertionError: naming the first check that failed and why.
    """
    for check in checks:
        try:
            check(factory)
        except AssertionError as err:
            raise AssertionError(f"{check.__name__}: {err}") from err
