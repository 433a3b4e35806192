"""Initial designs: validity, distinctness, exclusion, maximin, determinism, user points."""
from __future__ import annotations

import numpy as np
import pytest

from uqhpo.design import (
    DESIGN_METHODS,
    default_design_size,
    enumerate_configs,
    initial_design,
    sample_unseen,
    validate_points,
)
from uqhpo.space import Categorical, Fixed, Integer, Real, Space


def mixed_space() -> Space:
    return Space({
        "lr": Real(1e-4, 1e-1, log=True),
        "dropout": Real(0.0, 0.5),
        "layers": Integer(1, 4),
        "batch": Integer(8, 512, log=True),
        "act": Categorical(["relu", "tanh", "gelu"]),
        "width": Categorical([16, 32, 64, 128], ordered=True),
        "epochs": Fixed(10),
    })


def keys(space, configs):
    return [space.key(c) for c in configs]


@pytest.mark.parametrize("method", DESIGN_METHODS)
def test_design_is_valid_distinct_and_typed(method):
    space = mixed_space()
    design = initial_design(space, 12, np.random.default_rng(1), method=method)
    assert len(design) == 12
    assert all(space.contains(c) for c in design)
    assert len(set(keys(space, design))) == 12
    for c in design:
        assert type(c["layers"]) is int and type(c["batch"]) is int
        assert type(c["lr"]) is float and c["epochs"] == 10


@pytest.mark.parametrize("method", DESIGN_METHODS)
def test_same_seed_same_design_other_seed_other_design(method):
    space = mixed_space()
    a = initial_design(space, 8, np.random.default_rng(7), method=method)
    b = initial_design(space, 8, np.random.default_rng(7), method=method)
    c = initial_design(space, 8, np.random.default_rng(8), method=method)
    assert keys(space, a) == keys(space, b)
    assert keys(space, a) != keys(space, c)


def test_lhs_stratifies_each_parameter():
    space = Space({"x": Real(0, 1), "y": Real(0, 1), "c": Categorical(list("abcd"))})
    design = initial_design(space, 8, np.random.default_rng(0), n_draws=1)
    for name in ("x", "y"):
        strata = sorted(int(c[name] * 8) for c in design)
        assert strata == list(range(8))
    counts = [sum(c["c"] == k for c in design) for k in "abcd"]
    assert counts == [2, 2, 2, 2]


def test_integer_space_no_duplicates_and_top_up():
    # 5 x 3 = 15 configs; 12 asked: rounding of LHS points collides, the top-up must fill
    space = Space({"a": Integer(0, 4), "b": Categorical(["x", "y", "z"])})
    for seed in range(5):
        design = initial_design(space, 12, np.random.default_rng(seed))
        assert len(design) == 12 and len(set(keys(space, design))) == 12


def test_excluded_configs_are_never_returned():
    space = Space({"a": Integer(0, 4), "b": Categorical(["x", "y"])})
    exclude = [{"a": a, "b": "x"} for a in range(5)] + [{"a": 0, "b": "y"}]
    for seed in range(5):
        design = initial_design(space, 3, np.random.default_rng(seed), exclude=exclude)
        assert len(design) == 3
        assert not set(keys(space, design)) & set(keys(space, exclude))
    # only 4 unseen configs remain: asking for more returns exactly those
    rest = initial_design(space, 6, np.random.default_rng(0), exclude=exclude)
    assert sorted(c["a"] for c in rest) == [1, 2, 3, 4] and {c["b"] for c in rest} == {"y"}


def test_small_finite_space_is_returned_whole():
    space = Space({"a": Integer(1, 3), "b": Categorical(["u", "v"]), "f": Fixed(0)})
    design = initial_design(space, 50, np.random.default_rng(0))
    assert sorted(keys(space, design)) == sorted(keys(space, enumerate_configs(space)))
    assert len(design) == 6
    assert initial_design(Space({"f": Fixed(1)}), 3, np.random.default_rng(0)) == [{"f": 1}]


def test_zero_and_bad_arguments():
    space = mixed_space()
    assert initial_design(space, 0, np.random.default_rng(0)) == []
    with pytest.raises(ValueError, match="halton"):
        initial_design(space, 4, np.random.default_rng(0), method="halton")
    with pytest.raises(ValueError, match="n_draws"):
        initial_design(space, 4, np.random.default_rng(0), n_draws=0)


def _min_dist(space, configs):
    X = space.encode(configs)
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    return D[np.triu_indices(len(X), 1)].min()


@pytest.mark.parametrize("method", ["lhs", "random"])
def test_maximin_beats_a_single_draw_on_average(method):
    space = Space({"x": Real(0, 1), "y": Real(0, 1), "z": Integer(0, 9)})
    one = [_min_dist(space, initial_design(space, 10, np.random.default_rng(s), method, n_draws=1))
           for s in range(30)]
    best = [_min_dist(space, initial_design(space, 10, np.random.default_rng(s), method, n_draws=10))
            for s in range(30)]
    # the first of the 10 draws is the single draw (same rng), so maximin never loses
    assert all(b >= o for b, o in zip(best, one))
    assert np.mean(best) > 1.15 * np.mean(one)


def test_default_design_size():
    assert default_design_size(mixed_space()) == 2 * (mixed_space().dim + 1)
    assert default_design_size(Space({"x": Real(0, 1)})) == 4


def test_sample_unseen_respects_taken_and_stops_when_exhausted():
    space = Space({"a": Integer(0, 2)})
    taken = {space.key({"a": 1})}
    out = sample_unseen(space, 5, np.random.default_rng(0), taken)
    assert sorted(c["a"] for c in out) == [0, 2]
    assert len(taken) == 3


def test_enumerate_configs_row_major_and_real_needs_values():
    space = Space({"a": Integer(1, 2), "b": Categorical(["x", "y"])})
    assert list(enumerate_configs(space)) == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"},
                                              {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    with pytest.raises(ValueError, match="'lr'"):
        list(enumerate_configs(Space({"lr": Real(0, 1)})))


def test_validate_points_normalises_and_fills_fixed():
    space = mixed_space()
    point = {"lr": 1e-3, "dropout": 0, "layers": 2.0, "batch": np.int64(32), "act": "tanh", "width": 64}
    (out,) = validate_points(space, [point])
    assert out == {**point, "layers": 2, "batch": 32, "dropout": 0.0, "epochs": 10}
    assert type(out["layers"]) is int and type(out["batch"]) is int and type(out["dropout"]) is float
    assert space.contains(out)


@pytest.mark.parametrize("point, message", [
    ({"lr": 1.0}, "point 1: parameter 'lr'"),
    ({"layers": 2.5}, "parameter 'layers'"),
    ({"layers": 9}, "parameter 'layers'"),
    ({"act": "sigmoid"}, "parameter 'act'"),
    ({"epochs": 11}, "parameter 'epochs'"),
    ({"colour": "red"}, "unknown parameter 'colour'"),
    ({"width": None}, "parameter 'width'"),
])
def test_validate_points_names_the_parameter(point, message):
    space = mixed_space()
    good = {"lr": 1e-3, "dropout": 0.1, "layers": 2, "batch": 32, "act": "tanh", "width": 64}
    with pytest.raises(ValueError, match=message) as info:
        validate_points(space, [good, {**good, **point}])
    assert "\n" not in str(info.value)


def test_validate_points_missing_parameter():
    with pytest.raises(ValueError, match="point 0: parameter 'b' is missing"):
        validate_points(Space({"a": Integer(0, 1), "b": Integer(0, 1)}), [{"a": 0}])
