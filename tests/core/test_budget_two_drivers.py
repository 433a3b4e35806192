"""Two drivers on one storage share a budget in trainings: neither overshoots it with new
configs (a lost reservation re-reads the trials and asks the policy again)."""
from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

import uqhpo

URLS = {"sqlite": "sqlite:///{}/s.db", "journal": "journal:///{}/s.jsonl"}


def _space():
    return uqhpo.Space({"x": uqhpo.Real(-2.0, 2.0)})


def _f(config, seed):
    return float(config["x"]) ** 2 + np.random.default_rng(seed).normal(0, 0.1)


def _attempts(study) -> int:
    return sum(t.trainings_spent() for t in study.all_trials())


@pytest.mark.parametrize("backend", sorted(URLS))
def test_a_lost_reservation_rechecks_the_training_budget(tmp_path, backend):
    url = URLS[backend].format(tmp_path)
    one = uqhpo.create_study(_space(), strategy="random", seed=3, storage=url, n_replicates=2)
    two = uqhpo.load_study(url)
    stale = one.all_trials()                            # driver one reads: no trial yet
    assert two.propose_trial(two.all_trials()) == 0     # driver two takes the 2 trainings of the budget
    full = lambda trials: sum(t.trainings_spent() for t in trials) + 2 <= 2  # noqa: E731
    assert one.propose_trial(stale, still_room=full) is None   # number 0 lost; the re-read finds no room
    assert len(one.all_trials()) == 1
    assert one.propose_trial(stale) == 1                 # without the check it would have added one


def _drive(url: str, barrier) -> None:
    study = uqhpo.load_study(url)
    barrier.wait()
    study.optimize(_f, max_trainings=9, show_progress=False)


@pytest.mark.parametrize("backend", sorted(URLS))
def test_two_driver_processes_spend_the_training_budget_exactly(tmp_path, backend):
    url = URLS[backend].format(tmp_path)
    uqhpo.create_study(_space(), strategy="random", seed=4, storage=url, n_replicates=3,
                       adaptive_replicates=True, kappa=0.0)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_drive, args=(url, barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    assert _attempts(uqhpo.load_study(url)) == 9
