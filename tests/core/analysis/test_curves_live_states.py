"""Learning curves draw what the storage has live: running and pruned replicates too."""
from __future__ import annotations

from uqhpo.analysis.curves import replicate_series
from uqhpo.analysis.describe import count_states, counts_line
from uqhpo.trial import Replicate, State, Trial


def _replicate(index: int, state: State, steps: int) -> Replicate:
    return Replicate(trial=0, index=index, attempt=0, seed=index, state=state,
                     reports=[(s, {"val_loss": 1.0 / (s + 1) + index}) for s in range(steps)])


def test_running_and_pruned_replicates_are_drawn_failed_and_waiting_are_not():
    trial = Trial(number=0, config={"x": 1.0}, n_replicates=5, replicates=[
        _replicate(0, State.COMPLETE, 4), _replicate(1, State.RUNNING, 2), _replicate(2, State.PRUNED, 1),
        _replicate(3, State.FAILED, 3), _replicate(4, State.WAITING, 0)])
    series = replicate_series(trial, "val_loss")
    assert [sorted(s) for s in series] == [[0, 1, 2, 3], [0, 1], [0]]
    assert series[1][1] == 0.5 + 1


def test_pruned_count_appears_only_when_present():
    assert "PRUNED" not in counts_line(count_states(["COMPLETE", "RUNNING"]))
    assert "PRUNED 2" in counts_line(count_states(["COMPLETE", "PRUNED", "PRUNED"]))


def test_top_k_curves_add_the_trials_still_running():
    from types import SimpleNamespace

    from uqhpo.analysis.curves import learning_curves

    done = Trial(number=0, config={"x": 0.0}, n_replicates=1, replicates=[_replicate(0, State.COMPLETE, 3)])
    worse = Trial(number=1, config={"x": 1.0}, n_replicates=1, replicates=[_replicate(0, State.COMPLETE, 3)])
    live = Trial(number=2, config={"x": 2.0}, n_replicates=1, replicates=[_replicate(0, State.RUNNING, 2)])
    summaries = [SimpleNamespace(number=0, value=0.1), SimpleNamespace(number=1, value=0.5)]
    curves = learning_curves([done, worse, live], summaries, metric="val_loss", top_k=1)
    assert [c.number for c in curves] == [0, 2]
