"""The ``gp`` strategy (core/strategies/gp.py): options, initial design, fallback, convergence (the
shared contract is checked for every strategy by test_strategy_invariants.py)."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from uqhpo import Categorical, Integer, Real, Space
from uqhpo.seeding import derived_rng
from uqhpo.strategies import make_strategy
from uqhpo.strategies.gp import GPStrategy
from uqhpo.surrogates.base import SurrogateFitError
from uqhpo.surrogates.gp import GaussianProcess
from uqhpo.testing.strategies import check_proposals
from uqhpo.trial import Observations


def mixed_space() -> Space:
    return Space({"lr": Real(1e-4, 1e-1, log=True), "layers": Integer(1, 6),
                  "act": Categorical(["relu", "tanh", "gelu"]), "dropout": Real(0.0, 0.5)})


def loss(c: dict) -> float:
    return ((np.log10(c["lr"]) + 2.5) ** 2 + 0.1 * (c["layers"] - 3) ** 2
            + {"relu": 0.0, "tanh": 0.2, "gelu": 0.1}[c["act"]] + (c["dropout"] - 0.2) ** 2)


def observe(configs: list[dict], variance: float = 0.0) -> Observations:
    return Observations(list(configs), np.array([loss(c) for c in configs]), np.full(len(configs), variance))


def test_registered_by_name_and_validates_options():
    space = mixed_space()
    assert isinstance(make_strategy("gp", space, seed=3), GPStrategy)
    with pytest.raises(ValueError, match="unknown option"):
        make_strategy("gp", space, n_init=3)
    with pytest.raises(ValueError, match="acquisition"):
        GPStrategy(space, acquisition="ucb")
    with pytest.raises(ValueError, match="incumbent"):
        GPStrategy(space, incumbent="best")
    with pytest.raises(ValueError, match="n_initial"):
        GPStrategy(space, n_initial=-1)
    assert space.dim == 6 and GPStrategy(space).n_initial == 11  # ceil(1.5 * (6 + 1))


def test_default_design_is_one_and_a_half_d_plus_one_then_the_gp_takes_over(monkeypatch):
    for d, n in ((1, 3), (2, 5), (4, 8), (5, 9), (6, 11)):
        assert GPStrategy(Space({f"x{i}": Real(0.0, 1.0) for i in range(d)})).n_initial == n
    space = Space({f"x{i}": Real(0.0, 1.0) for i in range(6)})
    strat = GPStrategy(space, seed=2)
    design = strat.initial_configs()
    assert len(design) == 11
    fits: list[int] = []
    real_fit = GaussianProcess.fit

    def counting_fit(self, X, y, y_var=None):
        fits.append(len(X))
        return real_fit(self, X, y, y_var)

    monkeypatch.setattr(GaussianProcess, "fit", counting_fit)
    values = [float(sum((c[k] - 0.3) ** 2 for k in c)) for c in design]
    assert strat.propose(Observations(design[:10], np.array(values[:10]), np.zeros(10)), [], 1,
                         np.random.default_rng(0)) == [design[10]]
    assert fits == []  # still in the design
    out = strat.propose(Observations(design, np.array(values), np.zeros(11)), [], 1, np.random.default_rng(0))
    assert fits == [11] and out[0] not in design


def test_initial_design_comes_from_the_seed_and_skips_seen():
    space = mixed_space()
    a, b = GPStrategy(space, seed=5), GPStrategy(space, seed=5)
    first = a.propose(Observations(), [], 3, np.random.default_rng(0))
    assert first == b.propose(Observations(), [], 3, np.random.default_rng(99))  # design ignores rng
    assert first == a.initial_configs()[:3]
    nxt = a.propose(observe(first[:2]), first[2:], 2, np.random.default_rng(0))
    assert nxt == a.initial_configs()[3:5]


def test_falls_back_to_random_unseen_when_the_fit_fails(monkeypatch, caplog):
    def broken_fit(self, X, y, y_var=None):
        raise SurrogateFitError("forced failure")

    monkeypatch.setattr(GaussianProcess, "fit", broken_fit)
    space = mixed_space()
    configs = space.sample(np.random.default_rng(4), 12)
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        out = GPStrategy(space, seed=0).propose(observe(configs), [], 3, np.random.default_rng(0))
    check_proposals(space, out, 3, configs)
    assert "forced failure" in caplog.text


def test_finds_near_optimum_of_a_quadratic_in_30_evaluations():
    space = Space({"x": Real(-2.0, 3.0), "y": Real(-1.0, 4.0), "k": Integer(0, 10)})

    def f(c: dict) -> float:
        return (c["x"] - 0.7) ** 2 + (c["y"] - 2.2) ** 2 + 0.05 * (c["k"] - 6) ** 2

    strat = GPStrategy(space, seed=11)
    configs: list[dict] = []
    for i in range(30):
        obs = Observations(list(configs), np.array([f(c) for c in configs]), np.zeros(len(configs)))
        configs += strat.propose(obs, [], 1, derived_rng(11, 100, i))
    best = min(f(c) for c in configs)
    assert best < 0.005  # the range of f over the box is about 15


def test_batch_with_pending_spreads_out():
    space = Space({"x": Real(0.0, 1.0), "y": Real(0.0, 1.0)})
    configs = space.sample(np.random.default_rng(5), 10)
    obs = Observations(configs, np.array([np.sin(5 * c["x"]) + c["y"] for c in configs]), np.zeros(10))
    out = GPStrategy(space, seed=0).propose(obs, [], 4, np.random.default_rng(1))
    X = space.encode(out)
    dist = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))[np.triu_indices(4, 1)]
    assert len(out) == 4 and dist.min() > 0.01
