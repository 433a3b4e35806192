"""Misbehaving tasks for the fault-injection suite.

The tests copy this module next to the YAML configs they write, so ``uqhpo run`` and its
spawned workers import it as ``hostile_tasks:<name>``. Each task has a two-parameter
space ``x`` in [0, 1] and ``y`` in [0, 1]; which trial misbehaves is keyed by
``ctx.trial``, so the outcome does not depend on which configs the strategy draws.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

import uqhpo

SPACE = uqhpo.Space({"x": uqhpo.Real(0.0, 1.0), "y": uqhpo.Real(0.0, 1.0)})


class _Base(uqhpo.Task):
    def search_space(self) -> uqhpo.Space:
        return SPACE


class WellBehaved(_Base):
    def run(self, config: dict, ctx: uqhpo.TrialContext) -> float:
        return config["x"] + config["y"]


class KillsSomeTrials(_Base):
    """Trial 1 is SIGKILLed (as by the OOM killer) and trial 2 calls ``os._exit(3)``, on
    every attempt; every other trial returns ``x + y``."""

    def run(self, config: dict, ctx: uqhpo.TrialContext) -> float:
        if ctx.trial == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if ctx.trial == 2:
            os._exit(3)
        return config["x"] + config["y"]


class HangsOnTrialOne(_Base):
    """Trial 1 sleeps a minute (a hung training); the others return at once."""

    def run(self, config: dict, ctx: uqhpo.TrialContext) -> float:
        if ctx.trial == 1:
            time.sleep(60)
        return config["x"]


class AlwaysSlow(_Base):
    """Every training sleeps a minute, unless a file named ``fast`` is in the current folder."""

    def run(self, config: dict, ctx: uqhpo.TrialContext) -> float:
        if not Path("fast").exists():
            time.sleep(60)
        return config["x"]


class Diverges(_Base):
    """Trial 0 diverges to a huge finite loss near the float maximum; others are fine."""

    def run(self, config: dict, ctx: uqhpo.TrialContext) -> float:
        return 1.7e308 if ctx.trial == 0 else config["x"]


class OddResults(_Base):
    """Trial 0: metrics of every awkward kind; trial 1: a loss that is a string; trial 2: a
    boolean loss; others: a numpy float32 loss."""

    def run(self, config: dict, ctx: uqhpo.TrialContext) -> object:
        if ctx.trial == 1:
            return {"loss": "0.5"}
        if ctx.trial == 2:
            return True
        return {"loss": np.float32(config["x"]), "opaque": object(), "lock": threading.Lock(),
                "zero_d": np.array(2.5), "count": np.int64(3), "curve": np.arange(3.0)}


class AlwaysFails(_Base):
    def run(self, config: dict, ctx: uqhpo.TrialContext) -> float:
        raise RuntimeError("data loader exploded")


def plain_function(config: dict, seed: int) -> float:
    """A function task: no space of its own, so the YAML config gives it one."""
    return (config["x"] - 0.3) ** 2 + (config["y"] - 0.6) ** 2


well_behaved = WellBehaved()
kills_some_trials = KillsSomeTrials()
hangs_on_trial_one = HangsOnTrialOne()
always_slow = AlwaysSlow()
diverges = Diverges()
odd_results = OddResults()
always_fails = AlwaysFails()
