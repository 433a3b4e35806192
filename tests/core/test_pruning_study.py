"""Live reports and pruning through whole studies: serial, simulated and local processes,
on real SQLite / journal / in-memory storages."""
from __future__ import annotations

import sqlite3
import textwrap
import threading
import time

import pytest

import uqhpo
from uqhpo.config import validate_config
from uqhpo.config_schema import ConfigError
from uqhpo.storage import get_storage
from uqhpo.storage.base import StorageError, StudyRecord
from uqhpo.trial import State

SPACE = {"x": uqhpo.Real(0.0, 1.0)}
# x per enqueued trial; the curve is x + 1/step, so configs rank by x at every step
XS = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.05]


def curve_task(config, ctx):
    value = None
    for step in range(1, 7):
        value = config["x"] + 1.0 / step
        ctx.report(step, loss=value)
    return value


def _study(storage=None, pruner=None, **kw):
    study = uqhpo.create_study(SPACE, strategy="random", seed=3, n_replicates=2, storage=storage, pruner=pruner, **kw)
    for x in XS:
        study.enqueue({"x": x})
    return study


def test_median_pruner_serial_exact_outcome_on_sqlite(tmp_path):
    study = _study(f"sqlite:///{tmp_path / 's.db'}", {"name": "median", "warmup_steps": 1, "min_trials": 3})
    study.optimize(curve_task, n_trials=len(XS))
    trials = uqhpo.load_study(f"sqlite:///{tmp_path / 's.db'}").all_trials()
    # trials 0-2 lack 3 others; 0.3 and 0.2 and 0.05 beat the median; 0.7 and 0.8 do not (at step 2)
    assert [t.state for t in trials] == [State.COMPLETE] * 4 + [State.PRUNED, State.COMPLETE, State.PRUNED,
                                                                 State.COMPLETE]
    for number in (4, 6):
        first, second = sorted(trials[number].replicates, key=lambda r: r.index)
        assert (first.state, first.error, [s for s, _ in first.reports]) == (State.PRUNED, "pruned at step 2", [1, 2])
        assert first.loss == pytest.approx(XS[number] + 0.5)          # its best reported value
        assert (second.state, second.reports, second.loss) == (State.PRUNED, [], None)   # never started
    complete = [r for t in trials for r in t.replicates if r.state == State.COMPLETE]
    assert len(complete) == 12 and all([s for s, _ in r.reports] == [1, 2, 3, 4, 5, 6] for r in complete)
    assert study.best.number == 7 and len(study.trials) == 6
    obs = study.observations()
    # pruned configs are modelled with their best value before the stop (x + 1/2, above every
    # final x + 1/6), in trial order; their trainings do not count as completed evaluations
    assert [c["x"] for c in obs.configs] == XS and obs.failed == [] and obs.n_evaluations == 12
    values = dict(zip([c["x"] for c in obs.configs], obs.values))
    assert values[0.7] == pytest.approx(1.2) and values[0.8] == pytest.approx(1.3)
    assert values[0.9] == pytest.approx(0.9 + 1 / 6) and values[0.9] < values[0.7]


def test_pruned_configs_are_not_proposed_again_and_the_budget_counts_them():
    # the grid hands out the first point not evaluated, failed or pending: a pruned point
    # that did not count as failed would be handed out again
    grid = [0.9, 0.5, 0.1, 0.7, 0.3, 0.05]
    study = uqhpo.create_study(SPACE, strategy="grid", strategy_options={"values": {"x": grid}}, seed=0,
                               pruner={"name": "asha", "min_steps": 1, "reduction_factor": 2})
    study.optimize(curve_task, n_trials=6)
    trials = study.all_trials()
    assert [t.config["x"] for t in trials] == grid
    # rungs 1, 2, 4 keep the best half: 0.7 ranks 3rd of 4 at rung 1 (keep 2); 0.3 ranks 2nd
    # of 5 at rung 1 and 2 (keep 2), 2nd of 4 at rung 4; 0.5 is 1st of 2
    assert [t.state for t in trials] == [State.COMPLETE, State.COMPLETE, State.COMPLETE, State.PRUNED,
                                         State.COMPLETE, State.COMPLETE]


