"""Trial records -> their aggregates (:class:`~uqhpo.trial.TrialSummary`) and the incumbent.

Pure functions of the records and the study settings: the study, the optimize loop, the
policy and the CLI all summarise trials the same way. The objective of a trial is the
aggregate ``mean + kappa * std`` of its completed replicates (``uq.aggregate``), taken in
the study's direction; the incumbent is chosen on it, never on one lucky draw.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .settings import StudySettings
from .trial import State, Trial, TrialSummary
from .uq import aggregate, finite_aggregate, pooled_std


def std_prior(trials: Sequence[Trial], settings: StudySettings) -> Optional[float]:
    """With adaptive replication, single-replicate configs borrow the pooled spread of
    the configs that have several; None otherwise."""
    return pooled_std(list(trials)) if settings.adaptive else None


def summarize(trial: Trial, settings: StudySettings, prior: Optional[float] = None) -> TrialSummary:
    """Aggregate one trial's completed replicates (also for unfinished trials).

    Args:
        trial: the record, with all attempts.
        settings: kappa and direction come from here.
        prior: spread assumed for single-replicate trials (see :func:`std_prior`).
    """
    sign = settings.sign
    losses = trial.losses                                   # (m,) completed replicates
    agg = aggregate(sign * losses, settings.kappa, prior)
    done = [r for r in trial.replicates if r.state == State.COMPLETE]
    metrics: dict[str, Any] = {}
    for key in sorted({k for r in done for k in r.metrics}):
        values = [r.metrics[key] for r in done if _is_number(r.metrics.get(key))]
        if values:
            with np.errstate(over="ignore", invalid="ignore"):  # huge metrics give inf, not an error
                metrics[key] = float(np.mean(values))
    state = trial.state
    if state == State.COMPLETE and not finite_aggregate(agg):
        state = State.FAILED  # losses so large that mean + kappa*std overflows: unusable, like a failure
    return TrialSummary(number=trial.number, config=dict(trial.config), value=sign * agg.objective,
                        mean=sign * agg.mean, std=agg.std, n=agg.n, losses=tuple(losses.tolist()),
                        metrics=metrics, state=state)


def summarize_complete(trials: Sequence[Trial], settings: StudySettings) -> list[TrialSummary]:
    """Summaries of the COMPLETE trials, by number, with the shared spread prior."""
    prior = std_prior(trials, settings)
    out = [summarize(t, settings, prior) for t in trials if t.state == State.COMPLETE]
    return [s for s in out if s.state == State.COMPLETE]  # an overflowing aggregate counts as failed


def best_of(summaries: Sequence[TrialSummary], settings: StudySettings) -> Optional[TrialSummary]:
    """The summary with the best objective in the study's direction; None when empty."""
    if not summaries:
        return None
    return min(summaries, key=lambda s: settings.sign * s.value)


def incumbent(trials: Sequence[Trial], settings: StudySettings) -> Optional[Trial]:
    """The COMPLETE trial record with the best objective; None before any completes."""
    prior = std_prior(trials, settings)
    summaries = [(t, summarize(t, settings, prior)) for t in trials if t.state == State.COMPLETE]
    usable = [(t, s) for t, s in summaries if s.state == State.COMPLETE]
    if not usable:
        return None
    return min(usable, key=lambda pair: settings.sign * pair[1].value)[0]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
