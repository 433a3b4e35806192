"""The simulated executor: real losses, virtual time.

Each replicate runs for real in this process (instantly, to get its loss), but its
result is released only when a virtual clock reaches ``start + duration``, with the
duration drawn from a model of training times. Asynchronous scheduling, heterogeneous
durations, failures and dead workers can so be tested in milliseconds and exactly
reproducibly: every random draw comes from a stream keyed by (seed, trial, replicate
index, attempt), never by the order of events.

Reports reach the driver's report handler while the replicate runs, that is at its
virtual start; a pruned replicate stops there for real but keeps its drawn duration (the
duration model knows no steps).
"""
from __future__ import annotations

import heapq
import math
from typing import Any, Callable, Optional

import numpy as np

from ..seeding import derived_rng
from .base import Executor, Job, Outcome, ReplicateResult, in_process_hooks, timed_out
from .worker import resolve_task, run_slot

_Z95 = 1.6448536269514722   # standard-normal 95th percentile
_DURATION_KEY, _FATE_KEY = 0, 1


def duration_model(spec: Any) -> Callable[[dict, np.random.Generator], float]:
    """A duration spec -> ``f(config, rng) -> seconds``.

    Accepted specs:

    * a callable ``f(config, rng)``; a number (constant); ``None`` (constant 1 s);
    * ``{"dist": "constant", "value": v}``;
    * ``{"dist": "uniform", "low": a, "high": b}``;
    * ``{"dist": "lognormal", "median": m, "spread": s}``: ``spread`` is the ratio of
      the 95th to the 5th percentile, so ``spread=10`` means the slowest 5% of trainings
      take at least 10x as long as the fastest 5% (sigma = ln(s) / (2 * 1.645));
    * ``{"dist": "config", "key": "duration", "default": 1}``: read from the config.
    """
    if spec is None:
        spec = 1.0
    if callable(spec):
        return spec
    if isinstance(spec, (int, float)):
        spec = {"dist": "constant", "value": float(spec)}
    if not isinstance(spec, dict) or "dist" not in spec:
        raise ValueError("executor 'simulated': duration must be a callable, a number or a dict with 'dist', "
                         f"got {spec!r}")
    dist = spec["dist"]
    if dist == "constant":
        value = float(spec.get("value", 1.0))
        return lambda config, rng: value
    if dist == "uniform":
        low, high = float(spec["low"]), float(spec["high"])
        return lambda config, rng: float(rng.uniform(low, high))
    if dist == "lognormal":
        median, spread = float(spec.get("median", 1.0)), float(spec.get("spread", 10.0))
        if median <= 0 or spread < 1:
            raise ValueError(f"executor 'simulated': lognormal duration needs median > 0 and spread >= 1, got {spec}")
        sigma = math.log(spread) / (2.0 * _Z95)
        return lambda config, rng: float(median * math.exp(sigma * rng.standard_normal()))
    if dist == "config":
        key, default = spec.get("key", "duration"), float(spec.get("default", 1.0))
        return lambda config, rng: float(config.get(key, default))
    raise ValueError(f"executor 'simulated': unknown duration dist '{dist}' (constant, uniform, lognormal, config)")


