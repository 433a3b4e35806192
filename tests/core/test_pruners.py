"""Pruner decisions on hand-made learning curves: replicate means at the same step."""
from __future__ import annotations

import pytest

from uqhpo.pruners import ASHAPruner, Curves, MedianPruner, PruningMonitor, make_pruner, pick_metric, pruner_spec
from uqhpo.trial import Replicate, State, Trial


def curves_of(data: dict, sign: float = 1.0) -> Curves:
    """``{trial: {index: [(step, value), ...]}}`` -> Curves of metric "loss"."""
    c = Curves("loss", sign)
    for trial, reps in data.items():
        for index, series in reps.items():
            for step, value in series:
                c.add(trial, index, 0, step, {"loss": value})
    return c


def test_value_at_is_the_mean_of_replicate_running_bests_among_those_that_reached_the_step():
    c = curves_of({0: {0: [(1, 4.0), (2, 1.0), (3, 3.0)], 1: [(1, 2.0), (2, 5.0), (3, 0.5)], 2: [(1, 9.0)]}})
    # step 3: replicate 0 best 1.0, replicate 1 best 0.5; replicate 2 has not reached step 3
    assert c.value_at(0, 3) == pytest.approx(0.75)
    # step 1: all three reached it
    assert c.value_at(0, 1) == pytest.approx((4.0 + 2.0 + 9.0) / 3)
    assert c.value_at(0, 4) is None and c.value_at(7, 1) is None


def test_maximised_metric_is_signed_so_lower_is_better():
    c = curves_of({0: {0: [(1, 0.2), (2, 0.9)]}}, sign=-1.0)
    assert c.value_at(0, 2) == pytest.approx(-0.9)


def test_a_retry_replaces_the_curve_of_the_failed_attempt_and_late_reports_are_ignored():
    c = Curves("loss")
    c.add(0, 0, 0, 1, {"loss": 5.0})
    c.add(0, 0, 1, 1, {"loss": 2.0})
    assert not c.add(0, 0, 0, 2, {"loss": 0.1})   # the old attempt, late
    assert c.value_at(0, 1) == 2.0 and c.steps(0, 0) == [1]


def test_median_prunes_a_config_whose_replicate_mean_is_above_the_median_of_the_others():
    others = {t: {0: [(1, float(t)), (2, float(t))], 1: [(1, float(t) + 0.2), (2, float(t) + 0.2)]}
              for t in range(1, 6)}   # means at step 2: 1.1, 2.1, 3.1, 4.1, 5.1 -> median 3.1
    pruner = MedianPruner(warmup_steps=1, min_trials=5)
    # trial 9: replicate 0 alone at 2.0, replicate 1 at 5.0: mean 3.5 > 3.1 -> pruned,
    # although replicate 0 alone (2.0) is better than the median: the rule reads means
    bad = curves_of({**others, 9: {0: [(1, 2.0), (2, 2.0)], 1: [(1, 5.0), (2, 5.0)]}})
    assert pruner.prune(9, 1, 2, bad) is not None
    good = curves_of({**others, 9: {0: [(1, 2.0), (2, 2.0)], 1: [(1, 3.0), (2, 3.0)]}})  # mean 2.5
    assert pruner.prune(9, 1, 2, good) is None


def test_median_waits_for_warmup_and_for_min_trials():
    data = {t: {0: [(1, float(t)), (2, float(t)), (3, float(t))]} for t in range(4)}
    data[9] = {0: [(1, 100.0), (2, 100.0), (3, 100.0)]}
    c = curves_of(data)
    assert MedianPruner(warmup_steps=2, min_trials=4).prune(9, 0, 2, c) is None     # still warming up
    assert MedianPruner(warmup_steps=2, min_trials=4).prune(9, 0, 3, c) is not None
    assert MedianPruner(warmup_steps=2, min_trials=5).prune(9, 0, 3, c) is None     # only 4 others


