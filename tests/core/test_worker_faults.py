"""A worker process SIGKILLed mid-training: its replicate is re-queued and the study completes."""
from __future__ import annotations

import uqhpo
from uqhpo.trial import State


def test_killed_worker_is_requeued_and_study_completes(tmp_path):
    task = "uqhpo.testing.tasks:kill_first_attempt"
    study = uqhpo.create_study(task=task, strategy="random", seed=0, storage=f"sqlite:///{tmp_path}/s.db")
    study.optimize(task, n_trials=3, n_replicates=2, executor="local", workers=2)
    trials = study.all_trials()
    assert len(trials) == 3
    for t in trials:
        assert t.state == State.COMPLETE and len(t.losses) == 2
        lost = [r for r in t.replicates if r.state == State.FAILED]
        assert len(lost) == 1 and lost[0].index == 0 and lost[0].attempt == 0
        assert "worker lost" in lost[0].error and "-9" in lost[0].error
        retried = [r for r in t.replicates if r.index == 0 and r.state == State.COMPLETE]
        assert retried[0].attempt == 1 and retried[0].seed == lost[0].seed  # same seed on retry
