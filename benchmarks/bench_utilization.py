"""Worker utilization: asynchronous scheduling vs synchronous batches, and the scheduling
overhead per proposal.

Training times of different configs differ a lot (here: lognormal, 10x between the 5th
and 95th percentile). A synchronous driver submits one batch of ``workers`` jobs and
waits for the slowest before the next batch, so fast workers sit idle; an asynchronous
driver hands a new job to a worker the moment it frees. Utilization is

    busy time / (workers * makespan)

with busy time the sum over replicates of their running time.

Parts (``--parts``, all by default):
  sim     the simulated executor (virtual clock) with 4 and 16 workers and ~200 jobs, and
          ``Study.optimize`` on it;
  local   2 real local worker processes running a sleeping task (0.1-1 s, ~30 jobs);
  dask    a Dask LocalCluster (2 worker processes), the same sleeping jobs: asynchronous vs
          synchronous batches at the executor, and ``Study.optimize`` on Dask (real proposals
          through SQLite);
  slurm   the local Slurm cluster (slurm/local-cluster.sh): ``uqhpo slurm --layout workers``
          (one ``uqhpo worker`` per Slurm task, coordinated by SQLite) vs synchronous batches
          of ``srun`` steps over the same durations; then 2, 8 and 32 workers (oversubscribed:
          ``--overcommit``; they sleep) and the idle time per proposal;
  stored  the overhead per proposal of a worker (``Study.optimize`` on the serial executor,
          an instant task) with 100, 1000 and 5000 trials already stored in SQLite.

Sleeping tasks of the slurm/dask parts draw their length log-uniformly from [0.5, 5] s.
"steady" utilization counts from the moment every worker runs to the last start (no
start-up of the worker processes, no drain of the last jobs); "idle/proposal" is the idle
worker time in that window per replicate started in it (proposal, claim, recording).

Usage: ``python benchmarks/bench_utilization.py [--quick] [--parts sim,local,dask,slurm,stored]``
"""
from __future__ import annotations

import argparse
import math
import time
from typing import Callable

import numpy as np

from uqhpo.executors import Executor, Job, ReplicateSlot
from uqhpo.executors.local import LocalExecutor
from uqhpo.executors.simulated import SimulatedExecutor

LOGNORMAL_10X = {"dist": "lognormal", "median": 10.0, "spread": 10.0}


def _job_factory(task: str, seed: int, duration: Callable[[np.random.Generator], float] | None = None):
    """``make(i) -> Job`` with a random config per job (and a duration in it when given)."""
    rng = np.random.default_rng(seed)

    def make(i: int) -> Job:
        config = {"x": float(rng.uniform(-5, 5)), "y": float(rng.uniform(-5, 5)), "n": 3, "act": "tanh"}
        if duration is not None:
            config["duration"] = duration(rng)
        return Job(job_id=f"j{i}", trial=i, config=config, slots=[ReplicateSlot(0, 0, seed * 100_000 + i)], task=task)
    return make


def _utilization(ex: Executor, results: list, t0: float, t1: float) -> tuple[float, float]:
    busy = sum(r.finished - r.started for r in results)
    makespan = t1 - t0
    return busy / (ex.n_workers * makespan), makespan


def steady_utilization(ex: Executor, results: list, t0: float, t_last_submit: float) -> float:
    """Utilization over ``[t0, t_last_submit]``: scheduling efficiency without the drain
    at the end of a fixed budget (when nothing is left to hand to a freed worker)."""
    span = t_last_submit - t0
    if span <= 0:
        return math.nan
    busy = sum(max(min(r.finished, t_last_submit) - max(r.started, t0), 0.0) for r in results)
    return busy / (ex.n_workers * span)


def run_async(ex: Executor, make: Callable[[int], Job], n_jobs: int, poll_timeout: float | None):
    """Submit a job the moment a worker frees.

    Returns:
        (utilization, makespan, results, steady-state utilization before the last submit)
    """
    ex.start()
    t0, submitted, results, t_last = ex.time(), 0, [], ex.time()
    while submitted < n_jobs or ex.n_running():
        while ex.free_slots() > 0 and submitted < n_jobs:
            ex.submit(make(submitted))
            submitted += 1
            t_last = ex.time()
        results += ex.poll(timeout=poll_timeout)
    util, makespan = _utilization(ex, results, t0, ex.time())
    return util, makespan, results, steady_utilization(ex, results, t0, t_last)


