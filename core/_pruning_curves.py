"""The learning curves the pruners read: per trial and replicate, signed so lower is better.

Internal to :mod:`uqhpo.pruners` (which re-exports :class:`Curves` and :func:`pick_metric`).
A configuration's value at step ``s`` is the mean, over its replicates that reached ``s``,
of each replicate's best value up to ``s``. With per-configuration budgets (``set_budget``:
the number of steps a configuration trains, e.g. its ``epochs``) values can also be read at
a *fraction* of each configuration's own budget. :meth:`Curves.standard_error` gives the
spread of a configuration's value (its replicates', else the others' pooled) for pruners
with a ``margin``. Pure stdlib.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Mapping, Optional, Protocol, Sequence

from .trial import State, Trial

logger = logging.getLogger("uqhpo")

#: metric names tried, in order, when a pruner names none
DEFAULT_METRICS = ("loss", "val_loss")


def pick_metric(metrics: Mapping[str, Any], metric: Optional[str]) -> Optional[str]:
    """The reported metric a pruner reads: ``metric`` when given, else "loss", else
    "val_loss", else the only one reported; None when none applies."""
    if metric is not None:
        return metric if metric in metrics else None
    for name in DEFAULT_METRICS:
        if name in metrics:
            return name
    return next(iter(metrics)) if len(metrics) == 1 else None


def budget_of(config: Mapping[str, Any], key: str) -> Optional[float]:
    """``config[key]`` as a positive number of steps, or None when absent or not one."""
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


class Curves:
    """Learning curves of one metric, per trial and replicate (latest attempt only).

    Values are stored multiplied by ``sign`` (+1 minimise, -1 maximise): lower is better.
    """

    def __init__(self, metric: Optional[str] = None, sign: float = 1.0):
        self.metric, self.sign = metric, float(sign)
        # trial -> replicate index -> (attempt, [(step, signed value)] in report order)
        self._series: dict[int, dict[int, tuple[int, list[tuple[int, float]]]]] = {}
        self._budgets: dict[int, float] = {}   # trial -> steps its training runs (when known)

    def add(self, trial: int, index: int, attempt: int, step: int, metrics: Mapping[str, Any]) -> bool:
        """Record one report; False when it holds no usable value of the metric."""
        name = pick_metric(metrics, self.metric)
        value = metrics.get(name) if name is not None else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(float(value)):
            return False
        reps = self._series.setdefault(int(trial), {})
        held = reps.get(int(index))
        if held is None or held[0] < int(attempt):   # a retry starts a new curve
            held = (int(attempt), [])
            reps[int(index)] = held
        elif held[0] > int(attempt):                  # a late report of an older attempt
            return False
        held[1].append((int(step), self.sign * float(value)))
        return True

    def load(self, trials: Sequence[Trial]) -> None:
        """Rebuild from stored records (the latest attempt of each replicate, unless it
        failed); budgets already set are kept."""
        self._series = {}
        for t in trials:
            for r in t.latest().values():
                if r.state in (State.FAILED, State.STALE):
                    continue
                for step, metrics in r.reports:
                    self.add(t.number, r.index, r.attempt, int(step), metrics)

    def trials(self) -> list[int]:
        return list(self._series)

    def steps(self, trial: int, index: int) -> list[int]:
        """Steps replicate ``index`` of ``trial`` reported, in order."""
        held = self._series.get(int(trial), {}).get(int(index))
        return [] if held is None else [s for s, _ in held[1]]

    def best(self, trial: int, index: int, step: Optional[float] = None) -> Optional[float]:
        """The replicate's best (lowest signed) value up to ``step`` (all steps when None)."""
        held = self._series.get(int(trial), {}).get(int(index))
        if held is None:
            return None
        vals = [v for s, v in held[1] if step is None or s <= step]
        return min(vals) if vals else None

    def replicate_values_at(self, trial: int, step: int) -> list[float]:
        """Each replicate's best value up to ``step`` (signed), for the trial's replicates
        that reached it (length: their number, 0 when none did). A replicate that reports
        less often counts with its best up to its first report at or after ``step``."""
        vals = []
        for _, series in self._series.get(int(trial), {}).values():
            best = math.inf
            for s, v in series:
                best = min(best, v)
                if s >= step:
                    vals.append(best)
                    break
        return vals

    def value_at(self, trial: int, step: int) -> Optional[float]:
        """Mean of :meth:`replicate_values_at` (signed: lower is better); None when no
        replicate reached ``step``."""
        vals = self.replicate_values_at(trial, step)
        return sum(vals) / len(vals) if vals else None

    def standard_error(self, trial: int, step: int, fraction: Optional[float] = None) -> Optional[float]:
        """Standard error of ``value_at(trial, step)``: the sample std of its replicates'
        values divided by the square root of their number n, when n >= 2; with one replicate,
        the pooled sample std of the other trials with at least two replicates there (at
        ``step``, or at ``fraction`` of their own budgets when given) divided by sqrt(n).
        None when no replicate reached ``step`` or no spread is known."""
        own = self.replicate_values_at(trial, step)
        if not own:
            return None
        if len(own) >= 2:
            return math.sqrt(_sum_sq(own) / (len(own) - 1) / len(own))
        sq, dof = 0.0, 0
        for t in self._series:
            if t == int(trial):
                continue
            at = step if fraction is None else self.step_at(t, fraction)
            vals = [] if at is None else self.replicate_values_at(t, at)
            if len(vals) >= 2:
                sq, dof = sq + _sum_sq(vals), dof + len(vals) - 1
        return math.sqrt(sq / dof / len(own)) if dof else None

    def others_at(self, trial: int, step: int) -> list[float]:
        """``value_at(t, step)`` of every other trial that reached ``step``."""
        return self._of_others(trial, lambda t: self.value_at(t, step))

    def _of_others(self, trial: int, value: Callable[[int], Optional[float]]) -> list[float]:
        """``value(t)`` of every trial but ``trial`` where it is not None."""
        values = (value(t) for t in self._series if t != int(trial))
        return [v for v in values if v is not None]

    # -- fractions of each configuration's own budget -------------------------------------------
    def set_budget(self, trial: int, steps: float) -> None:
        """The number of steps ``trial``'s trainings run (e.g. its ``epochs``)."""
        self._budgets[int(trial)] = float(steps)

    def budget(self, trial: int) -> Optional[float]:
        """``trial``'s budget in steps, None when unknown."""
        return self._budgets.get(int(trial))

    def step_at(self, trial: int, fraction: float) -> Optional[int]:
        """The first step at which ``trial`` has trained ``fraction`` of its budget (at
        least step 1); None when its budget is unknown."""
        budget = self.budget(trial)
        if budget is None:
            return None
        return max(1, math.ceil(fraction * budget - 1e-9))

    def value_at_fraction(self, trial: int, fraction: float) -> Optional[float]:
        """``value_at`` the trial's :meth:`step_at` ``fraction``; None when the budget is
        unknown or no replicate got there."""
        step = self.step_at(trial, fraction)
        return None if step is None else self.value_at(trial, step)

    def others_at_fraction(self, trial: int, fraction: float) -> list[float]:
        """``value_at_fraction(t, fraction)`` of every other trial with a known budget
        that got there."""
        return self._of_others(trial, lambda t: self.value_at_fraction(t, fraction))


