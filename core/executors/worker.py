"""Running one job's replicate slots, in whatever process the executor chose.

Everything an executor needs to turn a :class:`~uqhpo.executors.base.Job` into
:class:`~uqhpo.executors.base.ReplicateResult` objects lives here, so the serial,
simulated and local executors behave identically: the same context, the same error
capture, the same result fields. :func:`worker_main` is the loop of a spawned local
worker process.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from ..task import TrialContext, TrialPruned, as_task, normalize_result
from .base import Job, Outcome, ReplicateResult, ReplicateSlot, timed_out
from .peak_memory import PeakMemory

# import path -> task object, one cache per process so a worker imports each task once
_TASK_CACHE: dict[str, Any] = {}
# id(task object) -> the data it was last configured with (JSON), so that a worker
# configures a task once per distinct data, not once per job
_CONFIGURED: dict[int, str] = {}


def resolve_task(task: Any, data: Optional[dict] = None) -> Any:
    """Import path (cached per process), task object, class or function -> task object,
    configured with ``data`` (the job's data section) when that is not None.

    Raises:
        ValueError: the task cannot be imported, or refuses ``data``.
    """
    if isinstance(task, str):
        if task not in _TASK_CACHE:
            _TASK_CACHE[task] = as_task(task)
        obj = _TASK_CACHE[task]
    else:
        obj = as_task(task)
    if data is not None:
        configure_once(obj, data)
    return obj


def configure_once(task: Any, data: dict) -> None:
    """``task.configure(data)`` unless this process already configured ``task`` with ``data``."""
    key = json.dumps(data, sort_keys=True, default=str)
    if _CONFIGURED.get(id(task)) == key:
        return
    configure = getattr(task, "configure", None)
    if configure is None:
        if data:
            raise ValueError(f"task {type(task).__name__} takes no data (it has no configure method)")
        return
    configure(dict(data))
    _CONFIGURED[id(task)] = key


def trial_workdir(job: Job) -> Path:
    """``<job.workdir>/trial<N>``: where one trial's files go (created by the task on use)."""
    return Path(job.workdir) / f"trial{job.trial}"


#: ``on_report(slot, step, metrics) -> stop``: where a worker sends each ``ctx.report``
OnReport = Callable[[ReplicateSlot, int, dict], bool]


def run_slot(job: Job, slot: ReplicateSlot, task: Any, *, device: str = "cpu", worker: str = "main",
             clock: Callable[[], float] = time.time, on_report: Optional[OnReport] = None) -> ReplicateResult:
    """Run one replicate of ``job`` and capture everything that can go wrong.

    Args:
        job: the job the slot belongs to.
        slot: which replicate (index, attempt, seed).
        task: a resolved task object (see :func:`resolve_task`).
        device: "cpu" or "cuda", handed to the task through the context.
        worker: worker id stored with the result.
        clock: the executor's clock, for ``started``/``finished``.
        on_report: called with every ``ctx.report`` as it happens; when it returns True
            the task is stopped there (``TrialPruned`` raised inside it).

    Returns:
        A result with status "ok", "pruned", or "failed" with the traceback / reason in
        ``error``.
    """
    ctx = TrialContext(seed=int(slot.seed), trial=job.trial, replicate=slot.index, attempt=slot.attempt,
                       device=device, workdir=trial_workdir(job), mc_dropout=job.mc_dropout)
    result = ReplicateResult(job_id=job.job_id, trial=job.trial, index=slot.index, attempt=slot.attempt,
                             seed=int(slot.seed), status=Outcome.FAILED, worker=worker, started=clock())
    if on_report is not None:
        ctx._on_report = _report_hook(on_report, slot, result)
    t0, memory = time.perf_counter(), PeakMemory()   # peak RSS/CUDA of this replicate alone
    try:
        with _time_limit(job.timeout), memory:
            out = task.run(dict(job.config), ctx)
    except TrialPruned as e:
        result.status, result.error = Outcome.PRUNED, str(e)
    except ReplicateTimeout:
        result.error = timed_out(float(job.timeout or 0))
    except (Exception, SystemExit):  # a task calling sys.exit must not end the worker
        result.error = traceback.format_exc()
    else:
        try:
            result.loss, result.metrics = normalize_result(out, dropped=result.notes)
            result.status = Outcome.OK
        except ValueError as e:
            result.error = str(e)
    result.runtime = time.perf_counter() - t0
    result.metrics.update(memory.metrics())
    result.finished = clock()
    result.reports = [(int(step), dict(values)) for step, values in ctx.reports]
    return result


def _report_hook(on_report: OnReport, slot: ReplicateSlot, result: ReplicateResult) -> Callable[[int, dict], None]:
    """The context's report hook: hand the report over, count it, stop when asked."""
    def hook(step: int, metrics: dict) -> None:
        stop = on_report(slot, step, metrics)
        result.live_reports += 1
        if stop:
            raise TrialPruned(step)
    return hook


class ReplicateTimeout(BaseException):
    """Raised inside a task by :func:`_time_limit` (a BaseException: a task's broad
    ``except Exception`` must not swallow it)."""


@contextmanager
def _time_limit(seconds: Optional[float]) -> Iterator[None]:
    """Raise :class:`ReplicateTimeout` in the block after ``seconds`` (SIGALRM; only in a
    process's main thread, elsewhere the executor enforces the limit by stopping the worker)."""
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise ReplicateTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds or 0))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_job(job: Job, *, device: str = "cpu", worker: str = "main", clock: Callable[[], float] = time.time,
            on_start: Optional[Callable[[ReplicateSlot], None]] = None, on_report: Optional[OnReport] = None,
            stopped: Optional[Callable[[], bool]] = None) -> Iterator[ReplicateResult]:
    """Run the slots of ``job`` in order, yielding each result as soon as it is known.

    A task that cannot be imported fails every slot with the import error. ``on_start``
    is called with each slot before it runs (a worker tells its parent, which times it).
    ``on_report`` receives every report (see :func:`run_slot`); once ``stopped()`` is
    True (the driver pruned the trial) the remaining slots end PRUNED without running.
    """
    try:
        task = resolve_task(job.task, job.data)
    except Exception:  # bad path, import error inside the task module...
        error = traceback.format_exc()
        for slot in job.slots:
            now = clock()
            yield ReplicateResult(job_id=job.job_id, trial=job.trial, index=slot.index, attempt=slot.attempt,
                                  seed=int(slot.seed), status=Outcome.FAILED, error=error, runtime=0.0,
                                  worker=worker, started=now, finished=now)
        return
    for slot in job.slots:
        if on_start is not None:
            on_start(slot)
        if stopped is not None and stopped():
            now = clock()
            yield ReplicateResult(job_id=job.job_id, trial=job.trial, index=slot.index, attempt=slot.attempt,
                                  seed=int(slot.seed), status=Outcome.PRUNED, error="pruned before it started",
                                  runtime=0.0, worker=worker, started=now, finished=now)
            continue
        yield run_slot(job, slot, task, device=device, worker=worker, clock=clock, on_report=on_report)


