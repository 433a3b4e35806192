"""What to do next, decided from the trial records alone.

:func:`next_work` is the only decision of the optimize loop and of ``Study.ask``: it is
a pure function (no storage, no clock), so it is unit-tested on hand-made records. The
loop turns its answer into storage writes and jobs:

* :class:`Extend` - adaptive replication: queue one more training of a config that could
  be the best (the incumbent first) before proposing anything new, so a lucky single draw
  is challenged at once;
* :class:`Propose` - room for ``n`` new configs within the budgets;
* :class:`Wait` - a budget is used up but trials are still unfinished;
* :class:`Done` - a budget is used up and every trial has finished.

Two budgets may apply at once: configs (``n_trials``) and trainings (``max_trainings``,
every replicate attempt that is waiting, running or finished; failed attempts count, an
attempt closed as interrupted or stale does not, its re-queued retry does). Counting the
waiting and running ones makes the decision safe for concurrent workers: what one has
reserved, the next one sees as spent.

Replicates already WAITING in storage (retries, re-queued stale work, the rest of a
trial spread over workers) are run before asking the policy; it does not see them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

from .settings import StudySettings
from .summary import cached_any, incumbent, summarize_complete
from .trial import Trial

__all__ = ["Extend", "Propose", "Wait", "Done", "Work", "next_work", "top_up_target", "trainings_spent",
           "expected_configs"]


@dataclass(frozen=True)
class Extend:
    """Queue one more replicate of trial ``trial``. ``replicates`` is how many it had when
    the decision was taken: the extension is conditional on it (a concurrent driver that
    extended the trial first wins, see ``Storage.extend_trial``)."""

    trial: int
    replicates: Optional[int] = field(default=None, compare=False)


@dataclass(frozen=True)
class Propose:
    """Up to ``n`` new configs may be added (``n`` is None without any budget)."""

    n: Optional[int]


@dataclass(frozen=True)
class Wait:
    """Nothing new to start: a budget is reached, some trials are unfinished."""


@dataclass(frozen=True)
class Done:
    """The study is complete: ``reason`` says why, for the log."""

    reason: str


Work = Union[Extend, Propose, Wait, Done]


#: attempt states that are a training used or reserved (a pruned one ran, if not to the end)


def trainings_spent(trials: Sequence[Trial]) -> int:
    """Trainings used or reserved: every replicate attempt that is WAITING, RUNNING,
    COMPLETE, PRUNED or FAILED (not attempts closed as interrupted, nor STALE ones: their
    re-queued retry is the attempt that counts; see :meth:`Trial.trainings_spent`). Kept
    per changed trial by the study's cache, so a decision does not walk every replicate."""
    cache = cached_any(trials)
    if cache is not None:
        return int(cache.trainings_spent)
    return sum(t.trainings_spent() for t in trials)


def expected_configs(trials: Sequence[Trial], settings: StudySettings) -> Optional[int]:
    """The number of configs the study will evaluate in all, for budget-aware schedules
    (DYCORS): ``n_trials``, or with only a training budget the configs so far plus what the
    trainings left can still buy (one per config with adaptive replication, else
    ``n_replicates``); None without a budget."""
    if settings.max_trainings is None:
        return settings.n_trials
    left = max(int(settings.max_trainings) - trainings_spent(trials), 0)
    estimate = len(trials) + left // settings.replicates_per_new_trial
    return estimate if settings.n_trials is None else min(estimate, int(settings.n_trials))


def top_up_target(trials: Sequence[Trial], settings: StudySettings, left: Optional[int] = None) -> Optional[int]:
    """Adaptive replication: the number of the COMPLETE trial to train once more, or None.

    1. the incumbent (best aggregate objective) with fewer than ``n_replicates`` trainings:
       the recommendation never rests on one lucky draw;
    2. when ``left`` (trainings left in the budget) is too small to confirm a new config
       (``left < n_replicates``), the best config below ``n_replicates``, so the last
       trainings sharpen the comparison instead of adding an unconfirmed draw.

    (Also topping up every config whose mean could still be the best was tried and made the
    noisy benchmarks worse: benchmarks/README.md, "UQ with a budget in trainings".)
    Directions are handled by comparing ``sign * value``. Pending trials are not candidates
    (their replicates are still to come).
    """
    if not settings.adaptive or settings.n_replicates <= 1:
        return None
    cap = int(settings.n_replicates)
    best = incumbent(trials, settings)
    if best is None:
        return None
    if best.n_replicates < cap:
        return best.number
    if left is None or left >= cap:
        return None
    records = {t.number: t for t in trials}
    short = [s for s in summarize_complete(trials, settings) if records[s.number].n_replicates < cap]
    if not short:
        return None
    return min(short, key=lambda s: settings.sign * s.value).number


def next_work(trials: Sequence[Trial], settings: StudySettings, n_trials: Optional[int],
              max_trainings: Optional[int] = None) -> Work:
    """The next thing to do.

    Args:
        trials: every trial record of the study, by number.
        settings: the study's settings (adaptive replication, kappa, direction).
        n_trials: the trial budget (configs in the study, counting earlier runs), or None.
        max_trainings: the training budget (replicate attempts in the study, counting
            earlier runs, see :func:`trainings_spent`), or None. A new config needs room
            for all its first trainings (``n_replicates``, or one with adaptive replication);
            with adaptive replication the last ``n_replicates - 1`` trainings are kept to
            confirm a config that becomes the best.

    Returns:
        Extend, Propose, Wait or Done (see the module docstring).
    """
    left = None if max_trainings is None else int(max_trainings) - trainings_spent(trials)
    if left is None or left > 0:
        target = top_up_target(trials, settings, left)
        if target is not None:
            replicates = next(t.n_replicates for t in trials if t.number == target)
            return Extend(target, replicates)
    if n_trials is None and left is None:
        return Propose(None)
    rooms = []
    if n_trials is not None:
        rooms.append(int(n_trials) - len(trials))
    if left is not None:
        rooms.append(_room_for_trainings(trials, settings, left))
    room = min(rooms)
    if room > 0:
        return Propose(room)
    if any(not t.finished for t in trials):
        return Wait()
    if n_trials is not None and len(trials) >= n_trials:
        return Done(f"all {len(trials)} trials of the budget of {n_trials} have finished")
    return Done(f"the budget of {max_trainings} trainings is used ({trainings_spent(trials)} spent)")


def _room_for_trainings(trials: Sequence[Trial], settings: StudySettings, left: int) -> int:
    """New configs the ``left`` trainings pay for. Fixed replication: ``left // n_replicates``
    (a config gets all its trainings or none). Adaptive: one training each, keeping the last
    ``n_replicates - 1`` to confirm a new incumbent; once only those are left and nothing is
    pending or to top up, they go to new configs so the budget is spent exactly."""
    if left <= 0:
        return 0
    if not settings.adaptive or settings.n_replicates <= 1:
        return left // settings.replicates_per_new_trial
    reserve = int(settings.n_replicates) - 1
    if left > reserve:
        return left - reserve
    return left if all(t.finished for t in trials) else 0
