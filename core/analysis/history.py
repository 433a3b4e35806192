"""Pure data views of a study's history: the best-so-far curve and per-trial table rows.

No plotting here (see ``uqhpo.plotting.convergence``) and no storage access: callers
pass the trials (``study.trials`` / ``study.all_trials()``), so the functions are easy
to test and to reuse for figures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..trial import Trial, TrialSummary

__all__ = ["ConvergenceHistory", "convergence_history", "trial_rows", "FIXED_COLUMNS"]

#: the columns every exported row starts/ends with (hyperparameters go in between)
FIXED_COLUMNS = ("number", "state", "objective", "mean", "std", "n")


@dataclass(frozen=True)
class ConvergenceHistory:
    """Completed trials in trial-number order and the running best among them.

    Attributes:
        numbers: ``(n,)`` trial numbers.
        values: ``(n,)`` aggregate objective of each trial (mean + kappa*std when minimising).
        means, stds: ``(n,)`` replicate mean and standard deviation of each trial.
        best_values: ``(n,)`` best objective among trials up to and including this one.
        best_means, best_stds: ``(n,)`` mean and std of that best trial (the band).
        best_numbers: ``(n,)`` trial number of that best trial.
        direction: "minimize" or "maximize".
    """

    numbers: np.ndarray
    values: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    best_values: np.ndarray
    best_means: np.ndarray
    best_stds: np.ndarray
    best_numbers: np.ndarray
    direction: str = "minimize"

    def __len__(self) -> int:
        return len(self.numbers)

    @property
    def band(self) -> tuple[np.ndarray, np.ndarray]:
        """``(n,)`` lower and upper edge: best-so-far objective -/+ that trial's std."""
        return self.best_values - self.best_stds, self.best_values + self.best_stds


def convergence_history(trials: Sequence[TrialSummary], direction: str = "minimize") -> ConvergenceHistory:
    """Best-so-far curve of the aggregate objective.

    Args:
        trials: finished trials (non-COMPLETE ones and non-finite values are skipped).
        direction: "minimize" or "maximize".

    Returns:
        A :class:`ConvergenceHistory` (all arrays empty when no trial completed).
    """
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    done = sorted((t for t in trials if _is_complete(t) and math.isfinite(t.value)), key=lambda t: t.number)
    sign = 1.0 if direction == "minimize" else -1.0
    best_idx = np.zeros(len(done), dtype=int)
    current = 0
    for i, t in enumerate(done):
        if sign * t.value < sign * done[current].value:
            current = i
        best_idx[i] = current

    def col(attr: str, dtype: Any = float) -> np.ndarray:
        return np.array([getattr(t, attr) for t in done], dtype=dtype)

    values, means, stds, numbers = col("value"), col("mean"), col("std"), col("number", int)
    return ConvergenceHistory(numbers=numbers, values=values, means=means, stds=stds,
                              best_values=values[best_idx], best_means=means[best_idx],
                              best_stds=stds[best_idx], best_numbers=numbers[best_idx], direction=direction)


def trial_rows(trials: Sequence[Trial], summaries: Sequence[TrialSummary],
               param_names: Optional[Sequence[str]] = None) -> tuple[list[str], list[dict]]:
    """One flat row per trial for CSV/JSON export.

    Columns: ``number``, ``state``, one per hyperparameter (prefixed ``param_`` only when
    a name clashes with a fixed column), ``objective``, ``mean``, ``std``, ``n`` (completed
    replicates), then ``metric_<name>`` for the replicate mean of each numeric metric.
    Trials without a summary (running, failed) have empty aggregates.

    Args:
        trials: every trial (``study.all_trials()``).
        summaries: aggregates of the completed ones (``study.trials``).
        param_names: column order of the hyperparameters (default: first-seen order).

    Returns:
        (columns, rows): rows are dicts keyed by those columns.
    """
    by_number = {s.number: s for s in summaries}
    if param_names is None:
        param_names = list(dict.fromkeys(k for t in trials for k in t.config))
    param_cols = {p: (f"param_{p}" if p in FIXED_COLUMNS else p) for p in param_names}
    metric_names = sorted({m for s in summaries for m, v in s.metrics.items() if _is_number(v)})
    columns = ["number", "state", *param_cols.values(), "objective", "mean", "std", "n",
               *(f"metric_{m}" for m in metric_names)]
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        s = by_number.get(t.number)
        row: dict[str, Any] = {"number": t.number, "state": t.state.value}
        row.update({col: t.config.get(p) for p, col in param_cols.items()})
        row.update({"objective": s.value if s else None, "mean": s.mean if s else None,
                    "std": s.std if s else None, "n": s.n if s else len(t.losses)})
        row.update({f"metric_{m}": (s.metrics.get(m) if s else None) for m in metric_names})
        rows.append(row)
    return columns, rows


def _is_complete(t: TrialSummary) -> bool:
    state = getattr(t, "state", "COMPLETE")
    return getattr(state, "value", state) == "COMPLETE"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
