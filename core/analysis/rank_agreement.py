"""Would pruning have kept the best config? Early ranks against final ones in a finished study.

A pruner stops a training when its learning curve ranks poorly early on. That only pays when
early ranks predict final ones: on tasks whose curves cross (a config that starts slowly and
ends best), a pruner stops the eventual best. Run a small study without a pruner, then read
its own curves: at each fraction of every config's epochs, how well the ranks there agree
with the final objective (Spearman's rho), and where the config that ended best stood.

The early value of a config at fraction ``f`` is read from the pruners' own
:class:`uqhpo.pruners.Curves` with the config's budget set to the last step it reported: the
mean over its replicates of the running best of the metric up to step ``ceil(f * budget)``,
what a pruner with ``budget_key`` compares. Only completed trials take part; the final value
is the study's objective (mean + kappa * std). Each config is ranked against every other
completed one: an asynchronous pruner (ASHA) sees only the configs that reached the rung
before it, so this check answers for a pruner that knew every curve; a live one decides on
fewer, and its stopped configs also steer the search elsewhere.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..pruners import Curves
from ..trial import Trial
from .curves import default_metric, replicate_series

__all__ = ["EarlyRanks", "early_rank_agreement", "verdict", "DEFAULT_FRACTIONS", "DEFAULT_KEEP"]

#: the rungs of ASHA with reduction factor 3 over a config's whole budget: 1/9, 1/3, 2/3
DEFAULT_FRACTIONS = (1 / 9, 1 / 3, 2 / 3)
#: the share of configs a rung keeps (1 / reduction factor 3)
DEFAULT_KEEP = 1 / 3


@dataclass(frozen=True)
class EarlyRanks:
    """Agreement of early and final ranks at one fraction of the configs' epochs.

    Attributes:
        fraction: of each replicate's last reported step.
        n_configs: completed configs that reported the metric.
        spearman: rank correlation between the early values and the final objective (NaN
            with fewer than 3 configs or no spread).
        best_rank: 1-based rank at this fraction of the config that ended best (ties count
            in its favour).
        kept: whether ``best_rank`` is within the kept share (``ceil(keep * n_configs)``).
        best_number: that config's trial number.
    """

    fraction: float
    n_configs: int
    spearman: float
    best_rank: int
    kept: bool
    best_number: int


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of ``(n,)`` arrays (average ranks for ties); NaN when undefined."""
    from scipy.stats import rankdata  # noqa: PLC0415 - scipy is heavy; only this command needs it

    if len(a) < 3:
        return math.nan
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def early_rank_agreement(trials: Sequence[Trial], summaries: Sequence[Any], metric: Optional[str] = None,
                         fractions: Sequence[float] = DEFAULT_FRACTIONS, keep: float = DEFAULT_KEEP,
                         direction: str = "minimize") -> list[EarlyRanks]:
    """Early against final ranks of the completed configs, one row per fraction.

    Args:
        trials: every trial (``study.all_trials()``), for the per-step reports.
        summaries: the completed trials (``study.trials``): ``number`` and ``value`` (the objective).
        metric: the reported metric (default: see :func:`uqhpo.analysis.curves.default_metric`);
            it is taken to improve in the study's ``direction``.
        fractions: each in (0, 1].
        keep: the share of configs a pruner would keep, in (0, 1].

    Raises:
        ValueError: a fraction or ``keep`` out of range, no reports, or fewer than 2 completed
            configs with reports.
    """
    bad = [f for f in fractions if not (0 < f <= 1)]
    if bad or not fractions:
        raise ValueError(f"fractions: each must be in (0, 1], got {bad[0] if bad else 'none'}")
    if not (0 < keep <= 1):
        raise ValueError(f"keep: must be in (0, 1], got {keep}")
    metric = default_metric(trials, metric)
    sign = 1.0 if direction == "minimize" else -1.0
    by_number = {t.number: t for t in trials}
    finals = []
    curves = Curves(metric, sign)
    for s in summaries:
        trial = by_number.get(s.number)
        reps = replicate_series(trial, metric) if trial is not None and math.isfinite(s.value) else []
        if reps and max(max(rep) for rep in reps) >= 1:  # a curve to cut: reports beyond step 0
            finals.append((s.number, sign * float(s.value)))
            for index, rep in enumerate(reps):
                for step in sorted(rep):
                    curves.add(s.number, index, 0, step, {metric: rep[step]})
            curves.set_budget(s.number, max(max(rep) for rep in reps))
    if len(finals) < 2:
        raise ValueError(f"needs at least 2 completed configs that reported '{metric}', found {len(finals)}")
    final = np.array([v for _, v in finals])                       # (n,)
    best = int(np.argmin(final))
    rows = []
    for f in fractions:
        early = np.array([curves.value_at_fraction(number, f) for number, _ in finals])  # (n,)
        rank = 1 + int((early < early[best]).sum())
        rows.append(EarlyRanks(fraction=float(f), n_configs=len(final), spearman=_spearman(early, final),
                               best_rank=rank, kept=rank <= math.ceil(keep * len(final)),
                               best_number=finals[best][0]))
    return rows


def verdict(rows: Sequence[EarlyRanks], keep: float = DEFAULT_KEEP) -> str:
    """One sentence on what the rows say about pruning this task."""
    share = f"the best {keep:.0%}"
    lost = [r for r in rows if not r.kept]
    if not lost:
        return (f"the config that ended best (trial {rows[0].best_number}) was within {share} at every fraction: "
                f"a pruner comparing there would have kept it")
    first = lost[0]
    return (f"the config that ended best (trial {first.best_number}) ranked {first.best_rank} of {first.n_configs} "
            f"at {first.fraction:.2f} of its epochs: a pruner keeping {share} there would have stopped it "
            f"(curves cross; pruning is likely to cost this task its best config)")
