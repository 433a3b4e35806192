"""Pilot runs: a small fraction of a study's budget, summarised so that bounds and resources
can be fixed before a whole allocation is spent (``uqhpo pilot CONFIG --fraction 0.05``).

Pure summary of stored trials; running the pilot is the CLI's job (``cli_cluster``).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .trial import State, Trial


@dataclass(frozen=True)
class PilotReport:
    """What a pilot measured and what the full study will cost.

    Attributes:
        n_trials, n_replicates: trials the pilot ran and replicates each.
        finished, failed: replicate attempts that finished / failed.
        runtime_mean, runtime_std, runtime_max: seconds per finished replicate.
        failures: (count, reason) per distinct first line of the error, most frequent first.
        projected_hours: wall hours of the full study on ``workers`` workers.
        projected_worker_hours: worker hours (GPU or CPU-slot hours) of the full study.
    """

    n_trials: int
    n_replicates: int
    finished: int
    failed: int
    runtime_mean: float
    runtime_std: float
    runtime_max: float
    failures: list[tuple[int, str]]
    projected_hours: float
    projected_worker_hours: float

    def lines(self, full_trials: int, workers: int) -> list[str]:
        out = [f"pilot: {self.n_trials} trial(s) x {self.n_replicates} replicate(s): "
               f"{self.finished} finished, {self.failed} failed",
               f"time per replicate: mean {_duration(self.runtime_mean)}, sd {_duration(self.runtime_std)}, "
               f"max {_duration(self.runtime_max)}"]
        out += [f"failed {n}x: {reason}" for n, reason in self.failures]
        wall = _duration(3600 * self.projected_hours)
        out.append(f"full study ({full_trials} trials, {workers} worker(s)): about {wall} of wall time"
                   f", {self.projected_worker_hours:.3g} worker-hours (plus failures and retries)")
        return out


def pilot_trials(full_trials: int, fraction: float) -> int:
    """Trials a pilot runs: ``fraction`` of the budget, at least 1."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"--fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(full_trials * fraction))


def summarise_pilot(trials: Sequence[Trial], full_trials: int, n_replicates: int, workers: int,
                    failure_width: Optional[int] = 160) -> PilotReport:
    """Summarise the pilot's trials and project the full study's cost.

    The projection assumes the workers stay busy (the asynchronous loop keeps them so):
    wall hours = mean replicate time x replicates x trials / workers.
    """
    done = [r for t in trials for r in t.replicates if r.state is State.COMPLETE and r.runtime is not None]
    failed = [r for t in trials for r in t.replicates if r.state is State.FAILED]
    times = np.array([float(r.runtime) for r in done if r.runtime is not None])
    mean = float(times.mean()) if times.size else float("nan")
    reasons = Counter(_first_line(r.error, failure_width) for r in failed)
    worker_hours = mean * n_replicates * full_trials / 3600.0
    return PilotReport(
        n_trials=len(trials), n_replicates=n_replicates, finished=len(done), failed=len(failed),
        runtime_mean=mean, runtime_std=float(times.std(ddof=1)) if times.size > 1 else 0.0,
        runtime_max=float(times.max()) if times.size else float("nan"),
        failures=[(n, reason) for reason, n in reasons.most_common()],
        projected_hours=worker_hours / max(workers, 1), projected_worker_hours=worker_hours)


def _first_line(error: Optional[str], width: Optional[int]) -> str:
    """The last non-empty line of a traceback (the exception), or the reason itself."""
    lines = [ln.strip() for ln in str(error or "unknown").splitlines() if ln.strip()]
    text = lines[-1] if lines else "unknown"
    return text[:width] if width else text


def _duration(seconds: float) -> str:
    """3.2 ms, 41 s, 12.5 min, 3.1 h: the unit a person reads at a glance."""
    if not math.isfinite(seconds):
        return "n/a"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    if seconds < 120.0:
        return f"{seconds:.3g} s"
    if seconds < 7200.0:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"