def run_sync(ex: Executor, make: Callable[[int], Job], n_jobs: int, poll_timeout: float | None):
    """Submit ``n_workers`` jobs, wait for all of them, repeat."""
    ex.start()
    t0, submitted, results = ex.time(), 0, []
    while submitted < n_jobs:
        for _ in range(min(ex.n_workers, n_jobs - submitted)):
            ex.submit(make(submitted))
            submitted += 1
        while ex.n_running():
            results += ex.poll(timeout=poll_timeout)
    util, makespan = _utilization(ex, results, t0, ex.time())
    return util, makespan, results


def simulated_rows(n_jobs: int, worker_counts=(4, 16)) -> list[tuple]:
    rows = []
    for workers in worker_counts:
        out = {}
        for mode, driver in (("async", run_async), ("sync", run_sync)):
            ex = SimulatedExecutor(workers=workers, duration=LOGNORMAL_10X, seed=1)
            make = _job_factory("uqhpo.testing.tasks:quadratic", seed=0)
            out[mode] = driver(ex, make, n_jobs, None)
            assert len(out[mode][2]) == n_jobs and all(r.status == "ok" for r in out[mode][2])
        rows.append(("simulated", workers, n_jobs, out["async"][0], out["async"][3], out["sync"][0],
                     out["async"][1], out["sync"][1]))
    return rows


def _warm_up(ex: Executor) -> None:
    """Start the workers and let each import the task once (a one-time cost per worker)."""
    ex.start()
    for i in range(ex.n_workers):
        ex.submit(Job(job_id=f"warm{i}", trial=-1 - i, config={"duration": 0.0}, slots=[ReplicateSlot(0, 0, 0)],
                      task="uqhpo.testing.tasks:sleep"))
    while ex.n_running():
        ex.poll(timeout=1.0)


def local_row(n_jobs: int, workers: int = 2) -> tuple:
    # log-uniform on [0.1, 1] s: the 10x spread of the simulated rows on a real clock
    duration = lambda rng: float(math.exp(rng.uniform(math.log(0.1), math.log(1.0))))  # noqa: E731
    out = {}
    for mode, driver in (("async", run_async), ("sync", run_sync)):
        ex = LocalExecutor(workers=workers, gpus=[])
        _warm_up(ex)                    # spawn and first import are not part of the makespan
        try:
            out[mode] = driver(ex, _job_factory("uqhpo.testing.tasks:sleep", 0, duration), n_jobs, 1.0)
        finally:
            ex.shutdown(cancel=True)
        assert len(out[mode][2]) == n_jobs and all(r.status == "ok" for r in out[mode][2])
    return ("local (sleep)", workers, n_jobs, out["async"][0], out["async"][3], out["sync"][0],
            out["async"][1], out["sync"][1])


def study_row(n_trials: int, workers: int = 4) -> tuple | None:
    """``Study.optimize`` on a simulated executor; None when the study module is missing."""
    try:
        import uqhpo
        from uqhpo.testing.tasks import quadratic
    except ImportError:
        return None
    ex = SimulatedExecutor(workers=workers, duration=LOGNORMAL_10X, seed=1)
    study = uqhpo.create_study(quadratic.search_space(), strategy="random", seed=0)
    study.optimize("uqhpo.testing.tasks:quadratic", n_trials=n_trials, n_replicates=1, executor=ex, show_progress=False)
    attempts = [r for t in study.all_trials() for r in t.replicates if r.runtime is not None]
    busy = sum(r.runtime for r in attempts)   # the simulated executor reports virtual durations
    makespan = ex.time()
    return ("Study.optimize + simulated", workers, len(study.all_trials()), busy / (workers * makespan),
            math.nan, math.nan, makespan, math.nan)