def test_pruning_is_off_by_default_and_reports_are_stored_once(tmp_path):
    study = _study(f"journal:///{tmp_path / 's.jsonl'}")
    assert study.pruner is None
    study.optimize(curve_task, n_trials=len(XS))
    reps = [r for t in study.all_trials() for r in t.replicates]
    assert all(r.state == State.COMPLETE for r in reps) and len(reps) == 16
    assert all([s for s, _ in r.reports] == [1, 2, 3, 4, 5, 6] for r in reps)   # live, not again at the end


def test_simulated_executor_prunes_and_the_study_completes():
    study = _study(pruner={"name": "median", "warmup_steps": 1, "min_trials": 3})
    study.optimize(curve_task, n_trials=len(XS), executor="simulated", workers=3)
    trials = study.all_trials()
    states = [t.state for t in trials]
    assert len(trials) == len(XS) and set(states) <= {State.COMPLETE, State.PRUNED}
    assert State.PRUNED in states and states[7] == State.COMPLETE   # the best config survives
    assert not [r for t in trials for r in t.latest().values() if not r.state.finished]


@pytest.mark.parametrize("url", ["memory", "sqlite", "journal"])
def test_storages_accept_pruned_and_keep_it_unchanged(tmp_path, url):
    storage = get_storage(None if url == "memory" else f"{url}:///{tmp_path / 'x.db'}")
    storage.create_study(StudyRecord(name="s", direction="minimize", seed=0, space={}, space_fingerprint="f"))
    storage.add_trial("s", {"x": 1}, [11, 12])
    storage.claim("s", "w", trial=0, index=0)
    storage.add_report("s", 0, 0, 0, 1, {"loss": 2.0})
    storage.finish("s", 0, 0, 0, State.PRUNED, loss=2.0, runtime=1.5, error="pruned at step 1")
    storage.finish("s", 0, 1, 0, State.PRUNED)   # a waiting replicate of a pruned trial
    storage.add_report("s", 0, 0, 0, 2, {"loss": 1.0})   # late: ignored
    trial = storage.get_trial("s", 0)
    r0, r1 = sorted(trial.replicates, key=lambda r: r.index)
    assert (r0.state, r0.loss, r0.runtime, r0.error, r0.reports) == (State.PRUNED, 2.0, 1.5, "pruned at step 1",
                                                                      [(1, {"loss": 2.0})])
    assert (r1.state, r1.loss) == (State.PRUNED, None) and trial.state == State.PRUNED and trial.finished
    with pytest.raises(StorageError, match="already PRUNED"):
        storage.finish("s", 0, 0, 0, State.COMPLETE, loss=1.0)
    with pytest.raises(StorageError, match="cannot retry"):
        storage.retry("s", 0, 0)
    assert storage.requeue_stale("s", 0.0) == []


def test_sqlite_trigger_refuses_changes_to_a_pruned_row_and_replaces_the_old_trigger(tmp_path):
    path = tmp_path / "x.db"
    get_storage(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)   # make it a file written before PRUNED existed, with the old trigger
    conn.executescript("""
        DROP TRIGGER finished_replicates_never_change_v2;
        CREATE TRIGGER finished_replicates_never_change BEFORE UPDATE ON replicates
            WHEN OLD.state IN ('COMPLETE', 'FAILED', 'STALE') BEGIN SELECT RAISE(ABORT, 'old'); END;""")
    conn.close()
    storage = get_storage(f"sqlite:///{path}")
    storage.create_study(StudyRecord(name="s", direction="minimize", seed=0, space={}, space_fingerprint="f"))
    storage.add_trial("s", {"x": 1}, [11])
    storage.finish("s", 0, 0, 0, State.PRUNED, loss=3.0)
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="finished records never change"):
        conn.execute("UPDATE replicates SET loss = 0 WHERE study = 's'")
    triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                           "AND name LIKE 'finished%'")]
    conn.close()
    assert triggers == ["finished_replicates_never_change_v2"]


