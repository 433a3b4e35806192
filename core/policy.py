"""What to do next, decided from the trial records alone.

:func:`next_work` is the only decision of the optimize loop and of ``Study.ask``: it is
a pure function (no storage, no clock), so it is unit-tested on hand-made records. The
loop turns its answer into storage writes and jobs:

* :class:`Extend` - adaptive replication: queue one more training of the incumbent
  before proposing anything new, so a lucky single draw is challenged at once;
* :class:`Propose` - room for ``n`` new configs within the trial budget;
* :class:`Wait` - the budget is used up but trials are still unfinished;
* :class:`Done` - the budget is used up and every trial has finished.

Replicates already WAITING in storage (retries, re-queued stale work, the rest of a
trial spread over workers) are run before asking the policy; it does not see them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

from .settings import StudySettings
from .summary import incumbent
from .trial import Trial


@dataclass(frozen=True)
class Extend:
    """Queue one more replicate of trial ``trial`` (the incumbent)."""

    trial: int


@dataclass(frozen=True)
class Propose:
    """Up to ``n`` new configs may be added (``n`` is None without a trial budget)."""

    n: Optional[int]


@dataclass(frozen=True)
class Wait:
    """Nothing new to start: the budget is reached, some trials are unfinished."""


@dataclass(frozen=True)
class Done:
    """The study is complete: ``reason`` says why, for the log."""

    reason: str


Work = Union[Extend, Propose, Wait, Done]


def top_up_target(trials: Sequence[Trial], settings: StudySettings) -> Optional[int]:
    """Adaptive replication: the incumbent's number when it has fewer than
    ``n_replicates`` replicates (it is COMPLETE, so none is pending); else None."""
    if not settings.adaptive or settings.n_replicates <= 1:
        return None
    best = incumbent(trials, settings)
    if best is None or best.n_replicates >= settings.n_replicates:
        return None
    return best.number


def next_work(trials: Sequence[Trial], settings: StudySettings, n_trials: Optional[int]) -> Work:
    """The next thing to do.

    Args:
        trials: every trial record of the study, by number.
        settings: the study's settings (adaptive replication, kappa, direction).
        n_trials: the trial budget (configs in the study, counting earlier runs), or None
            for no budget (``Study.ask``).

    Returns:
        Extend, Propose, Wait or Done (see the module docstring).
    """
    target = top_up_target(trials, settings)
    if target is not None:
        return Extend(target)
    if n_trials is None:
        return Propose(None)
    room = int(n_trials) - len(trials)
    if room > 0:
        return Propose(room)
    if any(not t.finished for t in trials):
        return Wait()
    return Done(f"all {len(trials)} trials of the budget of {n_trials} have finished")
