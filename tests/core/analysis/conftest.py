"""Small synthetic studies with known values, built with ask/tell and the storage API."""
from __future__ import annotations

import numpy as np
import pytest

import uqhpo
from uqhpo.space import Categorical, Integer, Real, Space
from uqhpo.trial import State


def only_x_matters(config: dict) -> float:
    """A loss that depends on x alone (minimum at x = 0.3)."""
    return (float(config["x"]) - 0.3) ** 2


def told_study(n_trials: int = 24, strategy: str = "random", seed: int = 0, n_initial: int = 6):
    """A study over (x, y, n, act) whose replicate losses depend on x only, plus small noise."""
    space = Space({"x": Real(0.0, 1.0), "y": Real(1e-3, 1.0, log=True), "n": Integer(1, 4),
                   "act": Categorical(["relu", "tanh"])})
    options = {"n_initial": n_initial} if strategy in ("rbf", "gp") else {}
    study = uqhpo.create_study(space, strategy=strategy, strategy_options=options, n_replicates=3, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(n_trials):
        trial = study.ask()
        base = only_x_matters(trial.config)
        study.tell(trial, [base + 0.001 * rng.standard_normal() for _ in range(3)])
    return study


def timed_replicate(study, number: int, index: int, worker: str, start: float, end: float, loss: float,
                    reports=()) -> None:
    """Claim and finish one replicate at given (virtual) times, with per-step reports."""
    rep = study.storage.claim(study.name, worker=worker, trial=number, index=index, now=start)
    for step, metrics in reports:
        study.storage.add_report(study.name, number, index, rep.attempt, step, metrics)
    study.storage.finish(study.name, number, index, rep.attempt, State.COMPLETE, loss=loss, runtime=end - start,
                         now=end)


@pytest.fixture
def random_study():
    return told_study()


@pytest.fixture
def make_study():
    return told_study


@pytest.fixture
def timed():
    return timed_replicate
