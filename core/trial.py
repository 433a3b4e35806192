"""Records of trials and replicates, and the observation view strategies see.

A *trial* is one hyperparameter configuration. It is evaluated by ``k`` *replicates*
(trainings with different seeds). A replicate that fails or is lost is retried as a
new *attempt*: finished records are never changed, a retry is a new row with the same
(trial, index) and ``attempt + 1``.
"""
from __future__ import annotations

import enum
import math
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Optional

import numpy as np


class State(str, enum.Enum):
    WAITING = "WAITING"    # created, not yet claimed by a worker
    RUNNING = "RUNNING"    # claimed; carries a heartbeat
    COMPLETE = "COMPLETE"  # finished with a finite loss
    FAILED = "FAILED"      # raised, or returned NaN/inf; error text stored
    STALE = "STALE"        # heartbeat expired (worker or driver died); a retry was queued
    PRUNED = "PRUNED"      # stopped early by the study's pruner; ``loss`` holds its last best value

    @property
    def finished(self) -> bool:
        return self in (State.COMPLETE, State.FAILED, State.STALE, State.PRUNED)


#: attempts that count as spent trainings whatever their error (FAILED ones count unless interrupted)
_SPENT_STATES = frozenset({State.WAITING, State.RUNNING, State.COMPLETE, State.PRUNED})
#: error prefix of attempts closed by Ctrl-C/SIGTERM/time budget (``uqhpo.lifecycle.INTERRUPTED``)
_INTERRUPTED = "interrupted"


def counts_as_training(r: Replicate) -> bool:
    """Whether attempt ``r`` counts against a budget in trainings (see ``Trial.trainings_spent``;
    the SQLite storage mirrors this rule in SQL)."""
    return r.state in _SPENT_STATES or (r.state == State.FAILED and not (r.error or "").startswith(_INTERRUPTED))


@dataclass
class Replicate:
    """One training of a trial's config (one attempt of replicate ``index``)."""

    trial: int
    index: int
    attempt: int
    seed: int
    state: State = State.WAITING
    loss: Optional[float] = None
    metrics: dict = field(default_factory=dict)
    runtime: Optional[float] = None      # seconds of training
    error: Optional[str] = None          # traceback or reason
    worker: Optional[str] = None
    heartbeat: Optional[float] = None    # unix time of last sign of life
    started: Optional[float] = None
    finished: Optional[float] = None
    reports: list = field(default_factory=list)  # [(step, {metric: value})] from ctx.report


@dataclass
class Trial:
    """A configuration and all attempts of its replicates."""

    number: int
    config: dict
    n_replicates: int
    replicates: list[Replicate] = field(default_factory=list)
    created: Optional[float] = None
    user_attrs: dict = field(default_factory=dict)

    def latest(self) -> dict[int, Replicate]:
        """Replicate index -> its latest attempt."""
        out: dict[int, Replicate] = {}
        for r in self.replicates:
            if r.index not in out or r.attempt > out[r.index].attempt:
                out[r.index] = r
        return out

    def trainings_spent(self) -> int:
        """Trainings this trial used or reserved (what a budget in trainings counts): every
        replicate attempt WAITING, RUNNING, COMPLETE, PRUNED or FAILED, not attempts closed
        as interrupted nor STALE ones (their re-queued retry is the attempt that counts)."""
        return sum(1 for r in self.replicates if counts_as_training(r))

    def waiting(self) -> list[Replicate]:
        """Latest attempts still WAITING (what an ask/tell user must evaluate), by index."""
        return sorted((r for r in self.latest().values() if r.state == State.WAITING), key=lambda r: r.index)

    @property
    def losses(self) -> np.ndarray:
        """``(m,)`` finite losses of COMPLETE replicates, ordered by index."""
        done = sorted((r for r in self.replicates if r.state == State.COMPLETE), key=lambda r: r.index)
        return np.array([r.loss for r in done], dtype=float)

    @property
    def state(self) -> State:
        """Derived: PRUNED when every replicate index has a finished latest attempt and one of
        them was pruned (the configuration was stopped early: its aggregate is incomplete);
        COMPLETE when all finished and at least one completed; FAILED when all finished and
        none completed; RUNNING when any is running; else WAITING."""
        latest = self.latest()
        states = [latest[i].state if i in latest else State.WAITING for i in range(self.n_replicates)]
        if all(s in (State.COMPLETE, State.FAILED, State.PRUNED) for s in states):
            if any(s == State.PRUNED for s in states):
                return State.PRUNED
            return State.COMPLETE if any(s == State.COMPLETE for s in states) else State.FAILED
        if any(s == State.RUNNING for s in states):
            return State.RUNNING
        return State.WAITING

    @property
    def finished(self) -> bool:
        return self.state in (State.COMPLETE, State.FAILED, State.PRUNED)


@dataclass(frozen=True)
class Observations:
    """What a strategy sees: finished configs and their aggregate objective (minimised).

    Attributes:
        configs: n completed configs.
        values: ``(n,)`` aggregate objective (lower is better), e.g. mean + kappa*std.
        variances: ``(n,)`` variance of each value's estimate (0 for single draws).
        failed: configs whose every replicate failed (avoid, do not model).
        n_evaluations: completed replicates so far (the budget clock of decay schedules).
        budget: the number of configs the study may evaluate in all (``n_trials`` of
            ``optimize``), or None when unknown; budget-aware schedules (DYCORS) read it
            here instead of taking it at construction.
        seen_keys: ``Space.key`` of every config in ``configs`` and ``failed`` when the
            producer has them at hand (the study's trial cache keeps them per trial, so a
            strategy need not re-encode a long history; a read-only view that follows the
            study, so use it during the call it was made for); None: computed from the configs.
    """

    configs: list = field(default_factory=list)
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    variances: np.ndarray = field(default_factory=lambda: np.zeros(0))
    failed: list = field(default_factory=list)
    n_evaluations: int = 0
    budget: Optional[int] = None
    seen_keys: Optional[AbstractSet[str]] = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.configs)

    @property
    def best_index(self) -> Optional[int]:
        finite = np.isfinite(self.values)
        if not finite.any():
            return None
        return int(np.argmin(np.where(finite, self.values, math.inf)))


@dataclass(frozen=True)
class TrialSummary:
    """Read-only aggregate of one trial (finished or not) over its completed replicates:
    what ``Study.best``, ``Study.trials`` and ``Study.summarize`` return."""

    number: int
    config: dict
    value: float          # aggregate objective (in the study's direction)
    mean: float
    std: float
    n: int                # completed replicates
    losses: tuple = ()
    metrics: dict = field(default_factory=dict)   # mean of each numeric metric over replicates
    state: State = State.COMPLETE


#: former name of :class:`TrialSummary`, kept so that old scripts still import
FrozenTrial = TrialSummary
