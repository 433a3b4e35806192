"""Peak memory of one replicate, measured in the process that runs it.

:func:`~uqhpo.executors.worker.run_slot` wraps every replicate in :class:`PeakMemory` and
stores what it measured under the reserved metric keys :data:`PEAK_RSS_KEY` and
:data:`PEAK_CUDA_KEY`, which ``uqhpo pilot`` summarises per configuration kind.
"""
from __future__ import annotations

import sys
import threading
from typing import Any, Optional

#: reserved metric keys (a leading underscore: bookkeeping, not a task's result)
PEAK_RSS_KEY = "_peak_rss_mb"
PEAK_CUDA_KEY = "_peak_cuda_mb"
_MB = 1024.0 * 1024.0


# -- peak memory of one replicate ---------------------------------------------------------------
# Why the kernel's high-water mark: worker processes are reused, so getrusage's ru_maxrss (the
# process's lifetime peak) hides a light replicate behind an earlier heavy one, and a sampling
# thread misses spikes shorter than its period. Linux (>= 4.0) resets VmHWM to the current RSS
# when "5" is written to /proc/self/clear_refs; VmHWM read at the end is then the exact peak of
# the block, at the cost of two small file operations. Where that is refused (no /proc, a
# read-only /proc) a thread samples the RSS every 20 ms instead.
_ACTIVE = 0                          # measurements running in this process (Dask threads: several)
_ACTIVE_LOCK = threading.Lock()
_HWM_WORKS: Optional[bool] = None    # did resetting VmHWM work in this process?


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _read_status_mb("VmHWM") is not None
    except OSError:
        return False


def _read_status_mb(field: str) -> Optional[float]:
    """A ``kB`` line of /proc/self/status (VmHWM, VmRSS) in MB; None where there is none."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def current_rss_mb() -> Optional[float]:
    """This process's resident set size now, in MB (psutil where /proc is missing)."""
    rss = _read_status_mb("VmRSS")
    if rss is None:
        try:
            import psutil  # noqa: PLC0415 - optional, only off Linux
        except ImportError:
            return None
        rss = psutil.Process().memory_info().rss / _MB
    return rss


class PeakMemory:
    """Context manager: the peak memory of this process while the block runs, in MB.

    ``rss_mb``: peak resident set size of the process (the exact kernel high-water mark on
    Linux, else the largest 20 ms sample, else the lifetime peak from getrusage).
    ``cuda_mb``: peak CUDA memory allocated by torch, summed over the visible devices; only
    when torch was imported and CUDA initialised by then (never imports torch itself).
    Several measurements at once in one process (threads) never reset the mark under each
    other: a later one then reports an upper bound for the process they share. A failure to
    measure leaves None, never an error in the replicate.
    """

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.rss_mb: Optional[float] = None
        self.cuda_mb: Optional[float] = None
        self._hwm = False
        self._stop = threading.Event()
        self._sampler: Optional[threading.Thread] = None
        self._samples: list[float] = []

    def __enter__(self) -> PeakMemory:
        global _ACTIVE, _HWM_WORKS
        with _ACTIVE_LOCK:
            alone = _ACTIVE == 0
            _ACTIVE += 1
            if alone:
                _HWM_WORKS = _reset_hwm()
            self._hwm = bool(_HWM_WORKS)
        if not self._hwm:
            self._sampler = threading.Thread(target=self._sample, name="uqhpo-peak-rss", daemon=True)
            self._sampler.start()
        _cuda_reset()
        return self

    def _sample(self) -> None:
        while True:
            rss = current_rss_mb()
            if rss is not None:
                self._samples.append(rss)
            if self._stop.wait(self.interval):
                return

    def __exit__(self, *exc: Any) -> None:
        global _ACTIVE
        try:
            if self._hwm:
                self.rss_mb = _read_status_mb("VmHWM")
            else:
                self._stop.set()
                if self._sampler is not None:
                    self._sampler.join()
                last = current_rss_mb()
                samples = self._samples + ([last] if last is not None else [])
                self.rss_mb = max(samples) if samples else _lifetime_peak_mb()
            self.cuda_mb = _cuda_peak_mb()
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE -= 1

    def metrics(self) -> dict[str, float]:
        """The reserved metric keys with what was measured (rounded to 0.1 MB)."""
        out = {}
        if self.rss_mb is not None:
            out[PEAK_RSS_KEY] = round(self.rss_mb, 1)
        if self.cuda_mb is not None:
            out[PEAK_CUDA_KEY] = round(self.cuda_mb, 1)
        return out


def _lifetime_peak_mb() -> float:
    import resource  # noqa: PLC0415 - Unix only; the last resort

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB on Linux, bytes on macOS
    return peak / _MB if sys.platform == "darwin" else peak / 1024.0


def _cuda_devices() -> list[Any]:
    """torch's CUDA module and device indices when torch is imported and CUDA initialised."""
    torch = sys.modules.get("torch")
    try:
        if torch is None or not torch.cuda.is_initialized():
            return []
        return list(range(torch.cuda.device_count()))
    except Exception:  # noqa: BLE001 - a half-imported or broken torch: no CUDA figure
        return []


def _cuda_reset() -> None:
    for device in _cuda_devices():
        try:
            sys.modules["torch"].cuda.reset_peak_memory_stats(device)
        except Exception:  # noqa: BLE001
            return


def _cuda_peak_mb() -> Optional[float]:
    """Peak bytes torch allocated (not its cache) since the reset, summed over devices; a
    replicate that initialised CUDA itself is covered too (the counters start at zero)."""
    devices = _cuda_devices()
    try:
        torch = sys.modules["torch"]
        return sum(float(torch.cuda.max_memory_allocated(d)) for d in devices) / _MB if devices else None
    except Exception:  # noqa: BLE001
        return None
