"""What one trial record contributes to a study's cache (:mod:`uqhpo.trial_cache`).

:class:`TrialEntry` is derived from one record in one pass over its replicates: its state,
whether it waits, its completed trainings and the signed losses a strategy sees. The
functions below are the per-record pieces the cache combines (restricting a config to the
space, the pooled-spread part, a rough objective to rank many trials at once).
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from .trial import State, Trial, TrialSummary
from .uq import Aggregate

#: the trial states of a finished trial (``Trial.finished``)
_TRIAL_FINISHED = (State.COMPLETE, State.FAILED, State.PRUNED)


class TrialEntry:
    """What one trial record contributes: its state, whether it waits, its completed
    trainings and the signed losses a strategy sees (a COMPLETE trial's, or a PRUNED one's
    as ``pruners.as_observed`` shows it), whose ``uq.aggregate`` is computed when first
    needed. One pass over the replicates gives what ``Trial.state``, ``Trial.waiting`` and
    ``Trial.losses`` give (tests compare them). Only COMPLETE trials are ``ranked`` for the
    incumbent (as ``summarize_complete``)."""

    __slots__ = ("trial", "state", "finished", "waiting", "n_eval", "spent", "losses", "ranked", "failed", "agg",
                 "summary")

    def __init__(self, trial: Trial, sign: float):
        self.trial = trial
        latest: dict[int, Any] = {}
        done = []
        for r in trial.replicates:
            prev = latest.get(r.index)
            if prev is None or r.attempt > prev.attempt:
                latest[r.index] = r
            if r.state is State.COMPLETE:
                done.append(r)
        self.state, self.waiting = state, _ = trial_state(latest, trial.n_replicates)
        self.finished = state in _TRIAL_FINISHED
        self.n_eval = len(done)  # the budget clock: every completed training, also of unfinished trials
        self.spent = trial.trainings_spent()  # what a budget in trainings counts
        self.losses: Optional[list[float]] = None  # what the strategy sees; None: not observed
        self.ranked = state is State.COMPLETE
        self.failed = state is State.FAILED  # (an overflowing aggregate fails too, see TrialCache)
        if state is State.PRUNED:
            from .pruners import as_observed  # noqa: PLC0415 - pruning is rare; pruners imports only .trial

            view = as_observed(trial)
            seen = view.state
            done = [r for r in view.replicates if r.state is State.COMPLETE]
            self.failed = seen is State.FAILED
        else:
            seen = state
        if seen is State.COMPLETE:
            if len(done) > 1:
                done.sort(key=by_index)  # stored in index order already: a pass that moves nothing
            self.losses = [sign * (math.nan if r.loss is None else r.loss) for r in done]
        self.agg: Optional[Aggregate] = None
        self.summary: Optional[TrialSummary] = None


def by_index(r: Any) -> int:
    return int(r.index)


def trial_state(latest: dict[int, Any], n_replicates: int) -> tuple[State, bool]:
    """``(Trial.state, bool(Trial.waiting()))`` from the latest attempt of each index (one
    pass, no second ``latest()``)."""
    ended = complete = pruned = running = waiting = missing = 0
    for i in range(n_replicates):
        r = latest.get(i)
        missing += r is None
        s = State.WAITING if r is None else r.state
        if s is State.WAITING:
            waiting += r is not None
        elif s is State.COMPLETE:
            complete += 1
            ended += 1
        elif s is State.FAILED:
            ended += 1
        elif s is State.PRUNED:
            pruned += 1
            ended += 1
        elif s is State.RUNNING:
            running += 1
    if len(latest) != n_replicates - missing:  # an index beyond n_replicates (no backend writes one)
        waiting += sum(r.state is State.WAITING for i, r in latest.items() if not 0 <= i < n_replicates)
    if ended == n_replicates:
        state = State.PRUNED if pruned else State.COMPLETE if complete else State.FAILED
    else:
        state = State.RUNNING if running else State.WAITING
    return state, waiting > 0


def restrict(config: dict, params: Sequence[str]) -> dict:
    return {name: config[name] for name in params if name in config}


def pooled_part(trial: Trial) -> Optional[tuple[float, int]]:
    """A trial's term of ``uq.pooled_std``: ``(var * (k - 1), k - 1)``, the same arithmetic."""
    x = trial.losses
    x = x[np.isfinite(x)]
    if x.size < 2:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        return float(x.var(ddof=1)) * (x.size - 1), x.size - 1


def rough_objectives(losses: Sequence[list[float]], kappa: float,
                      prior: Optional[float]) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised ``mean + kappa * std`` of each row of losses, ``(m,)``, and a bound on
    its rounding error, ``(m,)``: equal to ``uq.aggregate`` up to that bound (not bitwise),
    so it only narrows the trials whose exact aggregate decides the incumbent."""
    width = max((len(x) for x in losses), default=1)
    rows = np.full((len(losses), max(width, 1)), np.nan)
    for i, x in enumerate(losses):
        rows[i, :len(x)] = x
    rows[~np.isfinite(rows)] = np.nan
    with np.errstate(all="ignore"):
        k = np.sum(~np.isnan(rows), axis=1)
        mean = np.nansum(rows, axis=1) / np.maximum(k, 1)
        spread = np.nansum((rows - mean[:, None]) ** 2, axis=1) / np.maximum(k - 1, 1)
        std = np.where(k > 1, np.sqrt(spread), 0.0)
        if prior is not None and math.isfinite(prior) and prior > 0:
            std = np.where(k == 1, prior, std)
        rough = np.where(k > 0, mean + kappa * std, np.nan)
        slack = 1e-9 * (np.abs(mean) + abs(kappa) * np.abs(std)) + 1e-300
    return rough, slack
