"""Behaviour every executor must show, as plain functions a new back-end runs in one call.

    from uqhpo.testing.executors import check_executor
    check_executor(lambda: MyExecutor(workers=2))

A *factory* builds a fresh, unstarted executor with at least one worker. Each ``check_*``
function starts it, submits jobs of the small tasks in :mod:`uqhpo.testing.tasks` (by
import path, so process- and cluster-based executors can run them), drains the results
and shuts it down; it raises ``AssertionError`` naming what broke. ``EXECUTOR_CHECKS``
lists them so a suite can parametrize over them::

    @pytest.mark.parametrize("check", EXECUTOR_CHECKS, ids=lambda c: c.__name__)
    def test_my_executor(check):
        check(my_factory)

The contract: every submitted slot comes back exactly once, with its trial, index,
attempt and seed; a task's loss, metrics and ``ctx.report`` steps come back unchanged; a
raising task or a non-finite loss gives a FAILED result with the reason and the worker
goes on; ``job.data`` configures the task in the worker; capacity (``free_slots``) is
never negative and returns to ``n_workers`` when all is reported; ``start`` and
``shutdown`` may be called twice; an executor that is not ``in_process`` refuses a task
object with a ValueError (it needs an import path). Nothing here imports pytest.
"""
from __future__ import annotations

import itertools
import time
from typing import Callable, Sequence

from ..executors.base import Executor, Job, Outcome, ReplicateResult, ReplicateSlot
from ..task import TrialContext
from .tasks import NoisyQuadratic

ExecutorFactory = Callable[[], Executor]

__all__ = ["ExecutorFactory", "EXECUTOR_CHECKS", "check_executor", "drain", "make_job",
           "check_every_slot_once", "check_results_carry_the_task_output", "check_failures_are_reported",
           "check_data_reaches_the_worker", "check_capacity", "check_start_and_shutdown_twice",
           "check_task_reference_matches_capability"]

_ids = itertools.count()


def make_job(trial: int, config: dict, n_slots: int = 1, task: object = "uqhpo.testing.tasks:quadratic",
             data: dict | None = None, workdir: str = ".") -> Job:
    """A job with ``n_slots`` replicate slots whose seeds are ``1000 * trial + index``."""
    slots = [ReplicateSlot(index=i, attempt=0, seed=1000 * trial + i) for i in range(n_slots)]
    return Job(job_id=f"check{next(_ids)}", trial=trial, config=dict(config), slots=slots, task=task,
               workdir=workdir, data=data)


def drain(ex: Executor, jobs: Sequence[Job], patience: float = 120.0) -> list[ReplicateResult]:
    """Submit ``jobs`` as capacity frees and return every result.

    Args:
        patience: seconds of executor time without a new result before giving up (an
            executor that stops making progress fails the check instead of hanging it).
    """
    queue, out = list(jobs), []  # type: list[Job], list[ReplicateResult]
    expected = sum(len(j.slots) for j in jobs)
    last = time.monotonic()
    while len(out) < expected:
        while queue and ex.free_slots() > 0:
            ex.submit(queue.pop(0))
        assert ex.free_slots() >= 0, f"free_slots() went negative: {ex.free_slots()}"
        got = ex.poll(timeout=None if ex.virtual_clock else 0.5)
        if got:
            out += got
            last = time.monotonic()
        elif not queue and ex.n_running() == 0:
            raise AssertionError(f"executor is idle with {len(out)} of {expected} results reported")
        assert time.monotonic() - last < patience, (
            f"{len(out)} of {expected} results after {patience:.0f} s without progress")
    return out


def _run(factory: ExecutorFactory, jobs: Sequence[Job]) -> tuple[Executor, list[ReplicateResult]]:
    ex = factory()
    ex.start()
    try:
        return ex, drain(ex, jobs)
    finally:
        ex.shutdown(cancel=True)


def check_every_slot_once(factory: ExecutorFactory) -> None:
    """Six jobs of one to three slots: each slot is reported once, with its own key and seed."""
    jobs = [make_job(t, {"x": 0.1 * t, "y": 0.0}, n_slots=1 + t % 3) for t in range(6)]
    _, results = _run(factory, jobs)
    keys = [(r.trial, r.index, r.attempt) for r in results]
    wanted = [(j.trial, s.index, s.attempt) for j in jobs for s in j.slots]
    assert sorted(keys) == sorted(wanted), f"reported {sorted(keys)}, submitted {sorted(wanted)}"
    for r in results:
        assert r.status == Outcome.OK, f"trial {r.trial} replicate {r.index} failed: {r.error}"
        assert r.seed == 1000 * r.trial + r.index, f"trial {r.trial} replicate {r.index}: seed {r.seed}"
        assert r.job_id.startswith("check"), f"result has job id {r.job_id!r}"


