"""Test and demo tasks, importable by path as ``"uqhpo.testing.tasks:<name>"``.

=================  ===============================================================
name               behaviour
=================  ===============================================================
``quadratic``      noisy quadratic bowl over x, y (reals), n (integer), act
                   (categorical); minimum near x=1, y=-2, n=3, act="tanh"; the noise
                   comes from the replicate seed only
``sleep``          sleeps ``config["duration"]`` seconds, loss = ``config["x"]``
``raises``         raises ``RuntimeError`` (message names the config)
``nan``            returns NaN
``reporting``      calls ``ctx.report`` for ``config["steps"]`` steps, returns a dict
``self_kill``      SIGKILLs its own process when ``config["kill"]`` is true (and, if
                   given, only for replicate ``config["kill_replicate"]``); refuses in
                   a main process so a serial run cannot kill the test session
``flaky``          fails on attempt 0, succeeds on later attempts
``kill_first_attempt``  SIGKILLs its worker on attempt 0 of replicate 0
``inspect_context``  returns the context it saw (seed, device, pid...) as metrics
=================  ===============================================================
"""
from __future__ import annotations

import math
import multiprocessing
import os
import signal
import time
from typing import Optional

import numpy as np

from ..space import Categorical, Integer, Real, Space
from ..task import Task, TrialContext

_ACTIVATION_OFFSET = {"relu": 0.5, "tanh": 0.0, "gelu": 0.25}


class NoisyQuadratic(Task):
    """A bowl with replicate noise: a cheap stand-in for a noisy training run.

    loss = (x - 1)^2 + (y + 2)^2 + 0.1 (n - 3)^2 + offset(act) + noise * N(0, 1),
    the normal draw taken from ``ctx.seed``, so the same seed gives the same loss.
    """

    def __init__(self, noise: float = 0.1):
        self.noise = float(noise)

    def search_space(self) -> Space:
        return Space({"x": Real(-5.0, 5.0), "y": Real(-5.0, 5.0), "n": Integer(1, 8),
                      "act": Categorical(["relu", "tanh", "gelu"])})

    def run(self, config: dict, ctx: TrialContext) -> dict:
        clean = ((float(config["x"]) - 1.0) ** 2 + (float(config["y"]) + 2.0) ** 2
                 + 0.1 * (int(config.get("n", 3)) - 3) ** 2
                 + _ACTIVATION_OFFSET[config.get("act", "tanh")])
        draw = float(np.random.default_rng(ctx.seed).standard_normal())
        return {"loss": clean + self.noise * draw, "clean": clean}


class Sleep(Task):
    """Sleeps ``config["duration"]`` seconds (default 0.05); loss = ``config.get("x", duration)``."""

    def search_space(self) -> Space:
        return Space({"duration": Real(0.01, 0.2), "x": Real(0.0, 1.0)})

    def run(self, config: dict, ctx: TrialContext) -> dict:
        duration = float(config.get("duration", 0.05))
        time.sleep(max(duration, 0.0))
        return {"loss": float(config.get("x", duration)), "pid": os.getpid()}


class Raises(Task):
    """Always raises ``RuntimeError``."""

    def search_space(self) -> Space:
        return Space({"x": Real(0.0, 1.0)})

    def run(self, config: dict, ctx: TrialContext) -> float:
        raise RuntimeError(f"test task failed on purpose for config {config}")


class ReturnsNaN(Task):
    """Always returns NaN (a diverged training)."""

    def search_space(self) -> Space:
        return Space({"x": Real(0.0, 1.0)})

    def run(self, config: dict, ctx: TrialContext) -> float:
        return math.nan


class Reporting(Task):
    """Reports a decaying validation loss per step, returns it with metrics."""

    def search_space(self) -> Space:
        return Space({"x": Real(0.0, 1.0), "steps": Integer(1, 10)})

    def run(self, config: dict, ctx: TrialContext) -> dict:
        x, steps = float(config.get("x", 0.5)), int(config.get("steps", 3))
        value = 1.0 + x
        for step in range(steps):
            value = 0.5 * value + 0.1 * x
            ctx.report(step, val_loss=value)
        return {"loss": value, "steps": steps, "final": np.float64(value)}


