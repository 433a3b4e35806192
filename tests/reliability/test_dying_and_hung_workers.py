"""Cases 1 and 2 of the reliability issue: workers that die, trainings that hang."""
from __future__ import annotations

from reliability_helpers import n_complete, replicate_states


def test_killed_workers_fail_their_replicates_and_the_study_goes_on(ws):
    """A task that SIGKILLs / ``os._exit``s its worker for some trials: those replicates are
    FAILED with the reason after the retries, the other trials complete, exit 0."""
    cfg = ws.config(task="hostile_tasks:kills_some_trials", executor={"name": "local", "workers": 2},
                    budget={"trials": 5})
    proc = ws.cli("run", cfg, "--quiet", check_rc=0)
    assert "Traceback" not in proc.stderr and "__main__" not in proc.stderr
    rows = replicate_states(ws.root / "study.db")
    assert not [r for r in rows if r[3] in ("RUNNING", "WAITING")]
    killed = [r for r in rows if r[0] == 1]
    exited = [r for r in rows if r[0] == 2]
    assert [r[3] for r in killed] == ["FAILED"] * 3 and [r[3] for r in exited] == ["FAILED"] * 3  # 2 retries
    assert all("SIGKILL" in r[4] and "possibly out of memory" in r[4] for r in killed)
    assert all("exit code 3" in r[4] for r in exited)
    assert {r[0] for r in rows if r[3] == "COMPLETE"} == {0, 3, 4}
    assert "best of study" in proc.stdout


def test_hung_replicate_is_stopped_at_its_time_limit(ws):
    """``budget.replicate_timeout``: the hung training is FAILED "timed out after 1 s", its
    slot refilled, the other trials complete."""
    cfg = ws.config(task="hostile_tasks:hangs_on_trial_one", executor={"name": "local", "workers": 2},
                    budget={"trials": 3, "replicate_timeout": 1})
    ws.cli("run", cfg, "--quiet", check_rc=0)
    rows = replicate_states(ws.root / "study.db")
    hung = [r for r in rows if r[0] == 1]
    assert [r[3] for r in hung] == ["FAILED"] * 3
    assert all(r[4].startswith("timed out after 1 s") for r in hung)
    assert n_complete(ws.root / "study.db") == 2


def test_time_budget_stops_running_work_and_requeues_it(tmp_path):
    """``optimize(timeout=)`` returns on time although every training hangs; what ran is
    re-queued (WAITING), nothing stays RUNNING, and no retry is used up."""
    import uqhpo

    study = uqhpo.create_study(task="hostile_tasks:always_slow", strategy="random", seed=0,
                               storage=f"sqlite:///{tmp_path}/s.db")
    study.optimize("hostile_tasks:always_slow", n_trials=4, executor="local", workers=2, timeout=1.0)
    rows = replicate_states(tmp_path / "s.db")
    assert not [r for r in rows if r[3] == "RUNNING"]
    stopped = [r for r in rows if r[3] == "FAILED"]
    assert stopped and all("time budget" in r[4] for r in stopped)
    assert len([r for r in rows if r[3] == "WAITING"]) == len(stopped)


def test_serial_replicate_timeout(tmp_path):
    """In-process (serial) trainings are stopped by the same limit."""
    import uqhpo

    study = uqhpo.create_study(task="hostile_tasks:hangs_on_trial_one", strategy="random", seed=0)
    study.optimize("hostile_tasks:hangs_on_trial_one", n_trials=2, replicate_timeout=0.5, max_retries=0)
    [hung] = [r for r in study.all_trials()[1].replicates]
    assert hung.state.value == "FAILED" and hung.error.startswith("timed out after 0.5 s")
    assert study.all_trials()[0].state.value == "COMPLETE"
