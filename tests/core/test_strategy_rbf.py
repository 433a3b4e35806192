"""The ``rbf`` strategy: validity, determinism, initial design, fallbacks, convergence."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from uqhpo.acquisition.dedup import taken_keys
from uqhpo.seeding import proposal_rng
from uqhpo.space import Categorical, Fixed, Integer, Real, Space
from uqhpo.strategies import make_strategy
from uqhpo.strategies.rbf import RBFStrategy
from uqhpo.surrogates import rbf as rbf_module
from uqhpo.surrogates.base import SurrogateFitError
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


def check_proposals(space: Space, proposals: list[dict], n: int, *groups) -> None:
    assert len(proposals) == n
    assert all(space.contains(c) for c in proposals)
    keys = [space.config_key(c) for c in proposals]
    assert len(set(keys)) == n
    assert not set(keys) & taken_keys(space, *groups)


def test_registered_by_name_and_validates_options():
    space = mixed_space()
    strategy = make_strategy("rbf", space, seed=1, n_initial=5)
    assert isinstance(strategy, RBFStrategy) and strategy.n_initial == 5
    assert RBFStrategy(space).n_initial == 2 * (space.dim + 1)
    with pytest.raises(ValueError, match="unknown option"):
        RBFStrategy(space, n_inital=4)
    with pytest.raises(ValueError, match="weights"):
        RBFStrategy(space, weights=[0.5, 1.5])
    with pytest.raises(ValueError, match="n_candidates"):
        RBFStrategy(space, n_candidates=0)


def test_proposals_valid_distinct_and_new_with_pending():
    space = mixed_space()
    obs = history(space, 25)
    pending = space.sample(np.random.default_rng(9), 3)
    strategy = RBFStrategy(space, seed=0)
    for n in (1, 4):
        proposals = strategy.propose(obs, pending, n, np.random.default_rng(n))
        check_proposals(space, proposals, n, obs.configs, pending)


def test_same_seed_same_proposals():
    space = mixed_space()
    obs = history(space, 20)
    a = RBFStrategy(space, seed=3).propose(obs, [], 3, proposal_rng(3, 20))
    b = RBFStrategy(space, seed=3).propose(obs, [], 3, proposal_rng(3, 20))
    c = RBFStrategy(space, seed=3).propose(obs, [], 3, proposal_rng(4, 20))
    assert a == b
    assert a != c


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


def test_failed_configs_are_avoided():
    space = Space({"a": Integer(0, 4), "b": Integer(0, 4)})
    rng = np.random.default_rng(0)
    configs = space.sample(rng, 8)
    configs = list({space.config_key(c): c for c in configs}.values())
    failed = [c for c in space.sample(rng, 10) if space.config_key(c) not in taken_keys(space, configs)][:4]
    obs = Observations(configs, np.arange(len(configs), dtype=float), np.zeros(len(configs)), failed=failed)
    proposals = RBFStrategy(space, n_initial=2).propose(obs, [], 5, np.random.default_rng(1))
    check_proposals(space, proposals, 5, configs, failed)


def test_finite_space_exhausted_returns_fewer():
    space = Space({"a": Integer(0, 3), "c": Categorical(["x", "y"])})
    all_configs = [{"a": a, "c": c} for a in range(4) for c in "xy"]
    obs = Observations(all_configs[:6], np.arange(6.0), np.zeros(6))
    proposals = RBFStrategy(space, n_initial=2).propose(obs, all_configs[6:7], 4, np.random.default_rng(0))
    assert proposals == [all_configs[7]]
    full = Observations(all_configs, np.arange(8.0), np.zeros(8))
    assert RBFStrategy(space, n_initial=2).propose(full, [], 2, np.random.default_rng(0)) == []


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


def test_non_finite_observations_are_ignored():
    space = Space({"x": Real(0, 1), "y": Real(0, 1)})
    obs = Observations([{"x": 0.1, "y": 0.1}, {"x": 0.9, "y": 0.9}, {"x": 0.5, "y": 0.2}],
                       np.array([1.0, np.nan, np.inf]), np.zeros(3))
    proposals = RBFStrategy(space, n_initial=0).propose(obs, [], 2, np.random.default_rng(0))
    check_proposals(space, proposals, 2, obs.configs)
    none_finite = Observations(obs.configs[1:], np.array([np.nan, np.inf]), np.zeros(2))
    check_proposals(space, RBFStrategy(space, n_initial=0).propose(none_finite, [], 2, np.random.default_rng(0)),
                    2, none_finite.configs)


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


def test_degenerate_spaces():
    fixed = Space({"a": Fixed(1)})
    assert RBFStrategy(fixed).propose(Observations(), [], 2, np.random.default_rng(0)) == [{"a": 1}]
    done = Observations([{"a": 1}], np.array([1.0]), np.zeros(1))
    assert RBFStrategy(fixed).propose(done, [], 2, np.random.default_rng(0)) == []
    one_cat = Space({"c": Categorical(["a", "b", "c"])})
    seen = Observations([{"c": "a"}], np.array([1.0]), np.zeros(1))
    rest = RBFStrategy(one_cat, n_initial=1).propose(seen, [], 3, np.random.default_rng(0))
    assert sorted(c["c"] for c in rest) == ["b", "c"]


def test_study_with_rbf_is_reproducible():
    import uqhpo

    space = Space({"x": Real(-2, 2), "n": Integer(0, 10)})
    f = lambda config, seed: (config["x"] - 0.5) ** 2 + 0.1 * (config["n"] - 3) ** 2  # noqa: E731
    runs = []
    for _ in range(2):
        study = uqhpo.create_study(space, strategy="rbf", seed=11, strategy_options={"n_initial": 5})
        study.optimize(f, n_trials=14, progress=False)
        runs.append([t.config for t in study.trials])
    assert runs[0] == runs[1] and len(runs[0]) == 14
    assert len({space.config_key(c) for c in runs[0]}) == 14
    assert runs[0][:5] == RBFStrategy(space, n_initial=5, seed=11).initial_configs()
