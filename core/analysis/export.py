"""Export tables below the trial level: one row per replicate attempt, one row per
reported step, and nested per-trial records (replicates with their reports) for JSON.

Pure functions of the trials (``study.all_trials()``) and their summaries
(``study.trials``); :func:`uqhpo.analysis.history.trial_rows` gives the one-row-per-trial
table. Every replicate row carries its seed, so a single training can be repeated.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from ..trial import Trial, TrialSummary
from .describe import attempt_state
from .history import trial_rows

__all__ = ["replicate_rows", "report_rows", "nested_trials"]

REPLICATE_COLUMNS = ("number", "replicate", "attempt", "seed", "state")
_REPLICATE_TAIL = ("loss", "runtime", "worker", "started", "finished", "error")
REPORT_COLUMNS = ("number", "replicate", "attempt", "seed", "step")


def replicate_rows(trials: Sequence[Trial],
                   param_names: Optional[Sequence[str]] = None) -> tuple[list[str], list[dict]]:
    """One flat row per replicate attempt (retries included), by trial, index, attempt.

    Columns: ``number``, ``replicate`` (index), ``attempt``, ``seed``, ``state``
    (``INTERRUPTED`` for attempts closed by Ctrl-C), one per hyperparameter, ``loss``,
    ``runtime`` (s), ``worker``, ``started``/``finished`` (unix time), ``error`` (last
    line), then ``metric_<name>`` for each numeric metric.

    Args:
        trials: every trial (``study.all_trials()``).
        param_names: column order of the hyperparameters (default: first-seen order).

    Returns:
        (columns, rows).
    """
    params = _param_columns(trials, param_names, (*REPLICATE_COLUMNS, *_REPLICATE_TAIL))
    reps = [r for t in trials for r in t.replicates]
    metric_names = sorted({m for r in reps for m, v in r.metrics.items() if _is_number(v)})
    columns = [*REPLICATE_COLUMNS, *params.values(), *_REPLICATE_TAIL, *(f"metric_{m}" for m in metric_names)]
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        for r in sorted(t.replicates, key=lambda r: (r.index, r.attempt)):
            row: dict[str, Any] = {"number": t.number, "replicate": r.index, "attempt": r.attempt,
                                   "seed": r.seed, "state": attempt_state(r)}
            row.update({col: t.config.get(p) for p, col in params.items()})
            row.update({"loss": r.loss, "runtime": r.runtime, "worker": r.worker, "started": r.started,
                        "finished": r.finished, "error": _last_line(r.error)})
            row.update({f"metric_{m}": r.metrics.get(m) for m in metric_names})
            rows.append(row)
    return columns, rows


def report_rows(trials: Sequence[Trial]) -> tuple[list[str], list[dict]]:
    """One row per ``ctx.report(step, **metrics)`` call (e.g. per epoch) of every attempt.

    Columns: ``number``, ``replicate``, ``attempt``, ``seed``, ``step``, then one per
    reported metric name (empty where an attempt did not report it).
    """
    reps = [(t, r) for t in sorted(trials, key=lambda t: t.number)
            for r in sorted(t.replicates, key=lambda r: (r.index, r.attempt))]
    names = sorted({m for _, r in reps for _, metrics in r.reports for m in metrics})
    metric_cols = {m: (f"metric_{m}" if m in REPORT_COLUMNS else m) for m in names}
    rows = []
    for t, r in reps:
        for step, metrics in r.reports:
            row: dict[str, Any] = {"number": t.number, "replicate": r.index, "attempt": r.attempt,
                                   "seed": r.seed, "step": step}
            row.update({col: metrics.get(m) for m, col in metric_cols.items()})
            rows.append(row)
    return [*REPORT_COLUMNS, *metric_cols.values()], rows


def nested_trials(trials: Sequence[Trial], summaries: Sequence[TrialSummary],
                  param_names: Optional[Sequence[str]] = None) -> list[dict]:
    """Per-trial rows (as :func:`trial_rows`) each with a ``replicates`` list: every
    attempt's index, attempt, seed, state, loss, metrics, runtime, worker, times, error
    and its ``reports`` as ``[{"step": s, metric: value, ...}]`` (the JSON export)."""
    _, rows = trial_rows(trials, summaries, param_names)
    by_number = {t.number: t for t in trials}
    for row in rows:
        t = by_number[row["number"]]
        row["replicates"] = [
            {"replicate": r.index, "attempt": r.attempt, "seed": r.seed, "state": attempt_state(r),
             "loss": r.loss, "metrics": dict(r.metrics), "runtime": r.runtime, "worker": r.worker,
             "started": r.started, "finished": r.finished, "error": r.error,
             "reports": [{"step": step, **metrics} for step, metrics in r.reports]}
            for r in sorted(t.replicates, key=lambda r: (r.index, r.attempt))]
    return rows


def _param_columns(trials: Sequence[Trial], names: Optional[Sequence[str]], taken: Sequence[str]) -> dict:
    if names is None:
        names = list(dict.fromkeys(k for t in trials for k in t.config))
    return {p: (f"param_{p}" if p in taken else p) for p in names}


def _last_line(text: Optional[str]) -> Optional[str]:
    """The last non-empty line of an error (a traceback ends with the exception)."""
    if not text:
        return None
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
