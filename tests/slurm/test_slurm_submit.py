"""`uqhpo slurm`: profiles and the rendered script (no Slurm needed), and a real study on
the single-node cluster of slurm/local-cluster.sh (marker `slurm`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import uqhpo
from uqhpo.cli import main
from uqhpo.slurm_submit import load_profile

REPO = Path(__file__).resolve().parents[2]
CONFIG = """\
task: uqhpo.testing.tasks:quadratic
strategy: {name: rbf, n_initial: 4}
budget: {trials: 6}
uq: {replicates: 2}
executor: {name: serial}
storage: study.db
study: onslurm
seed: 3
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "study.yaml"
    path.write_text(CONFIG)
    return path


def test_dry_run_renders_the_profile_and_the_layout(config, capsys):
    assert main(["slurm", str(config), "--profile", "generic-gpu", "--nodes", "1", "--dry-run"]) == 0
    script = capsys.readouterr().out
    assert "#SBATCH --partition=gpu" in script and "#SBATCH --gpus-per-node=4" in script
    assert "--set executor.workers=4" in script          # one training worker per GPU
    assert "#SBATCH --signal=TERM@300" in script
    assert str(config.resolve()) in script and "#SBATCH --account" not in script


def test_many_nodes_on_sqlite_is_refused_in_one_line(config, capsys):
    assert main(["slurm", str(config), "--profile", "local", "--nodes", "2", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "journal" in err[0]


def test_unknown_profile_and_unknown_profile_key_are_named(tmp_path):
    with pytest.raises(ValueError, match="no Slurm profile 'nope'.*local"):
        load_profile("nope")
    bad = tmp_path / "site.yaml"
    bad.write_text("partition: x\nqueue: y\n")
    with pytest.raises(ValueError, match="unknown key 'queue'"):
        load_profile(str(bad))


@pytest.mark.slurm
def test_a_study_runs_to_completion_in_a_real_slurm_job(config, slurm_env):
    env = slurm_env
    proc = subprocess.run([sys.executable, "-m", "uqhpo.cli", "slurm", str(config), "--profile", "local",
                           "--workers-per-node", "2", "--wait"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    study = uqhpo.load_study(f"sqlite:///{config.parent / 'study.db'}", "onslurm")
    trials = study.all_trials()
    assert len(trials) == 6 and all(t.state.value == "COMPLETE" for t in trials)
    assert all(len(t.losses) == 2 for t in trials)
    logs = list((config.parent / "runs" / "onslurm").glob("slurm-*.out"))
    assert logs, "the job wrote no log"


SLOW_CONFIG = """\
task: uqhpo.testing.tasks:sleep
space:
  duration: {type: real, low: 1.0, high: 1.5}
  x: {type: real, low: 0.0, high: 1.0}
strategy: {name: random}
budget: {trials: 8}
uq: {replicates: 2}
executor: {name: serial}
storage: study.db
study: cancelled
seed: 5
"""


@pytest.mark.slurm
def test_scancel_mid_study_then_resume_finishes_exactly(tmp_path, monkeypatch, slurm_env):
    import time

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "slow.yaml"
    config.write_text(SLOW_CONFIG)
    env = slurm_env
    proc = subprocess.run([sys.executable, "-m", "uqhpo.cli", "slurm", str(config), "--profile", "local",
                           "--workers-per-node", "2"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job_id = proc.stdout.split("Slurm job ")[1].split()[0]
    url = f"sqlite:///{tmp_path / 'study.db'}"

    def finished() -> int:
        try:
            return sum(1 for t in uqhpo.load_study(url, "cancelled").all_trials() if t.finished)
        except Exception:  # the job has not created the study yet
            return 0

    deadline = time.monotonic() + 300
    while finished() < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert 2 <= finished() < 8, "the job did not get going, or finished before it could be cancelled"
    subprocess.run(["scancel", job_id], env=env, check=True, timeout=60)
    while subprocess.run(["squeue", "-h", "-j", job_id], env=env, capture_output=True,
                         text=True).stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.5)
    cut = uqhpo.load_study(url, "cancelled").all_trials()
    assert sum(1 for t in cut if t.finished) < 8
    assert not any(r.state.value == "RUNNING" for t in cut for r in t.replicates), \
        "a cancelled job left replicates RUNNING"

    proc = subprocess.run([sys.executable, "-m", "uqhpo.cli", "slurm", str(config), "--profile", "local",
                           "--workers-per-node", "2", "--resume", "--wait"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = uqhpo.load_study(url, "cancelled").all_trials()
    assert len(trials) == 8 and all(t.state.value == "COMPLETE" for t in trials)
    assert all(len(t.losses) == 2 for t in trials)


def test_worker_layout_renders_one_srun_task_per_worker(config, capsys):
    assert main(["slurm", str(config), "--profile", "generic-gpu", "--layout", "workers", "--dry-run"]) == 0
    script = capsys.readouterr().out
    assert "#SBATCH --ntasks-per-node=4" in script               # one task per GPU of the profile
    assert "srun --ntasks-per-node=4" in script and "-m uqhpo.cli worker" in script
    assert "executor.name=local" not in script


def test_each_slurm_task_gets_its_own_gpu():
    from uqhpo.cli_cluster import pin_gpu

    assert pin_gpu({"CUDA_VISIBLE_DEVICES": "0,1,2,3", "SLURM_LOCALID": "2"}) == "2"
    assert pin_gpu({"CUDA_VISIBLE_DEVICES": "4,5", "SLURM_LOCALID": "1"}) == "5"
    assert pin_gpu({"CUDA_VISIBLE_DEVICES": "3", "SLURM_LOCALID": "0"}) is None    # already one GPU
    assert pin_gpu({"SLURM_LOCALID": "1"}) is None                                # no GPUs
    assert pin_gpu({"CUDA_VISIBLE_DEVICES": "0,1"}) is None                       # not under srun


@pytest.mark.slurm
def test_workers_layout_two_srun_tasks_share_the_study_exactly(tmp_path, monkeypatch, slurm_env):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "tasks.yaml"   # trainings of 0.5-1 s, so that both tasks get work
    config.write_text(SLOW_CONFIG.replace("low: 1.0, high: 1.5", "low: 0.5, high: 1.0")
                      .replace("study: cancelled", "study: twotasks"))
    env = slurm_env
    proc = subprocess.run([sys.executable, "-m", "uqhpo.cli", "slurm", str(config), "--profile", "local",
                           "--layout", "workers", "--workers-per-node", "2", "--wait"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = uqhpo.load_study(f"sqlite:///{tmp_path / 'study.db'}", "twotasks").all_trials()
    assert len(trials) == 8 and all(t.state.value == "COMPLETE" for t in trials)   # budget not overshot
    assert all(len(t.losses) == 2 for t in trials)
    assert len({tuple(sorted(t.config.items())) for t in trials}) == 8   # no config proposed twice
    assert len({r.worker for t in trials for r in t.replicates}) == 2     # both tasks did work
