"""The pruners' ``margin``: a configuration within k standard errors of the cutoff continues."""
from __future__ import annotations

import math

import pytest

from uqhpo.config_schema import ConfigError
from uqhpo.pruners import ASHAPruner, Curves, MedianPruner, make_pruner, pruner_spec


def curves_of(data: dict) -> Curves:
    """``{trial: {index: [(step, value), ...]}}`` -> Curves of metric "loss" (minimised)."""
    c = Curves("loss")
    for trial, reps in data.items():
        for index, series in reps.items():
            for step, value in series:
                c.add(trial, index, 0, step, {"loss": value})
    return c


def flat(values_by_replicate: list[float], steps: int = 3) -> dict:
    """Replicates whose curve stays at one value for ``steps`` steps."""
    return {i: [(s, v) for s in range(1, steps + 1)] for i, v in enumerate(values_by_replicate)}


# five others, two replicates each, means 1, 2, 3, 4, 5 at every step (each with std 0.2)
OTHERS = {t: flat([t - 0.1, t + 0.1]) for t in range(1, 6)}


def test_standard_error_of_own_replicates():
    c = curves_of({9: flat([3.0, 4.0, 5.0])})
    # sample std 1, three replicates -> 1 / sqrt(3)
    assert c.standard_error(9, 2) == pytest.approx(1 / math.sqrt(3))
    assert c.standard_error(9, 4) is None          # nobody reached step 4
    assert c.standard_error(7, 1) is None          # unknown trial


def test_standard_error_of_a_single_replicate_falls_back_to_the_pooled_spread_of_the_others():
    c = curves_of({**OTHERS, 9: flat([3.5])})
    # every other config: two values 0.2 apart, sample variance 0.02 -> pooled std sqrt(0.02)
    assert c.standard_error(9, 2) == pytest.approx(math.sqrt(0.02))
    alone = curves_of({9: flat([3.5]), 1: flat([1.0])})
    assert alone.standard_error(9, 2) is None      # no config with two replicates: no spread known


def test_pooled_spread_by_fraction_reads_the_others_at_the_same_share_of_their_budgets():
    c = curves_of({1: {0: [(1, 9.0), (2, 1.0)], 1: [(1, 9.0), (2, 3.0)]}, 9: flat([2.0], steps=4)})
    c.set_budget(1, 4)
    c.set_budget(9, 8)
    # 50 % of trial 1's budget is step 2: values 1 and 3, sample variance 2
    assert c.standard_error(9, 4, fraction=0.5) == pytest.approx(math.sqrt(2.0))
    # at step 1 its replicates agree: no spread
    assert c.standard_error(9, 1) == pytest.approx(0.0)


def test_median_margin_spares_a_noisy_config_just_above_the_median_but_not_a_clear_loser():
    # median of the others at step 2: 3.0; trial 9's replicates 2.0 and 4.4: mean 3.2,
    # sample std 1.70, SE 1.2
    near = curves_of({**OTHERS, 9: flat([2.0, 4.4])})
    assert MedianPruner(warmup_steps=1, min_trials=5).prune(9, 1, 2, near) is not None   # today's rule
    assert MedianPruner(warmup_steps=1, min_trials=5, margin=1.0).prune(9, 1, 2, near) is None
    assert MedianPruner(warmup_steps=1, min_trials=5, margin=0.1).prune(9, 1, 2, near) is not None
    # replicates that agree (4.9, 5.1: SE 0.1) at mean 5.0 are 20 SE above the median
    far = curves_of({**OTHERS, 9: flat([4.9, 5.1])})
    reason = MedianPruner(warmup_steps=1, min_trials=5, margin=1.0).prune(9, 1, 2, far)
    assert reason is not None and "margin 1 SE" in reason


def test_asha_margin_compares_with_the_worst_value_that_continues():
    # rung 2 (min_steps 2): five others at 1..5, n = 6, keep 2: the cutoff is the 2nd best, 2.0
    # (trial 9 has just reported step 2: ASHA judges the rungs passed by the latest report)
    near = curves_of({**OTHERS, 9: flat([1.5, 3.3], steps=2)})    # mean 2.4, SE 0.9
    assert ASHAPruner(min_steps=2, reduction_factor=3).prune(9, 1, 2, near) is not None
    assert ASHAPruner(min_steps=2, reduction_factor=3, margin=1.0).prune(9, 1, 2, near) is None
    # a single replicate at 2.2: the pooled SE is sqrt(0.02) = 0.14; 0.2 above the cutoff
    single = curves_of({**OTHERS, 9: flat([2.2], steps=2)})
    assert ASHAPruner(min_steps=2, reduction_factor=3, margin=1.0).prune(9, 0, 2, single) is not None
    assert ASHAPruner(min_steps=2, reduction_factor=3, margin=2.0).prune(9, 0, 2, single) is None


def test_asha_margin_with_budget_key_uses_the_rung_of_the_own_budget():
    pruner = ASHAPruner(min_steps=2, reduction_factor=3, budget_key="epochs", margin=1.0)
    data = {t: flat([t - 0.1, t + 0.1], steps=2) for t in range(1, 6)}   # budgets 6: rung at step 2
    data[9] = flat([1.5, 3.3], steps=4)                                   # budget 12: rung at step 4
    c = curves_of(data)
    for t in range(1, 6):
        c.set_budget(t, 6)
    c.set_budget(9, 12)
    assert pruner.prune(9, 1, 4, c) is None
    assert ASHAPruner(min_steps=2, reduction_factor=3, budget_key="epochs").prune(9, 1, 4, c) is not None


def test_margin_spec_round_trip_default_off_and_one_line_errors():
    assert pruner_spec({"name": "asha", "margin": 1}) == {"name": "asha", "min_steps": 1, "reduction_factor": 3,
                                                         "min_trials": 1, "margin": 1.0}
    assert "margin" not in pruner_spec({"name": "median", "margin": 0})     # 0 = today's rule, not stored
    assert make_pruner("median").margin == 0.0
    for bad in (-1, math.inf, "1", True):
        with pytest.raises(ValueError, match=r"^pruner\.margin: must be a finite number >= 0, got"):
            make_pruner({"name": "median", "margin": bad})


def test_yaml_accepts_margin_and_names_the_key_when_bad(tmp_path):
    from uqhpo.config import load_config  # noqa: PLC0415

    path = tmp_path / "c.yaml"
    # A synthetic task: the test must not depend on a generated data file (CI runs on a clean clone).
    base = ("task: uqhpo.testing.tasks:reporting\n"
            "space: {x: {type: real, low: 0.0, high: 1.0}, steps: {type: fixed, value: 4}}\n"
            "budget: {trials: 2}\n")
    path.write_text(base + "pruner: {name: asha, margin: 1.5}\n")
    assert load_config(path).pruner.spec() == {"name": "asha", "margin": 1.5}
    path.write_text(base + "pruner: {name: asha, margin: -1}\n")
    with pytest.raises(ConfigError, match="margin"):
        load_config(path)
