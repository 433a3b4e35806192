"""The serial executor: one job at a time, in the calling process.

The simplest way to run a study, and the way to debug a task (a breakpoint inside the
task just works). A job runs lazily inside :meth:`SerialExecutor.poll`, one replicate
slot per call, so results stream exactly as with a process pool and the driver can
store each replicate as soon as it exists. Reports go to the driver's report handler
from inside ``ctx.report`` (the driver stores them and may prune at once).
"""
from __future__ import annotations

import collections
from typing import Iterator, Optional

from .base import Executor, Job, ReplicateResult, in_process_hooks
from .worker import run_job, visible_gpus


class SerialExecutor(Executor):
    """Runs submitted jobs in submission order in this process; ``n_workers == 1``.

    Args:
        workers: accepted for a uniform interface and ignored (there is one worker).
        device: "cpu" or "cuda" handed to tasks; ``None`` = "cuda" when a GPU is visible.
    """

    name = "serial"
    in_process = True

    def __init__(self, workers: int = 1, device: Optional[str] = None):
        self._device = device
        self._queue: collections.deque[Job] = collections.deque()
        self._current: Optional[Iterator[ReplicateResult]] = None
        self._slots_left = 0                      # slots of the current job not yet run
        self._done: list[ReplicateResult] = []    # results run by shutdown(cancel=False)
        self._started = False

    def start(self) -> None:
        if self._device is None:
            self._device = "cuda" if visible_gpus() else "cpu"
        self._started = True

    @property
    def n_workers(self) -> int:
        return 1

    @property
    def device(self) -> str:
        return self._device or "cpu"

    def n_running(self) -> int:
        return len(self._queue) + (self._slots_left > 0) + (len(self._done) > 0)

    def submit(self, job: Job) -> None:
        if not self._started:
            self.start()
        self._queue.append(job)

    def _next_result(self) -> Optional[ReplicateResult]:
        """Run the next slot (of the current job, else of the next queued job)."""
        while self._slots_left == 0:
            if not self._queue:
                return None
            job = self._queue.popleft()
            self._slots_left = len(job.slots)
            on_report, stopped = in_process_hooks(self._report_handler, job)
            self._current = run_job(job, device=self.device, worker="serial-0", clock=self.time,
                                    on_report=on_report, stopped=stopped)
        assert self._current is not None
        result = next(self._current)
        self._slots_left -= 1
        if self._slots_left == 0:
            self._current = None
        return result

    def poll(self, timeout: Optional[float] = 0.0) -> list[ReplicateResult]:
        """Run the next slot and return its result (``[]`` when nothing is queued).

        ``timeout`` is ignored: running the slot is the wait.
        """
        if self._done:
            out, self._done = self._done, []
            return out
        result = self._next_result()
        return [] if result is None else [result]

    def shutdown(self, cancel: bool = True) -> None:
        """With ``cancel`` queued jobs are dropped; without, they run now and later polls
        return their results."""
        if cancel:
            self._queue.clear()
            self._current = None
            self._slots_left = 0
            return
        while (result := self._next_result()) is not None:
            self._done.append(result)

    def __repr__(self) -> str:
        return f"SerialExecutor(running={self.n_running()})"
