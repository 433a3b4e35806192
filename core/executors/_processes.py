"""Small helpers of the local executor about its worker processes: how one died, how
many may run, the last-resort cleanup at interpreter exit, and the worker's side of the
pipe protocol (live reports up, stop requests down)."""
from __future__ import annotations

import collections
import os
import signal
from typing import Any, Callable, Optional

__all__ = ["death_reason", "cpu_count", "terminate_all", "JobChannel"]


def death_reason(code: Optional[int]) -> str:
    """``died with exit code 3`` / ``was killed by SIGKILL (possibly out of memory)``."""
    if code is None:
        return "died (exit code unknown)"
    if code >= 0:
        return f"died with exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hint = " (possibly out of memory)" if -code == signal.SIGKILL else ""
    return f"was killed by {name}{hint} (exit code {code})"


def cpu_count() -> int:
    """CPUs this process may use (its affinity mask where the OS has one)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(os.cpu_count() or 1, 1)


def terminate_all(procs: list) -> None:
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


class JobChannel:
    """A local worker's side of its pipe while it serves jobs.

    Reports go up as ``("report", job_id, (index, attempt, step, metrics))`` the moment the
    task calls ``ctx.report``; what the parent sent meanwhile is read without blocking:
    ``("stop", job_id)`` marks that job pruned, anything else (a next job, ``None``) waits
    in order for :meth:`next_job`.
    """

    def __init__(self, conn: Any):
        self.conn = conn
        self._pending: collections.deque = collections.deque()
        self._stopped: set[str] = set()

    def next_job(self) -> Any:
        """The next job (or ``None``: stop serving); stop requests of finished jobs are skipped.

        Raises:
            EOFError, OSError: the parent is gone.
        """
        self._stopped.clear()  # stop requests name jobs of the past from here on
        while True:
            msg = self._pending.popleft() if self._pending else self.conn.recv()
            if not _is_stop(msg):
                return msg

    def _read_waiting(self) -> None:
        while self.conn.poll():
            msg = self.conn.recv()
            if _is_stop(msg):
                self._stopped.add(str(msg[1]))
            else:
                self._pending.append(msg)

    def reporter(self, job_id: str) -> Callable[[Any, int, dict], bool]:
        """``on_report(slot, step, metrics) -> stop`` for the slots of job ``job_id``."""
        def send(slot: Any, step: int, metrics: dict) -> bool:
            self.conn.send(("report", job_id, (int(slot.index), int(slot.attempt), int(step), dict(metrics))))
            self._read_waiting()
            return job_id in self._stopped
        return send

    def stop_check(self, job_id: str) -> Callable[[], bool]:
        """``stopped() -> bool``: whether the parent pruned job ``job_id``."""
        def stopped() -> bool:
            self._read_waiting()
            return job_id in self._stopped
        return stopped


def _is_stop(msg: Any) -> bool:
    return isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "stop"