def test_create_study_refuses_a_bad_pruner_and_yaml_names_the_key(tmp_path):
    with pytest.raises(ValueError, match="pruner.min_trials: must be an integer >= 1, got 0"):
        uqhpo.create_study(SPACE, pruner={"name": "median", "min_trials": 0})
    base = {"task": "uqhpo.testing.tasks:reporting", "budget": {"trials": 2}, "study": "s"}
    cases = [({"name": "median", "warmup_steps": -2}, "pruner.warmup_steps: input should be greater"),
             ({"name": "median", "reduction_factor": 3}, "pruner: reduction_factor applies to name: asha"),
             ({"name": "asha", "min_step": 3}, "pruner.min_step: unknown key (did you mean 'min_steps'?)"),
             ("successive", "pruner.name: input should be 'none', 'median' or 'asha'")]
    for pruner, message in cases:
        with pytest.raises(ConfigError) as err:
            validate_config({**base, "pruner": pruner}, base_dir=tmp_path)
        assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)
    cfg = validate_config({**base, "pruner": {"name": "asha", "min_steps": 2}}, base_dir=tmp_path)
    assert cfg.pruner.spec() == {"name": "asha", "min_steps": 2}
    assert validate_config(base, base_dir=tmp_path).pruner.spec() == {}
    cfg = validate_config({**base, "pruner": {"name": "median", "budget_key": "epochs"}}, base_dir=tmp_path)
    assert cfg.pruner.spec() == {"name": "median", "budget_key": "epochs"}
    with pytest.raises(ConfigError, match="pruner.budget_key: "):
        validate_config({**base, "pruner": {"name": "asha", "budget_key": ""}}, base_dir=tmp_path)


def budget_task(config, ctx):
    """A curve that depends only on the fraction trained: ``x + 0.3 / (step / epochs)``, so
    a long training is worse than a short one at the same step but equal at the same share."""
    value = None
    for step in range(1, config["epochs"] + 1):
        value = config["x"] + 0.3 * config["epochs"] / step
        ctx.report(step, loss=value)
    return value


@pytest.mark.parametrize("budget_key", [None, "epochs"])
def test_budget_key_lets_a_long_slow_starting_config_finish(tmp_path, budget_key):
    space = {"x": uqhpo.Real(0.0, 1.0), "epochs": uqhpo.Integer(2, 20)}
    pruner = {"name": "median", "warmup_steps": 2, "min_trials": 3}
    if budget_key is not None:
        pruner["budget_key"] = budget_key
    study = uqhpo.create_study(space, strategy="random", seed=0, n_replicates=2, pruner=pruner,
                               storage=f"sqlite:///{tmp_path / 's.db'}")
    for x, epochs in ((0.5, 6), (0.6, 6), (0.7, 6), (0.0, 18)):
        study.enqueue({"x": x, "epochs": epochs})
    study.optimize(budget_task, n_trials=4)
    long = study.all_trials()[3]
    if budget_key is None:   # at step 3: 0.0 + 1.8 against the short ones' 1.1, 1.2, 1.3
        assert long.state == State.PRUNED and study.best.config["x"] == 0.5
        assert {r.error for r in long.replicates} >= {"pruned at step 3"}
    else:                    # judged at the same share of its 18 steps: never worse than the median
        assert long.state == State.COMPLETE and study.best.number == 3
        assert all([s for s, _ in r.reports] == list(range(1, 19)) for r in long.replicates)


# -- local worker processes -------------------------------------------------------------------
TASKS = '''
import os, time

def gate(config, ctx):
    """Reports step 1, waits until the test saw it in the storage, reports step 2."""
    ctx.report(1, loss=config["x"])
    for _ in range(6000):
        if os.path.exists(RELEASE):
            break
        time.sleep(0.01)
    ctx.report(2, loss=config["x"] / 2)
    return config["x"] / 2

def endless(config, ctx):
    """A good config (x < 1) trains 3 steps; a bad one keeps reporting until it is stopped."""
    steps = 3 if config["x"] < 1 else 3000
    for step in range(1, steps + 1):
        ctx.report(step, loss=config["x"])
        time.sleep(0.01)
    return config["x"]
'''


