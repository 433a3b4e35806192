"""`uqhpo slurm --layout ddp`: the rendered script, and a real job on the local cluster in
which every replicate is an srun step of 2 tasks joined by DistributedDataParallel (gloo)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

import uqhpo
from uqhpo.cli import main

TASK = '''
import os
import time
import torch
from torch import nn
import uqhpo
from uqhpo.torch.ddp import ddp_context


class Tiny(uqhpo.Task):
    def search_space(self):
        return uqhpo.Space({"lr": uqhpo.Real(0.01, 0.2), "pause": uqhpo.Fixed(0.0)})

    def run(self, config, ctx):
        time.sleep(config["pause"])
        with ddp_context(ctx.device) as ddp:
            torch.manual_seed(ctx.seed)
            x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
            model = ddp.wrap(nn.Linear(2, 1))
            opt = torch.optim.SGD(model.parameters(), lr=config["lr"])
            for xb, in ddp.loader(torch.utils.data.TensorDataset(x), batch_size=4, seed=ctx.seed):
                opt.zero_grad()
                nn.functional.mse_loss(model(xb), xb.sum(1, keepdim=True)).backward()
                opt.step()
            loss = ddp.mean(float(nn.functional.mse_loss(model(x), x.sum(1, keepdim=True)).detach()))
            return {"loss": loss, "world_size": ddp.world_size,
                    "slurm_tasks": float(os.environ.get("SLURM_STEP_NUM_TASKS", 0))}


task = Tiny()
'''
CONFIG = """\
task: ddpslurmtask:task
strategy: {name: random}
budget: {trials: 2}
uq: {replicates: 2}
storage: study.db
study: ddpjob
seed: 8
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ddpslurmtask.py").write_text(TASK)
    path = tmp_path / "ddp.yaml"
    path.write_text(CONFIG)
    return path


def test_ddp_layout_renders_tasks_per_replicate_and_a_batch_shell_driver(config, capsys):
    assert main(["slurm", str(config), "--profile", "generic-gpu", "--layout", "ddp", "--ddp-processes", "2",
                 "--nodes", "1", "--dry-run", "--set", "storage=study.jsonl"]) == 0
    script = capsys.readouterr().out
    assert "#SBATCH --ntasks-per-node=4" in script         # 2 replicates at once x 2 GPUs each
    assert "#SBATCH --signal=B:USR1@300" in script         # only the batch shell hears the time limit
    assert "trap 'kill -TERM \"$driver\" 2>/dev/null' USR1" in script   # and tells the driver once
    assert "--ddp-processes 2 --steps 2 --launcher srun --gpus-per-process 1" in script
    assert "srun --ntasks-per-node" not in script          # the driver runs in the batch shell
    assert main(["slurm", str(config), "--profile", "generic-cpu", "--layout", "ddp", "--ddp-processes", "4",
                 "--workers-per-node", "3", "--nodes", "2", "--dry-run", "--set", "storage=study.jsonl"]) == 0
    script = capsys.readouterr().out
    assert "#SBATCH --ntasks-per-node=12" in script and "--steps 6 --launcher srun --quiet" in script


@pytest.mark.slurm
def test_a_real_job_runs_each_replicate_as_a_two_task_step(config, slurm_env):
    proc = subprocess.run([sys.executable, "-m", "uqhpo.cli", "slurm", str(config), "--profile", "local",
                           "--layout", "ddp", "--ddp-processes", "2", "--wait"], env=slurm_env,
                          capture_output=True, text=True, timeout=600)
    logs = "\n".join(p.read_text() for p in (config.parent / "runs" / "ddpjob").glob("slurm-*.out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr + logs
    trials = uqhpo.load_study(f"sqlite:///{config.parent / 'study.db'}", "ddpjob").all_trials()
    assert len(trials) == 2 and all(t.state.value == "COMPLETE" for t in trials)
    reps = [r for t in trials for r in t.replicates]
    assert len(reps) == 4
    assert all(r.metrics["world_size"] == 2 and r.metrics["slurm_tasks"] == 2 for r in reps)


@pytest.mark.slurm
@pytest.mark.parametrize("stop", [[], ["--batch", "--signal=USR1"]], ids=["scancel", "time-limit-signal"])
def test_stopped_mid_study_then_resume_finishes_exactly(config, slurm_env, stop):
    """``scancel`` (every process gets SIGTERM), or the time-limit signal (``--signal=B:USR1``:
    only the batch shell hears it, as ``scancel --batch --signal=USR1`` does here): the driver
    re-queues what ran, and ``--resume`` runs exactly what is missing."""
    config.write_text(CONFIG.replace("budget: {trials: 2}", "budget: {trials: 4}")
                      .replace("uq: {replicates: 2}", "uq: {replicates: 1}\nspace:\n  pause: {type: fixed, value: 2.0}")
                      .replace("study: ddpjob", "study: ddpcut"))
    url = f"sqlite:///{config.parent / 'study.db'}"
    base = [sys.executable, "-m", "uqhpo.cli", "slurm", str(config), "--profile", "local", "--layout", "ddp",
            "--ddp-processes", "2"]
    proc = subprocess.run(base, env=slurm_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job_id = proc.stdout.split("Slurm job ")[1].split()[0]

    def finished() -> int:
        try:
            return sum(1 for t in uqhpo.load_study(url, "ddpcut").all_trials() if t.finished)
        except Exception:  # the job has not created the study yet
            return 0

    deadline = time.monotonic() + 300
    while finished() < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert 1 <= finished() < 4, "the job did not get going, or finished before it could be cancelled"
    subprocess.run(["scancel", *stop, job_id], env=slurm_env, check=True, timeout=60)
    while subprocess.run(["squeue", "-h", "-j", job_id], env=slurm_env, capture_output=True,
                         text=True).stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.5)
    cut = uqhpo.load_study(url, "ddpcut").all_trials()
    assert sum(1 for t in cut if t.finished) < 4
    assert not any(r.state.value == "RUNNING" for t in cut for r in t.replicates), \
        "a stopped job left replicates RUNNING"
    proc = subprocess.run([*base, "--resume", "--wait"], env=slurm_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = uqhpo.load_study(url, "ddpcut").all_trials()
    states = [(t.number, r.attempt, r.state.value, (r.error or "").strip()[-300:])
              for t in trials for r in t.replicates]
    assert len(trials) == 4 and all(t.state.value == "COMPLETE" for t in trials), states
    assert all(len(t.losses) == 1 and t.replicates[-1].metrics["world_size"] == 2 for t in trials)