def print_table(rows: list[tuple]) -> None:
    def pct(v: float) -> str:
        return "" if math.isnan(v) else f"{v:.1%}"

    head = (f"{'executor':<28}{'workers':>8}{'jobs':>6}{'async':>9}{'steady':>9}{'sync':>9}"
            f"{'async/sync':>12}{'makespan a/s':>20}")
    print(head)
    print("-" * len(head))
    for name, workers, jobs, ua, steady, us, ma, ms in rows:
        ratio = "" if math.isnan(us) else f"{ua / us:.2f}"
        spans = f"{ma:.1f}" if math.isnan(ms) else f"{ma:.1f} / {ms:.1f}"
        print(f"{name:<28}{workers:>8}{jobs:>6}{pct(ua):>9}{pct(steady):>9}{pct(us):>9}{ratio:>12}{spans:>20}")
    print("utilization = busy time / (workers x makespan); durations lognormal, 10x spread (5th-95th pct); "
          "dask and slurm rows: log-uniform 0.5-5 s")
    print("steady = async utilization up to the last submission (excludes the drain of the final jobs; "
          "Study/Slurm rows: from the moment every worker runs)")


# -- utilization from stored replicates (any executor, any number of processes) ------------------
SLEEP_LOW, SLEEP_HIGH = 0.5, 5.0       # seconds, log-uniform: a 10x spread


def _log_uniform(rng: np.random.Generator) -> float:
    return float(math.exp(rng.uniform(math.log(SLEEP_LOW), math.log(SLEEP_HIGH))))


def stored_utilization(intervals: list[tuple[str, float, float]], workers: int) -> dict:
    """Utilization of ``workers`` from the (worker, start, end) of every replicate run.

    Returns a dict: ``overall`` (busy / (workers x first start..last end)), ``steady``
    (from the first moment ``workers`` replicates run at once to the last start),
    ``idle_per_start`` (idle worker-seconds in the steady window per replicate started in
    it), ``throughput`` (replicates per second overall), ``makespan``, ``n``.
    """
    starts = [a for _, a, _ in intervals]
    t0, t1, t_last = min(starts), max(b for _, _, b in intervals), max(starts)
    busy = sum(b - a for _, a, b in intervals)
    out = {"overall": busy / (workers * (t1 - t0)), "throughput": len(intervals) / (t1 - t0),
           "makespan": t1 - t0, "n": len(intervals), "steady": math.nan, "idle_per_start": math.nan,
           "workers_seen": len({w for w, _, _ in intervals})}
    up = _all_busy_since(intervals, workers)
    if up is not None:
        span = t_last - up
        n_in = sum(1 for a in starts if up < a <= t_last)
        if span > 0 and n_in:
            busy_in = sum(max(min(b, t_last) - max(a, up), 0.0) for _, a, b in intervals)
            out["steady"] = busy_in / (workers * span)
            out["idle_per_start"] = (workers * span - busy_in) / n_in
    return out


def _all_busy_since(intervals: list[tuple[str, float, float]], workers: int) -> float | None:
    """The first moment ``workers`` replicates run at once (every worker is up); None if never."""
    events = sorted([(a, 1) for _, a, _ in intervals] + [(b, -1) for _, _, b in intervals])
    running = 0
    for t, step in events:
        running += step
        if running >= workers:
            return t
    return None


def study_intervals(url: str, name: str) -> list[tuple[str, float, float]]:
    """(worker, start, end) of the finished replicates of a stored study: end = when it was
    recorded, start = end - its runtime (the task's own time; claiming is overhead)."""
    import uqhpo

    study = uqhpo.load_study(url, name)
    return [(str(r.worker), float(r.finished) - float(r.runtime), float(r.finished))
            for t in study.all_trials() for r in t.replicates
            if r.state.value == "COMPLETE" and r.finished is not None and r.runtime is not None]


def _sleep_space():
    from uqhpo.space import Real, Space

    return Space({"duration": Real(SLEEP_LOW, SLEEP_HIGH, log=True), "x": Real(0.0, 1.0)})


