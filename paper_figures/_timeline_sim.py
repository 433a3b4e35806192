"""The same RBF search scheduled asynchronously or synchronously on a virtual clock.

Losses are real (the noisy quadratic test task, run with each replicate's stored seed);
training times are virtual, drawn log-normally per (trial, replicate) with a 10x spread
between the fastest and slowest 5 %, identical in both modes. Each replicate is claimed
and finished in the storage at its virtual start and end time, so the stored study reads
like one run on ``workers`` machines.

* async: a worker that frees takes the next waiting replicate, or a new config proposed
  with every unfinished one pending (what ``Study.optimize`` does);
* sync: ``workers // replicates`` configs at a time; the next batch starts when the
  slowest replicate of the batch has finished.
"""
from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np

T0 = 1_700_000_000.0  # virtual clock origin (unix seconds)


def _duration(seed: int, trial: int, index: int, median: float, spread: float) -> float:
    sigma = math.log(spread) / (2 * 1.6448536269514722)
    return median * math.exp(sigma * np.random.default_rng([seed, trial, index]).standard_normal())


def simulate(url: str, name: str, mode: str, *, n_trials: int = 24, workers: int = 4, replicates: int = 2,
             seed: int = 0, median: float = 60.0, spread: float = 10.0) -> Any:
    """Build (or reopen, when finished) the study ``name`` in ``url``; returns it."""
    import uqhpo  # noqa: PLC0415
    from uqhpo.task import TrialContext  # noqa: PLC0415
    from uqhpo.testing.tasks import quadratic  # noqa: PLC0415
    from uqhpo.trial import State  # noqa: PLC0415

    if mode not in ("async", "sync"):
        raise ValueError(f"mode must be 'async' or 'sync', got {mode!r}")
    study = uqhpo.create_study(task=quadratic, strategy="rbf", strategy_options={"n_initial": 8},
                               n_replicates=replicates, seed=seed, storage=url, name=name, load_if_exists=True,
                               settings={"schedule": mode, "virtual_clock": True})
    if study.all_trials():
        return study
    study.update_settings(n_trials=n_trials)
    store, names = study.storage, [f"worker-{i}" for i in range(workers)]

    def start(worker: str, now: float, trial: int | None = None, index: int | None = None) -> Any:
        rep = store.claim(name, worker=worker, trial=trial, index=index, now=T0 + now)
        if rep is None:
            return None
        config = store.get_trial(name, rep.trial).config
        loss = quadratic.run(config, TrialContext(seed=rep.seed, trial=rep.trial, replicate=rep.index))["loss"]
        end = now + _duration(seed, rep.trial, rep.index, median, spread)
        return (end, worker, rep.trial, rep.index, rep.attempt, loss)

    def finish(job: tuple) -> None:
        end, _, trial, index, attempt, loss = job
        store.finish(name, trial, index, attempt, State.COMPLETE, loss=loss, runtime=None, now=T0 + end)

    now, created = 0.0, 0
    if mode == "async":
        running: list[tuple] = []
        free = list(names)
        while True:
            while free:
                job = start(free[0], now)
                if job is None and created < n_trials:
                    study.add_trial(study.propose(1)[0])
                    created += 1
                    continue
                if job is None:
                    break
                heapq.heappush(running, job)
                free.pop(0)
            if not running:
                break
            job = heapq.heappop(running)
            now = job[0]
            finish(job)
            free.append(job[1])
    else:
        per_batch = max(workers // replicates, 1)
        while created < n_trials:
            numbers = [study.add_trial(c) for c in study.propose(min(per_batch, n_trials - created))]
            created += len(numbers)
            jobs = []
            slots = iter(names * replicates)
            for number in numbers:
                for index in range(replicates):
                    jobs.append(start(next(slots), now, number, index))
            for job in sorted(jobs):
                finish(job)
            now = max(job[0] for job in jobs)
    return study
