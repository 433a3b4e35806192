"""Worker utilization: asynchronous scheduling vs synchronous batches.

Training times of different configs differ a lot (here: lognormal, 10x between the 5th
and 95th percentile). A synchronous driver submits one batch of ``workers`` jobs and
waits for the slowest before the next batch, so fast workers sit idle; an asynchronous
driver hands a new job to a worker the moment it frees. Utilization is

    busy time / (workers * makespan)

with busy time the sum over replicates of (finished - started) in the executor's clock.

Rows: (a) the simulated executor (virtual clock) with 4 and 16 workers and ~200 jobs;
(b) 2 real local worker processes running a sleeping task (0.1-1 s, ~30 jobs);
(c) ``Study.optimize`` on the simulated executor (busy time from the replicate runtimes
the study stored, makespan from the executor clock).

Usage: ``python benchmarks/bench_utilization.py [--quick]``
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
    study.optimize("uqhpo.testing.tasks:quadratic", n_trials=n_trials, n_replicates=1, executor=ex, progress=False)
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
    print("utilization = busy time / (workers x makespan); durations lognormal, 10x spread (5th-95th pct)")
    print("steady = async utilization up to the last submission (excludes the drain of the final jobs)")


def main(argv: list[str] | None = None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs (a smoke run)")
    args = parser.parse_args(argv)
    n_sim, n_local, n_study = (40, 8, 20) if args.quick else (200, 30, 100)
    t0 = time.time()
    rows = simulated_rows(n_sim)
    rows.append(local_row(n_local))
    row = study_row(n_study)
    if row is not None:
        rows.append(row)
    print_table(rows)
    print(f"(benchmark wall time {time.time() - t0:.1f} s)")
    return rows


if __name__ == "__main__":
    main()