class SelfKill(Task):
    """SIGKILLs its own (worker) process when the config asks; otherwise returns ``x``."""

    def search_space(self) -> Space:
        return Space({"x": Real(0.0, 1.0)})

    def run(self, config: dict, ctx: TrialContext) -> float:
        wanted = config.get("kill_replicate")
        if config.get("kill") and (wanted is None or int(wanted) == ctx.replicate):
            if multiprocessing.parent_process() is None:
                raise RuntimeError("self_kill refuses to kill a main process; run it on the local executor")
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(float(config.get("duration", 0.0)))
        return float(config.get("x", 0.0))


class KillFirstAttempt(Task):
    """SIGKILLs its worker process on the first attempt of replicate 0 (a node dying mid-
    training); every other attempt sleeps briefly and returns ``x``."""

    def search_space(self) -> Space:
        return Space({"x": Real(0.0, 1.0)})

    def run(self, config: dict, ctx: TrialContext) -> float:
        if ctx.attempt == 0 and ctx.replicate == 0:
            if multiprocessing.parent_process() is None:
                raise RuntimeError("kill_first_attempt refuses to kill a main process; use the local executor")
            time.sleep(0.2)  # "mid-training"
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.05)
        return float(config.get("x", 0.0))


class Flaky(Task):
    """Raises on attempt 0, returns ``x`` on any retry (for retry logic)."""

    def search_space(self) -> Space:
        return Space({"x": Real(0.0, 1.0)})

    def run(self, config: dict, ctx: TrialContext) -> float:
        if ctx.attempt == 0:
            raise RuntimeError("flaky test task: first attempt fails")
        return float(config.get("x", 0.0))


class InspectContext(Task):
    """Returns what the context held, so tests can check what a worker was given."""

    def search_space(self) -> Space:
        return Space({"x": Real(0.0, 1.0)})

    def run(self, config: dict, ctx: TrialContext) -> dict:
        return {"loss": float(config.get("x", 0.0)), "seed": ctx.seed, "trial": ctx.trial,
                "replicate": ctx.replicate, "attempt": ctx.attempt, "device": ctx.device,
                "workdir": str(ctx.workdir), "mc_dropout": ctx.mc_dropout, "pid": os.getpid(),
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def seeded_function(config: dict, seed: int) -> float:
    """A plain ``f(config, seed)`` objective: x^2 plus seed-derived noise."""
    return float(config.get("x", 0.0)) ** 2 + 0.01 * float(np.random.default_rng(seed).standard_normal())


quadratic = NoisyQuadratic()
sleep = Sleep()
raises = Raises()
nan = ReturnsNaN()
reporting = Reporting()
self_kill = SelfKill()
flaky = Flaky()
kill_first_attempt = KillFirstAttempt()
inspect_context = InspectContext()


class DataEcho(Task):
    """A task with a data section: ``configure({"offset": x})`` shifts the loss by ``x``.

    Its metrics tell a test which data the worker saw and in which process it ran:
    ``offset`` (the configured value, None when never configured), ``pid`` and
    ``configure_calls`` (how often this process's task object was configured).
    """

    def __init__(self) -> None:
        self.offset: Optional[float] = None
        self.configure_calls = 0

    def search_space(self) -> Space:
        return Space({"x": Real(-1.0, 1.0)})

    def configure(self, data: dict) -> None:
        unknown = sorted(set(data) - {"offset"})
        if unknown:
            raise ValueError(f"unknown data key '{unknown[0]}' for DataEcho; known: offset")
        self.offset = float(data.get("offset", 0.0))
        self.configure_calls += 1

    def run(self, config: dict, ctx: TrialContext) -> dict:
        return {"loss": float(config["x"]) ** 2 + (self.offset or 0.0), "offset": self.offset,
                "pid": os.getpid(), "configure_calls": self.configure_calls}


data_echo = DataEcho()
