"""Worker timeline: which worker trained which replicate when (a Gantt chart's data).

Every replicate attempt with a start and a finish time is one bar on its worker's row.
Bars are labelled with the search phase of their trial (initial design, surrogate-guided,
user-enqueued, copied from a parent study) so that an idle gap can be traced to a
synchronisation point; utilization is busy worker-time over ``workers × span``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..trial import Trial

__all__ = ["TimelineBar", "Timeline", "worker_timeline", "phase_of", "PHASES"]

#: phase names, in legend order
PHASES = ("initial", "surrogate", "enqueued", "copied", "search")


@dataclass(frozen=True)
class TimelineBar:
    """One replicate attempt on one worker; times in seconds from the first start."""

    worker: str
    row: int
    trial: int
    replicate: int
    attempt: int
    start: float
    end: float
    phase: str
    state: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Timeline:
    """All bars, the worker rows and the utilization.

    Attributes:
        bars: every timed attempt.
        workers: worker names, one per row (in order of first start).
        span: seconds from the first start to the last finish.
        busy: summed bar durations (worker-seconds).
        utilization: ``busy / (len(workers) * span)`` (0 when empty).
        t0: unix time of the first start.
    """

    bars: list
    workers: list
    span: float
    busy: float
    utilization: float
    t0: float = 0.0

    def utilization_line(self) -> str:
        """``"utilization 87% (3.1 of 3.6 worker-hours, 2 workers)"``."""
        unit, scale = ("worker-hours", 3600.0) if self.span * max(len(self.workers), 1) > 7200 else ("worker-s", 1.0)
        return (f"utilization {100 * self.utilization:.0f}% ({self.busy / scale:.3g} of "
                f"{self.span * len(self.workers) / scale:.3g} {unit}, {len(self.workers)} workers)")


def phase_of(trial: Trial, n_initial: Optional[int]) -> str:
    """The search phase a trial belongs to (see :data:`PHASES`)."""
    attrs = trial.user_attrs or {}
    if attrs.get("copied_from") is not None:
        return "copied"
    if attrs.get("enqueued"):
        return "enqueued"
    if n_initial is None:
        return "search"
    return "initial" if trial.number < n_initial else "surrogate"


def worker_timeline(trials: Sequence[Trial], n_initial: Optional[int] = None) -> Timeline:
    """The Gantt data of a study's trainings.

    Args:
        trials: every trial (``study.all_trials()``).
        n_initial: size of the initial design (None: a strategy without phases).
    """
    # copied results (focus search) ran in the parent study, on its clock: left out
    timed = [(t, r) for t in trials if not (t.user_attrs or {}).get("copied_from") for r in t.replicates
             if r.started is not None and r.finished is not None and r.finished >= r.started]
    if not timed:
        return Timeline(bars=[], workers=[], span=0.0, busy=0.0, utilization=0.0)
    times = [(t, r, float(r.started or 0.0), float(r.finished or 0.0)) for t, r in timed]
    t0 = min(start for _, _, start, _ in times)
    t1 = max(end for _, _, _, end in times)
    times.sort(key=lambda x: (x[2], x[0].number, x[1].index))
    rows: dict[str, int] = {}
    bars = []
    for t, r, start, end in times:
        name = str(r.worker or "unknown")
        row = rows.setdefault(name, len(rows))
        bars.append(TimelineBar(worker=name, row=row, trial=t.number, replicate=r.index, attempt=r.attempt,
                                start=start - t0, end=end - t0,
                                phase=phase_of(t, n_initial), state=str(getattr(r.state, "value", r.state))))
    span = float(t1 - t0)
    busy = _busy_time(bars)
    util = busy / (len(rows) * span) if span > 0 else 0.0
    return Timeline(bars=bars, workers=list(rows), span=span, busy=busy, utilization=util, t0=float(t0))


def _busy_time(bars: Sequence[TimelineBar]) -> float:
    """Worker-seconds covered by bars (overlaps on one worker, e.g. replicates run
    concurrently by one process, are counted once)."""
    total = 0.0
    by_row: dict[int, list[tuple[float, float]]] = {}
    for b in bars:
        by_row.setdefault(b.row, []).append((b.start, b.end))
    for spans in by_row.values():
        spans.sort()
        cur_start, cur_end = spans[0]
        for s, e in spans[1:]:
            if s > cur_end:
                total += cur_end - cur_start
                cur_start, cur_end = s, e
            else:
                cur_end = max(cur_end, e)
        total += cur_end - cur_start
    return total


def study_timeline(study: Any) -> Timeline:
    """:func:`worker_timeline` of a stored study (phases from its strategy)."""
    from .convergence import surrogate_start  # noqa: PLC0415

    return worker_timeline(study.all_trials(), surrogate_start(study))


__all__ += ["study_timeline"]
