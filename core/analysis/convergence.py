"""Convergence of a study against the cost spent: trainings run and wall-clock time.

:func:`uqhpo.analysis.history.convergence_history` orders trials by number; here trials are
ordered by the time they *finished* (what an asynchronous search really saw) and the x axis
counts completed trainings (replicates) or seconds since the first training started.
:func:`band_over_studies` puts several curves (repeated studies, one per seed) on one grid
and gives their median and inter-quartile range, for the repeated-study band and for
strategy comparisons.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..trial import State, Trial

__all__ = ["CostCurve", "cost_curve", "band_over_studies", "StudyBand", "surrogate_start", "study_curve"]


@dataclass(frozen=True)
class CostCurve:
    """Best-so-far objective of one study against cost, trials in order of completion.

    Attributes:
        numbers: ``(n,)`` trial numbers in the order they completed.
        evaluations: ``(n,)`` completed trainings (replicates) when each trial completed.
        seconds: ``(n,)`` wall-clock seconds from the first start to each completion
            (NaN when the storage has no times, e.g. results told by hand).
        values: ``(n,)`` the trial's objective (mean + kappa*std when minimising).
        best_values: ``(n,)`` best objective so far.
        best_stds: ``(n,)`` replicate std of that best trial (the band over replicates).
        surrogate_start: evaluations at which the surrogate phase began (None: no phase).
        label: a name for legends (the study name or its strategy).
        direction: "minimize" or "maximize".
    """

    numbers: np.ndarray
    evaluations: np.ndarray
    seconds: np.ndarray
    values: np.ndarray
    best_values: np.ndarray
    best_stds: np.ndarray
    surrogate_start: Optional[float] = None
    label: str = ""
    direction: str = "minimize"

    def __len__(self) -> int:
        return len(self.numbers)


def _finished_at(trial: Trial) -> float:
    times = [r.finished for r in trial.latest().values() if r.finished is not None]
    return max(times) if times else math.nan


def cost_curve(trials: Sequence[Trial], summaries: Sequence[Any], *, direction: str = "minimize",
               n_initial: Optional[int] = None, label: str = "") -> CostCurve:
    """Best-so-far objective vs completed trainings and vs wall time.

    Args:
        trials: every trial record (``study.all_trials()``).
        summaries: aggregates of the completed trials (``study.trials``).
        direction: "minimize" or "maximize".
        n_initial: size of the initial design; the surrogate phase starts at the first
            trial numbered ``>= n_initial`` (None: the strategy has no such phase).
        label: legend name.

    Returns:
        A :class:`CostCurve` (empty arrays before any trial completed).
    """
    sign = 1.0 if direction == "minimize" else -1.0
    by_number = {t.number: t for t in trials}
    done = [s for s in summaries if s.number in by_number and math.isfinite(s.value)]
    finish = {s.number: _finished_at(by_number[s.number]) for s in done}
    # trials without times (told by hand, copied) keep their number order
    done.sort(key=lambda s: (finish[s.number] if math.isfinite(finish[s.number]) else math.inf, s.number))
    ends = sorted(r.finished for t in trials for r in t.replicates
                  if r.state == State.COMPLETE and r.finished is not None)
    starts = [r.started for t in trials for r in t.replicates if r.started is not None]
    t0 = min(starts) if starts else math.nan
    evaluations, seconds = [], []
    count_untimed = 0
    for s in done:
        end = finish[s.number]
        if math.isfinite(end) and ends:
            evaluations.append(float(np.searchsorted(ends, end, side="right")))
        else:
            count_untimed += s.n
            evaluations.append(float(count_untimed))
        seconds.append(end - t0 if math.isfinite(end) else math.nan)
    values = np.array([s.value for s in done], dtype=float)
    stds = np.array([s.std for s in done], dtype=float)
    best_idx = np.zeros(len(done), dtype=int)
    for i in range(1, len(done)):
        best_idx[i] = i if sign * values[i] < sign * values[best_idx[i - 1]] else best_idx[i - 1]
    evals = np.maximum.accumulate(np.array(evaluations, dtype=float)) if done else np.zeros(0)
    start = None
    if n_initial is not None:
        later = [e for s, e in zip(done, evals) if s.number >= n_initial]
        start = float(later[0]) if later else None
    return CostCurve(numbers=np.array([s.number for s in done], dtype=int), evaluations=evals,
                     seconds=np.array(seconds, dtype=float), values=values,
                     best_values=values[best_idx] if done else values, best_stds=stds[best_idx] if done else stds,
                     surrogate_start=start, label=label, direction=direction)


def surrogate_start(study: Any) -> Optional[int]:
    """Size of the initial design of a model-based study (``rbf``, ``gp``), else None."""
    n = getattr(study.strategy, "n_initial", None)
    return int(n) if n is not None else None


def study_curve(study: Any, label: Optional[str] = None) -> CostCurve:
    """:func:`cost_curve` of a stored study."""
    return cost_curve(study.all_trials(), study.trials, direction=study.direction,
                      n_initial=surrogate_start(study), label=label if label is not None else study.name)


@dataclass(frozen=True)
class StudyBand:
    """Median and inter-quartile range of several best-so-far curves on one x grid.

    Attributes:
        x: ``(m,)`` grid (evaluations or seconds).
        median, q25, q75: ``(m,)`` over the studies that reached that x (NaN where none).
        n_studies: ``(m,)`` how many studies reached each x.
        label: legend name (e.g. the strategy).
    """

    x: np.ndarray
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    n_studies: np.ndarray
    label: str = ""


def band_over_studies(curves: Sequence[CostCurve], axis: str = "evaluations", grid: Optional[np.ndarray] = None,
                      label: str = "") -> StudyBand:
    """Median and IQR of several studies' best-so-far as step functions of the cost.

    A study counts at ``x`` only from its first completed trial on and up to the cost it
    actually spent, so a study that ran shorter does not drag the band.

    Args:
        curves: one :class:`CostCurve` per study (e.g. per seed of one strategy).
        axis: "evaluations" or "seconds".
        grid: ``(m,)`` x values (default: every x any study reached).
        label: legend name.
    """
    if axis not in ("evaluations", "seconds"):
        raise ValueError(f"axis must be 'evaluations' or 'seconds', got {axis!r}")
    pairs = [(getattr(c, axis), c.best_values) for c in curves if len(c)]
    pairs = [(x[np.isfinite(x)], y[np.isfinite(x)]) for x, y in pairs]
    pairs = [(x, y) for x, y in pairs if len(x)]
    if grid is None:
        grid = np.unique(np.concatenate([x for x, _ in pairs])) if pairs else np.zeros(0)
    grid = np.asarray(grid, dtype=float)
    table = np.full((len(pairs), len(grid)), np.nan)                   # (studies, m)
    for row, (x, y) in enumerate(pairs):
        idx = np.searchsorted(x, grid, side="right") - 1
        ok = (idx >= 0) & (grid <= x[-1])
        table[row, ok] = y[idx[ok]]
    counts = np.isfinite(table).sum(axis=0)
    stats = np.full((3, len(grid)), np.nan)
    cols = counts > 0
    if cols.any():
        stats[:, cols] = np.nanpercentile(table[:, cols], [50, 25, 75], axis=0)
    return StudyBand(x=grid, median=stats[0], q25=stats[1], q75=stats[2], n_studies=counts, label=label)
