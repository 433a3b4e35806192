"""Pilot runs: a small fraction of a study's budget, summarised so that bounds and resources
can be fixed before a whole allocation is spent (``uqhpo pilot CONFIG --fraction 0.05``).

Pure summary of stored trials, with the peak memory each replicate recorded (see
:mod:`uqhpo.executors.peak_memory`); running the pilot is the CLI's job (``cli_cluster``).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from .executors.peak_memory import PEAK_CUDA_KEY, PEAK_RSS_KEY
from .trial import State, Trial


# -- the pilot's summary ------------------------------------------------------------------------
@dataclass(frozen=True)
class KindStats:
    """Time and memory of the finished replicates of one configuration kind.

    A kind is one combination of the values of the categorical parameters (e.g.
    ``model=cnn, optimizer=adam``): what usually decides a training's cost. Spreads are
    sample standard deviations (0 with one replicate); memory figures are NaN where no
    replicate recorded them.
    """

    kind: str
    n: int
    time_mean: float
    time_sd: float
    rss_mean: float
    rss_sd: float
    rss_max: float
    cuda_mean: float = math.nan
    cuda_sd: float = math.nan

    def line(self, width: int) -> str:
        mem = (f"peak RSS mean {_megabytes(self.rss_mean)}, sd {_megabytes(self.rss_sd)}, "
               f"max {_megabytes(self.rss_max)}" if math.isfinite(self.rss_mean) else "peak RSS n/a")
        if math.isfinite(self.cuda_mean):
            mem += f"; peak CUDA mean {_megabytes(self.cuda_mean)}, sd {_megabytes(self.cuda_sd)}"
        return (f"  {self.kind:<{width}}  {self.n:>4} x  time mean {duration(self.time_mean)}, "
                f"sd {duration(self.time_sd)}; {mem}")


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
        kinds: time and memory per configuration kind, most replicates first.
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
    kinds: tuple[KindStats, ...] = ()

    def lines(self, full_trials: int, workers: int) -> list[str]:
        out = [f"pilot: {self.n_trials} trial(s) x {self.n_replicates} replicate(s): "
               f"{self.finished} finished, {self.failed} failed",
               f"time per replicate: mean {duration(self.runtime_mean)}, sd {duration(self.runtime_std)}, "
               f"max {duration(self.runtime_max)}"]
        if self.kinds:
            out.append("time and memory per replicate, by configuration kind (finished replicates):")
            width = max(len(k.kind) for k in self.kinds)
            out += [k.line(width) for k in self.kinds]
        out += [f"failed {n}x: {reason}" for n, reason in self.failures]
        wall = duration(3600 * self.projected_hours)
        out.append(f"full study ({full_trials} trials, {workers} worker(s)): about {wall} of wall time"
                   f", {self.projected_worker_hours:.3g} worker-hours (plus failures and retries)")
        return out


def pilot_trials(full_trials: int, fraction: float) -> int:
    """Trials a pilot runs: ``fraction`` of the budget, at least 1."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"--fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(full_trials * fraction))


def summarise_pilot(trials: Sequence[Trial], full_trials: int, n_replicates: int, workers: int,
                    failure_width: Optional[int] = 160, kind_keys: Optional[Sequence[str]] = None) -> PilotReport:
    """Summarise the pilot's trials and project the full study's cost.

    The projection assumes the workers stay busy (the asynchronous loop keeps them so):
    wall hours = mean replicate time x replicates x trials / workers.

    Args:
        kind_keys: parameters whose values make a configuration kind; default: those whose
            values are strings or booleans in every trial (the categorical ones).
    """
    done = [r for t in trials for r in t.replicates if r.state is State.COMPLETE and r.runtime is not None]
    failed = [r for t in trials for r in t.replicates if r.state is State.FAILED]
    times = np.array([float(r.runtime) for r in done if r.runtime is not None])
    mean = float(times.mean()) if times.size else float("nan")
    reasons = Counter(first_line(r.error, failure_width) for r in failed)
    worker_hours = mean * n_replicates * full_trials / 3600.0
    return PilotReport(
        n_trials=len(trials), n_replicates=n_replicates, finished=len(done), failed=len(failed),
        runtime_mean=mean, runtime_std=_sd(times),
        runtime_max=float(times.max()) if times.size else float("nan"),
        failures=[(n, reason) for reason, n in reasons.most_common()],
        projected_hours=worker_hours / max(workers, 1), projected_worker_hours=worker_hours,
        kinds=kind_stats(trials, kind_keys))


def categorical_keys(trials: Sequence[Trial]) -> list[str]:
    """Config keys whose value is a string or a boolean in every trial, sorted."""
    if not trials:
        return []
    keys = set.intersection(*(set(t.config) for t in trials))
    return sorted(k for k in keys if all(isinstance(t.config[k], (str, bool)) for t in trials))


def kind_stats(trials: Sequence[Trial], kind_keys: Optional[Sequence[str]] = None) -> tuple[KindStats, ...]:
    """Time and memory of the finished replicates per configuration kind (see :class:`KindStats`);
    one kind ``all`` when there are no kind keys. Most replicates first, then by name."""
    keys = categorical_keys(trials) if kind_keys is None else list(kind_keys)
    groups: dict[str, list[Any]] = {}
    for t in trials:
        kind = ", ".join(f"{k}={t.config.get(k)}" for k in keys) or "all"
        done = [r for r in t.replicates if r.state is State.COMPLETE and r.runtime is not None]
        if done:
            groups.setdefault(kind, []).extend(done)
    out = []
    for kind, reps in groups.items():
        times = np.array([float(r.runtime) for r in reps])
        rss = _metric(reps, PEAK_RSS_KEY)
        cuda = _metric(reps, PEAK_CUDA_KEY)
        out.append(KindStats(kind=kind, n=len(reps), time_mean=float(times.mean()), time_sd=_sd(times),
                             rss_mean=_mean(rss), rss_sd=_sd(rss) if rss.size else math.nan,
                             rss_max=float(rss.max()) if rss.size else math.nan,
                             cuda_mean=_mean(cuda), cuda_sd=_sd(cuda) if cuda.size else math.nan))
    return tuple(sorted(out, key=lambda k: (-k.n, k.kind)))


def _metric(reps: Sequence[Any], key: str) -> np.ndarray:
    """(m,) the numeric values of metric ``key`` of the replicates that have it."""
    values = [r.metrics.get(key) for r in reps]
    return np.array([float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)])


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _sd(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if values.size > 1 else 0.0


def first_line(error: Optional[str], width: Optional[int] = 160) -> str:
    """The last non-empty line of a traceback (the exception), or the reason itself."""
    lines = [ln.strip() for ln in str(error or "unknown").splitlines() if ln.strip()]
    text = lines[-1] if lines else "unknown"
    return text[:width] if width else text


def duration(seconds: float) -> str:
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


def _megabytes(mb: float) -> str:
    """512 MB, 3.2 GB."""
    if not math.isfinite(mb):
        return "n/a"
    return f"{mb / 1024:.3g} GB" if mb >= 1024 else f"{mb:.3g} MB"