def check_results_carry_the_task_output(factory: ExecutorFactory) -> None:
    """Loss and metrics equal what the task computes for that seed; reports come back."""
    config = {"x": 0.3, "steps": 4}
    _, results = _run(factory, [make_job(0, config, task="uqhpo.testing.tasks:reporting"),
                                make_job(1, {"x": -0.5, "y": 0.2}, n_slots=2)])
    by_trial = {(r.trial, r.index): r for r in results}
    rep = by_trial[(0, 0)]
    assert rep.status == Outcome.OK, f"reporting task failed: {rep.error}"
    assert [step for step, _ in rep.reports] == [0, 1, 2, 3], f"reports {rep.reports}"
    assert rep.metrics.get("steps") == 4 and rep.loss == rep.reports[-1][1]["val_loss"]
    for index in (0, 1):
        r = by_trial[(1, index)]
        expected = NoisyQuadratic().run({"x": -0.5, "y": 0.2}, TrialContext(seed=r.seed))["loss"]
        assert r.status == Outcome.OK and r.loss == expected, f"replicate {index}: {r.loss} != {expected}"
        assert r.runtime is not None and r.runtime >= 0


def check_failures_are_reported(factory: ExecutorFactory) -> None:
    """A raising task and a NaN loss give FAILED results with reasons; the worker goes on."""
    jobs = [make_job(0, {"x": 0.5}, task="uqhpo.testing.tasks:raises"),
            make_job(1, {"x": 0.5}, task="uqhpo.testing.tasks:nan"),
            make_job(2, {"x": 0.5}, task="uqhpo.testing.tasks:no_such_task"),
            make_job(3, {"x": 0.1, "y": 0.0})]
    _, results = _run(factory, jobs)
    by_trial = {r.trial: r for r in results}
    for trial, word in ((0, "Error"), (1, "non-finite"), (2, "no_such_task")):
        r = by_trial[trial]
        assert r.status == Outcome.FAILED, f"trial {trial}: status {r.status}"
        assert word in (r.error or ""), f"trial {trial}: error {r.error!r} does not mention {word!r}"
    assert by_trial[3].status == Outcome.OK, "a job after failures did not run"


def check_data_reaches_the_worker(factory: ExecutorFactory) -> None:
    """``job.data`` configures the task where it runs; a job without data leaves it as is."""
    jobs = [make_job(0, {"x": 0.0}, task="uqhpo.testing.tasks:data_echo", data={"offset": 4.0}),
            make_job(1, {"x": 0.0}, task="uqhpo.testing.tasks:data_echo", data={"offset": 6.0})]
    _, results = _run(factory, jobs)
    seen = {r.trial: r.metrics.get("offset") for r in results}
    assert seen == {0: 4.0, 1: 6.0}, f"workers saw data {seen}"


def check_capacity(factory: ExecutorFactory) -> None:
    """``free_slots`` starts at ``n_workers``, drops per submitted job, and comes back."""
    ex = factory()
    ex.start()
    try:
        n = ex.n_workers
        assert n >= 1 and ex.free_slots() == n, f"{ex.free_slots()} free of {n} before any job"
        jobs = [make_job(t, {"x": 0.1, "y": 0.0}) for t in range(n)]
        for i, job in enumerate(jobs):
            ex.submit(job)
            assert ex.free_slots() == n - i - 1, f"{ex.free_slots()} free after {i + 1} submitted"
        deadline = time.monotonic() + 60
        results: list[ReplicateResult] = []
        while len(results) < n and time.monotonic() < deadline:
            results += ex.poll(timeout=None if ex.virtual_clock else 0.5)
        assert len(results) == n, f"{len(results)} of {n} results"
        assert ex.n_running() == 0 and ex.free_slots() == n, "capacity did not come back"
    finally:
        ex.shutdown(cancel=True)


def check_start_and_shutdown_twice(factory: ExecutorFactory) -> None:
    """``start`` and ``shutdown`` are idempotent; a poll with nothing submitted is empty."""
    ex = factory()
    ex.start()
    ex.start()
    assert ex.poll(timeout=0.0) == [], "poll returned results nobody submitted"
    ex.shutdown(cancel=True)
    ex.shutdown(cancel=True)


def check_task_reference_matches_capability(factory: ExecutorFactory) -> None:
    """In-process executors run task objects; the others refuse them with a ValueError."""
    ex = factory()
    ex.start()
    try:
        job = make_job(0, {"x": 0.2, "y": 0.0}, task=NoisyQuadratic())
        if ex.in_process:
            [r] = drain(ex, [job])
            assert r.status == Outcome.OK, f"task object failed in process: {r.error}"
        else:
            try:
                ex.submit(job)
            except ValueError:
                return
            raise AssertionError(f"executor '{ex.name}' accepted a task object but is not in_process")
    finally:
        ex.shutdown(cancel=True)


EXECUTOR_CHECKS: tuple[Callable[[ExecutorFactory], None], ...] = (
    check_every_slot_once, check_results_carry_the_task_output, check_failures_are_reported,
    check_data_reaches_the_worker, check_capacity, check_start_and_shutdown_twice,
    check_task_reference_matches_capability)


def check_executor(factory: ExecutorFactory, checks: Sequence[Callable[[ExecutorFactory], None]] = EXECUTOR_CHECKS
                   ) -> None:
    """Run every check (or ``checks``) on executors from ``factory``; the first failure raises."""
    for check in checks:
        check(factory)
