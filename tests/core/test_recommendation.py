"""uqhpo.recommend: the recommendation rules ("best", "surrogate") on hand-made noisy studies."""
from __future__ import annotations

import math

import numpy as np
import pytest

import uqhpo
from uqhpo import uq
from uqhpo.recommendation import recommend, recommend_trial, rule_of, surrogate_estimates
from uqhpo.space import Real, Space

GRID = [round(0.05 * i, 2) for i in range(21)]          # 21 configs on [0, 1]
LUCKY = 0.1                                             # true 1.6, observed mean -0.6


def _true(x: float) -> float:
    return 10.0 * (x - 0.5) ** 2


def _noisy_study(direction: str = "minimize", rule: str | None = None):
    """Two trainings per config, spread 1.41 each (pooled sem 1.0); every mean is the true
    value except at x = 0.1, whose two draws came out 2.2 sem too low: the lowest mean."""
    settings = {} if rule is None else {"recommend": rule}
    study = uqhpo.create_study(Space({"x": Real(0.0, 1.0)}), strategy="random", seed=3, n_replicates=2,
                               kappa=0.0, direction=direction, settings=settings)
    sign = 1.0 if direction == "minimize" else -1.0
    for x in GRID:
        number = study.add_trial({"x": x}, 2)
        centre = -0.6 if x == LUCKY else _true(x)
        study.tell(number, [sign * (centre - 1.0), sign * (centre + 1.0)])
    return study


def test_rule_of_reads_the_study_settings_and_rejects_unknown_rules():
    assert rule_of(_noisy_study().settings) == "best"
    assert rule_of(_noisy_study(rule="surrogate").settings) == "surrogate"
    bad = _noisy_study().settings.replace(user={"recommend": "luckiest"})
    with pytest.raises(ValueError, match="recommend: unknown rule 'luckiest'"):
        rule_of(bad)
    with pytest.raises(ValueError, match="recommend: unknown rule"):
        recommend(_noisy_study(), rule="median")


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_best_rule_is_study_best_and_falls_for_the_lucky_config(direction):
    study = _noisy_study(direction)
    assert study.best.config["x"] == LUCKY
    assert recommend(study, "best").number == study.best.number
    assert recommend(study).number == study.best.number          # the default rule


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_surrogate_rule_discounts_the_lucky_config(direction):
    study = _noisy_study(direction, rule="surrogate")
    picked = recommend(study)                                   # the study's own rule
    assert picked.config["x"] != LUCKY
    assert abs(picked.config["x"] - 0.5) <= 0.1                 # near the true optimum
    assert _true(picked.config["x"]) < _true(LUCKY) - 1.0
    est = surrogate_estimates(study.all_trials(), study.space, study.settings)
    assert est is not None
    lucky = int(np.flatnonzero(np.isclose([study.all_trials()[n].config["x"] for n in est.numbers], LUCKY))[0])
    sign = 1.0 if direction == "minimize" else -1.0
    assert sign * est.observed[lucky] == pytest.approx(-0.6)
    assert sign * est.predicted[lucky] > 0.0                    # shrunk toward its neighbours
    assert est.noise_std == pytest.approx(math.sqrt(2.0))       # pooled spread of the pairs
    assert np.all(est.n == 2) and est.predicted.shape == est.predicted_std.shape == (len(GRID),)


def test_surrogate_rule_is_deterministic_and_needs_three_configs():
    a, b = _noisy_study(rule="surrogate"), _noisy_study(rule="surrogate")
    assert recommend(a).number == recommend(b).number
    few = uqhpo.create_study(Space({"x": Real(0.0, 1.0)}), strategy="random", seed=1, n_replicates=2, kappa=0.0)
    for x, v in [(0.2, 1.0), (0.7, 0.5)]:
        few.tell(few.add_trial({"x": x}, 2), [v, v + 0.1])
    assert surrogate_estimates(few.all_trials(), few.space, few.settings) is None
    assert recommend_trial(few.all_trials(), few.space, few.settings, "surrogate") == few.best.number
    empty = uqhpo.create_study(Space({"x": Real(0.0, 1.0)}), strategy="random", seed=1)
    assert recommend_trial(empty.all_trials(), empty.space, empty.settings, "surrogate") is None
    with pytest.raises(ValueError, match="no trial has completed"):
        recommend(empty)


def test_prior_dof_shrinks_the_variance_not_the_objective(monkeypatch):
    # two equal draws: their own spread is 0, which would tell the surrogate "exact"
    monkeypatch.setattr(uq, "PRIOR_DOF", 0.0)
    raw = uq.aggregate([1.0, 1.0], kappa=0.0, std_prior=2.0)
    assert raw.objective_var == 0.0
    monkeypatch.setattr(uq, "PRIOR_DOF", 3.0)
    shrunk = uq.aggregate([1.0, 1.0], kappa=0.0, std_prior=2.0)
    assert shrunk.objective_var == pytest.approx((3 * 4.0 / 4) / 2)   # s2 = (1*0 + 3*4) / 4, over k = 2
    assert (shrunk.mean, shrunk.std, shrunk.objective) == (raw.mean, raw.std, raw.objective)
    with_kappa = uq.aggregate([1.0, 3.0, 2.0], kappa=1.0, std_prior=2.0)
    s2 = (2 * 1.0 + 3 * 4.0) / 5
    assert with_kappa.objective_var == pytest.approx(s2 / 3 + s2 / 4)
    assert with_kappa.objective == pytest.approx(2.0 + 1.0)         # own std in the objective
    assert uq.aggregate([1.0, 1.0], kappa=0.0).objective_var == 0.0  # no prior: unchanged


def test_recommend_is_exported_lazily_from_the_package():
    import uqhpo

    assert uqhpo.recommend is recommend and "recommend" in uqhpo.__all__
