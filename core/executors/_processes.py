"""Small helpers of the local executor about its worker processes: how one died, how
many may run, and the last-resort cleanup at interpreter exit."""
from __future__ import annotations

import os
import signal
from typing import Optional

__all__ = ["death_reason", "cpu_count", "terminate_all"]


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
