"""The executor plug point: where trainings run.

The study driver owns the storage; executors only run jobs and hand results back.
A *job* is one trial's config with one or more replicate slots; the slots of one job
run in sequence in one worker (``replicates_parallel: false``), while a study with
``replicates_parallel: true`` submits one job per replicate so they spread over workers.
"""
from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

#: ``handler(trial, index, attempt, step, metrics) -> stop``: the driver's answer to one
#: ``ctx.report``; True asks the replicate (and the rest of its trial) to stop (pruned)
ReportHandler = Callable[[int, int, int, int, dict], bool]


class Outcome(str, enum.Enum):
    """How one replicate slot ended (a ``str`` enum: ``Outcome.OK == "ok"``)."""

    OK = "ok"          # finished with a finite loss
    FAILED = "failed"  # the task raised, or returned NaN/inf; ``error`` says why
    LOST = "lost"      # the worker died; the driver re-queues the replicate
    CANCELLED = "cancelled"  # never ran (its worker was stopped); re-queued without using a retry
    PRUNED = "pruned"  # stopped early by the pruner (``ctx.report`` raised TrialPruned)


@dataclass(frozen=True)
class ReplicateSlot:
    """One replicate of a job: its index, attempt number and seed."""

    index: int
    attempt: int
    seed: int


@dataclass
class Job:
    """Work for one worker.

    Attributes:
        job_id: unique within a run.
        trial: trial number.
        config: the hyperparameter config.
        slots: replicates to run, in order.
        task: import path ``"package.module:attribute"``; the serial and simulated
            executors also accept a task object.
        workdir: directory for this trial's files (checkpoints, outputs).
        mc_dropout: Monte-Carlo dropout passes the task should use (0 = off).
        study: study name (for logs and paths).
        data: the task's data settings (the config's ``data:`` section); the worker
            calls ``task.configure(data)`` once per distinct value. None = the task's
            defaults (or what an in-process task object was configured with).
        timeout: seconds one replicate may run (None: no limit); a longer one is
            stopped and reported FAILED "timed out after S s".
        channel: where a remote worker sends live reports (set by an executor that
            relays them, e.g. the name of a Dask queue); None: with the results only.
    """

    job_id: str
    trial: int
    config: dict
    slots: list[ReplicateSlot]
    task: Any
    workdir: str = "."
    mc_dropout: int = 0
    study: str = "study"
    data: Optional[dict] = None
    timeout: Optional[float] = None
    channel: Optional[str] = None


class WorkerStartError(RuntimeError):
    """Worker processes die while starting, before they can run any job: nothing can run."""


def timed_out(seconds: float) -> str:
    """The error of a replicate stopped by its time limit."""
    return f"timed out after {seconds:g} s (replicate_timeout)"


@dataclass
class ReplicateResult:
    """What one slot produced. ``status`` is an :class:`Outcome`."""

    job_id: str
    trial: int
    index: int
    attempt: int
    seed: int
    status: Outcome
    loss: Optional[float] = None
    metrics: dict = field(default_factory=dict)
    runtime: Optional[float] = None
    error: Optional[str] = None
    reports: list = field(default_factory=list)   # [(step, {metric: value})]
    live_reports: int = 0                           # leading ``reports`` already handed to the driver live
    worker: Optional[str] = None
    started: Optional[float] = None                # executor clock
    finished: Optional[float] = None
    notes: list = field(default_factory=list)      # warnings for the driver's log (e.g. a dropped metric)


class Executor(ABC):
    """Runs jobs asynchronously. The driver loop is::

        while ...:
            for r in ex.poll(timeout): store(r)
            while ex.free_slots() > 0: ex.submit(next_job())
    """

    name: str = "base"
    #: runs tasks in the driver's process, so it takes task objects (closures, lambdas);
    #: other executors receive an import path ``"package.module:attribute"``
    in_process: bool = False
    #: ``poll`` may advance a virtual clock straight to the next finish (no real waiting)
    virtual_clock: bool = False
    #: the driver's :data:`ReportHandler` (see :meth:`set_report_handler`)
    _report_handler: Optional[ReportHandler] = None

    def set_report_handler(self, handler: Optional[ReportHandler]) -> None:
        """Hand every ``ctx.report`` to ``handler`` as it happens (live learning curves and
        pruning). Executors that cannot do so deliver the reports with the result
        (``ReplicateResult.live_reports`` counts the ones already handed over)."""
        self._report_handler = handler

    @abstractmethod
    def start(self) -> None:
        """Start workers (idempotent)."""

    @property
    @abstractmethod
    def n_workers(self) -> int:
        """How many jobs may run at once."""

    @abstractmethod
    def n_running(self) -> int:
        """Jobs submitted and not yet fully reported."""

    def free_slots(self) -> int:
        return max(self.n_workers - self.n_running(), 0)

    @abstractmethod
    def submit(self, job: Job) -> None:
        """Start ``job`` on a free worker (call only when ``free_slots() > 0``)."""

    @abstractmethod
    def poll(self, timeout: Optional[float] = 0.0) -> list[ReplicateResult]:
        """Results finished since the last poll; waits up to ``timeout`` seconds (of this
        executor's clock) for at least one when none is ready. ``None``: a virtual
        clock jumps to the next finish; real executors wait as for a short timeout."""

    @abstractmethod
    def shutdown(self, cancel: bool = True) -> None:
        """Stop workers; with ``cancel`` running jobs are abandoned (their replicates stay
        RUNNING in storage and are re-queued on resume)."""

    def time(self) -> float:
        """This executor's clock (wall time; virtual for the simulated executor)."""
        import time as _t
        return _t.time()

    def __enter__(self) -> Executor:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown(cancel=True)


def in_process_hooks(handler: Optional[ReportHandler], job: Job) -> tuple[Optional[Callable[..., bool]],
                                                                          Optional[Callable[[], bool]]]:
    """``(on_report, stopped)`` for running ``job`` in the driver's process: each report goes
    straight to ``handler``; once it answers stop, the job's remaining slots are skipped.
    ``(None, None)`` without a handler (reports then travel with the results)."""
    if handler is None:
        return None, None
    pruned = [False]

    def on_report(slot: ReplicateSlot, step: int, metrics: dict) -> bool:
        stop = bool(handler(job.trial, slot.index, slot.attempt, int(step), metrics))
        pruned[0] = pruned[0] or stop
        return stop

    return on_report, lambda: pruned[0]
