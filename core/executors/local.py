"""The local executor: N persistent worker processes on this machine.

Workers are started with the *spawn* method (safe with CUDA and threads), each with
one duplex pipe to the parent: jobs go down, one message per finished replicate comes
back, so a job of three sequential replicates streams its results. A pipe per worker
(rather than one shared result queue) means a worker killed mid-message cannot hold a
lock or corrupt the channel of the others. The parent waits on the pipes and on the
process sentinels together, so a dead worker is noticed at once: the unfinished
replicates of its job come back as "lost" and a replacement keeps capacity at N.

GPUs: worker ``i`` sees only GPU ``i mod n_gpus`` (``CUDA_VISIBLE_DEVICES``), else none.
"""
from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import time
import weakref
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any, Optional, Sequence

from .base import Executor, Job, Outcome, ReplicateResult
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
    """

    name = "local"

    def __init__(self, workers: int = 2, gpus: Optional[Sequence[str | int]] = None,
                 env: Optional[dict] = None):
        if int(workers) < 1:
            raise ValueError(f"executor 'local': workers must be >= 1, got {workers}")
        self._n = int(workers)
        self._gpus = None if gpus is None else [str(g) for g in gpus]
        self._env = {str(k): str(v) for k, v in (env or {}).items()}
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._buffer: list[ReplicateResult] = []
        self._deaths = 0                 # worker deaths since the last result (start-up crash loop guard)
        self._started = False
        self._procs: list = []          # every process started, for the exit-time cleanup
        self._finalizer: Optional[Any] = None

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        if self._gpus is None:
            self._gpus = visible_gpus()
        self._procs = []
        # terminate workers at interpreter exit even if nobody calls shutdown (Ctrl-C);
        # registered after multiprocessing's own exit hook, so it runs first and that
        # hook does not wait forever on idle non-daemon workers
        self._finalizer = weakref.finalize(self, _terminate_all, self._procs)
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
            ready = set(wait(waitables, timeout=max(deadline - time.monotonic(), 0.0)))
            for w in list(self._workers):
                if w.conn in ready:
                    out.extend(self._drain(w))
                if w.process.sentinel in ready or not w.process.is_alive():
                    out.extend(self._drain(w))
                    out.extend(self._replace(w))
            if out or time.monotonic() >= deadline:
                return out

    def _drain(self, w: _Worker) -> list[ReplicateResult]:
        """Read every message waiting on ``w``'s pipe."""
        out = []
        try:
            while w.conn.poll():
                kind, job_id, payload = w.conn.recv()
                if w.job is None or job_id != w.job.job_id:
                    continue   # "done" of a job already freed
                if kind == "result":
                    w.unreported = [s for s in w.unreported if s.index != payload.index]
                    out.append(payload)
                    self._deaths = 0
                    if not w.unreported:   # free at once: the next job waits in the pipe
                        w.job = None
        except (EOFError, OSError):
            pass
        return out

    def _replace(self, w: _Worker) -> list[ReplicateResult]:
        """Report ``w``'s unfinished slots as lost and start a new worker in its place."""
        w.process.join(1.0)              # the sentinel fires just before the exit code is known
        code = w.process.exitcode
        reason = (f"worker {w.name} died with exit code {code}"
                  + (f" (signal {-code})" if code is not None and code < 0 else ""))
        now = time.time()
        job = w.job
        lost = [ReplicateResult(job_id=job.job_id, trial=job.trial, index=s.index, attempt=s.attempt,
                                seed=int(s.seed), status=Outcome.LOST, error=reason, worker=w.name,
                                started=w.started_job, finished=now)
                for s in w.unreported] if job is not None else []
        if job is not None and lost:
            log.warning("%s; %d replicate(s) of trial %d lost", reason, len(lost), job.trial)
        w.conn.close()
        self._deaths += 1
        if self._deaths > 3 * self._n:
            raise RuntimeError(f"executor 'local': workers died {self._deaths} times in a row without a result "
                               f"({reason}); "
                               "if the script starts the study at import time, guard it with "
                               "if __name__ == '__main__':")
        self._workers[self._workers.index(w)] = self._spawn(w.index)
        return lost

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self._n}, running={self.n_running()}, gpus={self._gpus})"


def _terminate_all(procs: list) -> None:
    """Last-resort cleanup at exit: no orphaned workers after Ctrl-C or an exception."""
    for p in procs:
        try:
            if p.is_alive():
                p.terminate()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass
    for p in procs:
        try:
            p.join(1.0)
            if p.is_alive():
                p.kill()
        except Exception:  # noqa: BLE001
            pass