# ---------------------------------------------------------------------------------------
# GPUs, seen without importing torch


def visible_gpus() -> list[str]:
    """GPU ids this process may hand out: CUDA_VISIBLE_DEVICES when set, else ``nvidia-smi -L``.

    Returns:
        Device ids as strings (e.g. ``["0", "1"]``); empty when there is no GPU.
    """
    vis = os.environ.get("CUDA_VISIBLE_DEVICES")
    if vis is not None:
        ids = [v.strip() for v in vis.split(",") if v.strip()]
        return [] if ids in ([], ["-1"]) else ids
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(ln for ln in out.splitlines() if ln.startswith("GPU "))]


# ---------------------------------------------------------------------------------------
# The loop of a spawned local worker process


def _watch_parent(poll_s: float = 1.0) -> None:
    """Exit this worker when the parent process is gone (no orphans after a parent crash)."""
    import multiprocessing
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()            # returns when the parent's sentinel closes
        os._exit(3)

    threading.Thread(target=watch, name="uqhpo-parent-watch", daemon=True).start()


def _send_result(conn: Any, job_id: str, result: ReplicateResult) -> None:
    """Send a result; one that cannot be pickled (an odd metric) becomes a FAILED one saying why."""
    try:
        payload = pickle.dumps(("result", job_id, result))
    except Exception as e:  # noqa: BLE001 - pickling may raise anything a __reduce__ raises
        reason = f"the result could not be sent to the driver ({type(e).__name__}: {e})"
        payload = pickle.dumps(("result", job_id, ReplicateResult(
            job_id=result.job_id, trial=result.trial, index=result.index, attempt=result.attempt, seed=result.seed,
            status=Outcome.FAILED, error=reason, runtime=result.runtime, worker=result.worker,
            started=result.started, finished=result.finished)))
    conn.send_bytes(payload)


def worker_main(conn: Any, name: str, device: str, env: Optional[dict] = None) -> None:
    """Serve jobs received on ``conn`` until ``None`` arrives or the parent goes away.

    Messages sent back: once at start-up (the task modules of the parent's ``__main__``
    imported fine), then for each slot when it starts and when it finishes, then once
    per finished job::

        ("ready", None, pid)
        ("start", job_id, slot index)
        ("report", job_id, (slot index, attempt, step, {metric: value}))   # each ctx.report, live
        ("result", job_id, ReplicateResult)
        ("done", job_id, None)

    Received: a :class:`Job`, ``None`` (stop serving), or ``("stop", job_id)`` (the driver
    pruned the job's trial: its running slot stops at its next report, the rest end PRUNED).

    Args:
        conn: this worker's end of a duplex pipe to the parent.
        name: worker id, e.g. "local-1" (the pid is appended).
        device: "cpu" or "cuda".
        env: environment variables to set before any task is imported.
    """
    for key, value in (env or {}).items():
        os.environ[key] = value
    _watch_parent()
    from ._processes import JobChannel  # noqa: PLC0415 - the worker side of the pipe protocol

    worker = f"{name}:{os.getpid()}"
    channel = JobChannel(conn)
    try:
        conn.send(("ready", None, os.getpid()))
        while True:
            try:
                job = channel.next_job()
            except (EOFError, OSError):
                return
            if job is None:
                return
            def started(slot: ReplicateSlot, job_id: str = job.job_id) -> None:
                conn.send(("start", job_id, slot.index))

            for result in run_job(job, device=device, worker=worker, on_start=started,
                                  on_report=channel.reporter(job.job_id), stopped=channel.stop_check(job.job_id)):
                _send_result(conn, job.job_id, result)
            conn.send(("done", job.job_id, None))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent decides
        return
    except (BrokenPipeError, EOFError, OSError):
        return
