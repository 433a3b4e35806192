"""The pure next-work policy, on hand-made trial records (no storage, no study)."""
from __future__ import annotations

from uqhpo.policy import Done, Extend, Propose, Wait, next_work, top_up_target
from uqhpo.settings import StudySettings
from uqhpo.trial import Replicate, State, Trial


def _trial(number, losses, n_replicates=None, states=None):
    """A trial whose replicate i finished with losses[i] (None = still WAITING)."""
    n = n_replicates or len(losses)
    reps = []
    for i in range(n):
        loss = losses[i] if i < len(losses) else None
        state = (states or {}).get(i, State.WAITING if loss is None else State.COMPLETE)
        reps.append(Replicate(trial=number, index=i, attempt=0, seed=i, state=state, loss=loss))
    return Trial(number=number, config={"x": float(number)}, n_replicates=n, replicates=reps)


FIXED = StudySettings(n_replicates=3)
ADAPTIVE = StudySettings(n_replicates=3, adaptive=True)


def test_room_in_the_budget_proposes_that_many():
    assert next_work([_trial(0, [1.0, 1.0, 1.0])], FIXED, 5) == Propose(4)
    assert next_work([], FIXED, 2) == Propose(2)


def test_no_budget_always_proposes():
    assert next_work([_trial(0, [1.0])], FIXED, None) == Propose(None)


def test_budget_used_waits_for_unfinished_then_is_done():
    running = [_trial(0, [1.0, 1.0, 1.0]), _trial(1, [1.0, None, None])]
    assert next_work(running, FIXED, 2) == Wait()
    finished = [_trial(0, [1.0, 1.0, 1.0]), _trial(1, [2.0, 2.0, 2.0])]
    assert isinstance(next_work(finished, FIXED, 2), Done)


def test_failed_trials_count_as_finished():
    failed = _trial(1, [None], states={0: State.FAILED})
    assert isinstance(next_work([_trial(0, [1.0]), failed], FIXED, 2), Done)


def test_adaptive_tops_up_the_incumbent_before_proposing():
    trials = [_trial(0, [2.0]), _trial(1, [0.5])]            # trial 1 is the lucky single draw
    assert next_work(trials, ADAPTIVE, 10) == Extend(1)
    assert top_up_target(trials, ADAPTIVE) == 1


def test_adaptive_tops_up_even_when_the_budget_is_used():
    trials = [_trial(0, [2.0]), _trial(1, [0.5])]
    assert next_work(trials, ADAPTIVE, 2) == Extend(1)


def test_adaptive_with_a_fully_replicated_incumbent_proposes():
    trials = [_trial(0, [0.5, 0.6, 0.55]), _trial(1, [2.0])]
    assert next_work(trials, ADAPTIVE, 10) == Propose(8)


def test_adaptive_picks_the_incumbent_by_objective_not_by_mean():
    # same mean; trial 0 has a large spread, so with kappa = 1 trial 1 is the incumbent
    trials = [_trial(0, [0.0, 2.0, 1.0]), _trial(1, [1.0, 1.0])]
    assert next_work(trials, ADAPTIVE.replace(n_replicates=3), 10) == Extend(1)


def test_adaptive_in_the_maximizing_direction():
    settings = ADAPTIVE.replace(direction="maximize")
    trials = [_trial(0, [2.0]), _trial(1, [0.5])]
    assert next_work(trials, settings, 10) == Extend(0)


def test_fixed_replication_never_extends():
    assert top_up_target([_trial(0, [0.1])], FIXED) is None
