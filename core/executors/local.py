"""The local executor: N persistent worker processes on this machine.

Workers are started with the *spawn* method (safe with CUDA and threads), each with
one duplex pipe to the parent: jobs go down, one message per finished replicate comes
back, so a job of three sequential replicates streams its results. Every ``ctx.report``
comes back at once as its own message, handed to the driver's report handler as the
parent polls (live learning curves); when the handler prunes the trial, a stop request
goes down and the task stops at its next report. A pipe per worker
(rather than one shared result queue) means a worker killed mid-message cannot hold a
lock or corrupt the channel of the others. The parent waits on the pipes and on the
process sentinels together, so a dead worker is noticed at once: the unfinished
replicates of its job come back as "lost" and a replacement keeps capacity at N.

GPUs: worker ``i`` sees only GPU ``i mod n_gpus`` (``CUDA_VISIBLE_DEVICES``), else none.
"""
from __future__ import annotations

import atexit
import logging
import math
import multiprocessing
import os
import time
import weakref
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any, Optional, Sequence

from ._processes import cpu_count, death_reason, terminate_all
from .base import Executor, Job, Outcome, ReplicateResult, WorkerStartError, timed_out
from .worker import visible_gpus, worker_main

log = logging.getLogger("uqhpo")

_PATH_HINT = ("the local executor needs a task importable by path, e.g. 'mypkg.tasks:task'; "
              "lambdas and closures cannot be sent to worker processes")


@dataclass
class _Worker:
    """Parent-side handle of one worker process."""

    index: int
    process: Any
    conn: Any
    gpu: Optional[str]
    job: Optional[Job] = None
    unreported: list = field(default_factory=list)   # slots of ``job`` not yet reported
    started_job: float = 0.0
    ready: bool = False                              # imported the parent's modules and serves jobs
    running_index: Optional[int] = None              # slot of ``job`` now running, and since when
    running_since: float = 0.0
    stop_sent: bool = False                          # the driver pruned ``job``'s trial and said so

    @property
    def name(self) -> str:
        return f"local-{self.index}:{self.process.pid}"