# -- Dask ------------------------------------------------------------------------------------------
def dask_rows(n_jobs: int, n_study: int, workers: int = 2) -> list[tuple]:
    """Executor-level async vs sync batches on a LocalCluster, and Study.optimize on it."""
    import tempfile

    import uqhpo
    from uqhpo.executors.dask import DaskExecutor

    out = {}
    for mode, driver in (("async", run_async), ("sync", run_sync)):
        ex = DaskExecutor(workers=workers)
        _warm_up(ex)
        try:
            out[mode] = driver(ex, _job_factory("uqhpo.testing.tasks:sleep", 0, _log_uniform), n_jobs, 1.0)
        finally:
            ex.shutdown(cancel=True)
        assert len(out[mode][2]) == n_jobs and all(r.status == "ok" for r in out[mode][2])
    rows = [("dask LocalCluster (sleep)", workers, n_jobs, out["async"][0], out["async"][3], out["sync"][0],
             out["async"][1], out["sync"][1])]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/dask.db"
        study = uqhpo.create_study(_sleep_space(), strategy="random", seed=1, storage=url, name="dask")
        ex = DaskExecutor(workers=workers)
        _warm_up(ex)
        try:
            study.optimize("uqhpo.testing.tasks:sleep", n_trials=n_study, executor=ex)
        finally:
            ex.shutdown(cancel=True)
        u = stored_utilization(study_intervals(url, "dask"), workers)
    rows.append(("dask Study.optimize+SQLite", workers, u["n"], u["overall"], u["steady"], math.nan,
                 u["makespan"], math.nan))
    return rows


# -- Slurm -----------------------------------------------------------------------------------------
SLURM_CONFIG = """\
task: uqhpo.testing.tasks:sleep
space:
  duration: {{type: real, low: {low}, high: {high}, log: true}}
  x: {{type: real, low: 0.0, high: 1.0}}
strategy: {{name: random}}
budget: {{trials: {trials}}}
uq: {{replicates: 1}}
executor: {{name: serial}}
storage: study.db
study: {study}
seed: {seed}
"""


def slurm_env() -> dict | None:
    """The environment for Slurm client commands; starts the local cluster when it is down.
    None (with the reason printed) where there is no Slurm."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("sbatch") is None:
        print("slurm: skipped (no sbatch here; apt-get install slurm-wlm munge)")
        return None
    script = Path(__file__).resolve().parents[1] / "slurm" / "local-cluster.sh"
    env = {**os.environ, "SLURM_CONF": os.environ.get("SLURM_CONF", "/tmp/uqhpo-slurm/slurm.conf"),
           "OMP_NUM_THREADS": "1"}
    if subprocess.run(["bash", str(script), "status"], env=env, capture_output=True).returncode != 0:
        started = subprocess.run(["bash", str(script), "start"], env=env, capture_output=True, text=True)
        if started.returncode != 0:
            print(f"slurm: skipped (the local cluster does not start: {started.stderr.strip()[-200:]})")
            return None
    return env


def _sbatch_wait(script: str, folder, env: dict) -> None:
    import subprocess

    path = folder / "job.sbatch"
    path.write_text(script)
    proc = subprocess.run(["sbatch", "--wait", str(path)], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"sbatch {path} failed ({proc.returncode}): {proc.stdout} {proc.stderr}")


def slurm_workers_run(folder, env: dict, workers: int, trials: int, seed: int) -> dict:
    """One ``uqhpo slurm --layout workers`` study of sleeping tasks; its stored utilization."""
    import subprocess
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    name = f"w{workers}"
    cfg = folder / f"{name}.yaml"
    cfg.write_text(SLURM_CONFIG.format(low=SLEEP_LOW, high=SLEEP_HIGH, trials=trials, study=name, seed=seed))
    proc = subprocess.run([sys.executable, "-m", "uqhpo.cli", "slurm", str(cfg), "--profile", "local", "--layout",
                           "workers", "--workers-per-node", str(workers), "--dry-run"], cwd=folder, env=env,
                          capture_output=True, text=True, check=True)
    script = proc.stdout
    cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], env=env, capture_output=True, text=True).stdout.split()
    if cpus and workers > int(cpus[0].rstrip("+")):
        # more workers than the node has CPUs: they sleep, so let Slurm put several on one CPU
        # (Slurm 22.05 refuses --ntasks-per-node above the CPUs even with --overcommit; --ntasks works)
        script = (script.replace(f"#SBATCH --ntasks-per-node={workers}",
                                 f"#SBATCH --ntasks={workers}\n#SBATCH --overcommit")
                  .replace(f"srun --ntasks-per-node={workers}", f"srun --ntasks={workers} --overcommit"))
    (folder / "runs" / name).mkdir(parents=True, exist_ok=True)      # the log's folder (sbatch needs it)
    t0 = time.time()
    _sbatch_wait(script, folder, env)
    u = stored_utilization(study_intervals(f"sqlite:///{folder / 'study.db'}", name), workers)
    u["job_wall"] = time.time() - t0
    return u


def slurm_sync_run(folder, env: dict, durations: list[float], workers: int) -> dict:
    """The same durations as synchronous batches: one ``srun`` step of ``workers`` sleeping
    tasks per batch, the next step once the slowest task of the batch ended."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = [durations[i:i + workers] for i in range(0, len(durations), workers)]
    (folder / "batches.txt").write_text("".join(" ".join(f"{d:.3f}" for d in b) + "\n" for b in batches))
    script = (f"#!/bin/bash\n#SBATCH --job-name=uqhpo-bench-sync\n#SBATCH --ntasks={workers}\n"
              f"#SBATCH --overcommit\n#SBATCH --cpus-per-task=1\n#SBATCH --output={folder}/sync-%j.out\n"
              "set -eu\ndate +%s.%N > t0\n"
              "while read -r line; do    # srun reads stdin: it gets none, or it eats the batches\n"
              "  n=$(echo $line | wc -w)\n"
              "  srun --ntasks=$n --overcommit bash -c 'd=($1); sleep ${d[$SLURM_PROCID]}' _ \"$line\" < /dev/null\n"
              "done < batches.txt\ndate +%s.%N > t1\n")
    _sbatch_wait(script, folder, env)
    makespan = float((folder / "t1").read_text()) - float((folder / "t0").read_text())
    floor = sum(max(b) for b in batches)       # no synchronous schedule can be faster than this
    if makespan < floor:
        raise RuntimeError(f"synchronous batches took {makespan:.1f} s < {floor:.1f} s: a step did not run")
    return {"overall": sum(durations) / (workers * makespan), "makespan": makespan, "n": len(durations),
            "throughput": len(durations) / makespan}


