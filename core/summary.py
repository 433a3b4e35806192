"""Trial records -> their aggregates (:class:`~uqhpo.trial.TrialSummary`) and the incumbent.

Pure functions of the records and the study settings: the study, the optimize loop, the
policy and the CLI all summarise trials the same way. The objective of a trial is the
aggregate ``mean + kappa * std`` of its completed replicates (``uq.aggregate``), taken in
the study's direction; the incumbent is chosen on it, never on one lucky draw.

A study hands these functions a :class:`TrialList` (``Study.all_trials()``): while the
study's :class:`~uqhpo.trial_cache.TrialCache` still holds exactly those records, they
answer from its per-trial aggregates instead of a pass over every trial.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, cast

import numpy as np

from .settings import StudySettings
from .trial import State, Trial, TrialSummary
from .uq import aggregate, finite_aggregate, pooled_std


def std_prior(trials: Sequence[Trial], settings: StudySettings) -> Optional[float]:
    """With adaptive replication, single-replicate configs borrow the pooled spread of
    the configs that have several; None otherwise."""
    if not settings.adaptive:
        return None
    cache = cached(trials, settings)
    return cache.prior if cache is not None else pooled_std(list(trials))


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
    # keys starting with '_' are measurements of the run itself (peak memory), not the
    # task's metrics: kept with the replicate, left out of the trial's aggregate and exports
    for key in sorted({k for r in done for k in r.metrics if not k.startswith("_")}):
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
    cache = cached(trials, settings)
    if cache is not None:
        return cache.summaries()
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
    cache = cached(trials, settings)
    if cache is not None:
        number = cache.best_number()
        return None if number is None else cache.records[number]
    prior = std_prior(trials, settings)
    summaries = [(t, summarize(t, settings, prior)) for t in trials if t.state == State.COMPLETE]
    usable = [(t, s) for t, s in summaries if s.state == State.COMPLETE]
    if not usable:
        return None
    return min(usable, key=lambda pair: settings.sign * pair[1].value)[0]


def best_summary(trials: Sequence[Trial], settings: StudySettings) -> Optional[TrialSummary]:
    """``best_of(summarize_complete(trials, settings), settings)``, from the cache when it holds ``trials``."""
    cache = cached(trials, settings)
    if cache is None:
        return best_of(summarize_complete(trials, settings), settings)
    number = cache.best_number()
    return None if number is None else cache.summary(number)


def pending_configs(trials: Sequence[Trial]) -> list[dict]:
    """Configs of the unfinished trials, by number (what a strategy must not propose again)."""
    if _fresh(trials):
        return cast(TrialList, trials).cache.pending()
    return [t.config for t in trials if not t.finished]


def trial_states(trials: Sequence[Trial]) -> list[State]:
    """``[t.state for t in trials]``, from the cache when it holds ``trials``."""
    if _fresh(trials):
        return [e.state for e in cast(TrialList, trials).cache.entries]
    return [t.state for t in trials]


def with_waiting(trials: Sequence[Trial]) -> list[Trial]:
    """The trials with a WAITING replicate attempt (to claim), by number."""
    if _fresh(trials):
        return cast(TrialList, trials).cache.with_waiting()
    return [t for t in trials if t.waiting()]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- the per-trial cache of a study -------------------------------------------------------------
class TrialList(list):
    """The trial records of one ``TrialCache.trials`` call (a plain ``list[Trial]`` to
    its readers). While the cache still holds exactly these records, the functions of this
    module answer from the cache (no pass over all trials); otherwise they compute."""

    __slots__ = ("cache", "version")

    cache: Any  # a uqhpo.trial_cache.TrialCache (not imported: it imports this module)
    version: int

    def __reduce__(self) -> tuple:
        return list, (list(self),)  # pickled or copied: a plain list, without the cache and its storage


def cached(trials: Sequence[Trial], settings: StudySettings) -> Any:
    """The :class:`~uqhpo.trial_cache.TrialCache` that holds exactly ``trials`` aggregated
    with ``settings``, or None."""
    if not _fresh(trials):
        return None
    cache = cast(TrialList, trials).cache
    return cache if settings_key(settings) == cache.key else None


def cached_any(trials: Sequence[Trial]) -> Any:
    """The :class:`~uqhpo.trial_cache.TrialCache` that holds exactly ``trials`` (for answers
    that do not depend on the settings, e.g. ``trainings_spent``), or None."""
    return cast(TrialList, trials).cache if _fresh(trials) else None


def _fresh(trials: Sequence[Trial]) -> bool:
    """True when ``trials`` are the records a cache holds now (whatever the settings)."""
    return type(trials) is TrialList and trials.cache.version == trials.version and \
        len(trials) == len(trials.cache.records)


def settings_key(settings: StudySettings) -> tuple:
    """What the cached aggregates depend on: kappa, direction, adaptive replication."""
    return settings.kappa, settings.direction, settings.adaptive


