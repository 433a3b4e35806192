"""The Dask executor on a real LocalCluster: conformance, a study, a killed worker."""
from __future__ import annotations

import pytest

pytest.importorskip("distributed", reason="needs dask.distributed (pip install 'uqhpo[dask]')")

import uqhpo  # noqa: E402
from uqhpo.executors.dask import DaskExecutor  # noqa: E402
from uqhpo.testing.executors import EXECUTOR_CHECKS  # noqa: E402

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def cluster():
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40)
    yield c
    c.close()


@pytest.mark.parametrize("check", EXECUTOR_CHECKS, ids=lambda c: c.__name__)
def test_dask_executor_conformance(cluster, check):
    check(lambda: DaskExecutor(address=cluster.scheduler_address))


def test_a_study_completes_on_its_own_local_cluster(tmp_path):
    study = uqhpo.create_study(task="uqhpo.testing.tasks:quadratic", strategy="random", seed=2, n_replicates=2,
                               storage=f"sqlite:///{tmp_path / 's.db'}")
    study.optimize("uqhpo.testing.tasks:quadratic", n_trials=4, executor="dask", workers=2)
    trials = study.all_trials()
    assert len(trials) == 4 and all(t.state.value == "COMPLETE" for t in trials)
    assert sum(len(t.losses) for t in trials) == 8


def test_killed_worker_loses_nothing(tmp_path, cluster):
    """Trial 1's first attempt SIGKILLs its Dask worker; it is re-queued with the same seed."""
    study = uqhpo.create_study(space={"x": uqhpo.Real(0.0, 1.0)}, strategy="random", seed=5,
                               storage=f"sqlite:///{tmp_path / 's.db'}")
    for x in (0.1, 0.2, 0.3):
        study.enqueue({"x": x})
    study.optimize("uqhpo.testing.tasks:kill_first_attempt", n_trials=3,
                   executor=DaskExecutor(address=cluster.scheduler_address))
    trials = study.all_trials()
    assert all(t.state.value == "COMPLETE" for t in trials)
    attempts = [r for t in trials for r in t.replicates]
    lost = [r for r in attempts if r.state.value == "FAILED"]
    assert lost and all("lost" in (r.error or "") for r in lost)
    for r in lost:   # the retry kept the seed
        retry = [a for a in attempts if (a.trial, a.index) == (r.trial, r.index) and a.attempt == r.attempt + 1]
        assert retry and retry[0].seed == r.seed and retry[0].state.value == "COMPLETE"


def test_a_config_with_a_scheduler_address_runs_through_the_cli(cluster, tmp_path, monkeypatch):
    from uqhpo.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(
        "task: uqhpo.testing.tasks:quadratic\nstrategy: {name: rbf, n_initial: 3}\nbudget: {trials: 4}\n"
        f"uq: {{replicates: 2}}\nexecutor: {{name: dask, address: '{cluster.scheduler_address}'}}\n"
        "storage: study.db\nstudy: viaconfig\nseed: 2\n")
    assert main(["run", "s.yaml"]) == 0
    trials = uqhpo.load_study("sqlite:///study.db", "viaconfig").all_trials()
    assert len(trials) == 4 and all(len(t.losses) == 2 for t in trials)
