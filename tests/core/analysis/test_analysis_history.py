"""The best-so-far curve behind the convergence plot."""
from __future__ import annotations

import pytest


def test_convergence_history_running_best_and_band():
    from uqhpo.analysis.history import convergence_history
    from uqhpo.trial import State, TrialSummary

    def ft(number, mean, std, state=State.COMPLETE):
        return TrialSummary(number=number, config={}, value=mean + std, mean=mean, std=std, n=3, state=state)

    trials = [ft(2, 1.0, 0.5), ft(0, 3.0, 0.1), ft(1, 2.0, 0.1), ft(3, 0.5, 2.0), ft(4, 0.1, 0.1, State.FAILED)]
    h = convergence_history(trials)
    assert h.numbers.tolist() == [0, 1, 2, 3]                 # sorted, the failed one dropped
    assert h.best_values.tolist() == pytest.approx([3.1, 2.1, 1.5, 1.5])
    assert h.best_numbers.tolist() == [0, 1, 2, 2]             # trial 3 has the lower mean but a worse objective
    low, high = h.band
    assert low.tolist() == pytest.approx([3.0, 2.0, 1.0, 1.0]) and high.tolist() == pytest.approx([3.2, 2.2, 2.0, 2.0])
    assert convergence_history(trials, "maximize").best_numbers.tolist() == [0, 0, 0, 0]
    assert len(convergence_history([])) == 0
