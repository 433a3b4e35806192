"""`uqhpo worker`: several workers on one storage fill the budget exactly, without Slurm."""
from __future__ import annotations

import os
import subprocess
import sys

import uqhpo

CONFIG = """\
task: uqhpo.testing.tasks:sleep
space:
  duration: {type: real, low: 0.05, high: 0.2}
  x: {type: real, low: 0.0, high: 1.0}
strategy: {name: rbf, n_initial: 4}
budget: {trials: 10}
uq: {replicates: 2}
storage: study.db
study: shared
seed: 8
"""


def test_three_workers_share_one_study_exactly(tmp_path):
    (tmp_path / "s.yaml").write_text(CONFIG)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "uqhpo.cli", "worker", "s.yaml", "--quiet"], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    trials = uqhpo.load_study(f"sqlite:///{tmp_path / 'study.db'}", "shared").all_trials()
    assert len(trials) == 10 and all(t.state.value == "COMPLETE" for t in trials)
    assert all(len(t.losses) == 2 for t in trials)
    assert len({tuple(sorted(t.config.items())) for t in trials}) == 10


def test_one_worker_of_a_slurm_job_draws_the_plot():
    from uqhpo.cli_cluster import draws_the_plot

    assert draws_the_plot({})                                           # outside Slurm
    assert draws_the_plot({"SLURM_PROCID": "0"}) and not draws_the_plot({"SLURM_PROCID": "3"})
    array = {"SLURM_PROCID": "0", "SLURM_ARRAY_TASK_MIN": "0"}
    assert draws_the_plot({**array, "SLURM_ARRAY_TASK_ID": "0"})
    assert not draws_the_plot({**array, "SLURM_ARRAY_TASK_ID": "5"})
