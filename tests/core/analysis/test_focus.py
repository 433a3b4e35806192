"""Sub-boxes, value parsing and seeding of a focus study."""
from __future__ import annotations

import math

import pytest

import uqhpo
from uqhpo.analysis.focus import copy_trials, focus_space, parse_bounds, parse_values
from uqhpo.space import Categorical, Fixed, Integer, Real, Space

SPACE = Space({"lr": Real(1e-4, 1e-0, log=True), "x": Real(0.0, 10.0), "k": Integer(1, 3),
               "act": Categorical(["relu", "tanh", "gelu"]), "e": Fixed(5)})


def test_focus_space_is_a_shifted_sub_box_in_the_search_scale():
    sub = focus_space(SPACE, {"lr": 1e-2, "x": 9.9, "k": 2, "act": "tanh", "e": 5}, width=0.25)
    assert sub["lr"].low == pytest.approx(1e-2 / 10 ** 0.5) and sub["lr"].high == pytest.approx(1e-2 * 10 ** 0.5)
    assert (sub["x"].low, sub["x"].high) == pytest.approx((7.5, 10.0))    # shifted to stay inside
    assert isinstance(sub["k"], Fixed) and sub["k"].value == 2             # narrower than two integers
    assert sub["act"].choices == ["relu", "tanh", "gelu"] and sub["e"].value == 5
    with pytest.raises(ValueError, match="--width"):
        focus_space(SPACE, {}, width=0.0)
    with pytest.raises(ValueError, match="no centre value for 'lr'"):
        focus_space(SPACE, None)


def test_bounds_and_values_are_typed_and_checked():
    bounds = parse_bounds(SPACE, ["x=2:4", "act=relu,gelu", "lr=1e-3:1e-2"])
    sub = focus_space(SPACE, {"k": 1}, bounds=bounds)
    assert (sub["x"].low, sub["x"].high) == (2.0, 4.0) and sub["act"].choices == ["relu", "gelu"]
    assert parse_values(SPACE, "lr=1e-3, 1e-2") == ("lr", [1e-3, 1e-2])
    assert parse_values(SPACE, "k=1,3") == ("k", [1, 3])
    for item, message in (("lr=2", "outside"), ("act=elu", "not one of"), ("depth=1", "not a hyperparameter"),
                          ("x=1,1", "listed twice"), ("x", "expected NAME")):
        with pytest.raises(ValueError, match=message):
            parse_values(SPACE, item)
    with pytest.raises(ValueError, match="low must be below high"):
        parse_bounds(SPACE, ["x=4:2"])


def test_copy_trials_seeds_the_child_with_results_inside_the_box():
    parent = uqhpo.create_study(Space({"x": Real(0.0, 1.0)}), strategy="random", n_replicates=2, name="p")
    for x in (0.1, 0.5, 0.55, 0.9):
        trial = parent.ask()
        parent.tell(trial, [x, x + 0.1])
    configs = {t.number: t.config["x"] for t in parent.all_trials()}
    center = 0.5
    child_space = focus_space(parent.space, {"x": center}, width=0.3)
    child = uqhpo.create_study(child_space, strategy="rbf", n_replicates=2, name="c", storage=parent.storage)
    numbers = copy_trials(parent.all_trials(), child, "p")
    inside = sorted(n for n, x in configs.items() if 0.35 <= x <= 0.65)
    assert len(numbers) == len(inside)
    copies = child.all_trials()
    assert [t.user_attrs["copied_from"] for t in copies] == [{"study": "p", "trial": n} for n in inside]
    by_number = {t.number: t for t in parent.all_trials()}
    for copy in copies:
        original = by_number[copy.user_attrs["copied_from"]["trial"]]
        assert copy.config == original.config
        assert [r.seed for r in copy.replicates] == [r.seed for r in original.replicates]
        assert copy.losses.tolist() == original.losses.tolist() and not math.isnan(child.best.value)