def _sum_sq(values: Sequence[float]) -> float:
    """Sum of squared deviations from the mean of ``values`` (length >= 1)."""
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values)


class Rule(Protocol):
    """What :class:`PruningMonitor` needs of a pruner (:class:`uqhpo.pruners.Pruner`)."""

    metric: Optional[str]
    budget_key: Optional[str]

    def prune(self, trial: int, index: int, step: int, curves: Curves) -> Optional[str]: ...


# -- the driver's bookkeeping -----------------------------------------------------------------
class PruningMonitor:
    """What the driver keeps to prune: the curves, and the trials already pruned.

    Args:
        pruner: the rule.
        sign: +1 when the study minimises, -1 when it maximises.
        refresh_s: the curves are re-read from the storage (reports of other drivers) when
            older than this; the driver's own reports are added at once.
        clock: monotonic seconds (a test may pass a fake one).

    With a pruner's ``budget_key``, each trial's budget is read from its config at
    :meth:`sync`; the first report of a trial not yet seen there is not judged and makes the
    curves stale, so the next one is (a trial whose config lacks the key is never pruned).
    """

    def __init__(self, pruner: Rule, sign: float = 1.0, refresh_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic):
        self.pruner, self.refresh_s, self.clock = pruner, float(refresh_s), clock
        self.curves = Curves(pruner.metric, sign)
        self.pruned: dict[int, str] = {}     # trial -> reason
        # trials with a completed training are never pruned: a config that finished once keeps
        # its aggregate (e.g. the incumbent topped up by adaptive replication)
        self.completed: set[int] = set()
        self._synced = -math.inf
        self._unbudgeted: set[int] = set()   # trials whose config gave no budget at a sync

    def stale(self) -> bool:
        """True when the curves should be re-read from the storage."""
        return self.clock() - self._synced >= self.refresh_s

    def sync(self, trials: Sequence[Trial]) -> None:
        """Re-read every curve from stored records; trials stored PRUNED stay pruned."""
        self.curves.load(trials)
        for t in trials:
            states = {r.state for r in t.latest().values()}
            if t.number not in self.pruned and State.PRUNED in states:
                self.pruned[t.number] = "pruned earlier"
            if State.COMPLETE in states:
                self.completed.add(t.number)
            key = self.pruner.budget_key
            if key is not None and self.curves.budget(t.number) is None:
                budget = budget_of(t.config, key)
                if budget is not None:
                    self.curves.set_budget(t.number, budget)
                elif t.number not in self._unbudgeted:
                    self._unbudgeted.add(t.number)
                    logger.warning("pruner.budget_key: trial %d has no positive number under %r; it is not pruned",
                                   t.number, key)
        self._synced = self.clock()

    def report(self, trial: int, index: int, attempt: int, step: int, metrics: Mapping[str, Any]) -> bool:
        """Record one report; True when the trial is (now or already) pruned."""
        if trial in self.pruned:
            return True
        if not self.curves.add(trial, index, attempt, step, metrics) or trial in self.completed:
            return False
        if self.pruner.budget_key is not None and self.curves.budget(trial) is None:
            if trial not in self._unbudgeted:
                self._synced = -math.inf   # a trial created since the last sync: read its budget next
            return False
        reason = self.pruner.prune(trial, index, int(step), self.curves)
        if reason is None:
            return False
        self.pruned[trial] = reason
        logger.info("trial %d pruned at step %d: %s", trial, step, reason)
        return True

    def last_value(self, trial: int, index: int) -> Optional[float]:
        """The replicate's best reported value so far, in the study's direction (the loss a
        PRUNED replicate is stored with), or None."""
        best = self.curves.best(trial, index)
        return None if best is None else self.curves.sign * best
