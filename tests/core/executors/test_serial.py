"""The serial executor: in-process, in order, one slot per poll."""
from __future__ import annotations

import pytest

from uqhpo.executors import Job, ReplicateSlot, make_executor
from uqhpo.executors.serial import SerialExecutor


def _job(job_id, trial, x, n=1, task="uqhpo.testing.tasks:sleep"):
    slots = [ReplicateSlot(index=i, attempt=0, seed=trial * 10 + i) for i in range(n)]
    return Job(job_id=job_id, trial=trial, config={"x": x, "duration": 0.0}, slots=slots, task=task)


def _drain(ex):
    out = []
    while ex.n_running():
        out += ex.poll(0.1)
    return out


def test_runs_jobs_in_submission_order():
    ex = make_executor("serial")
    assert isinstance(ex, SerialExecutor) and ex.n_workers == 1
    with ex:
        for t in range(3):
            ex.submit(_job(f"j{t}", t, x=float(t), n=2))
        results = _drain(ex)
    assert [(r.trial, r.index) for r in results] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert [r.loss for r in results] == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    assert all(r.status == "ok" and r.worker == "serial-0" for r in results)
    assert all(a.finished <= b.started for a, b in zip(results, results[1:]))


def test_free_slot_only_after_last_slot_reported():
    ex = SerialExecutor()
    ex.start()
    ex.submit(_job("a", 0, 0.5, n=2))
    assert ex.free_slots() == 0
    assert len(ex.poll()) == 1 and ex.free_slots() == 0
    assert len(ex.poll()) == 1 and ex.free_slots() == 1
    assert ex.poll() == []


def test_shutdown_cancel_drops_and_no_cancel_runs_rest():
    ex = SerialExecutor()
    ex.submit(_job("a", 0, 0.5))
    ex.submit(_job("b", 1, 0.7))
    ex.shutdown(cancel=False)
    assert [r.trial for r in _drain(ex)] == [0, 1]
    ex.submit(_job("c", 2, 0.9))
    ex.shutdown(cancel=True)
    assert ex.n_running() == 0 and ex.poll() == []


def test_unknown_executor_and_option_named():
    with pytest.raises(ValueError, match="did you mean 'serial'"):
        make_executor("serail")
    with pytest.raises(ValueError, match="no option 'threads'"):
        make_executor("serial", threads=2)
    ex = SerialExecutor()
    assert make_executor(ex) is ex