def test_asha_keeps_the_best_third_at_a_rung_and_judges_each_rung_once():
    pruner = ASHAPruner(min_steps=2, reduction_factor=3)
    assert pruner.rungs_between(-1, 20) == [2, 6, 18]
    data = {t: {0: [(1, 9.0), (2, float(t))]} for t in range(5)}   # 5 configs at rung 2: 0, 1, 2, 3, 4
    # a new config reaching rung 2 with 1.5: 6 configs -> keep 2; it ranks 3rd -> pruned
    c = curves_of({**data, 9: {0: [(1, 9.0), (2, 1.5)]}})
    assert pruner.prune(9, 0, 2, c) is not None
    c = curves_of({**data, 9: {0: [(1, 9.0), (2, 0.5)]}})     # ranks 2nd -> continues
    assert pruner.prune(9, 0, 2, c) is None
    # at step 3 the rung 2 was already judged (the previous report was step 2): no decision
    c.add(9, 0, 0, 3, {"loss": 8.0})
    assert pruner.prune(9, 0, 3, c) is None


def test_asha_judges_a_rung_skipped_by_the_report_interval_and_reads_replicate_means():
    pruner = ASHAPruner(min_steps=2, reduction_factor=2)
    data = {0: {0: [(3, 1.0)]}, 1: {0: [(3, 2.0)]}}
    # config 9 reports every 3 steps: step 3 crosses rung 2; its two replicates average 1.5 -> rank 2 of 3, keep 1
    c = curves_of({**data, 9: {0: [(3, 0.5)], 1: [(3, 2.5)]}})
    assert pruner.prune(9, 1, 3, c) is not None
    c = curves_of({**data, 9: {0: [(3, 0.5)], 1: [(3, 0.9)]}})
    assert pruner.prune(9, 1, 3, c) is None


def test_asha_first_config_at_a_rung_continues_and_min_trials_delays_decisions():
    c = curves_of({0: {0: [(1, 5.0)]}})
    assert ASHAPruner(min_steps=1).prune(0, 0, 1, c) is None
    c = curves_of({0: {0: [(1, 1.0)]}, 1: {0: [(1, 5.0)]}})
    assert ASHAPruner(min_steps=1).prune(1, 0, 1, c) is not None
    assert ASHAPruner(min_steps=1, min_trials=3).prune(1, 0, 1, c) is None


def test_metric_choice():
    assert pick_metric({"val_loss": 1.0, "train_loss": 2.0}, None) == "val_loss"
    assert pick_metric({"loss": 1.0, "val_loss": 2.0}, None) == "loss"
    assert pick_metric({"acc": 1.0}, None) == "acc"
    assert pick_metric({"a": 1.0, "b": 2.0}, None) is None
    assert pick_metric({"a": 1.0}, "b") is None
    c = Curves(None)
    assert not c.add(0, 0, 0, 1, {"a": 1.0, "b": 2.0}) and not c.add(0, 0, 0, 1, {"loss": float("nan")})


def test_monitor_remembers_pruned_trials_and_reads_stored_ones():
    clock = [0.0]
    monitor = PruningMonitor(MedianPruner(warmup_steps=0, min_trials=1), refresh_s=5.0, clock=lambda: clock[0])
    assert monitor.stale()
    stored = Trial(0, {"x": 0.1}, 1, [Replicate(0, 0, 0, 1, State.COMPLETE, loss=1.0, reports=[(1, {"loss": 1.0})])])
    pruned = Trial(1, {"x": 0.2}, 1, [Replicate(1, 0, 0, 2, State.PRUNED, loss=3.0, reports=[(1, {"loss": 3.0})])])
    monitor.sync([stored, pruned])
    assert not monitor.stale() and monitor.pruned == {1: "pruned earlier"}
    assert monitor.report(1, 0, 0, 2, {"loss": 0.0})          # already pruned: stays pruned
    assert not monitor.report(2, 0, 0, 1, {"loss": 0.5})      # better than the median (of 1.0 and 3.0)
    assert monitor.report(3, 0, 0, 1, {"loss": 7.0}) and 3 in monitor.pruned
    assert monitor.last_value(3, 0) == 7.0 and monitor.last_value(4, 0) is None
    assert not monitor.report(0, 1, 0, 1, {"loss": 50.0})   # trial 0 completed a training: never pruned
    clock[0] = 5.0
    assert monitor.stale()


