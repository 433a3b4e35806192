"""Replicates that each run on several processes (DistributedDataParallel), as job steps.

:class:`StepExecutor` runs every job as one *step* of ``processes`` ranks: ``srun
--ntasks=N`` inside a Slurm allocation (``uqhpo slurm --layout ddp``), or N local processes
(``launcher="local"``, what ``torchrun --nproc-per-node N`` would start). Every rank runs
the task with the same config and seed (``python -m uqhpo.slurm_steps JOBFILE``); the task
joins the ranks with :func:`uqhpo.torch.ddp.ddp_context`, and only rank 0's result is
recorded. Up to ``workers`` steps run at once. This module does not import torch.

The rendezvous (:func:`rendezvous`) reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (torchrun,
the local launcher) or, when ``MASTER_ADDR``/``MASTER_PORT`` say a DDP launch was meant,
``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID`` (srun). Plain ``uqhpo worker`` tasks
of the ``workers`` layout therefore never join each other by accident.
"""
from __future__ import annotations

import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .executors.base import Executor, Job, Outcome, ReplicateResult

LAUNCHERS = ("local", "srun")
DEFAULT_PORT = 29500


def first_host(nodelist: str) -> str:
    """The first host of a Slurm node list: ``"gpu[07-09,12],cpu1"`` -> ``"gpu07"``."""
    head = re.match(r"([^,\[]*)(?:\[([^\]]*)\])?", nodelist.strip())
    if head is None or not head.group(1) and not head.group(2):
        return ""
    prefix, ranges = head.group(1), head.group(2)
    return prefix + (re.split(r"[-,]", ranges)[0] if ranges else "")


def rendezvous(env: dict) -> tuple[int, int, int, str, int]:
    """(rank, world size, local rank, master address, master port) of this process.

    Args:
        env: the environment (``os.environ``).

    Returns:
        ``(0, 1, 0, "127.0.0.1", port)`` when no launcher set the variables.

    Raises:
        ValueError: a rank outside ``0..world_size-1`` or a non-integer value (named).
    """
    def number(key: str, default: Optional[str] = None) -> int:
        value = env.get(key, default)
        try:
            return int(str(value))
        except ValueError:
            raise ValueError(f"ddp: environment variable {key}={value!r} is not an integer") from None

    if "WORLD_SIZE" in env:
        rank, world = number("RANK", "0"), number("WORLD_SIZE")
        local = number("LOCAL_RANK", str(rank))
    elif "SLURM_PROCID" in env and ("MASTER_ADDR" in env or "MASTER_PORT" in env):
        rank = number("SLURM_PROCID")
        world = number("SLURM_STEP_NUM_TASKS" if "SLURM_STEP_NUM_TASKS" in env else "SLURM_NTASKS", "1")
        local = number("SLURM_LOCALID", "0")
    else:
        return 0, 1, 0, "127.0.0.1", DEFAULT_PORT
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"ddp: rank {rank} is outside a world of size {world} (RANK/WORLD_SIZE or SLURM_PROCID/"
                         "SLURM_NTASKS)")
    addr = env.get("MASTER_ADDR") or first_host(env.get("SLURM_STEP_NODELIST", "")) or "127.0.0.1"
    return rank, world, local, addr, number("MASTER_PORT", str(DEFAULT_PORT))