class LocalExecutor(Executor):
    """A pool of spawned worker processes, one job per worker at a time.

    Args:
        workers: number of worker processes.
        gpus: GPU ids to spread over workers; ``None`` = detect (CUDA_VISIBLE_DEVICES,
            else ``nvidia-smi -L``), ``[]`` = CPU only.
        env: extra environment variables for the workers.
        force: allow more workers than GPUs (when there are GPUs) or CPUs; without it the
            count is capped there with a warning (``workers: 10000`` must not fork-bomb).
    """

    name = "local"
    #: a worker killed after its time limit gets this long to die before the result is reported
    KILL_GRACE_S = 1.0

    def __init__(self, workers: int = 2, gpus: Optional[Sequence[str | int]] = None,
                 env: Optional[dict] = None, force: bool = False):
        if int(workers) < 1:
            raise ValueError(f"executor 'local': workers must be >= 1, got {workers}")
        self._n = int(workers)
        self._force = bool(force)
        self._gpus = None if gpus is None else [str(g) for g in gpus]
        self._env = {str(k): str(v) for k, v in (env or {}).items()}
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._buffer: list[ReplicateResult] = []
        self._early_deaths = 0           # workers in a row that died before they were ready
        self._started = False
        self._procs: list = []          # every process started, for the exit-time cleanup
        self._finalizer: Optional[Any] = None

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        if self._gpus is None:
            self._gpus = visible_gpus()
        cap = len(self._gpus) if self._gpus else cpu_count()
        if self._n > cap and not self._force:
            log.warning("executor 'local': %d workers capped at %d (the number of %s); set executor.force: true "
                        "(or optimize(force_workers=True)) to run more", self._n, cap,
                        "GPUs" if self._gpus else "CPUs")
            self._n = cap
        self._procs = []
        # terminate workers at interpreter exit even if nobody calls shutdown (Ctrl-C);
        # registered after multiprocessing's own exit hook, so it runs first and that
        # hook does not wait forever on idle non-daemon workers
        self._finalizer = weakref.finalize(self, terminate_all, self._procs)
        atexit.register(self._finalizer)
        self._workers = [self._spawn(i) for i in range(self._n)]
        self._started = True

    def _worker_env(self, index: int) -> tuple[dict, Optional[str]]:
        env = dict(self._env)
        gpu = self._gpus[index % len(self._gpus)] if self._gpus else None
        env["CUDA_VISIBLE_DEVICES"] = gpu if gpu is not None else ""
        if "OMP_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in env:
            env["OMP_NUM_THREADS"] = "1"
        return env, gpu

    def _spawn(self, index: int) -> _Worker:
        env, gpu = self._worker_env(index)
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        device = "cuda" if gpu is not None else "cpu"
        proc = self._ctx.Process(target=worker_main, args=(child_conn, f"local-{index}", device, env),
                                 name=f"uqhpo-local-{index}", daemon=False)  # daemons may not fork DataLoaders
        # the spawned interpreter inherits os.environ, and may import torch before
        # worker_main runs (re-importing __main__): set the variables around start()
        saved = {k: os.environ.get(k) for k in env}
        try:
            os.environ.update(env)
            proc.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child_conn.close()
        self._procs[:] = [p for p in self._procs if p.exitcode is None] + [proc]
        return _Worker(index=index, process=proc, conn=parent_conn, gpu=gpu)

    def shutdown(self, cancel: bool = True) -> None:
        """Stop the workers. Without ``cancel`` wait for running jobs first; their results
        are kept and returned by later calls to :meth:`poll`."""
        if not self._started:
            return
        if not cancel:
            while self.n_running():
                self._buffer.extend(self._collect(timeout=1.0))
        for w in self._workers:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
        if cancel:
            for w in self._workers:
                if w.process.is_alive():
                    w.process.terminate()
        deadline = time.monotonic() + (2.0 if cancel else 10.0)
        for w in self._workers:
            w.process.join(max(deadline - time.monotonic(), 0.05))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(1.0)
            w.conn.close()
            w.job, w.unreported = None, []
        self._workers = []
        self._started = False
        if self._finalizer is not None:
            atexit.unregister(self._finalizer)
            self._finalizer.detach()
            self._finalizer = None

    # -- state ----------------------------------------------------------------------
    @property
    def n_workers(self) -> int:
        return self._n

    def n_running(self) -> int:
        return sum(w.job is not None for w in self._workers)

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (replacements included)."""
        return [w.process.pid for w in self._workers]

    # -- work -----------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        if not isinstance(job.task, str):
            raise ValueError(_PATH_HINT)
        if ":" not in job.task:
            raise ValueError(f"task path must look like 'package.module:attribute', got {job.task!r}")
        self.start()
        idle = [w for w in self._workers if w.job is None]
        if not idle:
            raise RuntimeError("executor 'local': no free worker; call submit only when free_slots() > 0")
        w = idle[0]
        w.job, w.unreported, w.started_job = job, list(job.slots), time.time()
        w.running_index, w.stop_sent = None, False
        try:
            w.conn.send(job)
        except (OSError, ValueError):  # died between polls: poll() reports the slots lost
            log.debug("worker %s died before it received job %s", w.name, job.job_id)

    def poll(self, timeout: Optional[float] = 0.0) -> list[ReplicateResult]:
        """Finished replicates; waits up to ``timeout`` seconds for the first one."""
        if self._buffer:
            out, self._buffer = self._buffer, []
            return out
        if not self._started:
            return []
        return self._collect(timeout)

    def _collect(self, timeout: Optional[float]) -> list[ReplicateResult]:
        deadline = time.monotonic() + max(1.0 if timeout is None else float(timeout), 0.0)
        out: list[ReplicateResult] = []
        while True:
            waitables = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
            wake = min([deadline, *(self._expiry(w) for w in self._workers)])
            ready = set(wait(waitables, timeout=max(min(wake, deadline) - time.monotonic(), 0.0)))
            for w in list(self._workers):
                if w.conn in ready:
                    out.extend(self._drain(w))
                if w.process.sentinel in ready or not w.process.is_alive():
                    out.extend(self._drain(w))
                    out.extend(self._replace(w))
                elif self._expiry(w) <= time.monotonic():
                    out.extend(self._drain(w))
                    if self._expiry(w) <= time.monotonic():  # still running: stop it
                        out.extend(self._stop_overdue(w))
            if out or time.monotonic() >= deadline:
                return out

    def _expiry(self, w: _Worker) -> float:
        """When ``w``'s running slot passes its time limit (monotonic; inf without one)."""
        if w.job is None or w.job.timeout is None or w.running_index is None:
            return math.inf
        return w.running_since + float(w.job.timeout) + self.KILL_GRACE_S

    def _stop_overdue(self, w: _Worker) -> list[ReplicateResult]:
        """Kill ``w`` (its slot ran past the time limit): that slot FAILED "timed out", the
        job's other unreported slots CANCELLED; a new worker takes its place."""
        job = w.job
        assert job is not None and job.timeout is not None
        w.process.kill()
        w.process.join(5.0)
        now = time.time()
        out = [ReplicateResult(job_id=job.job_id, trial=job.trial, index=s.index, attempt=s.attempt,
                               seed=int(s.seed), worker=w.name, started=w.started_job, finished=now,
                               status=Outcome.FAILED if s.index == w.running_index else Outcome.CANCELLED,
                               error=timed_out(job.timeout) if s.index == w.running_index
                               else f"worker {w.name} was stopped (time limit of another replicate)")
               for s in w.unreported]
        log.warning("trial %d replicate %s %s; worker %s stopped", job.trial, w.running_index,
                    timed_out(job.timeout), w.name)
        w.conn.close()
        self._workers[self._workers.index(w)] = self._spawn(w.index)
        return out

    def _drain(self, w: _Worker) -> list[ReplicateResult]:
        """Read every message waiting on ``w``'s pipe."""
        out = []
        try:
            while w.conn.poll():
                kind, job_id, payload = w.conn.recv()
                if kind == "ready":
                    w.ready, self._early_deaths = True, 0
                    continue
                if w.job is None or job_id != w.job.job_id:
                    continue   # "done" of a job already freed
                if kind == "start":
                    w.running_index, w.running_since = int(payload), time.monotonic()
                elif kind == "report":
                    self._report(w, *payload)
                elif kind == "result":
                    if self._report_handler is None:   # nobody took the live reports: they go with the result
                        payload.live_reports = 0
                    w.unreported = [s for s in w.unreported if s.index != payload.index]
                    w.running_index = None
                    out.append(payload)
                    if not w.unreported:   # free at once: the next job waits in the pipe
                        w.job = None
        except (EOFError, OSError):
            pass
        return out

    def _report(self, w: _Worker, index: int, attempt: int, step: int, metrics: dict) -> None:
        """Hand a live report to the driver; tell the worker to stop when it says so."""
        assert w.job is not None
        if self._report_handler is None:
            return
        stop = self._report_handler(w.job.trial, int(index), int(attempt), int(step), metrics)
        if stop and not w.stop_sent:
            try:
                w.conn.send(("stop", w.job.job_id))
                w.stop_sent = True
            except (OSError, ValueError):  # died meanwhile: its slots come back lost
                pass

    def _replace(self, w: _Worker) -> list[ReplicateResult]:
        """Report ``w``'s unfinished slots as lost and start a new worker in its place."""
        w.process.join(1.0)              # the sentinel fires just before the exit code is known
        code = w.process.exitcode
        reason = f"worker {w.name} {death_reason(code)}"
        now = time.time()
        job = w.job
        lost = [ReplicateResult(job_id=job.job_id, trial=job.trial, index=s.index, attempt=s.attempt,
                                seed=int(s.seed), status=Outcome.LOST, error=reason, worker=w.name,
                                started=w.started_job, finished=now)
                for s in w.unreported] if job is not None else []
        if job is not None and lost:
            log.warning("%s; %d replicate(s) of trial %d lost", reason, len(lost), job.trial)
        w.conn.close()
        # a worker that dies before it is ready failed to start (re-importing the parent's
        # __main__ fails, or the interpreter cannot start): replacing it again and again cannot help
        self._early_deaths = 0 if w.ready else self._early_deaths + 1
        if self._early_deaths > 2 * self._n:
            raise WorkerStartError(f"executor 'local': {self._early_deaths} worker processes in a row died while "
                                   f"starting, before any job ({reason}); a script that starts the study at import "
                                   "time must guard it with if __name__ == '__main__':")
        self._workers[self._workers.index(w)] = self._spawn(w.index)
        return lost

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self._n}, running={self.n_running()}, gpus={self._gpus})"
