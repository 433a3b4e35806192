"""Pruners: stop hopeless trainings early, from the learning curves reported so far.

A task reports per-step values with ``ctx.report(step, val_loss=...)``; they reach the
driver as they happen. After each report the driver asks the study's pruner whether the
configuration is hopeless; if so the replicate stops at its next report (``TrialPruned``
raised inside ``ctx.report``) and the trial ends PRUNED. Pruning is off by default.

Both rules are *replicate-aware*: a configuration's value at step ``s`` is the mean, over
its replicates that have reached ``s``, of each replicate's best value up to ``s`` (apps
keep the best epoch, so the running best is what a training would return if stopped
there). It is compared with the other configurations' values at the same step, so one
lucky or unlucky seed does not decide alone.

* :class:`MedianPruner`: after ``warmup_steps``, prune when the value is worse than the
  median of the other configurations' values at the same step (at least ``min_trials``
  of them).
* :class:`ASHAPruner`: asynchronous successive halving. Rungs at
  ``min_steps * reduction_factor**k``; when a replicate reaches a rung, its configuration
  continues only if it ranks in the best ``1 / reduction_factor`` of the configurations
  that have reached that rung so far (the first one always continues).

Once pruned, every replicate of the configuration stops (running ones at their next
report, waiting ones never start). A configuration that already completed a training is
never pruned (e.g. the incumbent topped up by adaptive replication).

:class:`PruningMonitor` is the driver-side bookkeeping (curves, decisions, pruned trials).
Pure numpy/stdlib: importing it is light.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from abc import ABC, abstractmethod
from typing import Any, Callable, Mapping, Optional, Sequence

from .trial import State, Trial

logger = logging.getLogger("uqhpo")

__all__ = ["Pruner", "MedianPruner", "ASHAPruner", "Curves", "PruningMonitor", "make_pruner", "pruner_spec",
           "PRUNER_NAMES", "pick_metric", "pruner_options", "as_observed"]

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


class Curves:
    """Learning curves of one metric, per trial and replicate (latest attempt only).

    Values are stored multiplied by ``sign`` (+1 minimise, -1 maximise): lower is better.
    """

    def __init__(self, metric: Optional[str] = None, sign: float = 1.0):
        self.metric, self.sign = metric, float(sign)
        # trial -> replicate index -> (attempt, [(step, signed value)] in report order)
        self._series: dict[int, dict[int, tuple[int, list[tuple[int, float]]]]] = {}

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
        """Rebuild from stored records (the latest attempt of each replicate, unless it failed)."""
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

    def value_at(self, trial: int, step: int) -> Optional[float]:
        """Mean over the trial's replicates that reached ``step`` of their best value up to
        it (signed: lower is better); None when no replicate reached it. A replicate that
        reports less often counts with its best up to its first report at or after ``step``."""
        vals = []
        for _, series in self._series.get(int(trial), {}).values():
            best = math.inf
            for s, v in series:
                best = min(best, v)
                if s >= step:
                    vals.append(best)
                    break
        return sum(vals) / len(vals) if vals else None

    def others_at(self, trial: int, step: int) -> list[float]:
        """``value_at(t, step)`` of every other trial that reached ``step``."""
        out = []
        for t in self._series:
            if t != int(trial):
                v = self.value_at(t, step)
                if v is not None:
                    out.append(v)
        return out


class Pruner(ABC):
    """Decides from the curves whether a configuration should stop."""

    name = "base"
    metric: Optional[str] = None

    @abstractmethod
    def prune(self, trial: int, index: int, step: int, curves: Curves) -> Optional[str]:
        """Called after replicate ``index`` of ``trial`` reported ``step`` (already in
        ``curves``). Returns the reason when the trial should stop, else None."""

    @abstractmethod
    def to_dict(self) -> dict:
        """The spec :func:`make_pruner` rebuilds this pruner from (stored with the study)."""


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


class MedianPruner(Pruner):
    """The median rule, over replicate means.

    Args:
        warmup_steps: reports at steps up to and including this are never pruned.
        min_trials: other configurations that must have reached the step before any
            decision there.
        metric: the reported metric to read (default: "loss", else "val_loss", else the
            only one reported).
    """

    name = "median"

    def __init__(self, warmup_steps: int = 0, min_trials: int = 5, metric: Optional[str] = None):
        self.warmup_steps, self.min_trials, self.metric = int(warmup_steps), int(min_trials), metric

    def prune(self, trial: int, index: int, step: int, curves: Curves) -> Optional[str]:
        if step <= self.warmup_steps:
            return None
        own = curves.value_at(trial, step)
        others = curves.others_at(trial, step)
        if own is None or len(others) < max(self.min_trials, 1):
            return None
        median = _median(others)
        if own > median:
            return (f"replicate mean {curves.sign * own:.4g} at step {step} worse than the median "
                    f"{curves.sign * median:.4g} of {len(others)} other configurations")
        return None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "warmup_steps": self.warmup_steps, "min_trials": self.min_trials}
        if self.metric is not None:
            out["metric"] = self.metric
        return out


class ASHAPruner(Pruner):
    """Asynchronous successive halving over replicate means.

    Args:
        min_steps: the first rung (steps a configuration always gets).
        reduction_factor: rungs at ``min_steps * reduction_factor**k``; at each, the best
            ``1 / reduction_factor`` of the configurations that reached it continue.
        min_trials: configurations (itself included) that must have reached a rung before
            anything is pruned there (1: pure ASHA, the first one always continues).
        metric: the reported metric to read (see :class:`MedianPruner`).
    """

    name = "asha"

    def __init__(self, min_steps: int = 1, reduction_factor: int = 3, min_trials: int = 1,
                 metric: Optional[str] = None):
        self.min_steps, self.reduction_factor = int(min_steps), int(reduction_factor)
        self.min_trials, self.metric = int(min_trials), metric

    def rungs_between(self, low: float, high: int) -> list[int]:
        """Rung steps ``r`` with ``low < r <= high``, ascending."""
        out, r = [], self.min_steps
        while r <= high:
            if r > low:
                out.append(r)
            r *= self.reduction_factor
        return out

    def prune(self, trial: int, index: int, step: int, curves: Curves) -> Optional[str]:
        steps = curves.steps(trial, index)
        previous = steps[-2] if len(steps) >= 2 else -math.inf
        for rung in self.rungs_between(previous, step):   # judged once, when the replicate reaches the rung
            own = curves.value_at(trial, rung)
            if own is None:
                continue
            others = curves.others_at(trial, rung)
            n = len(others) + 1
            if n < max(self.min_trials, 1):
                continue
            keep = max(1, n // self.reduction_factor)
            rank = sum(1 for v in others if v < own)
            if rank >= keep:
                return (f"replicate mean {curves.sign * own:.4g} at rung {rung} ranks {rank + 1} of {n}; "
                        f"only the best {keep} continue")
        return None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "min_steps": self.min_steps,
                               "reduction_factor": self.reduction_factor, "min_trials": self.min_trials}
        if self.metric is not None:
            out["metric"] = self.metric
        return out


# -- specs ------------------------------------------------------------------------------------
# name -> (class, {option: (minimum, kind)}) ; kind "int" or "str"
_OPTIONS: dict[str, tuple[type[Pruner], dict[str, tuple[Optional[int], str]]]] = {
    "median": (MedianPruner, {"warmup_steps": (0, "int"), "min_trials": (1, "int"), "metric": (None, "str")}),
    "asha": (ASHAPruner, {"min_steps": (1, "int"), "reduction_factor": (2, "int"), "min_trials": (1, "int"),
                          "metric": (None, "str")}),
}
PRUNER_NAMES = ("none", *_OPTIONS)


def pruner_options(name: str) -> tuple[str, ...]:
    """The option keys pruner ``name`` takes (none for "none" or an unknown name)."""
    return tuple(_OPTIONS[name][1]) if name in _OPTIONS else ()


def make_pruner(spec: Any) -> Optional[Pruner]:
    """A pruner from its spec: None / "none" / ``{"name": "none"}`` (off), a name, a dict
    ``{"name": ..., option: value}``, or a :class:`Pruner` (returned unchanged).

    Raises:
        ValueError: one line naming the bad key, e.g. ``pruner.warmup_steps: must be an
            integer >= 0, got -1``.
    """
    if spec is None or isinstance(spec, Pruner):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(f"pruner: expected a name or a mapping with 'name', got {type(spec).__name__}")
    options = dict(spec)
    name = options.pop("name", None)
    if name is None:
        raise ValueError(f"pruner.name: required key is missing (one of {', '.join(PRUNER_NAMES)})")
    if name == "none":
        if options:
            raise ValueError(f"pruner.{sorted(options)[0]}: unknown key for name: none")
        return None
    if name not in _OPTIONS:
        raise ValueError(f"pruner.name: unknown pruner {name!r}; choose one of {', '.join(PRUNER_NAMES)}")
    cls, allowed = _OPTIONS[str(name)]
    for key, value in options.items():
        if key not in allowed:
            raise ValueError(f"pruner.{key}: unknown key for name: {name} (keys: {', '.join(allowed)})")
        minimum, kind = allowed[key]
        if kind == "str":
            if not isinstance(value, str) or not value:
                raise ValueError(f"pruner.{key}: must be a metric name, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            raise ValueError(f"pruner.{key}: must be an integer >= {minimum}, got {value!r}")
    return cls(**options)


def pruner_spec(pruner: Any) -> Optional[dict]:
    """The JSON spec stored with a study (validated); None when pruning is off."""
    made = make_pruner(pruner)
    return None if made is None else made.to_dict()


def as_observed(trial: Trial) -> Trial:
    """How a strategy sees a trial: a PRUNED one as if its replicates that carry a value
    (the best value reported before the stop) had completed with it; unchanged otherwise.

    Why the last value and not "failed": a pruned config's best-so-far value is an upper
    bound of what its training would have reached (the curves only go down), and the
    pruner found it worse than its peers at the same step. Fitted with that value the
    surrogate marks the region as poor and the search moves on; treated as failed (not
    modelled, only its exact point avoided) the search kept proposing neighbours of pruned
    configs (the template quick study: 9 of 16 trials pruned in one corner of the space).
    A pruned trial without any value (stopped before its first report) stays failed.
    """
    if trial.state != State.PRUNED:
        return trial

    def view(r: Any) -> Any:
        usable = (r.state in (State.PRUNED, State.COMPLETE) and r.loss is not None and math.isfinite(r.loss))
        return dataclasses.replace(r, state=State.COMPLETE if usable else State.FAILED)

    return dataclasses.replace(trial, replicates=[view(r) for r in trial.replicates])


# -- the driver's bookkeeping -----------------------------------------------------------------
class PruningMonitor:
    """What the driver keeps to prune: the curves, and the trials already pruned.

    Args:
        pruner: the rule.
        sign: +1 when the study minimises, -1 when it maximises.
        refresh_s: the curves are re-read from the storage (reports of other drivers) when
            older than this; the driver's own reports are added at once.
        clock: monotonic seconds (a test may pass a fake one).
    """

    def __init__(self, pruner: Pruner, sign: float = 1.0, refresh_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic):
        self.pruner, self.refresh_s, self.clock = pruner, float(refresh_s), clock
        self.curves = Curves(pruner.metric, sign)
        self.pruned: dict[int, str] = {}     # trial -> reason
        # trials with a completed training are never pruned: a config that finished once keeps
        # its aggregate (e.g. the incumbent topped up by adaptive replication)
        self.completed: set[int] = set()
        self._synced = -math.inf

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
        self._synced = self.clock()

    def report(self, trial: int, index: int, attempt: int, step: int, metrics: Mapping[str, Any]) -> bool:
        """Record one report; True when the trial is (now or already) pruned."""
        if trial in self.pruned:
            return True
        if not self.curves.add(trial, index, attempt, step, metrics) or trial in self.completed:
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
