"""Pure export tables and one-line descriptions of results (no storage, no CLI)."""
from __future__ import annotations

import pytest

from uqhpo.analysis.describe import attempt_state, best_line, count_states, counts_line, format_loss, objective_formula
from uqhpo.analysis.export import nested_trials, replicate_rows, report_rows
from uqhpo.trial import Replicate, State, Trial, TrialSummary


def _trials() -> list[Trial]:
    t0 = Trial(number=0, config={"lr": 0.1, "loss": "x"}, n_replicates=2, replicates=[
        Replicate(0, 0, 0, seed=11, state=State.FAILED, error="Traceback...\nRuntimeError: boom", runtime=1.0),
        Replicate(0, 0, 1, seed=11, state=State.COMPLETE, loss=0.5, metrics={"acc": 0.9, "tag": "a"},
                  reports=[(0, {"val": 0.7}), (1, {"val": 0.5, "train": 0.4})]),
        Replicate(0, 1, 0, seed=12, state=State.FAILED, error="interrupted by user; re-queued"),
        Replicate(0, 1, 1, seed=12, state=State.COMPLETE, loss=0.7, metrics={"acc": 0.8}),
    ])
    t1 = Trial(number=1, config={"lr": 0.2, "loss": "y"}, n_replicates=1,
               replicates=[Replicate(1, 0, 0, seed=21, state=State.RUNNING)])
    return [t1, t0]


def test_replicate_rows_one_per_attempt_with_seed_and_last_error_line():
    columns, rows = replicate_rows(_trials(), ["lr", "loss"])
    assert columns[:5] == ["number", "replicate", "attempt", "seed", "state"]
    assert "param_loss" in columns and "loss" in columns and columns[-1] == "metric_acc"   # no string metric
    assert [(r["number"], r["replicate"], r["attempt"]) for r in rows] == [(0, 0, 0), (0, 0, 1), (0, 1, 0),
                                                                          (0, 1, 1), (1, 0, 0)]
    assert [r["state"] for r in rows] == ["FAILED", "COMPLETE", "INTERRUPTED", "COMPLETE", "RUNNING"]
    assert rows[0]["error"] == "RuntimeError: boom" and rows[0]["seed"] == 11
    assert rows[1]["loss"] == 0.5 and rows[1]["metric_acc"] == 0.9 and rows[1]["param_loss"] == "x"
    assert rows[4]["loss"] is None and rows[4]["metric_acc"] is None


def test_report_rows_one_per_step():
    columns, rows = report_rows(_trials())
    assert columns == ["number", "replicate", "attempt", "seed", "step", "train", "val"]
    assert [(r["step"], r["val"], r["train"]) for r in rows] == [(0, 0.7, None), (1, 0.5, 0.4)]
    assert rows[0]["seed"] == 11 and rows[0]["attempt"] == 1


def test_nested_trials_carry_every_attempt_and_its_reports():
    summary = TrialSummary(number=0, config={"lr": 0.1, "loss": "x"}, value=0.74, mean=0.6, std=0.14, n=2,
                           metrics={"acc": 0.85})
    rows = nested_trials(_trials(), [summary], ["lr", "loss"])
    assert [r["number"] for r in rows] == [0, 1] and rows[0]["objective"] == 0.74 and rows[1]["mean"] is None
    reps = rows[0]["replicates"]
    assert [r["state"] for r in reps] == ["FAILED", "COMPLETE", "INTERRUPTED", "COMPLETE"]
    assert reps[1]["reports"] == [{"step": 0, "val": 0.7}, {"step": 1, "val": 0.5, "train": 0.4}]
    assert reps[1]["metrics"] == {"acc": 0.9, "tag": "a"} and reps[1]["seed"] == 11


def test_descriptions_label_the_objective_and_single_replicates():
    assert objective_formula(1.0) == "mean + 1·std" and objective_formula(0.5, "maximize") == "mean − 0.5·std"
    assert format_loss(0.123456789, 0.01, 3) == "0.123457 ± 0.01 (n=3)"
    assert format_loss(0.5, 0.0, 1) == "0.5 (n=1)" and "±" not in format_loss(0.5, 0.2, 1)
    best = TrialSummary(number=4, config={}, value=0.6, mean=0.5, std=0.1, n=2)
    assert best_line(best, 1.0) == "trial 4, objective (mean + 1·std) 0.6, loss 0.5 ± 0.1 (n=2)"


@pytest.mark.parametrize("state, error, expected", [
    (State.FAILED, "interrupted by user; re-queued", "INTERRUPTED"), (State.FAILED, "boom", "FAILED"),
    (State.COMPLETE, None, "COMPLETE"), (State.STALE, "interrupted", "STALE"),
])
def test_attempt_state(state, error, expected):
    assert attempt_state(Replicate(0, 0, 0, seed=1, state=state, error=error)) == expected


def test_counts_line_shows_interrupted_only_when_present():
    assert counts_line(count_states(["COMPLETE", "COMPLETE", "FAILED"])) == (
        "COMPLETE 2  RUNNING 0  WAITING 0  FAILED 1  STALE 0")
    assert "INTERRUPTED 1" in counts_line(count_states(["INTERRUPTED"]))