class SimulatedExecutor(Executor):
    """Virtual-clock executor with ``workers`` simulated workers.

    Args:
        workers: simulated workers (jobs running at once).
        duration: training-time model, see :func:`duration_model`.
        failure_rate: probability a replicate fails ("failed", error "injected failure").
        loss_rate: probability a replicate's worker dies ("lost"); the rest of that job's
            slots are lost with it, as with a real dead worker.
        seed: seed of the duration and failure streams.
        start_time: initial value of the virtual clock.
    """

    name = "simulated"
    in_process = True
    virtual_clock = True

    def __init__(self, workers: int = 4, duration: Any = None, failure_rate: float = 0.0,
                 loss_rate: float = 0.0, seed: int = 0, start_time: float = 0.0):
        if int(workers) < 1:
            raise ValueError(f"executor 'simulated': workers must be >= 1, got {workers}")
        for label, p in (("failure_rate", failure_rate), ("loss_rate", loss_rate)):
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"executor 'simulated': {label} must be in [0, 1], got {p}")
        self._n = int(workers)
        self._duration = duration_model(duration)
        self.failure_rate, self.loss_rate, self.seed = float(failure_rate), float(loss_rate), int(seed)
        self._now = float(start_time)
        self._events: list[tuple[float, int, ReplicateResult]] = []   # (finish, order, result) heap
        self._order = 0                                             # deterministic tie-break
        self._busy: dict[int, int] = {}                             # worker -> unreleased slots
        self.busy_time = 0.0                                        # total virtual seconds worked

    def start(self) -> None:
        """Nothing to start."""

    @property
    def n_workers(self) -> int:
        return self._n

    def n_running(self) -> int:
        return len(self._busy)

    def time(self) -> float:
        return self._now

    def submit(self, job: Job) -> None:
        worker = next((i for i in range(self._n) if i not in self._busy), None)
        if worker is None:
            raise RuntimeError("executor 'simulated': no free worker; call submit only when free_slots() > 0")
        name = f"sim-{worker}"
        try:
            task = resolve_task(job.task, job.data)
        except Exception as e:  # noqa: BLE001 - reported like a failed import in a worker
            task, task_error = None, f"{type(e).__name__}: {e}"
        t = self._now
        dead = False
        on_report, stopped = in_process_hooks(self._report_handler, job)
        for slot in job.slots:
            key = (job.trial, slot.index, slot.attempt)
            seconds = max(float(self._duration(dict(job.config), derived_rng(self.seed, _DURATION_KEY, *key))), 0.0)
            fate = derived_rng(self.seed, _FATE_KEY, *key).random(2)   # (failure draw, loss draw)
            if dead:
                result = self._result(job, slot, name, Outcome.LOST,
                                      f"simulated worker {name} died earlier in this job")
                seconds = 0.0
            elif fate[1] < self.loss_rate:
                result = self._result(job, slot, name, Outcome.LOST, f"simulated worker {name} died (injected loss)")
                dead = True
            elif fate[0] < self.failure_rate:
                result = self._result(job, slot, name, Outcome.FAILED, "injected failure")
            elif task is None:
                result = self._result(job, slot, name, Outcome.FAILED, task_error)
            elif job.timeout is not None and seconds > job.timeout:  # the virtual worker is stopped at the limit
                result = self._result(job, slot, name, Outcome.FAILED, timed_out(job.timeout))
                seconds = float(job.timeout)
            elif stopped is not None and stopped():
                result = self._result(job, slot, name, Outcome.PRUNED, "pruned before it started")
                seconds = 0.0
            else:
                result = run_slot(job, slot, task, device="cpu", worker=name, on_report=on_report)
            result.started, result.finished, result.runtime = t, t + seconds, seconds
            heapq.heappush(self._events, (t + seconds, self._order, result))
            self._order += 1
            self.busy_time += seconds
            t += seconds
        self._busy[worker] = len(job.slots)
        if not job.slots:
            del self._busy[worker]

    @staticmethod
    def _result(job: Job, slot: Any, worker: str, status: Outcome, error: Optional[str]) -> ReplicateResult:
        return ReplicateResult(job_id=job.job_id, trial=job.trial, index=slot.index, attempt=slot.attempt,
                               seed=int(slot.seed), status=status, error=error, worker=worker)

    def poll(self, timeout: Optional[float] = 0.0) -> list[ReplicateResult]:
        """Results due by now; if none, advance the clock to the next completion, but not
        past ``now + timeout`` (``None`` = no limit). Returned in finish-time order."""
        if not self._events or self._events[0][0] > self._now:
            if not self._events:
                if timeout is not None:
                    self._now += max(float(timeout), 0.0)
                return []
            limit = math.inf if timeout is None else self._now + max(float(timeout), 0.0)
            if self._events[0][0] > limit:
                self._now = limit
                return []
            self._now = self._events[0][0]
        out = []
        while self._events and self._events[0][0] <= self._now:
            _, _, result = heapq.heappop(self._events)
            worker = int(str(result.worker).split("-")[1])
            self._busy[worker] -= 1
            if self._busy[worker] == 0:
                del self._busy[worker]
            out.append(result)
        return out

    def shutdown(self, cancel: bool = True) -> None:
        """With ``cancel`` unreleased results are dropped; without, they stay for ``poll``."""
        if cancel:
            self._events.clear()
            self._busy.clear()

    def __repr__(self) -> str:
        return f"SimulatedExecutor(workers={self._n}, t={self._now:.3g}, running={self.n_running()})"