@pytest.fixture
def task_module(tmp_path, monkeypatch):
    """A task module importable by path in spawned workers (they inherit sys.path)."""
    release = tmp_path / "release"
    (tmp_path / "prune_tasks_mod.py").write_text(f"RELEASE = {str(release)!r}\n" + textwrap.dedent(TASKS))
    monkeypatch.syspath_prepend(str(tmp_path))
    return release


def test_local_reports_are_in_sqlite_while_the_replicate_still_runs(tmp_path, task_module):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    study = uqhpo.create_study({"x": uqhpo.Real(0.0, 1.0)}, strategy="random", seed=0, storage=url)
    study.enqueue({"x": 0.5})
    seen: list = []

    def watch() -> None:   # another connection, as `uqhpo status` / `uqhpo plot` would read
        reader = get_storage(url)
        for _ in range(6000):
            [trial] = reader.get_trials("default")
            [r] = trial.replicates
            if r.reports:
                seen.append((r.state, list(r.reports)))
                break
            time.sleep(0.01)
        task_module.touch()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        study.optimize("prune_tasks_mod:gate", n_trials=1, executor="local", workers=1)
    finally:
        task_module.touch()
        watcher.join()
    assert seen == [(State.RUNNING, [(1, {"loss": 0.5})])]
    [r] = study.all_trials()[0].replicates
    assert (r.state, r.reports) == (State.COMPLETE, [(1, {"loss": 0.5}), (2, {"loss": 0.25})])


def test_local_pruned_replicate_stops_and_the_study_completes_with_exact_counts(tmp_path, task_module):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    study = uqhpo.create_study({"x": uqhpo.Real(0.0, 10.0)}, strategy="random", seed=0, storage=url, n_replicates=2,
                               pruner={"name": "median", "warmup_steps": 0, "min_trials": 1})
    for x in (0.1, 0.1, 5.0):
        study.add_trial({"x": x})
    study.optimize("prune_tasks_mod:endless", n_trials=3, executor="local", workers=2, replicates_parallel=False)
    trials = uqhpo.load_study(url).all_trials()
    assert [t.state for t in trials] == [State.COMPLETE, State.COMPLETE, State.PRUNED]
    first, second = sorted(trials[2].replicates, key=lambda r: r.index)
    assert first.state == State.PRUNED and first.error.startswith("pruned at step") and first.loss == 5.0
    assert 1 <= len(first.reports) < 3000   # stopped long before its 3000 steps
    assert (second.state, second.error, second.reports) == (State.PRUNED, "pruned before it started", [])
    assert all(len(r.reports) == 3 for t in trials[:2] for r in t.replicates)


def test_uqhpo_worker_stores_reports_itself_and_prunes(tmp_path):
    """`uqhpo worker` holds the storage: it stores reports and decides pruning in-process."""
    import subprocess
    import sys

    (tmp_path / "w.yaml").write_text(textwrap.dedent("""\
        task: uqhpo.testing.tasks:reporting
        space:
          x: {type: real, low: 0.0, high: 1.0}
          steps: {type: fixed, value: 6}
        strategy: {name: random}
        budget: {trials: 8}
        uq: {replicates: 1}
        pruner: {name: asha, min_steps: 1, reduction_factor: 2}
        storage: study.db
        study: w
        seed: 4
        """))
    done = subprocess.run([sys.executable, "-m", "uqhpo.cli", "worker", "w.yaml", "--quiet"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    trials = uqhpo.load_study(f"sqlite:///{tmp_path / 'study.db'}", "w").all_trials()
    assert len(trials) == 8 and {t.state for t in trials} == {State.COMPLETE, State.PRUNED}
    for t in trials:
        [r] = t.replicates
        steps = [s for s, _ in r.reports]
        assert steps == (list(range(6)) if r.state == State.COMPLETE else list(range(len(steps))))
        assert r.state == State.COMPLETE or len(steps) < 6
