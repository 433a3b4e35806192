"""The ``rbf`` strategy: options, initial design, budget, fallbacks, convergence (the shared
contract is checked for every strategy by test_strategy_invariants.py)."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from uqhpo.seeding import proposal_rng
from uqhpo.space import Categorical, Fixed, Integer, Real, Space
from uqhpo.strategies import make_strategy
from uqhpo.strategies.rbf import RBFStrategy
from uqhpo.surrogates import rbf as rbf_module
from uqhpo.surrogates.base import SurrogateFitError
from uqhpo.testing.strategies import check_proposals
from uqhpo.trial import Observations


def mixed_space() -> Space:
    return Space({
        "lr": Real(1e-4, 1e-1, log=True),
        "layers": Integer(1, 6),
        "width": Integer(8, 512, log=True),
        "act": Categorical(["relu", "tanh", "gelu"]),
        "dropout": Real(0.0, 0.5),
        "opt": Fixed("adam"),
    })


def loss(config: dict) -> float:
    return (np.log10(config["lr"]) + 2.5) ** 2 + 0.1 * (config["layers"] - 3) ** 2 + config["dropout"] \
        + (0.3 if config["act"] == "tanh" else 0.0)


def history(space: Space, n: int, seed: int = 0) -> Observations:
    configs = space.sample(np.random.default_rng(seed), n)
    return Observations(configs, np.array([loss(c) for c in configs]), np.zeros(n))


def test_registered_by_name_and_validates_options():
    space = mixed_space()
    strategy = make_strategy("rbf", space, seed=1, n_initial=5)
    assert isinstance(strategy, RBFStrategy) and strategy.n_initial == 5
    assert RBFStrategy(space).n_initial == (3 * (space.dim + 1) + 1) // 2   # ceil(1.5 (d + 1))
    with pytest.raises(ValueError, match="unknown option"):
        RBFStrategy(space, n_inital=4)
    with pytest.raises(ValueError, match="weights"):
        RBFStrategy(space, weights=[0.5, 1.5])
    with pytest.raises(ValueError, match="n_candidates"):
        RBFStrategy(space, n_candidates=0)


def test_proposals_depend_on_the_rng():
    space = mixed_space()
    obs = history(space, 20)
    a = RBFStrategy(space, seed=3).propose(obs, [], 3, proposal_rng(3, 20))
    c = RBFStrategy(space, seed=3).propose(obs, [], 3, proposal_rng(4, 20))
    assert a != c


def test_budget_comes_from_the_observations_unless_given():
    space = mixed_space()
    default = max(50, 10 * (space.dim + 1))
    obs = history(space, 25)
    with_budget = Observations(obs.configs, obs.values, obs.variances, budget=30)
    assert RBFStrategy(space).budget_for(obs) == default
    assert RBFStrategy(space).budget_for(with_budget) == 30
    assert RBFStrategy(space, budget=100).budget_for(with_budget) == 100  # the explicit option wins
    with pytest.raises(ValueError, match="budget"):
        RBFStrategy(space, budget=0)

    def propose(strategy, observations):
        return strategy.propose(observations, [], 4, np.random.default_rng(0))

    # the study's budget changes the DYCORS decay, so the proposals, exactly as the option does
    from_observations = propose(RBFStrategy(space, seed=1), with_budget)
    assert from_observations == propose(RBFStrategy(space, seed=1, budget=30), obs)
    assert from_observations != propose(RBFStrategy(space, seed=1), obs)
    assert propose(RBFStrategy(space, seed=1, budget=default), with_budget) == propose(RBFStrategy(space, seed=1), obs)


def test_initial_design_depends_on_seed_only_and_resumes():
    space = mixed_space()
    strategy = RBFStrategy(space, n_initial=6, seed=5)
    first = strategy.propose(Observations(), [], 2, np.random.default_rng(0))
    assert first == strategy.initial_configs()[:2]
    # a fresh instance (a resume) with the first two pending hands out the next design points,
    # whatever proposal rng it receives
    again = RBFStrategy(space, n_initial=6, seed=5)
    nxt = again.propose(Observations(), first, 3, np.random.default_rng(123))
    assert nxt == again.initial_configs()[2:5]
    assert RBFStrategy(space, n_initial=6, seed=6).initial_configs() != strategy.initial_configs()
    # the design runs out after n_initial configs: the rest comes from elsewhere but is still new
    done = Observations(first + nxt, np.array([loss(c) for c in first + nxt]), np.zeros(5))
    mixed = again.propose(done, [], 3, np.random.default_rng(1))
    assert mixed[0] == again.initial_configs()[5]
    check_proposals(space, mixed, 3, done.configs)


def test_surrogate_failure_falls_back_to_random(monkeypatch, caplog):
    def broken_fit(self, X, y, y_var=None):
        raise SurrogateFitError("matrix exploded")

    monkeypatch.setattr(rbf_module.RBFSurrogate, "fit", broken_fit)
    space = mixed_space()
    obs = history(space, 20)
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        proposals = RBFStrategy(space, seed=0).propose(obs, [], 3, np.random.default_rng(0))
    check_proposals(space, proposals, 3, obs.configs)
    assert any("matrix exploded" in r.getMessage() for r in caplog.records)


def test_non_finite_predictions_fall_back(monkeypatch, caplog):
    monkeypatch.setattr(rbf_module.RBFSurrogate, "predict", lambda self, X: (np.full(len(X), np.nan), None))
    space = mixed_space()
    obs = history(space, 20)
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        proposals = RBFStrategy(space, seed=0).propose(obs, [], 2, np.random.default_rng(0))
    check_proposals(space, proposals, 2, obs.configs)
    assert caplog.records


@pytest.mark.parametrize("seed", [0, 1])
def test_finds_quadratic_optimum_in_40_evaluations(seed):
    space = Space({"x": Real(-5, 5), "y": Real(-5, 5), "k": Integer(0, 20)})
    f = lambda c: (c["x"] - 1.3) ** 2 + (c["y"] + 2.1) ** 2 + 0.05 * (c["k"] - 7) ** 2  # noqa: E731
    strategy = RBFStrategy(space, seed=seed)
    configs: list[dict] = []
    values: list[float] = []
    for t in range(40):
        obs = Observations(list(configs), np.array(values), np.zeros(len(values)))
        (config,) = strategy.propose(obs, [], 1, proposal_rng(seed, t))
        configs.append(config)
        values.append(f(config))
    best = configs[int(np.argmin(values))]
    # range of f over the box is ~ 100; random search with 40 draws typically ends near 1
    assert min(values) < 0.1, (min(values), best)
    assert best["k"] in (6, 7, 8)


def test_batch_proposals_spread_out():
    space = Space({"x": Real(0, 1), "y": Real(0, 1)})
    rng = np.random.default_rng(0)
    configs = space.sample(rng, 15)
    obs = Observations(configs, np.array([(c["x"] - 0.5) ** 2 + c["y"] for c in configs]), np.zeros(15))
    batch = RBFStrategy(space, n_initial=4).propose(obs, [], 6, np.random.default_rng(2))
    check_proposals(space, batch, 6, configs)
    X = space.encode(batch)
    gaps = np.linalg.norm(X[:, None] - X[None], axis=-1)[np.triu_indices(6, 1)]
    assert gaps.min() > 1e-3


def test_study_with_rbf_is_reproducible():
    import uqhpo

    space = Space({"x": Real(-2, 2), "n": Integer(0, 10)})
    f = lambda config, seed: (config["x"] - 0.5) ** 2 + 0.1 * (config["n"] - 3) ** 2  # noqa: E731
    runs = []
    for _ in range(2):
        study = uqhpo.create_study(space, strategy="rbf", seed=11, strategy_options={"n_initial": 5})
        study.optimize(f, n_trials=14)
        runs.append([t.config for t in study.trials])
    assert runs[0] == runs[1] and len(runs[0]) == 14
    assert len({space.key(c) for c in runs[0]}) == 14
    assert runs[0][:5] == RBFStrategy(space, n_initial=5, seed=11).initial_configs()


@pytest.mark.parametrize("noisy", [True, False])
def test_noisy_values_centre_the_search_on_the_smoothed_best(monkeypatch, noisy):
    """One lucky draw among poor neighbours is the lowest value; with variances the search
    centres where the smoothed model is lowest, without them on the lowest value."""
    from uqhpo.strategies import rbf as strategy_module

    space = Space({"x": Real(0.0, 1.0)})
    xs = np.linspace(0.0, 1.0, 21)
    values = (xs - 0.8) ** 2
    values[2] = -0.05                                  # x = 0.1: lucky, its neighbours are ~0.5
    variances = np.full(len(xs), 0.04 if noisy else 0.0)
    obs = Observations([{"x": float(x)} for x in xs], values, variances)
    centres = []
    real = strategy_module.generate_candidates

    def spy(blocks, center, *args, **kwargs):
        centres.append(float(center[0]))
        return real(blocks, center, *args, **kwargs)

    monkeypatch.setattr(strategy_module, "generate_candidates", spy)
    RBFStrategy(space, n_initial=5).propose(obs, [], 1, proposal_rng(0, len(xs)))
    assert centres, "the surrogate search did not run"
    assert (abs(centres[0] - 0.8) < 0.11) if noisy else centres[0] == pytest.approx(0.1)