def free_port() -> int:
    """A TCP port free on this host now (for a step's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------
# inside a step: every rank runs this


def step_main(jobfile: str) -> int:
    """Run the job of ``jobfile`` as one rank; write ``JOBFILE.rank<R>`` (rank 0 always,
    other ranks only when a slot failed). Exit status 1 when a slot failed, so that the
    launcher stops the other ranks instead of leaving them blocked in a collective."""
    from .executors.worker import run_job, visible_gpus  # noqa: PLC0415

    payload = pickle.loads(Path(jobfile).read_bytes())
    for entry in reversed(payload["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    env = os.environ
    if "WORLD_SIZE" not in env and "SLURM_PROCID" in env:   # srun: name the rank the torchrun way
        env.setdefault("MASTER_PORT", str(DEFAULT_PORT))
    rank, world, local, addr, port = rendezvous(dict(env))
    env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(local), MASTER_ADDR=addr)
    job: Job = payload["job"]
    device = "cuda" if visible_gpus() else "cpu"
    out = Path(f"{jobfile}.rank{rank}")
    results: list[ReplicateResult] = []

    def next_port(slot: Any) -> None:   # a fresh rendezvous port for each slot of the job
        env["MASTER_PORT"] = str(port + len(results))

    failed = False
    for result in run_job(job, device=device, worker=f"ddp{world}:{socket.gethostname()}:{os.getpid()}",
                          on_start=next_port):
        results.append(result)
        failed = failed or result.status != Outcome.OK
        if rank == 0 or failed:
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_bytes(pickle.dumps(results))
            os.replace(tmp, out)
        if failed:
            return 1
    return 0


# ---------------------------------------------------------------------------------------
# the driver side


@dataclass
class _Step:
    job: Job
    jobfile: Path
    lane: int
    procs: list = field(default_factory=list)
    cancelled: bool = False


class StepExecutor(Executor):
    """Runs each job as one DDP step of ``processes`` ranks; ``workers`` steps at once.

    Args:
        workers: steps (replicates) running at once.
        processes: ranks per step (the world size of each replicate).
        launcher: "srun" (a job step inside the allocation) or "local" (N processes here).
        gpus_per_process: 1 gives each rank its own GPU (``srun --gpus-per-task=1``, or
            ``CUDA_VISIBLE_DEVICES`` per rank locally); 0 runs on CPU.
        python: the interpreter of the ranks (default: this one).
        folder: where job files and per-step logs go (default: a temporary folder).
    """

    name = "ddp"

    def __init__(self, workers: int = 1, processes: int = 2, launcher: str = "local", gpus_per_process: int = 0,
                 python: Optional[str] = None, folder: Optional[str] = None):
        if int(workers) < 1 or int(processes) < 1:
            raise ValueError(f"ddp: workers and processes must be >= 1, got {workers} and {processes}")
        if launcher not in LAUNCHERS:
            raise ValueError(f"ddp: launcher must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
        self.workers, self.processes, self.launcher = int(workers), int(processes), launcher
        self.gpus_per_process = int(gpus_per_process)
        self.python = python or sys.executable
        self._folder_arg = folder
        self.folder: Optional[Path] = None
        self._steps: list[_Step] = []
        self._done: list[ReplicateResult] = []

    def start(self) -> None:
        if self.folder is None:
            base = self._folder_arg
            if base is not None:
                Path(base).mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix="uqhpo-ddp-", dir=base))

    @property
    def n_workers(self) -> int:
        return self.workers

    def n_running(self) -> int:
        return len(self._steps) + (len(self._done) > 0)

    def submit(self, job: Job) -> None:
        if not isinstance(job.task, str) or ":" not in job.task:
            raise ValueError("executor 'ddp': the task must be an import path 'package.module:attribute' "
                             "(every rank imports it)")
        self.start()
        assert self.folder is not None
        lane = min(set(range(self.workers)) - {s.lane for s in self._steps}, default=0)
        jobfile = self.folder / f"job-{job.job_id}-{time.time_ns()}.pkl"
        jobfile.write_bytes(pickle.dumps({"job": job, "sys_path": [p for p in sys.path if p]}))
        step = _Step(job=job, jobfile=jobfile, lane=lane)
        log = open(f"{jobfile}.log", "wb")  # noqa: SIM115 - closed when the step is collected
        env = {**os.environ, "MASTER_PORT": str(free_port())}
        entry = [self.python, "-m", "uqhpo.slurm_steps", str(jobfile)]
        if self.launcher == "srun":
            gpus = [f"--gpus-per-task={self.gpus_per_process}"] if self.gpus_per_process > 0 else []
            cmd = ["srun", f"--ntasks={self.processes}", "--exact", "--kill-on-bad-exit=1", *gpus, *entry]
            step.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))
        else:
            from .executors.worker import visible_gpus  # noqa: PLC0415

            gpus_here = visible_gpus() if self.gpus_per_process > 0 else []
            for rank in range(self.processes):
                rank_env = {**env, "RANK": str(rank), "WORLD_SIZE": str(self.processes), "LOCAL_RANK": str(rank),
                            "MASTER_ADDR": "127.0.0.1"}
                if gpus_here:
                    rank_env["CUDA_VISIBLE_DEVICES"] = gpus_here[(lane * self.processes + rank) % len(gpus_here)]
                elif self.gpus_per_process <= 0:
                    rank_env["CUDA_VISIBLE_DEVICES"] = ""
                step.procs.append(subprocess.Popen(entry, env=rank_env, stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True))
        log.close()
        self._steps.append(step)

    def poll(self, timeout: Optional[float] = 0.0) -> list[ReplicateResult]:
        if self._done:
            done, self._done = self._done, []
            return done
        deadline = time.monotonic() + (1.0 if timeout is None else max(float(timeout), 0.0))
        while True:
            out: list[ReplicateResult] = []
            for step in list(self._steps):
                codes = [p.poll() for p in step.procs]
                if any(c not in (None, 0) for c in codes) and any(c is None for c in codes):
                    _stop(step.procs)          # one rank failed: the others would wait forever
                    codes = [p.wait() for p in step.procs]
                if all(c is not None for c in codes):
                    self._steps.remove(step)
                    out += self._collect(step, [int(c) for c in codes if c is not None])
            if out or not self._steps or time.monotonic() >= deadline:
                return out
            time.sleep(0.05)

    def _collect(self, step: _Step, codes: list[int]) -> list[ReplicateResult]:
        """One result per slot: rank 0's, with the other ranks' errors added when it failed."""
        by_rank: dict[int, dict[int, ReplicateResult]] = {}
        for path in step.jobfile.parent.glob(step.jobfile.name + ".rank*"):
            suffix = path.name.rsplit(".rank", 1)[1]
            if suffix.isdigit():
                by_rank[int(suffix)] = {r.index: r for r in pickle.loads(path.read_bytes())}
        log_path = Path(f"{step.jobfile}.log")
        log_tail = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()][-5:] \
            if log_path.exists() else []
        killed = step.cancelled or any(c < 0 or c in (128 + signal.SIGTERM, 128 + signal.SIGKILL) for c in codes)
        now = time.time()
        out: list[ReplicateResult] = []
        for slot in step.job.slots:
            mine = by_rank.get(0, {}).get(slot.index)
            others = [(r, res) for r, got in sorted(by_rank.items()) if r and (res := got.get(slot.index)) is not None
                      and res.status != Outcome.OK]
            if mine is not None and mine.status == Outcome.OK and not others:
                out.append(mine)
                continue
            if mine is not None and mine.status == Outcome.OK:
                mine = None                       # rank 0 finished, another rank did not: not a result
            lines = [f"rank {r}: {_last_line(res.error)}" for r, res in others]
            if mine is not None:
                mine.error = "\n".join([str(mine.error or ""), *lines])
                out.append(mine)
                continue
            status = Outcome.FAILED if others or not killed else Outcome.LOST
            why = "; ".join(lines) or f"ddp step ended with exit status {codes} ({' | '.join(log_tail) or 'no output'})"
            out.append(ReplicateResult(job_id=step.job.job_id, trial=step.job.trial, index=slot.index,
                                       attempt=slot.attempt, seed=int(slot.seed), status=status,
                                       error=f"ddp step of {self.processes} processes: {why}", worker="ddp",
                                       started=now, finished=now))
        for path in step.jobfile.parent.glob(step.jobfile.name + "*"):
            if not path.name.endswith(".log") or all(r.status == Outcome.OK for r in out):
                path.unlink(missing_ok=True)
        return out

    def shutdown(self, cancel: bool = True) -> None:
        for step in self._steps:
            if cancel:
                step.cancelled = True
                _stop(step.procs)
            for p in step.procs:
                p.wait()
            if cancel:   # re-queued by the driver: nothing of it is kept
                for path in step.jobfile.parent.glob(step.jobfile.name + "*"):
                    path.unlink(missing_ok=True)
        if not cancel:
            self._done += [r for step in self._steps for r in self._collect(step, [p.returncode for p in step.procs])]
        self._steps.clear()
        if self.folder is not None:
            if not any(self.folder.iterdir()):   # kept when a failed step left its log
                self.folder.rmdir()
            self.folder = None


def _last_line(text: Optional[str]) -> str:
    lines = [ln.strip() for ln in str(text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "?"


def _stop(procs: list, grace_s: float = 5.0) -> None:
    """SIGTERM each process group, SIGKILL what is left after ``grace_s``."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    end = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(end - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


if __name__ == "__main__":
    sys.exit(step_main(sys.argv[1]))