@pytest.mark.parametrize("spec, message", [
    ({"name": "median", "warmup_steps": -1}, "pruner.warmup_steps: must be an integer >= 0, got -1"),
    ({"name": "asha", "reduction_factor": 1}, "pruner.reduction_factor: must be an integer >= 2, got 1"),
    ({"name": "asha", "min_steps": 1.5}, "pruner.min_steps: must be an integer >= 1, got 1.5"),
    ({"name": "median", "min_steps": 2}, "pruner.min_steps: unknown key for name: median"),
    ({"name": "hyperband"}, "pruner.name: unknown pruner 'hyperband'"),
    ({"name": "asha", "budget_key": ""}, "pruner.budget_key: must be a config key, got ''"),
    ({"warmup_steps": 2}, "pruner.name: required key is missing"),
    (3, "pruner: expected a name or a mapping"),
])
def test_bad_specs_give_one_line_naming_the_key(spec, message):
    with pytest.raises(ValueError) as err:
        make_pruner(spec)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_specs_round_trip_and_off_by_default():
    assert make_pruner(None) is None and make_pruner("none") is None and pruner_spec({"name": "none"}) is None
    for spec in ({"name": "median", "warmup_steps": 5, "min_trials": 5},
                 {"name": "asha", "min_steps": 2, "reduction_factor": 4, "min_trials": 1, "metric": "val_loss"},
                 {"name": "median", "warmup_steps": 0, "min_trials": 2, "budget_key": "epochs"},
                 {"name": "asha", "min_steps": 1, "reduction_factor": 3, "min_trials": 3, "budget_key": "epochs"}):
        assert pruner_spec(spec) == spec
    assert isinstance(make_pruner("asha"), ASHAPruner)


# -- fractions of each configuration's own budget (budget_key) ---------------------------------
def budgeted(data: dict, budgets: dict) -> Curves:
    c = curves_of(data)
    for trial, steps in budgets.items():
        c.set_budget(trial, steps)
    return c


def test_values_at_a_fraction_of_each_configs_own_budget():
    c = budgeted({0: {0: [(s, 10.0 - s) for s in range(1, 7)]}, 1: {0: [(s, 20.0 - s) for s in range(1, 19)]},
                  2: {0: [(1, 0.0)]}}, {0: 6, 1: 18})
    # a third of 6 steps is step 2, of 18 steps step 6; trial 2 has no budget
    assert c.step_at(0, 1 / 3) == 2 and c.step_at(1, 1 / 3) == 6 and c.step_at(2, 1 / 3) is None
    assert c.step_at(0, 0.01) == 1                      # never before the first step
    c.set_budget(3, 7)
    assert c.step_at(3, 1 / 3) == 3                     # the first step with at least a third trained
    assert c.value_at_fraction(0, 1 / 3) == 8.0 and c.value_at_fraction(1, 1 / 3) == 14.0
    assert c.others_at_fraction(2, 1 / 3) == [8.0, 14.0] and c.others_at_fraction(0, 1.0) == [2.0]


def test_asha_rungs_are_fractions_of_the_own_budget_leaving_min_steps():
    pruner = ASHAPruner(min_steps=2, reduction_factor=3, budget_key="epochs")
    assert pruner.fraction_rungs(25) == pytest.approx([1 / 9, 1 / 3])
    assert pruner.fraction_rungs(12) == pytest.approx([1 / 3])     # 12 / 9 < 2 steps
    assert pruner.fraction_rungs(5) == []                          # 5 / 3 < 2 steps: never judged


def slow_starter_curves() -> dict:
    """Three short configs (6 steps) that start fast and stall, a long one (trial 9, 18
    steps) that starts slowly: worst at step 2, best at a third of its budget (step 6)."""
    data = {t: {0: [(s, 2.0 + t * 0.1 + 1.0 / s) for s in range(1, 7)]} for t in range(3)}
    data[9] = {0: [(s, 2.0 + 2.0 / s) for s in range(1, 19)]}      # step 2: 3.0; step 6: 2.33
    return data


BUDGETS = {0: 6, 1: 6, 2: 6, 9: 18}


def replay(pruner, data: dict, trial: int = 9) -> list:
    """The others' whole curves, then ``trial``'s reports one by one: the decision after each."""
    c = budgeted({t: reps for t, reps in data.items() if t != trial}, BUDGETS)
    c.set_budget(trial, BUDGETS[trial])
    out = []
    for step, value in data[trial][0]:
        c.add(trial, 0, 0, step, {"loss": value})
        out.append(pruner.prune(trial, 0, step, c))
    return out