def slurm_rows(quick: bool) -> tuple[list[tuple], list[tuple]]:
    """(utilization rows, overhead rows) on the local Slurm cluster; empty where it is missing."""
    import shutil
    import tempfile
    from pathlib import Path

    env = slurm_env()
    if env is None:
        return [], []
    trials = {2: 16, 8: 40, 32: 96} if quick else {2: 40, 8: 120, 32: 320}
    base = Path(tempfile.mkdtemp(prefix="uqhpo-bench-slurm-"))
    runs = {w: slurm_workers_run(base / f"w{w}", env, w, trials[w], seed=w) for w in (2, 8, 32)}
    a = runs[2]
    durations = [b - s for _, s, b in sorted(study_intervals(f"sqlite:///{base / 'w2' / 'study.db'}", "w2"),
                                             key=lambda x: x[1])]
    sync = slurm_sync_run(base / "sync2", env, durations, 2)
    util = [("slurm workers (sleep)", 2, a["n"], a["overall"], a["steady"], sync["overall"], a["makespan"],
             sync["makespan"])]
    overhead = [("slurm", w, runs[w]["n"], runs[w]["workers_seen"], runs[w]["overall"], runs[w]["steady"],
                 runs[w]["idle_per_start"], runs[w]["throughput"]) for w in (2, 8, 32)]
    shutil.rmtree(base, ignore_errors=True)       # kept when a job failed, for its logs
    return util, overhead


def print_overhead_table(rows: list[tuple]) -> None:
    if not rows:
        return
    base = rows[0][6]
    head = (f"{'cluster':<10}{'workers':>8}{'jobs':>6}{'seen':>6}{'overall':>9}{'steady':>9}"
            f"{'idle/proposal':>15}{'vs 2 workers':>14}{'jobs/s':>9}")
    print("\nscheduling overhead per proposal (uqhpo worker processes coordinated by SQLite, sleeping tasks)")
    print(head)
    print("-" * len(head))
    for name, workers, n, seen, overall, steady, idle, rate in rows:
        ratio = "" if math.isnan(idle) or math.isnan(base) or base <= 0 else f"{idle / base:.2f}x"
        idle_s = "n/a" if math.isnan(idle) else f"{idle * 1e3:.0f} ms"
        steady_s = "" if math.isnan(steady) else f"{steady:.1%}"
        print(f"{name:<10}{workers:>8}{n:>6}{seen:>6}{overall:>9.1%}{steady_s:>9}{idle_s:>15}{ratio:>14}"
              f"{rate:>9.2f}")
    print("idle/proposal = idle worker-seconds while every worker runs and work remains, per replicate started")


