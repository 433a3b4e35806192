"""`uqhpo slurm --array N`: the rendered job array, the refusals, and a real array on the
local cluster whose independent tasks share one journal storage exactly."""
from __future__ import annotations

import subprocess
import sys

import pytest

import uqhpo
from uqhpo.cli import main

CONFIG = """\
task: uqhpo.testing.tasks:sleep
space:
  duration: {type: real, low: 0.5, high: 1.0}
  x: {type: real, low: 0.0, high: 1.0}
strategy: {name: random}
budget: {trials: 8}
uq: {replicates: 2}
storage: study.jsonl
study: arrayed
seed: 11
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "array.yaml"
    path.write_text(CONFIG)
    return path


def test_array_renders_n_one_task_jobs_each_a_worker(config, capsys):
    assert main(["slurm", str(config), "--profile", "generic-gpu", "--array", "5", "--dry-run"]) == 0
    script = capsys.readouterr().out
    assert "#SBATCH --array=0-4" in script
    assert "#SBATCH --nodes=1" in script and "#SBATCH --ntasks-per-node=1" in script
    assert "#SBATCH --gpus-per-node=1" in script                 # one GPU per array task, not the node's 4
    assert "slurm-%A_%a.out" in script                           # one log per array task
    assert "srun --ntasks=1" in script and "-m uqhpo.cli worker" in script
    assert "executor.name=local" not in script


def test_array_refuses_sqlite_and_layouts_in_one_line(config, capsys):
    assert main(["slurm", str(config), "--profile", "local", "--array", "2", "--set", "storage=study.db",
                 "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "journal" in err[0]
    assert main(["slurm", str(config), "--profile", "local", "--array", "2", "--layout", "ddp", "--dry-run"]) == 2
    assert "--array 2" in capsys.readouterr().err
    assert main(["slurm", str(config), "--profile", "local", "--array", "0", "--dry-run"]) == 2


@pytest.mark.slurm
def test_a_real_job_array_completes_the_study_exactly(config, slurm_env):
    proc = subprocess.run([sys.executable, "-m", "uqhpo.cli", "slurm", str(config), "--profile", "local",
                           "--array", "2", "--wait"], env=slurm_env, capture_output=True, text=True, timeout=600)
    logs = sorted((config.parent / "runs" / "arrayed").glob("slurm-*_*.out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr + "".join(p.read_text() for p in logs)
    assert len(logs) == 2                                              # two array tasks ran
    trials = uqhpo.load_study(f"journal:///{config.parent / 'study.jsonl'}", "arrayed").all_trials()
    assert len(trials) == 8 and all(t.state.value == "COMPLETE" for t in trials)   # budget not overshot
    assert all(len(t.losses) == 2 for t in trials)
    assert len({tuple(sorted(t.config.items())) for t in trials}) == 8            # no config proposed twice
    assert len({r.worker for t in trials for r in t.replicates}) == 2              # both array tasks did work
