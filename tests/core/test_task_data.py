"""Task data travels with the jobs: the Python API and the CLI configure workers alike."""
from __future__ import annotations

import os

import pytest

import uqhpo
from uqhpo.executors.worker import configure_once, resolve_task
from uqhpo.testing.tasks import DataEcho


def _completed(study):
    return [r for t in study.all_trials() for r in t.replicates if r.state.value == "COMPLETE"]


def test_process_executor_study_from_python_uses_the_given_data(tmp_path):
    study = uqhpo.create_study(task="uqhpo.testing.tasks:data_echo", strategy="random", seed=3,
                               storage=f"sqlite:///{tmp_path / 's.db'}", n_replicates=2)
    study.optimize("uqhpo.testing.tasks:data_echo", n_trials=3, executor="local", workers=2,
                   data={"offset": 7.5})
    reps = _completed(study)
    assert len(reps) == 6
    assert {r.metrics["offset"] for r in reps} == {7.5}           # every worker saw the data
    assert all(r.metrics["pid"] != os.getpid() for r in reps)      # ... in other processes
    assert all(r.loss >= 7.5 for r in reps)
    # configured once per worker process, not once per job
    assert all(r.metrics["configure_calls"] == 1 for r in reps)


def test_without_data_workers_use_the_task_defaults(tmp_path):
    study = uqhpo.create_study(task="uqhpo.testing.tasks:data_echo", strategy="random", seed=3)
    study.optimize("uqhpo.testing.tasks:data_echo", n_trials=2, executor="local", workers=1)
    assert {r.metrics["offset"] for r in _completed(study)} == {None}


def test_serial_executor_configures_a_task_object_too():
    task = DataEcho()
    study = uqhpo.create_study(task=task, strategy="random", seed=0)
    study.optimize(task, n_trials=2, data={"offset": 2.0})
    assert {r.metrics["offset"] for r in _completed(study)} == {2.0}
    assert task.configure_calls == 1                               # driver once; workers skip same data


def test_bad_data_is_refused_before_anything_runs():
    study = uqhpo.create_study(task="uqhpo.testing.tasks:data_echo", strategy="random")
    with pytest.raises(ValueError, match="unknown data key 'offst'"):
        study.optimize("uqhpo.testing.tasks:data_echo", n_trials=2, data={"offst": 1.0})
    assert study.all_trials() == []


def test_a_task_without_data_refuses_data():
    study = uqhpo.create_study(task="uqhpo.testing.tasks:quadratic", strategy="random")
    with pytest.raises(ValueError, match="takes no data"):
        study.optimize("uqhpo.testing.tasks:quadratic", n_trials=1, data={"path": "x.h5"})


def test_worker_reconfigures_only_when_the_data_changes():
    task = DataEcho()
    configure_once(task, {"offset": 1.0})
    configure_once(task, {"offset": 1.0})
    assert task.configure_calls == 1
    configure_once(task, {"offset": 2.0})
    assert (task.configure_calls, task.offset) == (2, 2.0)
    same = resolve_task("uqhpo.testing.tasks:data_echo", {"offset": 3.0})
    assert same is resolve_task("uqhpo.testing.tasks:data_echo") and same.offset == 3.0


def test_a_closure_on_a_process_executor_gets_one_clear_error():
    study = uqhpo.create_study(space={"x": uqhpo.Real(0, 1)}, strategy="random")
    with pytest.raises(ValueError, match="needs an importable task"):
        study.optimize(lambda c, s: c["x"], n_trials=1, executor="local")


def test_uqhpo_import_stays_free_of_config_in_workers():
    import subprocess
    import sys
    code = ("import sys, uqhpo.executors.worker as w; w.resolve_task('uqhpo.testing.tasks:data_echo', {'offset': 1});"
            "bad = [m for m in ('pydantic', 'uqhpo.config', 'torch', 'yaml') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
