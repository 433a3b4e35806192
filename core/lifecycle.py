"""How a driver process starts, stops and recognises the remains of a dead one.

* SIGTERM (what Slurm and most schedulers send before a kill) raises :class:`Terminated`,
  a ``KeyboardInterrupt``, inside ``optimize``: the loop re-queues what runs, as for Ctrl-C.
* Each driver claims replicates under the name ``driver:<host>:<pid>``; a resume on the
  same host whose earlier driver process is gone re-queues those at once instead of
  waiting for their heartbeat to expire.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from .storage._lock import process_gone

__all__ = ["INTERRUPTED", "Terminated", "terminate_as_interrupt", "driver_id", "driver_is_dead"]

INTERRUPTED = "interrupted"  # error prefix of attempts closed by Ctrl-C/SIGTERM/time budget: no retry used up


class Terminated(KeyboardInterrupt):
    """SIGTERM (what Slurm and most schedulers send) during ``optimize``: handled like Ctrl-C."""


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated` (in the main thread only; elsewhere
    signal handlers cannot be set and SIGTERM keeps its meaning)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: Any) -> None:
        # further SIGTERMs (srun and scancel send one to every process, schedulers repeat
        # theirs) must not interrupt the re-queue that this one starts: ignored until the
        # block ends, a SIGKILL still ends the process
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def driver_id() -> str:
    """``driver:<host>:<pid>``: the worker name of this process's claims in storage."""
    return f"driver:{socket.gethostname()}:{os.getpid()}"


def driver_is_dead(worker: str) -> bool:
    """True for a ``driver:<host>:<pid>`` of this host whose process is gone (not this one)."""
    parts = worker.split(":")
    if len(parts) != 3 or parts[0] != "driver" or parts[1] != socket.gethostname() or not parts[2].isdigit():
        return False
    pid = int(parts[2])
    return pid != os.getpid() and process_gone(pid)
