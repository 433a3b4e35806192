"""One replicate on two real processes (gloo on CPU): gradients are averaged, ranks agree,
the result equals one process on the full batch, and `uqhpo worker --ddp-processes 2`
runs a study whose replicates are such two-process trainings."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

import uqhpo
from uqhpo.slurm_steps import first_host, free_port, rendezvous
from uqhpo.torch.ddp import ddp_context

STEPS, N, LR = 5, 8, 0.1


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(N, 1, generator=g)


def _train(ddp) -> nn.Module:
    """STEPS of SGD; each rank sees its shard (N / world_size rows) as one batch."""
    torch.manual_seed(1 + ddp.rank)      # different starts per rank: DDP must broadcast rank 0's
    model = ddp.wrap(nn.Linear(3, 1))
    x, y = _data()
    loader = ddp.loader(torch.utils.data.TensorDataset(x, y), batch_size=N // ddp.world_size, shuffle=False)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    for _ in range(STEPS):
        for xb, yb in loader:
            opt.zero_grad()
            nn.functional.mse_loss(model(xb), yb).backward()
            opt.step()
    return model


def _rank(rank: int, world: int, port: int, out: str) -> None:
    env = {"RANK": str(rank), "WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    with ddp_context("cpu", environ=env) as ddp:
        assert ddp.backend == "gloo" and ddp.world_size == world
        model = _train(ddp)
        weights = torch.cat([p.detach().flatten() for p in model.parameters()])
        shard = [int(i) for i in ddp.sampler(range(N), shuffle=False)]
        torch.save({"weights": weights, "shard": shard, "mean": ddp.mean(float(rank))}, f"{out}/rank{rank}.pt")


def test_two_gloo_processes_average_gradients_like_one_full_batch(tmp_path):
    mp.spawn(_rank, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert sorted(r0["shard"] + r1["shard"]) == list(range(N)) and not set(r0["shard"]) & set(r1["shard"])
    assert torch.equal(r0["weights"], r1["weights"])            # both ranks end with identical weights
    assert r0["mean"] == r1["mean"] == 0.5                       # ddp.mean: the same number everywhere
    with ddp_context("cpu", environ={}) as alone:                 # one process, the full batch
        assert alone.world_size == 1 and alone.backend is None
        torch.manual_seed(1)
        single = torch.cat([p.detach().flatten() for p in _train(alone).parameters()])
    assert torch.allclose(r0["weights"], single, atol=1e-6)
    torch.manual_seed(2)                                          # a different start moves the result
    other = nn.Linear(3, 1).weight.detach().flatten()
    assert not torch.allclose(r0["weights"][:3], other, atol=1e-3)


def test_rendezvous_reads_torchrun_then_srun_variables():
    assert rendezvous({}) == (0, 1, 0, "127.0.0.1", 29500)
    assert rendezvous({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "h",
                       "MASTER_PORT": "1234"}) == (1, 4, 1, "h", 1234)
    srun = {"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_STEP_NUM_TASKS": "4", "SLURM_LOCALID": "1",
            "SLURM_STEP_NODELIST": "gpu[07-08]", "MASTER_PORT": "2000"}
    assert rendezvous(srun) == (3, 4, 1, "gpu07", 2000)
    # a plain srun task (the `workers` layout) names no rendezvous: it trains alone
    assert rendezvous({"SLURM_PROCID": "1", "SLURM_NTASKS": "2"})[1] == 1
    with pytest.raises(ValueError, match="rank 4 is outside a world of size 4"):
        rendezvous({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(ValueError, match="WORLD_SIZE='two'"):
        rendezvous({"WORLD_SIZE": "two"})
    assert first_host("vm") == "vm" and first_host("a[1,3-5],b2") == "a1" and first_host("n1,n2") == "n1"


TASK = '''
import time
import torch
from torch import nn
import uqhpo
from uqhpo.torch.ddp import ddp_context


class Regression(uqhpo.Task):
    def search_space(self):
        return uqhpo.Space({"lr": uqhpo.Real(0.01, 0.2), "fail_rank": uqhpo.Fixed(-1), "pause": uqhpo.Fixed(0.0)})

    def run(self, config, ctx):
        time.sleep(config["pause"])
        with ddp_context(ctx.device) as ddp:
            if ddp.rank == config["fail_rank"]:
                raise RuntimeError(f"rank {ddp.rank} gives up")
            torch.manual_seed(ctx.seed)
            g = torch.Generator().manual_seed(0)
            x = torch.randn(16, 2, generator=g)
            y = x.sum(1, keepdim=True)
            model = ddp.wrap(nn.Linear(2, 1))
            opt = torch.optim.SGD(model.parameters(), lr=config["lr"])
            loader = ddp.loader(torch.utils.data.TensorDataset(x, y), batch_size=4, seed=ctx.seed)
            for epoch in range(3):
                loader.sampler.set_epoch(epoch)
                for xb, yb in loader:
                    opt.zero_grad()
                    nn.functional.mse_loss(model(xb), yb).backward()
                    opt.step()
            with torch.no_grad():
                loss = ddp.mean(float(nn.functional.mse_loss(model(x), y)))
            w = torch.cat([p.flatten() for p in model.parameters()]).detach()
            spread = ddp.mean(float((w - w.mean()).abs().sum()))   # equal on every rank iff weights agree
            return {"loss": loss, "world_size": ddp.world_size, "rank": ddp.rank,
                    "weights_agree": float(abs(spread - float((w - w.mean()).abs().sum())) < 1e-7)}


task = Regression()
'''


def _study_config(tmp_path: Path, study: str, trials: int, fail_rank: int = -1, pause: float = 0.0) -> Path:
    (tmp_path / "ddptask.py").write_text(TASK)
    config = tmp_path / f"{study}.yaml"
    config.write_text(f"task: ddptask:task\nspace:\n  fail_rank: {{type: fixed, value: {fail_rank}}}\n"
                      f"  pause: {{type: fixed, value: {pause}}}\n"
                      f"strategy: {{name: random}}\nbudget: {{trials: {trials}}}\nuq: {{replicates: 2}}\n"
                      f"storage: study.db\nstudy: {study}\nseed: 4\n")
    return config


def test_worker_runs_each_replicate_on_two_processes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    from uqhpo.cli import main

    config = _study_config(tmp_path, "twoproc", trials=2)
    assert main(["worker", str(config), "--quiet", "--ddp-processes", "2", "--steps", "2"]) == 0
    trials = uqhpo.load_study(f"sqlite:///{tmp_path / 'study.db'}", "twoproc").all_trials()
    assert len(trials) == 2 and all(t.state.value == "COMPLETE" for t in trials)
    reps = [r for t in trials for r in t.replicates]
    assert len(reps) == 4                                          # one record per replicate, not per rank
    assert all(r.metrics["world_size"] == 2 and r.metrics["rank"] == 0 for r in reps)
    assert all(r.metrics["weights_agree"] == 1.0 for r in reps)


def test_a_failing_rank_fails_the_replicate_with_its_reason(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    from uqhpo.cli import main

    config = _study_config(tmp_path, "onefails", trials=1, fail_rank=1)
    assert main(["worker", str(config), "--quiet", "--ddp-processes", "2", "--set", "uq.replicates=1"]) == 1
    trial = uqhpo.load_study(f"sqlite:///{tmp_path / 'study.db'}", "onefails").all_trials()[0]
    assert trial.state.value == "FAILED"
    assert trial.replicates and all("rank 1 gives up" in str(r.error) for r in trial.replicates)


@pytest.mark.slow
def test_sigterm_stops_the_steps_and_resume_finishes_exactly(tmp_path):
    """SIGTERM to `uqhpo worker --ddp-processes 2`: it stops its rank processes, leaves no
    replicate RUNNING and exits 143; a second run does exactly what is missing."""
    import os
    import signal
    import subprocess
    import time

    config = _study_config(tmp_path, "stopped", trials=3, pause=1.5)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    cmd = [sys.executable, "-m", "uqhpo.cli", "worker", str(config), "--quiet", "--ddp-processes", "2",
           "--set", "uq.replicates=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def finished() -> int:
        try:
            return sum(1 for t in uqhpo.load_study(url, "stopped").all_trials() if t.finished)
        except Exception:  # the study does not exist yet
            return 0

    deadline = time.monotonic() + 300
    while finished() < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None and finished() < 3, "the worker finished before it could be stopped"
    time.sleep(1.0)                                    # the next step's ranks are starting or running
    ranks = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "uqhpo.slurm_steps"], capture_output=True,
                           text=True).stdout.split()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, out
    trials = uqhpo.load_study(url, "stopped").all_trials()
    assert not any(r.state.value == "RUNNING" for t in trials for r in t.replicates)
    assert ranks, "no rank process was running when the worker was stopped"
    alive = [p for p in ranks if Path(f"/proc/{p}").exists()]
    assert not alive, f"rank processes left behind: {alive}"
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    trials = uqhpo.load_study(url, "stopped").all_trials()
    assert len(trials) == 3 and all(t.state.value == "COMPLETE" for t in trials)
    assert all(len(t.losses) == 1 for t in trials)
