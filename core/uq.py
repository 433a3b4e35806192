"""Uncertainty aggregates: a configuration's value from its replicate losses.

A config is evaluated by ``k`` trainings with different seeds. Its objective is
``mean + kappa * std`` so a config that is good only on a lucky seed is not
preferred; the surrogate also receives the variance of that objective estimate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .space import Space
from .trial import Observations, State, Trial

__all__ = ["Aggregate", "aggregate", "finite_aggregate", "observations_from_trials", "mc_dropout_summary",
           "direction_sign"]


@dataclass(frozen=True)
class Aggregate:
    """Summary of one config's replicate losses.

    Attributes:
        n: number of finite losses used.
        mean: sample mean.
        std: sample standard deviation (ddof=1; 0.0 for a single loss).
        sem: standard error of the mean, ``std / sqrt(n)``.
        objective: ``mean + kappa * std``.
        objective_var: variance of the objective estimate under normal losses,
            ``s2 / n + kappa**2 * s2 / (2 (n - 1))`` with ``s2 = std**2`` (0.0 for a single
            loss); given a ``std_prior``, ``s2`` is the spread shrunk toward it (see
            :data:`PRIOR_DOF`) and a single loss has ``std_prior**2``.
    """

    n: int
    mean: float
    std: float
    sem: float
    objective: float
    objective_var: float


#: Pseudo degrees of freedom of ``std_prior`` in the *variance* of a multi-replicate aggregate
#: (``objective_var``, the noise the surrogate is told): ``s2 = ((k - 1) std**2 + PRIOR_DOF
#: std_prior**2) / (k - 1 + PRIOR_DOF)``. With 2-3 trainings a config's own sample spread is a
#: poor estimate (chi-square with 1-2 dof): two draws that happen to agree made the RBF
#: interpolate a lucky mean exactly and search around it. 0 uses the config's own spread.
#: ``mean``, ``std`` and ``objective`` (so the incumbent) never change. Only adaptive
#: replication passes a ``std_prior``. Chosen on dev seeds (rbf, adaptive, 2 replicates, 50
#: trainings, seeds 100-219, median true value, 0 / 20): branin-int-noisy 3.72 / 2.89,
#: hartmann6-noisy -2.907 / -2.954, ackley5-mixed-noisy 2.77 / 2.61; on the 20 reported seeds
#: the two are indistinguishable (seed noise): benchmarks/README.md, "Second pass".
PRIOR_DOF: float = 20.0


def aggregate(losses: Any, kappa: float = 1.0, std_prior: Optional[float] = None) -> Aggregate:
    """Aggregate replicate losses.

    Args:
        losses: array-like ``(k,)``; non-finite entries (failed or diverged runs) are ignored.
        kappa: weight of the spread in the objective (0 gives the plain mean).
        std_prior: spread to assume when there is a single replicate (adaptive replication
            passes the pooled within-config std): without it one draw looks perfectly
            stable and exact (std 0, variance 0). With several replicates it only enters
            ``objective_var`` (:data:`PRIOR_DOF`).

    Returns:
        An :class:`Aggregate`; all fields NaN and ``n = 0`` when no finite loss is left.
    """
    # plain Python on purpose: a study aggregates every trial on every proposal, and numpy's
    # per-call overhead dominated for the typical 1-10 replicates (3x slower at 10 000 trials)
    x = [v for v in map(float, np.asarray(losses, dtype=float).ravel().tolist()) if math.isfinite(v)]
    k = len(x)
    if k == 0:
        nan = math.nan
        return Aggregate(0, nan, nan, nan, nan, nan)
    mean = _mean(x)
    if k == 1 and std_prior is not None and math.isfinite(std_prior) and std_prior > 0:
        std = float(std_prior)
        return Aggregate(1, mean, std, std, _add(mean, kappa * std), _square(std))
    std = _std(x, mean) if k > 1 else 0.0
    sem = std / math.sqrt(k)
    # var(std estimate) ~ std^2 / (2 (k - 1)) for normal samples
    var = _add(_square(sem), kappa ** 2 * _square(std) / (2 * (k - 1))) if k > 1 else 0.0
    if k > 1 and std_prior is not None and math.isfinite(std_prior) and std_prior > 0 and PRIOR_DOF > 0 \
            and math.isfinite(std):
        # the variance handed to the surrogate: the config's own spread (k - 1 degrees of
        # freedom) shrunk toward the pooled one (PRIOR_DOF pseudo degrees of freedom)
        s2 = ((k - 1) * _square(std) + PRIOR_DOF * _square(float(std_prior))) / (k - 1 + PRIOR_DOF)
        var = _add(s2 / k, kappa ** 2 * s2 / (2 * (k - 1)))
    return Aggregate(k, mean, std, sem, _add(mean, kappa * std), float(var))


# Overflow-safe arithmetic: a diverged training may report a finite loss near 1e308, and
# fsum/pow raise OverflowError where the aggregate should simply become inf (then the
# trial is treated as failed, see ``summary.summarize``).
def _mean(x: list[float]) -> float:
    try:
        return math.fsum(x) / len(x)
    except OverflowError:
        return math.fsum(v / len(x) for v in x)


def _std(x: list[float], mean: float) -> float:
    """Sample standard deviation (ddof=1), scaled by the largest deviation so no square overflows."""
    dev = [v - mean for v in x]
    scale = max(abs(d) for d in dev)
    if scale == 0.0:
        return 0.0
    if not math.isfinite(scale):
        return math.inf
    return scale * math.sqrt(math.fsum((d / scale) ** 2 for d in dev) / (len(x) - 1))


def _square(v: float) -> float:
    return v * v  # float multiplication gives inf on overflow; ``v ** 2`` raises


def _add(a: float, b: float) -> float:
    return a + b  # inf on overflow, never an exception


def finite_aggregate(agg: Aggregate) -> bool:
    """True when the objective and its variance are finite numbers (a usable aggregate)."""
    return agg.n > 0 and math.isfinite(agg.objective) and math.isfinite(agg.objective_var)


def pooled_std(trials: Sequence[Trial]) -> Optional[float]:
    """Pooled within-config standard deviation over trials with >= 2 completed replicates,
    ``sqrt(sum((k_i - 1) s_i^2) / sum(k_i - 1))``; None when no trial has two."""
    num, dof = 0.0, 0
    for t in trials:
        x = t.losses
        x = x[np.isfinite(x)]
        if x.size >= 2:
            with np.errstate(over="ignore", invalid="ignore"):  # diverged losses: inf, not a warning storm
                num += float(x.var(ddof=1)) * (x.size - 1)
            dof += x.size - 1
    return math.sqrt(num / dof) if dof and math.isfinite(num) else None


def direction_sign(direction: str) -> float:
    """+1 for ``"minimize"``, -1 for ``"maximize"`` (strategies always minimise)."""
    if direction == "minimize":
        return 1.0
    if direction == "maximize":
        return -1.0
    raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")


def observations_from_trials(trials: Sequence[Trial], space: Space, kappa: float = 1.0,
                             direction: str = "minimize", std_prior: Optional[float] = None) -> Observations:
    """Build the view strategies see from trial records.

    COMPLETE trials give configs, values and variances, in the given (trial) order;
    their losses are multiplied by ``sign`` (-1 when maximising) *before* aggregation,
    so values are always minimised. FAILED trials go to ``failed``. Running and waiting
    trials are the caller's ``pending``, not part of the observations.

    Args:
        trials: trial records, normally ordered by trial number.
        space: the search space (configs are restricted to its parameters).
        kappa: spread weight of the objective.
        direction: ``"minimize"`` or ``"maximize"``.
        std_prior: spread assumed for single-replicate trials (see :func:`aggregate`).
    """
    sign = direction_sign(direction)
    configs, values, variances, failed = [], [], [], []
    n_evaluations = 0
    for t in trials:
        # the budget clock counts every completed training, also of unfinished trials
        n_evaluations += sum(1 for r in t.replicates if r.state == State.COMPLETE)
        state = t.state
        config = {name: t.config[name] for name in space.params if name in t.config}
        if state == State.COMPLETE:
            agg = aggregate(sign * t.losses, kappa, std_prior)
            if not finite_aggregate(agg):  # overflowing losses: treated as failed
                failed.append(config)
                continue
            configs.append(config)
            values.append(agg.objective)
            variances.append(agg.objective_var)
        elif state == State.FAILED:
            failed.append(config)
    return Observations(configs=configs, values=np.asarray(values, dtype=float),
                        variances=np.asarray(variances, dtype=float), failed=failed,
                        n_evaluations=n_evaluations)


def _mse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((np.asarray(pred, dtype=float) - np.asarray(target, dtype=float)) ** 2))


def mc_dropout_summary(predictions: Any, targets: Any,
                       loss_fn: Callable[[np.ndarray, np.ndarray], float] | None = None) -> dict:
    """Summarise predictions of ``k`` trainings times ``m`` Monte-Carlo dropout masks.

    Framework-neutral: pass numpy arrays (e.g. ``tensor.cpu().numpy()``).

    Args:
        predictions: ``(k, m, n, ...)``: replicate (training) x dropout mask x sample x output.
        targets: ``(n, ...)``: the true outputs.
        loss_fn: ``loss_fn(pred (n, ...), target (n, ...)) -> float``; default mean squared error.

    Returns:
        dict with
        ``prediction_mean`` ``(n, ...)``: mean over replicates and masks;
        ``prediction_std`` ``(n, ...)``: std over all ``k * m`` predictions (total spread);
        ``epistemic_std`` ``(n, ...)``: std over replicates of each replicate's mask mean
        (ddof=1 when k > 1, else zeros);
        ``loss_per_replicate`` ``(k,)``: loss of each replicate's mask-averaged prediction;
        ``loss_mean``, ``loss_std`` (ddof=1 when k > 1, else 0.0): over those k losses;
        ``loss_of_mean``: loss of ``prediction_mean`` (the ensemble's loss).
    """
    P = np.asarray(predictions, dtype=float)
    T = np.asarray(targets, dtype=float)
    if P.ndim < 3:
        raise ValueError(f"predictions must have shape (k, m, n, ...), got {P.shape}")
    if P.shape[2:] != T.shape:
        raise ValueError(f"targets shape {T.shape} does not match predictions[k, m] shape {P.shape[2:]}")
    loss = loss_fn or _mse
    k, m = P.shape[:2]
    per_replicate = P.mean(axis=1)                      # (k, n, ...)
    grand = per_replicate.mean(axis=0)                  # (n, ...)
    total_std = P.reshape(k * m, *P.shape[2:]).std(axis=0, ddof=1 if k * m > 1 else 0)
    epistemic = per_replicate.std(axis=0, ddof=1) if k > 1 else np.zeros_like(grand)
    losses = np.array([float(loss(per_replicate[i], T)) for i in range(k)])
    return {
        "prediction_mean": grand,
        "prediction_std": total_std,
        "epistemic_std": epistemic,
        "loss_per_replicate": losses,
        "loss_mean": float(losses.mean()),
        "loss_std": float(losses.std(ddof=1)) if k > 1 else 0.0,
        "loss_of_mean": float(loss(grand, T)),
    }
