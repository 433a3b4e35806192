"""Projected time to finish and the campaign counts of `uqhpo status`, with exact inputs."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

import uqhpo
from uqhpo.analysis.campaign import campaign_status, expected_residual, format_status, project_finish
from uqhpo.cli import main
from uqhpo.testing.tasks import quadratic
from uqhpo.trial import Replicate, State, Trial


def test_projection_of_a_study_half_way():
    # mean 20 s, sd 10 s from 3 runtimes; running for 5 s -> 15 s left on average of the
    # runtimes longer than 5 (5, 15, 25); running for 25 s -> only the 30 s one is longer: 5 s
    p = project_finish([10.0, 20.0, 30.0], [5.0, 25.0], waiting=2, remaining_trials=3, replicates_per_trial=2,
                       workers=4)
    assert p is not None and (p.replicates_left, p.running, p.workers) == (8, 2, 4)
    assert p.seconds == pytest.approx((8 * 20 + 15 + 5) / 4)                 # 45 s
    assert p.sd == pytest.approx(10 * math.sqrt(8 + 64 / 3) / 4)


def test_projection_bounds_the_tail_and_the_workers():
    # one replicate left and 8 workers: one worker does it, in one mean runtime
    p = project_finish([10.0, 20.0, 30.0], [], waiting=0, remaining_trials=1, replicates_per_trial=1, workers=8)
    assert p is not None and p.workers == 1 and p.seconds == pytest.approx(20.0)
    assert p.sd == pytest.approx(10 * math.sqrt(1 + 1 / 3))
    # nothing left to start: residuals mean(9, 99) = 54 and mean(8, 98) = 53; the longest decides
    p = project_finish([10.0, 100.0], [1.0, 2.0], waiting=0, remaining_trials=-5, replicates_per_trial=3, workers=2)
    assert p is not None and p.replicates_left == 0 and p.seconds == pytest.approx(54.0) and p.sd == 0
    assert expected_residual(np.array([10.0, 100.0]), 200.0) == 0.0          # overdue: no evidence
    assert project_finish([], [1.0], 3, 3, 1, 2) is None                              # nothing to go by
    one = project_finish([12.0], [], 2, 0, 1, 2)
    assert one is not None and one.seconds == 12.0 and math.isnan(one.sd)


def _rep(trial, index, attempt, state, runtime=None, started=None, heartbeat=None, error=None):
    return Replicate(trial=trial, index=index, attempt=attempt, seed=index, state=state, runtime=runtime,
                     started=started, heartbeat=heartbeat, error=error, loss=1.0 if state is State.COMPLETE else None)


def test_campaign_counts_stale_heartbeats_and_failures_by_reason():
    now = 10_000.0
    trials = [
        Trial(0, {}, 2, [_rep(0, 0, 0, State.COMPLETE, 10.0), _rep(0, 1, 0, State.FAILED, error="x\nMemoryError: oom"),
                         _rep(0, 1, 1, State.COMPLETE, 30.0)]),
        Trial(1, {}, 2, [_rep(1, 0, 0, State.RUNNING, started=now - 5, heartbeat=now - 1),
                         _rep(1, 1, 0, State.RUNNING, started=now - 500, heartbeat=now - 400)]),   # stale
        Trial(2, {}, 2, [_rep(2, 0, 0, State.WAITING), _rep(2, 1, 0, State.FAILED, error="MemoryError: oom"),
                         _rep(2, 1, 1, State.WAITING)]),
    ]
    st = campaign_status(trials, n_trials=5, replicates_per_trial=2, now=now, stale_after=120.0, workers=3)
    assert (st.running, st.stale, st.waiting, st.finished, st.failed) == (1, 1, 2, 2, 2)
    assert st.failures == [(2, "MemoryError: oom")]
    # the stale one is counted as waiting: 2 + 1 + (5 - 3 trials) x 2 = 7 to start; one running 5 s (15 s left)
    expected = project_finish([10.0, 30.0], [5.0], 3, 2, 2, 3)
    assert st.projection == expected and expected is not None and expected.replicates_left == 7
    text = "\n".join(format_status(st))
    assert "campaign: 1 running, 1 with a stale heartbeat, 2 waiting, 2 finished, 2 failed" in text
    assert "failed 2x: MemoryError: oom" in text and "for 7 replicate(s) to start and 1 running, on 3 worker(s)" in text
    # without a budget there is nothing to project
    assert campaign_status(trials, None, 2, now, 120.0).projection is None


def test_status_prints_the_campaign_lines(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 's.db'}"
    study = uqhpo.create_study(quadratic.search_space(), strategy="random", seed=3,
                               storage=db, name="c", n_replicates=2)
    study.optimize("uqhpo.testing.tasks:quadratic", n_trials=3)
    study.ask()                                        # a 4th trial, 2 replicates waiting
    study.storage.claim("c", "gone-worker", now=time.time() - 1000)     # one of them: a dead worker's
    assert main(["status", str(tmp_path / "s.db"), "--study", "c"]) == 0
    out = capsys.readouterr().out
    assert "campaign: 0 running, 1 with a stale heartbeat, 1 waiting, 6 finished, 0 failed" in out
    assert "projected time to finish: about" in out and "for 2 replicate(s) to start and 0 running" in out
