"""The random, grid and evolution strategies: what is specific to each (the shared contract is
checked for every strategy by test_strategy_invariants.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from uqhpo.space import Categorical, Fixed, Integer, Real, Space
from uqhpo.strategies import make_strategy
from uqhpo.strategies.evolution import EvolutionStrategy
from uqhpo.strategies.grid import GridStrategy
from uqhpo.strategies.random_search import RandomStrategy
from uqhpo.trial import Observations


def arch_space() -> Space:
    return Space({
        "lr": Real(1e-4, 1e-1, log=True),
        "layers": Integer(1, 8),
        "units": Integer(4, 256, log=True),
        "act": Categorical(["relu", "tanh", "gelu", "silu"]),
        "epochs": Fixed(5),
    })


def loss(c: dict) -> float:
    """A smooth toy objective with its optimum at lr=1e-2, layers=3, units=64, act=gelu."""
    return ((math.log10(c["lr"]) + 2) ** 2 + (c["layers"] - 3) ** 2 / 4
            + (math.log2(c["units"]) - 6) ** 2 / 4 + (0.0 if c["act"] == "gelu" else 1.0))


def observe(configs, fn=loss) -> Observations:
    return Observations(configs=list(configs), values=np.array([fn(c) for c in configs], dtype=float),
                        variances=np.zeros(len(configs)), n_evaluations=len(configs))


def keys(space, configs):
    return {space.key(c) for c in configs}


def run_loop(strategy, n_rounds, batch, seed=0):
    """Propose in batches with one batch always pending, as an asynchronous study would."""
    rng = np.random.default_rng(seed)
    done, pending = [], []
    for _ in range(n_rounds):
        done, pending = done + pending, strategy.propose(observe(done), pending, batch, rng)
    return done + pending


@pytest.mark.parametrize("cls", [RandomStrategy, GridStrategy, EvolutionStrategy])
def test_unknown_option_is_named(cls):
    space = Space({"a": Integer(1, 3)})
    with pytest.raises(ValueError, match="bogus"):
        cls(space, seed=1, bogus=2)


def test_grid_order_is_row_major_and_exhausts():
    space = Space({"epochs": Integer(1, 100), "lr": Real(1e-4, 1e-1, log=True), "act": Categorical(["a", "b"]),
                   "opt": Fixed("adam")})
    grid = make_strategy("grid", space, values={"epochs": [10, 20], "lr": [1e-3, 1e-2]}, seed=5)
    expected = [(e, lr, a) for e in (10, 20) for lr in (1e-3, 1e-2) for a in ("a", "b")]
    assert [(c["epochs"], c["lr"], c["act"]) for c in grid.points] == expected
    assert all(c["opt"] == "adam" for c in grid.points) and grid.size == 8
    rng = np.random.default_rng(0)
    first = grid.propose(Observations(), [], 3, rng)
    assert first == grid.points[:3]
    # with the first 3 pending and point 3 failed, the next proposals skip them
    failed = Observations(failed=[grid.points[3]])
    assert grid.propose(failed, first, 2, rng) == grid.points[4:6]
    done = observe(grid.points[:6], fn=lambda c: 1.0)
    rest = grid.propose(done, [], 10, rng)
    assert rest == grid.points[6:]
    assert not grid.is_exhausted(done, [])
    assert grid.is_exhausted(done, rest)
    assert grid.propose(done, rest, 4, rng) == []


def test_grid_defaults_for_small_integers_and_categoricals():
    space = Space({"layers": Integer(1, 3), "act": Categorical(["relu", "tanh"])})
    grid = GridStrategy(space)
    assert grid.size == 6 and grid.points[1] == {"layers": 1, "act": "tanh"}
    assert GridStrategy(space, values={"layers": [2]}).size == 2


@pytest.mark.parametrize("values, message", [
    ({}, "parameter 'lr' needs a list of values"),
    ({"lr": [1e-3]}, "parameter 'width' needs a list of values"),
    ({"lr": [1e-3], "width": [1], "depth": [2]}, "unknown parameter 'depth'"),
    ({"lr": [0.5], "width": [1]}, "parameter 'lr': value 0.5 is not in"),
    ({"lr": [1e-3], "width": [1, 2.5]}, "parameter 'width': value 2.5"),
    ({"lr": [1e-3], "width": [3, 3.0]}, "parameter 'width': value 3 is listed twice"),
    ({"lr": [1e-3], "width": [1], "act": ["elu"]}, "parameter 'act': value 'elu'"),
    ({"lr": [], "width": [1]}, "parameter 'lr': values must be a non-empty list"),
])
def test_grid_errors_name_parameter_and_value(values, message):
    space = Space({"lr": Real(1e-4, 1e-1), "width": Integer(1, 1000), "act": Categorical(["relu"])})
    with pytest.raises(ValueError, match=message) as info:
        GridStrategy(space, values=values)
    assert "\n" not in str(info.value)


def test_evolution_starts_with_a_random_population():
    space = arch_space()
    evo = EvolutionStrategy(space, population_size=6, sample_size=2)
    rng = np.random.default_rng(0)
    first = evo.propose(Observations(), [], 4, rng)
    assert len(first) == 4
    # 4 pending + 0 done: 2 more initial configs, then mutants of finished ones
    done = observe(first[:2])
    nxt = evo.propose(done, first[2:], 4, rng)
    assert len(nxt) == 4
    for child in nxt[2:]:
        assert min(sum(child[k] != p[k] for k in child) for p in first[:2]) == 1
    # nothing finished yet: everything is an initial config, none repeated
    assert len(keys(space, evo.propose(Observations(), first, 8, rng)) | keys(space, first)) == 12


def test_evolution_mutates_exactly_one_parameter_of_a_good_parent():
    space = arch_space()
    evo = EvolutionStrategy(space, population_size=20, sample_size=5)
    history = space.sample(np.random.default_rng(2), 20)
    obs = observe(history)
    children = evo.propose(obs, [], 40, np.random.default_rng(3))
    ranks = np.argsort(np.argsort(obs.values))  # 0 = best
    parent_ranks = []
    for child in children:
        parents = [i for i, p in enumerate(history) if sum(child[k] != p[k] for k in child) == 1]
        assert parents, child
        parent_ranks.append(min(ranks[i] for i in parents))
    # tournaments of 5 out of 20: the winner is in the top 16 always and mostly in the top half
    assert max(parent_ranks) <= 15
    assert np.mean(np.array(parent_ranks) < 10) > 0.75


def test_evolution_population_ages_out_old_configs():
    space = arch_space()
    evo = EvolutionStrategy(space, population_size=5, sample_size=5)
    history = space.sample(np.random.default_rng(4), 10)
    values = np.arange(10, dtype=float)  # the oldest config is the best, but it has aged out
    obs = Observations(configs=history, values=values, variances=np.zeros(10))
    assert [c for c, _ in evo.population(obs)] == history[5:]
    children = evo.propose(obs, [], 10, np.random.default_rng(0))
    # sample_size == population_size: every child comes from the best *living* config, number 5
    for child in children:
        assert sum(child[k] != history[5][k] for k in child) == 1


def test_evolution_integer_steps_are_small_and_reals_move_locally():
    space = Space({"layers": Integer(1, 50), "lr": Real(0.0, 1.0)})
    evo = EvolutionStrategy(space, max_integer_step=3, mutation_scale=0.05)
    parent = {"layers": 25, "lr": 0.5}
    rng = np.random.default_rng(0)
    layer_steps, lr_steps = [], []
    for _ in range(300):
        child = evo.mutate(parent, rng)
        assert space.contains(child)
        if child["layers"] != 25:
            layer_steps.append(child["layers"] - 25)
            assert child["lr"] == 0.5
        else:
            lr_steps.append(child["lr"] - 0.5)
    assert set(layer_steps) == {-3, -2, -1, 1, 2, 3}
    assert 0.03 < np.std(lr_steps) < 0.07
    edge = evo.mutate({"layers": 1, "lr": 1.0}, np.random.default_rng(1))
    assert space.contains(edge)


def test_evolution_categorical_always_changes_and_fixed_never_does():
    space = Space({"act": Categorical(["relu", "tanh", "gelu"]), "epochs": Fixed(3)})
    evo = EvolutionStrategy(space, population_size=1, sample_size=1)
    rng = np.random.default_rng(0)
    seen = {evo.mutate({"act": "tanh", "epochs": 3}, rng)["act"] for _ in range(50)}
    assert seen == {"relu", "gelu"}


def test_evolution_beats_random_on_a_toy_objective():
    # 80 evaluations with default options, mean over 10 seeds of the best loss found
    space = arch_space()
    best = {}
    for name in ("random", "evolution"):
        finals = [min(loss(c) for c in run_loop(make_strategy(name, space), n_rounds=40, batch=2, seed=s))
                  for s in range(10)]
        best[name] = np.mean(finals)
    assert best["evolution"] < 0.75 * best["random"]


@pytest.mark.parametrize("kwargs, name", [({"population_size": 0}, "population_size"),
                                          ({"sample_size": 30}, "sample_size"),
                                          ({"mutation_scale": 0}, "mutation_scale"),
                                          ({"max_integer_step": 0}, "max_integer_step")])
def test_evolution_bad_options(kwargs, name):
    with pytest.raises(ValueError, match=name):
        EvolutionStrategy(arch_space(), **kwargs)
