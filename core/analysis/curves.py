"""Learning curves from the stored per-step reports (``ctx.report(epoch, val_loss=...)``).

A curve is one configuration's reported metric per step, mean ± std over its completed
replicates. Only the attempt that completed is read for each replicate (a killed attempt
that was resumed from its checkpoint reported the same epochs again).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..trial import State, Trial

__all__ = ["LearningCurve", "report_metric_names", "default_metric", "replicate_series", "learning_curves"]

#: preferred metric names, in order, when none is asked for
PREFERRED_METRICS = ("val_loss", "loss", "w1", "val_rmse", "rmse")


@dataclass(frozen=True)
class LearningCurve:
    """One config's reported metric per step over its replicates.

    Attributes:
        number: trial number; config: its hyperparameters.
        metric: the reported metric.
        steps: ``(m,)`` steps (epochs) reported by at least one replicate.
        mean, std: ``(m,)`` over replicates at each step (std NaN with one).
        n: ``(m,)`` replicates that reported each step.
        values: ``(k, m)`` per replicate (NaN where a replicate did not report).
    """

    number: int
    config: dict
    metric: str
    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray
    values: np.ndarray


def report_metric_names(trials: Sequence[Trial]) -> list[str]:
    """Numeric metric names found in any report, sorted."""
    return sorted({m for t in trials for r in t.replicates for _, ms in r.reports for m, v in ms.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)})


def default_metric(trials: Sequence[Trial], metric: Optional[str] = None) -> str:
    """``metric`` checked against the reports, or the preferred one found.

    Raises:
        ValueError: no trial reported anything, or ``metric`` was never reported.
    """
    names = report_metric_names(trials)
    if not names:
        raise ValueError("no trial reported per-step values (ctx.report); learning curves need them")
    if metric is not None:
        if metric not in names:
            raise ValueError(f"metric '{metric}' was never reported (reported: {', '.join(names)})")
        return metric
    return next((m for m in PREFERRED_METRICS if m in names), names[0])


_DRAWN_STATES = (State.COMPLETE, State.RUNNING, State.PRUNED)


def replicate_series(trial: Trial, metric: str) -> list[dict[int, float]]:
    """Per replicate, ``{step: value}`` of ``metric`` from its latest attempt that is
    complete, still running (reports arrive live) or pruned (stopped early: a short curve)."""
    out = []
    for r in sorted(trial.latest().values(), key=lambda r: r.index):
        if r.state not in _DRAWN_STATES:
            continue
        series = {int(step): float(ms[metric]) for step, ms in r.reports
                  if isinstance(ms.get(metric), (int, float)) and math.isfinite(float(ms[metric]))}
        if series:
            out.append(series)
    return out


def _curve(trial: Trial, metric: str) -> Optional[LearningCurve]:
    series = replicate_series(trial, metric)
    if not series:
        return None
    steps = np.array(sorted({s for rep in series for s in rep}), dtype=int)
    values = np.array([[rep.get(int(s), math.nan) for s in steps] for rep in series], dtype=float)  # (k, m)
    n = np.isfinite(values).sum(axis=0)
    with np.errstate(all="ignore"):
        mean = np.nanmean(values, axis=0)
        std = np.where(n > 1, np.nanstd(values, axis=0, ddof=1) if len(series) > 1 else math.nan, math.nan)
    return LearningCurve(number=trial.number, config=dict(trial.config), metric=metric, steps=steps, mean=mean,
                         std=std, n=n, values=values)


def learning_curves(trials: Sequence[Trial], summaries: Sequence[Any] = (), metric: Optional[str] = None,
                    top_k: Optional[int] = None, numbers: Optional[Sequence[int]] = None,
                    direction: str = "minimize") -> list[LearningCurve]:
    """Learning curves of the chosen trials.

    Args:
        trials: every trial (``study.all_trials()``).
        summaries: completed trials (``study.trials``), needed for ``top_k``.
        metric: reported metric (default: see :func:`default_metric`).
        top_k: only the k best trials by objective (best first), then up to k trials with a
            training still running (newest first).
        numbers: only these trial numbers (in this order).
        direction: "minimize" or "maximize" (for ``top_k``).
    """
    metric = default_metric(trials, metric)
    by_number = {t.number: t for t in trials}
    if numbers is not None:
        missing = [k for k in numbers if k not in by_number]
        if missing:
            raise ValueError(f"no trial {missing[0]} in the study")
        chosen = [by_number[k] for k in numbers]
    elif top_k is not None:
        sign = 1.0 if direction == "minimize" else -1.0
        ranked = sorted((s for s in summaries if math.isfinite(s.value)), key=lambda s: sign * s.value)
        chosen = [by_number[s.number] for s in ranked if s.number in by_number][: int(top_k)]
        # and up to k trainings still running (their reports arrive live), newest first
        running = [t for t in sorted(trials, key=lambda t: -t.number)
                   if any(r.state == State.RUNNING for r in t.latest().values()) and t not in chosen]
        chosen += running[: int(top_k)]
    else:
        chosen = sorted(trials, key=lambda t: t.number)
    return [c for c in (_curve(t, metric) for t in chosen) if c is not None]
