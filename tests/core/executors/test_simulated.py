"""The simulated executor: virtual clock, reproducible durations and injected faults."""
from __future__ import annotations

import math

import numpy as np
import pytest

from uqhpo.executors import Job, ReplicateSlot, make_executor
from uqhpo.executors.simulated import SimulatedExecutor, duration_model

TASK = "uqhpo.testing.tasks:quadratic"


def _job(trial, n=1, attempt=0, task=TASK):
    slots = [ReplicateSlot(index=i, attempt=attempt, seed=1000 * trial + i) for i in range(n)]
    config = {"x": 0.1 * trial, "y": -1.0, "n": 3, "act": "relu"}
    return Job(job_id=f"j{trial}-{attempt}", trial=trial, config=config, slots=slots, task=task)


def _run_async(ex, n_jobs, n=1):
    """Submit whenever a worker frees, until ``n_jobs`` jobs have finished."""
    submitted, results = 0, []
    while submitted < n_jobs or ex.n_running():
        while ex.free_slots() and submitted < n_jobs:
            ex.submit(_job(submitted, n=n))
            submitted += 1
        results += ex.poll(timeout=None)
    return results


def _signature(results):
    return [(r.trial, r.index, r.status, r.loss, r.started, r.finished, r.worker) for r in results]


def test_same_seed_same_sequence_and_times():
    spec = {"dist": "lognormal", "median": 10, "spread": 10}
    a = _run_async(SimulatedExecutor(workers=3, duration=spec, failure_rate=0.2, seed=5), 25, n=2)
    b = _run_async(make_executor("simulated", workers=3, duration=spec, failure_rate=0.2, seed=5), 25, n=2)
    c = _run_async(SimulatedExecutor(workers=3, duration=spec, failure_rate=0.2, seed=6), 25, n=2)
    assert _signature(a) == _signature(b)
    assert [r.finished for r in a] != [r.finished for r in c]
    assert len(a) == 50
    assert [r.finished for r in a] == sorted(r.finished for r in a)  # finish-time order


def test_heterogeneous_durations_finish_out_of_submission_order():
    ex = SimulatedExecutor(workers=4, duration={"dist": "lognormal", "median": 5, "spread": 10}, seed=1)
    for t in range(4):
        ex.submit(_job(t))
    order = []
    while ex.n_running():
        order += [r.trial for r in ex.poll(timeout=None)]
    assert sorted(order) == [0, 1, 2, 3] and order != [0, 1, 2, 3]


def test_poll_advances_clock_to_next_completion_but_not_past_timeout():
    ex = SimulatedExecutor(workers=2, duration=lambda config, rng: 10.0 if config["x"] == 0 else 4.0)
    ex.submit(_job(0))
    ex.submit(_job(1))
    assert ex.poll(timeout=3.0) == [] and ex.time() == 3.0
    (first,) = ex.poll(timeout=3.0)
    assert first.trial == 1 and ex.time() == 4.0 and first.started == 0.0 and first.finished == 4.0
    assert ex.free_slots() == 1
    (second,) = ex.poll(timeout=100.0)
    assert second.trial == 0 and ex.time() == 10.0 and second.runtime == 10.0


def test_sequential_slots_of_a_job_run_back_to_back_on_one_worker():
    ex = SimulatedExecutor(workers=2, duration=2.0)
    ex.submit(_job(0, n=3))
    times = []
    while ex.n_running():
        times += [(r.index, r.started, r.finished, r.worker) for r in ex.poll(timeout=None)]
    assert times == [(0, 0.0, 2.0, "sim-0"), (1, 2.0, 4.0, "sim-0"), (2, 4.0, 6.0, "sim-0")]


def test_injected_failures_are_reproducible_and_keyed_by_replicate():
    def statuses(seed, n_jobs):
        ex = SimulatedExecutor(workers=2, duration=1.0, failure_rate=0.3, seed=seed)
        return {(r.trial, r.index): (r.status, r.error) for r in _run_async(ex, n_jobs)}

    first, again = statuses(3, 40), statuses(3, 40)
    assert first == again
    failed = [k for k, (s, _) in first.items() if s == "failed"]
    assert 4 <= len(failed) <= 24                      # ~30% of 40
    assert all(first[k][1] == "injected failure" for k in failed)
    # keyed by (trial, index, attempt), not by event order: a shorter run agrees on its part
    shorter = statuses(3, 10)
    assert all(first[k] == v for k, v in shorter.items())


def test_injected_loss_loses_the_rest_of_the_job():
    ex = SimulatedExecutor(workers=1, duration=1.0, loss_rate=1.0)
    ex.submit(_job(0, n=3))
    results = []
    while ex.n_running():
        results += ex.poll(timeout=None)
    assert [r.status for r in results] == ["lost", "lost", "lost"]
    assert "injected loss" in results[0].error


def test_results_carry_real_losses_from_the_task():
    ex = SimulatedExecutor(workers=1, duration=7.0)
    ex.submit(_job(2, n=2))
    results = ex.poll(timeout=None) + ex.poll(timeout=None)
    assert all(r.status == "ok" and math.isfinite(r.loss) for r in results)
    assert results[0].loss != results[1].loss          # different replicate seeds
    assert "clean" in results[0].metrics


def test_lognormal_spread_means_ratio_of_95th_to_5th_percentile():
    model = duration_model({"dist": "lognormal", "median": 10, "spread": 10})
    rng = np.random.default_rng(0)
    draws = np.array([model({}, rng) for _ in range(20000)])
    q5, q50, q95 = np.quantile(draws, [0.05, 0.5, 0.95])
    assert q95 / q5 == pytest.approx(10, rel=0.1)
    assert q50 == pytest.approx(10, rel=0.05)


def test_bad_duration_specs_are_named():
    with pytest.raises(ValueError, match="unknown duration dist 'gamma'"):
        duration_model({"dist": "gamma"})
    with pytest.raises(ValueError, match="failure_rate"):
        SimulatedExecutor(failure_rate=1.5)
