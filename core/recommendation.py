"""Which observed configuration to recommend on a noisy objective.

``study.best`` is the COMPLETE trial with the lowest aggregate (``mean + kappa * std`` of
its replicates). On a noisy objective with one or two trainings per config that is the
luckiest draw as much as the best config: among 40 configs the lowest of 40 noisy means
is biased low, and it is often a mediocre config with a good seed.

:func:`surrogate_estimates` smooths the aggregates with a Gaussian-process regression
(Matern 5/2, :class:`uqhpo.surrogates.gp.GaussianProcess`) whose per-config noise is the
known variance of each aggregate: the pooled within-config spread of the study over the
config's number of trainings. The posterior mean at an observed config is its own mean
shrunk toward what its neighbours say, more for configs with few trainings.
:func:`recommend_trial` returns the observed config with the best posterior mean
(rule ``"surrogate"``) or the lowest aggregate (rule ``"best"``, what ``study.best`` is).

The rule is chosen per study with ``create_study(..., settings={"recommend":
"surrogate"})`` (stored with the study, read by :func:`rule_of`; default ``"best"``);
:func:`recommend` (also ``uqhpo.recommend``) answers for a study object. ``study.best`` and
the adaptive top-up of :mod:`uqhpo.policy` do not read the rule: the top-up confirms the
lowest mean, so a ``"surrogate"`` recommendation may rest on a single training. Measured
(benchmarks/README.md, "Second pass"): better than ``"best"`` on smooth objectives
(hartmann6-noisy), worse on rugged ones (ackley5-mixed-noisy), hence not the default.

Only COMPLETE trials with a finite aggregate are candidates; the surrogate never
proposes an unobserved config here (that is the strategy's job).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from .settings import StudySettings
from .trial import State, Trial, TrialSummary
from .uq import aggregate, finite_aggregate, pooled_std

__all__ = ["RULES", "SurrogateEstimates", "rule_of", "surrogate_estimates", "recommend_trial", "recommend"]

#: recommendation rules: "best" (lowest aggregate, ``study.best``), "surrogate" (best GP posterior mean)
RULES = ("best", "surrogate")


def rule_of(settings: StudySettings) -> str:
    """The study's recommendation rule, ``settings.user["recommend"]`` (default ``"best"``).

    Raises:
        ValueError: an unknown rule (one line naming the key).
    """
    rule = settings.user.get("recommend", "best") if isinstance(settings.user, dict) else "best"
    if rule not in RULES:
        raise ValueError(f"recommend: unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    return str(rule)


@dataclass(frozen=True)
class SurrogateEstimates:
    """Smoothed values of the observed configs, in the study's direction.

    Attributes:
        numbers: ``(m,)`` trial numbers of the candidates (COMPLETE, finite aggregate).
        observed: ``(m,)`` their aggregates (``mean + kappa * std``).
        n: ``(m,)`` completed trainings of each.
        predicted: ``(m,)`` GP posterior mean at each config (the smoothed value).
        predicted_std: ``(m,)`` GP posterior std of the latent value at each config.
        noise_std: the per-training spread used (pooled), or None when no config has two
            trainings (the GP then learns one homoscedastic noise term).
    """

    numbers: np.ndarray
    observed: np.ndarray
    n: np.ndarray
    predicted: np.ndarray
    predicted_std: np.ndarray
    noise_std: Optional[float]


def _candidates(trials: Sequence[Trial], settings: StudySettings
                ) -> tuple[list[Trial], np.ndarray, np.ndarray, Optional[float]]:
    """COMPLETE trials with finite aggregates, their objectives ``(m,)`` (minimised, i.e.
    times ``sign``), their variances ``(m,)`` from the pooled spread, and that spread."""
    sign, kappa = settings.sign, float(settings.kappa)
    spread = pooled_std(list(trials))
    chosen, values, variances = [], [], []
    for t in trials:
        if t.state != State.COMPLETE:
            continue
        agg = aggregate(sign * t.losses, kappa, spread)
        if not finite_aggregate(agg):
            continue
        chosen.append(t)
        values.append(agg.objective)
        if spread is None:
            variances.append(0.0)
        else:  # var of mean + kappa * std for k normal draws with the pooled spread
            k = agg.n
            variances.append(spread ** 2 * (1.0 / k + (kappa ** 2 / (2.0 * (k - 1)) if k > 1 else kappa ** 2)))
    return chosen, np.asarray(values, dtype=float), np.asarray(variances, dtype=float), spread


def surrogate_estimates(trials: Sequence[Trial], space: Any, settings: StudySettings
                        ) -> Optional[SurrogateEstimates]:
    """GP-smoothed aggregates of the COMPLETE trials (see the module docstring).

    Args:
        trials: the study's trial records.
        space: the study's :class:`~uqhpo.space.Space` (configs are encoded to the unit cube).
        settings: kappa, direction and seed (the GP's restarts derive from the study seed).

    Returns:
        The estimates, or None with fewer than 3 candidates or when the GP cannot be fitted.
    """
    chosen, values, variances, spread = _candidates(trials, settings)
    if len(chosen) < 3:
        return None
    from .surrogates.base import SurrogateFitError  # noqa: PLC0415
    from .surrogates.gp import GaussianProcess  # noqa: PLC0415

    X = space.encode([t.config for t in chosen])                     # (m, d)
    gp = GaussianProcess(n_restarts=3, seed=int(settings.seed) % (2 ** 32))
    try:
        gp.fit(X, values, variances)
        mean, std = gp.predict(X)
    except (SurrogateFitError, np.linalg.LinAlgError, ValueError):
        return None
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
        return None
    sign = settings.sign
    return SurrogateEstimates(numbers=np.array([t.number for t in chosen], dtype=int), observed=sign * values,
                              n=np.array([len(t.losses[np.isfinite(t.losses)]) for t in chosen], dtype=int),
                              predicted=sign * mean, predicted_std=std, noise_std=spread)


def recommend_trial(trials: Sequence[Trial], space: Any, settings: StudySettings,
                    rule: Optional[str] = None) -> Optional[int]:
    """The number of the trial to recommend, or None before any trial completes.

    Args:
        trials: the study's trial records.
        space: the study's search space (used by ``"surrogate"``).
        settings: the study's settings.
        rule: ``"best"`` (lowest aggregate) or ``"surrogate"`` (best GP posterior mean among
            the observed configs; falls back to ``"best"`` while the GP cannot be fitted,
            e.g. with fewer than 3 completed configs); None reads :func:`rule_of`.
    """
    from .summary import incumbent  # noqa: PLC0415

    rule = rule_of(settings) if rule is None else rule
    if rule not in RULES:
        raise ValueError(f"recommend: unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    if rule == "surrogate" and space is not None:
        est = surrogate_estimates(trials, space, settings)
        if est is not None:
            return int(est.numbers[int(np.argmin(settings.sign * est.predicted))])
    best = incumbent(trials, settings)
    return None if best is None else best.number


def recommend(study: Any, rule: Optional[str] = None) -> TrialSummary:
    """The summary of the trial a study recommends under ``rule`` (None: the study's own
    rule, ``settings={"recommend": ...}``, default ``"best"`` which is ``study.best``).

    Raises:
        ValueError: no trial has completed yet, or an unknown rule.
    """
    trials = study.all_trials()
    number = recommend_trial(trials, study.space, study.settings, rule)
    if number is None:
        raise ValueError("recommend: no trial has completed yet")
    summaries = {s.number: s for s in study.trials}
    if number in summaries:
        return summaries[number]
    return study.summarize(next(t for t in trials if t.number == number))  # pragma: no cover - defensive

