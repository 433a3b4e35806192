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

Fair to slow starters (``budget_key``, off by default): when the number of steps is itself
a hyperparameter (e.g. ``epochs``), a configuration is compared with the others at the same
*fraction of its own budget*, not at the same step: ASHA's rungs are at
``E / reduction_factor**k`` of each configuration's ``E`` steps (k >= 1, at least
``min_steps``), the median rule reads the others at ``s / E`` of theirs. A long training is
then judged after the same share of its budget as a short one, not after the same number
of steps (a slow-starting 25-epoch config is not ranked at step 2 against 6-epoch ones).

Benefit of the doubt (``margin: k``, default 0 = off): a configuration whose replicate
mean is within ``k`` standard errors of the cutoff (the median of the others, or the worst
value that still continues at an ASHA rung) is not pruned. The standard error is that of
its own replicates at the step (sample std / sqrt(n)); with a single replicate there, the
pooled spread of the other configurations' replicates (see :meth:`Curves.standard_error`).

Once pruned, every replicate of the configuration stops (running ones at their next
report, waiting ones never start). A configuration that already completed a training is
never pruned (e.g. the incumbent topped up by adaptive replication).

:class:`PruningMonitor` is the driver-side bookkeeping (curves, decisions, pruned trials);
it and :class:`Curves` live in ``uqhpo._pruning_curves``. Pure stdlib: importing it is light.
"""
from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from typing import Any, Mapping, Optional, Sequence

from ._pruning_curves import DEFAULT_METRICS, Curves, PruningMonitor, pick_metric
from .trial import State, Trial

__all__ = ["Pruner", "MedianPruner", "ASHAPruner", "Curves", "PruningMonitor", "make_pruner", "pruner_spec",
           "PRUNER_NAMES", "pick_metric", "pruner_options", "as_observed", "DEFAULT_METRICS"]


class Pruner(ABC):
    """Decides from the curves whether a configuration should stop.

    ``budget_key`` (None: off) names the config key holding each configuration's number of
    steps (e.g. ``epochs``); the rules then compare configurations at the same fraction of
    their own budget instead of at the same step. ``margin`` (0: off) spares a configuration
    whose value is within ``margin`` standard errors of the cutoff.
    """

    name = "base"
    metric: Optional[str] = None
    budget_key: Optional[str] = None
    margin: float = 0.0

    @abstractmethod
    def prune(self, trial: int, index: int, step: int, curves: Curves) -> Optional[str]:
        """Called after replicate ``index`` of ``trial`` reported ``step`` (already in
        ``curves``). Returns the reason when the trial should stop, else None."""

    @abstractmethod
    def to_dict(self) -> dict:
        """The spec :func:`make_pruner` rebuilds this pruner from (stored with the study)."""

    def _optional(self, out: dict) -> dict:
        for key in ("metric", "budget_key"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.margin:
            out["margin"] = self.margin
        return out

    def _slack(self, curves: Curves, trial: int, step: int, fraction: Optional[float]) -> float:
        """How far above the cutoff ``trial``'s value at ``step`` may lie and still continue:
        ``margin`` standard errors (0 when the margin is off or no spread is known)."""
        if not self.margin:
            return 0.0
        se = curves.standard_error(trial, step, fraction)
        return self.margin * se if se is not None else 0.0

    def _margin_note(self, slack: float) -> str:
        return f" (+ margin {self.margin:g} SE = {slack:.3g})" if self.margin else ""


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


class MedianPruner(Pruner):
    """The median rule, over replicate means.

    Args:
        warmup_steps: reports at steps up to and including this are never pruned.
        min_trials: other configurations that must have reached the step (or the fraction
            of their budget) before any decision there.
        metric: the reported metric to read (default: "loss", else "val_loss", else the
            only one reported).
        budget_key: see :class:`Pruner`; with it the value at step ``s`` of a configuration
            of ``E`` steps is compared with the median of the others at ``s / E`` of theirs.
        margin: prune only when the value exceeds the median by more than ``margin``
            standard errors (0: any excess prunes).
    """

    name = "median"

    def __init__(self, warmup_steps: int = 0, min_trials: int = 5, metric: Optional[str] = None,
                 budget_key: Optional[str] = None, margin: float = 0.0):
        self.warmup_steps, self.min_trials, self.metric = int(warmup_steps), int(min_trials), metric
        self.budget_key, self.margin = budget_key, float(margin)

    def prune(self, trial: int, index: int, step: int, curves: Curves) -> Optional[str]:
        if step <= self.warmup_steps:
            return None
        own = curves.value_at(trial, step)
        fraction: Optional[float] = None
        if self.budget_key is None:
            others, where = curves.others_at(trial, step), f"step {step}"
        else:
            budget = curves.budget(trial)
            if budget is None:
                return None
            fraction = min(1.0, step / budget)
            others, where = curves.others_at_fraction(trial, fraction), f"step {step} ({fraction:.0%} of its budget)"
        if own is None or len(others) < max(self.min_trials, 1):
            return None
        median = _median(others)
        if own > median:
            slack = self._slack(curves, trial, step, fraction)
            if own > median + slack:
                return (f"replicate mean {curves.sign * own:.4g} at {where} worse than the median "
                        f"{curves.sign * median:.4g} of {len(others)} other configurations{self._margin_note(slack)}")
        return None

    def to_dict(self) -> dict:
        return self._optional({"name": self.name, "warmup_steps": self.warmup_steps, "min_trials": self.min_trials})


class ASHAPruner(Pruner):
    """Asynchronous successive halving over replicate means.

    Args:
        min_steps: the first rung (steps a configuration always gets).
        reduction_factor: rungs at ``min_steps * reduction_factor**k``; at each, the best
            ``1 / reduction_factor`` of the configurations that reached it continue.
        min_trials: configurations (itself included) that must have reached a rung before
            anything is pruned there (1: pure ASHA, the first one always continues).
        metric: the reported metric to read (see :class:`MedianPruner`).
        budget_key: see :class:`Pruner`; with it the rungs of a configuration of ``E`` steps
            are at the fractions ``reduction_factor**-k`` (k >= 1) of ``E`` that leave it at
            least ``min_steps`` steps, and it is ranked against the others at the same
            fraction of their own budgets.
        margin: prune only when the value exceeds the worst value that continues at the rung
            (the ``keep``-th best of the others) by more than ``margin`` standard errors
            (0: plain ranking).
    """

    name = "asha"

    def __init__(self, min_steps: int = 1, reduction_factor: int = 3, min_trials: int = 1,
                 metric: Optional[str] = None, budget_key: Optional[str] = None, margin: float = 0.0):
        self.min_steps, self.reduction_factor = int(min_steps), int(reduction_factor)
        self.min_trials, self.metric, self.budget_key = int(min_trials), metric, budget_key
        self.margin = float(margin)

    def rungs_between(self, low: float, high: int) -> list[int]:
        """Rung steps ``r`` with ``low < r <= high``, ascending (rungs in steps)."""
        out, r = [], self.min_steps
        while r <= high:
            if r > low:
                out.append(r)
            r *= self.reduction_factor
        return out

    def fraction_rungs(self, budget: float) -> list[float]:
        """Rung fractions of a configuration of ``budget`` steps, ascending: ``1 / eta**k``
        (k >= 1, eta = ``reduction_factor``) with ``budget / eta**k >= min_steps``."""
        out, k = [], 1
        while budget / self.reduction_factor ** k >= self.min_steps - 1e-9:
            out.append(self.reduction_factor ** -k)
            k += 1
        return out[::-1]

    def prune(self, trial: int, index: int, step: int, curves: Curves) -> Optional[str]:
        steps = curves.steps(trial, index)
        previous = steps[-2] if len(steps) >= 2 else -math.inf
        # rungs passed since the previous report, judged once: (rung step, None or fraction)
        if self.budget_key is None:
            rungs: list[tuple[int, Optional[float]]] = [(r, None) for r in self.rungs_between(previous, step)]
        else:
            budget = curves.budget(trial)
            if budget is None:
                return None
            rungs = []
            for f in self.fraction_rungs(budget):
                at = curves.step_at(trial, f)
                if at is not None and previous < at <= step:
                    rungs.append((at, f))
        for rung, fraction in rungs:
            own = curves.value_at(trial, rung)
            if own is None:
                continue
            others = curves.others_at(trial, rung) if fraction is None else curves.others_at_fraction(trial, fraction)
            n = len(others) + 1
            if n < max(self.min_trials, 1):
                continue
            keep = max(1, n // self.reduction_factor)
            rank = sum(1 for v in others if v < own)
            if rank >= keep:
                # the cutoff is the keep-th best of the others: own continues while within the slack of it
                slack = self._slack(curves, trial, rung, fraction)
                if slack and own <= sorted(others)[keep - 1] + slack:
                    continue
                where = f"rung {rung}" if fraction is None else f"rung {rung} ({fraction:.0%} of its budget)"
                return (f"replicate mean {curves.sign * own:.4g} at {where} ranks {rank + 1} of {n}; "
                        f"only the best {keep} continue{self._margin_note(slack)}")
        return None

    def to_dict(self) -> dict:
        return self._optional({"name": self.name, "min_steps": self.min_steps,
                               "reduction_factor": self.reduction_factor, "min_trials": self.min_trials})


# -- specs ------------------------------------------------------------------------------------
# name -> (class, {option: (minimum, kind)}) ; kind "int", "float" or "str"
_OPTIONS: dict[str, tuple[type[Pruner], dict[str, tuple[Optional[int], str]]]] = {
    "median": (MedianPruner, {"warmup_steps": (0, "int"), "min_trials": (1, "int"), "metric": (None, "str"),
                              "budget_key": (None, "str"), "margin": (0, "float")}),
    "asha": (ASHAPruner, {"min_steps": (1, "int"), "reduction_factor": (2, "int"), "min_trials": (1, "int"),
                          "metric": (None, "str"), "budget_key": (None, "str"), "margin": (0, "float")}),
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
                what = "a config key" if key == "budget_key" else "a metric name"
                raise ValueError(f"pruner.{key}: must be {what}, got {value!r}")
        elif kind == "float":
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or (minimum is not None and value < minimum)):
                raise ValueError(f"pruner.{key}: must be a finite number >= {minimum}, got {value!r}")
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
