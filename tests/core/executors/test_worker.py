"""The slot runner shared by every executor: context, error capture, result fields."""
from __future__ import annotations

from pathlib import Path

import pytest

from uqhpo.executors import Job, ReplicateSlot
from uqhpo.executors.worker import resolve_task, run_job, run_slot, visible_gpus


def _job(task, config=None, n=1, **kw):
    slots = [ReplicateSlot(index=i, attempt=0, seed=100 + i) for i in range(n)]
    return Job(job_id="j", trial=7, config=config or {"x": 0.25}, slots=slots, task=task, **kw)


def test_raising_task_fails_with_traceback_text():
    job = _job("uqhpo.testing.tasks:raises")
    (r,) = list(run_job(job))
    assert r.status == "failed"
    assert "RuntimeError" in r.error and "failed on purpose" in r.error
    assert "Traceback" in r.error
    assert r.loss is None and r.runtime is not None and r.runtime >= 0


def test_nan_task_fails_naming_non_finite():
    (r,) = list(run_job(_job("uqhpo.testing.tasks:nan")))
    assert r.status == "failed"
    assert "non-finite" in r.error


def test_metrics_and_reports_are_carried():
    (r,) = list(run_job(_job("uqhpo.testing.tasks:reporting", {"x": 0.5, "steps": 4})))
    assert r.status == "ok"
    assert r.metrics["steps"] == 4
    assert isinstance(r.metrics["final"], float) and r.metrics["final"] == pytest.approx(r.loss)
    assert [step for step, _ in r.reports] == [0, 1, 2, 3]
    assert r.reports[-1][1]["val_loss"] == pytest.approx(r.loss)
    # each report is smaller than the one before (the task halves towards 0.2 x)
    values = [v["val_loss"] for _, v in r.reports]
    assert all(b < a for a, b in zip(values, values[1:]))


def test_context_gets_seed_trial_workdir_and_mc_dropout(tmp_path):
    job = _job("uqhpo.testing.tasks:inspect_context", n=2, workdir=str(tmp_path), mc_dropout=5)
    results = list(run_job(job, device="cpu", worker="w-3"))
    assert [r.index for r in results] == [0, 1]
    for r in results:
        assert r.status == "ok"
        assert r.metrics["seed"] == r.seed == 100 + r.index
        assert r.metrics["trial"] == 7 and r.metrics["replicate"] == r.index
        assert Path(r.metrics["workdir"]) == tmp_path / "trial7"
        assert r.metrics["mc_dropout"] == 5 and r.metrics["device"] == "cpu"
        assert r.worker == "w-3" and r.started <= r.finished


def test_plain_function_and_object_tasks_run():
    (r,) = list(run_job(_job(lambda config, seed: config["x"] + seed)))
    assert r.status == "ok" and r.loss == pytest.approx(100.25)
    (r,) = list(run_job(_job("uqhpo.testing.tasks:seeded_function")))
    assert r.status == "ok"


def test_unimportable_task_fails_every_slot():
    results = list(run_job(_job("uqhpo.testing.tasks:does_not_exist", n=2)))
    assert [r.status for r in results] == ["failed", "failed"]
    assert "does_not_exist" in results[0].error


def test_task_path_is_imported_once_per_process():
    assert resolve_task("uqhpo.testing.tasks:quadratic") is resolve_task("uqhpo.testing.tasks:quadratic")


def test_sys_exit_in_task_is_a_failure_not_an_exit():
    def exits(config, seed):
        raise SystemExit(4)
    job = _job(exits)
    r = run_slot(job, job.slots[0], resolve_task(exits))
    assert r.status == "failed" and "SystemExit" in r.error


def test_same_seed_same_quadratic_loss():
    a = list(run_job(_job("uqhpo.testing.tasks:quadratic", {"x": 0.0, "y": 0.0, "n": 3, "act": "tanh"}, n=2)))
    b = list(run_job(_job("uqhpo.testing.tasks:quadratic", {"x": 0.0, "y": 0.0, "n": 3, "act": "tanh"}, n=2)))
    assert [r.loss for r in a] == [r.loss for r in b]
    assert a[0].loss != a[1].loss  # different seeds, different noise


def test_visible_gpus_follows_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert visible_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert visible_gpus() == []