def test_asha_by_fraction_keeps_a_slow_starter_that_the_same_step_prunes():
    data = slow_starter_curves()
    raw = replay(ASHAPruner(min_steps=2, reduction_factor=3), data)
    assert raw[1] is not None and "rung 2 ranks 4 of 4" in raw[1]        # 3.0 against 2.5, 2.6, 2.7
    frac = ASHAPruner(min_steps=2, reduction_factor=3, budget_key="epochs")
    assert frac.fraction_rungs(18) == pytest.approx([1 / 9, 1 / 3])
    # rung 1/9 = step 2: the short ones at step 1 (3.0, 3.1, 3.2), it ties the best;
    # rung 1/3 = step 6 (2.33) against the short ones at step 2 (2.5, 2.6, 2.7): the best
    assert replay(frac, data) == [None] * 18
    # a long config that stalls at 2.8: kept at 1/9 (2.9), pruned at 1/3 of its budget, once
    data[9] = {0: [(1, 3.5), (2, 2.9)] + [(s, 2.8) for s in range(3, 19)]}
    decisions = replay(frac, data)
    assert decisions[5] is not None and "rung 6 (33% of its budget) ranks 4 of 4" in decisions[5]
    assert [d for i, d in enumerate(decisions) if i != 5] == [None] * 17
    # a config whose budget is unknown is never judged
    assert frac.prune(9, 0, 6, curves_of(data)) is None


def test_median_by_fraction_reads_the_others_at_the_same_share_of_their_budgets():
    data = slow_starter_curves()
    data[9] = {0: [(s, 2.0 + 4.0 / s) for s in range(1, 19)]}         # step 2: 4.0
    c = budgeted(data, BUDGETS)
    assert MedianPruner(warmup_steps=1, min_trials=3).prune(9, 0, 2, c) is not None   # 4.0 vs 2.6 at step 2
    frac = MedianPruner(warmup_steps=1, min_trials=3, budget_key="epochs")
    # step 2 of 18 (11 %): the others at step 1 of 6 (3.0, 3.1, 3.2): 4.0 is worse -> pruned
    assert frac.prune(9, 0, 2, c) is not None
    data[9] = {0: [(s, 2.0 + 1.8 / s) for s in range(1, 19)]}         # step 2: 2.9 < 3.1
    c = budgeted(data, BUDGETS)
    assert frac.prune(9, 0, 2, c) is None
    assert frac.prune(9, 0, 9, c) is None               # half: 2.2 against 2.33, 2.43, 2.53
    assert MedianPruner(warmup_steps=1, min_trials=3).prune(9, 0, 9, c) is None    # nobody else at step 9


def test_monitor_reads_budgets_from_configs_and_judges_a_new_trial_after_the_next_sync():
    clock = [0.0]
    monitor = PruningMonitor(MedianPruner(warmup_steps=0, min_trials=1, budget_key="epochs"), refresh_s=60.0,
                             clock=lambda: clock[0])
    done = Trial(0, {"epochs": 4}, 1, [Replicate(0, 0, 0, 1, State.COMPLETE, loss=1.0,
                                                 reports=[(s, {"loss": 1.0}) for s in range(1, 5)])])
    monitor.sync([done])
    assert monitor.curves.budget(0) == 4.0 and not monitor.stale()
    # trial 1 (8 epochs) was created after the sync: its first report is not judged and the
    # curves go stale so the driver re-reads them before the next one
    assert not monitor.report(1, 0, 0, 1, {"loss": 9.0}) and monitor.stale()
    running = Trial(1, {"epochs": 8}, 1, [Replicate(1, 0, 0, 2, State.RUNNING, reports=[(1, {"loss": 9.0})])])
    no_key = Trial(2, {"lr": 0.1}, 1, [Replicate(2, 0, 0, 3, State.RUNNING)])
    monitor.sync([done, running, no_key])
    assert monitor.curves.budget(1) == 8.0 and monitor.curves.budget(2) is None
    assert monitor.report(1, 0, 0, 2, {"loss": 9.0})                 # 25 % of 8: trial 0 at step 1 has 1.0
    assert not monitor.report(2, 0, 0, 1, {"loss": 99.0}) and not monitor.stale()   # no budget: never pruned