# -- proposal overhead vs stored trials ------------------------------------------------------------
def _fill(storage, name: str, space, rng: np.random.Generator, upto: int) -> None:
    """Store finished trials (1 replicate each) until the study has ``upto``."""
    from uqhpo.trial import State

    for _ in range(storage.n_trials(name), upto):
        config = space.sample(rng, 1)[0]
        number = storage.add_trial(name, config, [int(rng.integers(2**31))])
        rep = storage.claim(name, "fill", trial=number, index=0)
        storage.finish(name, number, 0, rep.attempt, State.COMPLETE, loss=float(rng.random()), runtime=0.0)


def stored_trials_rows(sizes=(100, 1000, 5000), k: int = 20) -> list[tuple]:
    """Per-proposal time of a worker with ``n`` trials already stored: (n, cold load s,
    s per proposal). The task is instant, so everything measured is scheduling."""
    import tempfile

    import uqhpo
    from uqhpo.testing.tasks import quadratic

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/grow.db"
        space = quadratic.search_space()
        uqhpo.create_study(space, strategy="random", seed=0, storage=url, name="grow")
        rng = np.random.default_rng(0)
        for n in sizes:
            storage = uqhpo.get_storage(url)
            _fill(storage, "grow", space, rng, n)
            t0 = time.perf_counter()
            study = uqhpo.load_study(url, "grow")
            study.all_trials()
            t_load = time.perf_counter() - t0
            t0 = time.perf_counter()
            study.optimize("uqhpo.testing.tasks:quadratic", n_trials=n + k, executor="serial")
            per = (time.perf_counter() - t0) / k
            assert len(study.all_trials()) == n + k       # the next size counts these k too
            rows.append((n, t_load, per))
    return rows


def print_stored_table(rows: list[tuple]) -> None:
    if not rows:
        return
    n0, load0, per0 = rows[0]
    head = (f"{'stored trials':>14}{'cold load':>12}{'per proposal':>15}{'vs ' + str(n0):>10}"
            f"{'trials ratio':>14}{'exponent':>10}")
    print("\nproposal overhead vs stored trials (SQLite, random strategy, instant task, serial worker)")
    print(head)
    print("-" * len(head))
    for n, load, per in rows:
        exp = "" if n == n0 else f"{math.log(per / per0) / math.log(n / n0):.2f}"
        print(f"{n:>14}{load * 1e3:>10.0f} ms{per * 1e3:>12.1f} ms{per / per0:>9.2f}x{n / n0:>13.0f}x{exp:>10}")
    print("exponent = log(time ratio) / log(trials ratio): 1 is linear growth, 0 none (target: <= 1)")


def main(argv: list[str] | None = None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs (a smoke run)")
    parser.add_argument("--parts", default="sim,local,dask,slurm,stored",
                        help="comma-separated: sim, local, dask, slurm, stored (default: all)")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    unknown = parts - {"sim", "local", "dask", "slurm", "stored"}
    if unknown:
        parser.error(f"--parts: unknown part '{sorted(unknown)[0]}'")
    n_sim, n_local, n_study = (40, 8, 20) if args.quick else (200, 30, 100)
    n_dask, n_dask_study = (8, 12) if args.quick else (30, 40)
    t0 = time.time()
    rows: list[tuple] = []
    overhead: list[tuple] = []
    if "sim" in parts:
        rows += simulated_rows(n_sim)
        row = study_row(n_study)
        if row is not None:
            rows.append(row)
    if "local" in parts:
        rows.append(local_row(n_local))
    if "dask" in parts:
        rows += dask_rows(n_dask, n_dask_study)
    if "slurm" in parts:
        util, overhead = slurm_rows(args.quick)
        rows += util
    if rows:
        print_table(rows)
    print_overhead_table(overhead)
    if "stored" in parts:      # last: it measures the storage reads, which others may be changing
        sizes = (100, 300, 1000) if args.quick else (100, 1000, 5000)
        print_stored_table(stored_trials_rows(sizes))
    print(f"(benchmark wall time {time.time() - t0:.1f} s)")
    return rows


if __name__ == "__main__":
    main()
