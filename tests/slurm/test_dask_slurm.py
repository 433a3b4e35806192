"""`executor: {name: dask, cluster: slurm, profile: NAME, jobs: N}`: a dask_jobqueue
SLURMCluster built from a site profile runs a study on the real local Slurm cluster."""
from __future__ import annotations

import pytest

pytest.importorskip("dask_jobqueue", reason="needs dask-jobqueue (pip install 'uqhpo[dask]')")

import uqhpo  # noqa: E402
from uqhpo.config_schema import Config  # noqa: E402
from uqhpo.executors.dask import DaskExecutor  # noqa: E402

INSIDE = """
import os
import time


def inside(config, seed):
    time.sleep(0.5)
    return {"loss": config["x"], "slurm_job": float(os.environ["SLURM_JOB_ID"]), "pid": float(os.getpid())}
"""


def test_the_config_names_a_slurm_cluster_and_refuses_half_of_one():
    base = {"task": "t:t", "budget": {"trials": 2}}
    cfg = Config.model_validate({**base, "executor": {"name": "dask", "cluster": "slurm", "profile": "local",
                                                      "jobs": 2}})
    assert (cfg.executor.cluster, cfg.executor.profile, cfg.executor.jobs) == ("slurm", "local", 2)
    for bad, says in [({"name": "dask", "cluster": "slurm"}, "needs profile"),
                      ({"name": "local", "jobs": 2}, "jobs needs name: dask"),
                      ({"name": "dask", "profile": "local"}, "need cluster: slurm")]:
        with pytest.raises(ValueError, match=says):
            Config.model_validate({**base, "executor": bad})


@pytest.mark.slurm
def test_a_study_runs_on_a_slurm_cluster_of_dask_workers(tmp_path, monkeypatch, slurm_env):
    monkeypatch.setenv("SLURM_CONF", slurm_env["SLURM_CONF"])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "insidetask.py").write_text(INSIDE)
    monkeypatch.syspath_prepend(str(tmp_path))      # exported to the Slurm jobs as PYTHONPATH
    study = uqhpo.create_study(space={"x": uqhpo.Real(0.0, 1.0)}, strategy="random", seed=6, n_replicates=2,
                               storage=f"sqlite:///{tmp_path / 's.db'}", name="jobqueue")
    executor = DaskExecutor(cluster="slurm", profile="local", jobs=2)
    assert executor.n_workers == 2
    study.optimize("insidetask:inside", n_trials=4, executor=executor)
    trials = study.all_trials()
    assert len(trials) == 4 and all(t.state.value == "COMPLETE" for t in trials)
    reps = [r for t in trials for r in t.replicates]
    assert len(reps) == 8 and all(r.attempt == 0 for r in reps)
    jobs = {r.metrics["slurm_job"] for r in reps}
    assert 1 <= len(jobs) <= 2                       # every training ran inside one of the two Slurm jobs
    assert len({r.metrics["pid"] for r in reps}) == len(jobs)   # one worker process per job
