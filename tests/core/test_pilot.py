"""`uqhpo pilot`: the summary of a pilot's trials and a real pilot through the CLI."""
from __future__ import annotations

import math

import pytest

import uqhpo
from uqhpo.cli import main
from uqhpo.pilot import pilot_trials, summarise_pilot
from uqhpo.trial import Replicate, State, Trial


def _trial(number: int, runtimes: list[float], errors: list[str]) -> Trial:
    reps = [Replicate(trial=number, index=i, attempt=0, seed=i, state=State.COMPLETE, loss=1.0, runtime=rt)
            for i, rt in enumerate(runtimes)]
    reps += [Replicate(trial=number, index=9, attempt=k, seed=9, state=State.FAILED, error=e)
             for k, e in enumerate(errors)]
    return Trial(number=number, config={"x": 0.1}, n_replicates=len(runtimes), replicates=reps)


def test_projection_and_failures_grouped_by_reason():
    trials = [_trial(0, [10.0, 20.0], ["Traceback ...\n  line 3\nMemoryError: out of memory"]),
              _trial(1, [30.0, 40.0], ["MemoryError: out of memory", "worker killed by SIGKILL"])]
    report = summarise_pilot(trials, full_trials=100, n_replicates=2, workers=4)
    assert report.finished == 4 and report.failed == 3
    assert report.runtime_mean == pytest.approx(25.0) and report.runtime_max == 40.0
    assert report.failures == [(2, "MemoryError: out of memory"), (1, "worker killed by SIGKILL")]
    # 25 s x 2 replicates x 100 trials = 5000 s of work, on 4 workers 1250 s
    assert report.projected_worker_hours == pytest.approx(5000 / 3600)
    assert report.projected_hours == pytest.approx(1250 / 3600)
    text = "\n".join(report.lines(100, 4))
    assert "20.8 min of wall time" in text and "failed 2x: MemoryError" in text


def test_pilot_size_and_bad_fraction():
    assert pilot_trials(100, 0.05) == 5 and pilot_trials(10, 0.01) == 1
    with pytest.raises(ValueError, match="--fraction"):
        pilot_trials(10, 1.5)
    assert math.isnan(summarise_pilot([], 10, 2, 1).runtime_mean)


def test_pilot_runs_its_own_study_and_prints_the_projection(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(
        "task: uqhpo.testing.tasks:flaky\nstrategy: {name: random}\nbudget: {trials: 40}\n"
        "uq: {replicates: 2}\nexecutor: {name: serial}\nstorage: study.db\nstudy: main\nseed: 4\n")
    assert main(["pilot", "s.yaml", "--fraction", "0.1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "pilot: 4 trial(s) x 2 replicate(s): 8 finished, 8 failed" in out
    assert "failed 8x: RuntimeError: flaky test task: first attempt fails" in out
    assert "full study (40 trials, 1 worker(s))" in out
    storage = uqhpo.get_storage("sqlite:///study.db")
    assert storage.get_study("main") is None       # the real study's budget is untouched
    assert len(uqhpo.load_study("sqlite:///study.db", "main-pilot").all_trials()) == 4
