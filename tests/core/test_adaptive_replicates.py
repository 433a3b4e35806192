"""Adaptive replication: new configs train once, the incumbent is topped up to k."""
from __future__ import annotations

import numpy as np
import pytest

import uqhpo
from uqhpo import uq
from uqhpo.trial import State
from uqhpo.uq import aggregate


def _space():
    return uqhpo.Space({"x": uqhpo.Real(-2, 2)})


def test_ask_tops_up_the_incumbent_before_new_configs():
    s = uqhpo.create_study(_space(), strategy="random", seed=0, n_replicates=3, adaptive_replicates=True, kappa=0)
    first = s.ask()
    assert first.n_replicates == 1 and len(first.waiting()) == 1
    s.tell(first, 1.0)
    again = s.ask()                               # the incumbent gets its second replicate
    assert again.number == first.number and [r.index for r in again.waiting()] == [1]
    assert again.waiting()[0].seed != first.replicates[0].seed
    s.tell(again, [1.2])
    s.tell(s.ask(), [1.1])                        # third replicate
    assert s.best.n == 3
    fresh = s.ask()                               # incumbent complete: a new config
    assert fresh.number == 1 and fresh.n_replicates == 1


def test_a_lucky_single_draw_is_challenged():
    s = uqhpo.create_study(_space(), strategy="random", seed=1, n_replicates=3, adaptive_replicates=True, kappa=0)
    steady = s.ask()
    s.tell(steady, 1.0)
    s.tell(s.ask(), 1.0)
    s.tell(s.ask(), 1.0)
    lucky = s.ask()
    s.tell(lucky, 0.1)                           # lucky draw becomes the best ...
    assert s.best.number == lucky.number
    top_up = s.ask()                             # ... so it is re-trained next
    assert top_up.number == lucky.number
    s.tell(top_up, 3.0)
    assert s.best.number == steady.number        # and loses its place


def test_pooled_std_gives_single_draws_a_spread():
    s = uqhpo.create_study(_space(), strategy="random", seed=2, n_replicates=3, adaptive_replicates=True, kappa=1)
    a = s.ask()
    s.tell(a, 1.0)
    s.tell(s.ask(), 1.4)
    s.tell(s.ask(), 0.6)                         # trial 0: [1.0, 1.4, 0.6], std 0.4
    single = s.ask()
    s.tell(single, 0.9)
    frozen = {t.number: t for t in s.trials}
    assert frozen[a.number].std == pytest.approx(0.4)
    assert frozen[single.number].std == pytest.approx(0.4)          # pooled, not 0
    assert frozen[single.number].value == pytest.approx(0.9 + 0.4)
    obs = s.observations()
    assert obs.variances[1] == pytest.approx(0.4 ** 2)              # the surrogate sees it as noisy


def test_pooled_std_and_aggregate_prior():
    assert aggregate([2.0], kappa=1, std_prior=0.5).objective == pytest.approx(2.5)
    assert aggregate([2.0], kappa=1).std == 0.0
    assert aggregate([1.0, 3.0], kappa=1, std_prior=99).std == pytest.approx(np.std([1, 3], ddof=1))


def test_optimize_adaptive_ends_with_a_fully_replicated_incumbent(tmp_path):
    def noisy(config, seed):
        return config["x"] ** 2 + np.random.default_rng(seed).normal(0, 0.3)

    s = uqhpo.create_study(_space(), strategy="rbf", seed=3, n_replicates=3, adaptive_replicates=True,
                           kappa=0, storage=f"sqlite:///{tmp_path}/a.db")
    s.optimize(noisy, n_trials=15)
    trials = s.all_trials()
    assert len(trials) == 15 and all(t.state == State.COMPLETE for t in trials)
    assert s.best.n == 3
    counts = [t.n_replicates for t in trials]
    assert min(counts) == 1 and sum(counts) < 3 * 15      # weak configs cost one training
    assert uqhpo.load_study(f"sqlite:///{tmp_path}/a.db").adaptive


def test_two_agreeing_draws_are_not_exact_for_the_surrogate(monkeypatch):
    """uq.PRIOR_DOF: the noise a multi-replicate config shows the strategy is its own spread
    shrunk toward the pooled one, so two draws that happen to agree are not 'exact'."""
    s = uqhpo.create_study(_space(), strategy="random", seed=2, n_replicates=2, adaptive_replicates=True, kappa=0)
    a = s.ask()
    s.tell(a, 1.0)
    assert s.ask().number == a.number            # the incumbent is confirmed first
    s.tell(a.number, 1.0)                        # a: [1.0, 1.0], own spread 0
    b = s.ask()
    s.tell(b, 0.0)
    assert s.ask().number == b.number
    s.tell(b.number, 2.0)                        # b: [0.0, 2.0], own var 2; pooled var (0 + 2) / 2 = 1
    obs = s.observations()
    dof = uq.PRIOR_DOF
    assert dof > 0
    assert obs.variances[0] == pytest.approx((dof * 1.0) / (1 + dof) / 2)
    assert obs.variances[1] == pytest.approx((2.0 + dof * 1.0) / (1 + dof) / 2)
    assert list(obs.values) == pytest.approx([1.0, 1.0])          # the means are untouched
    monkeypatch.setattr(uq, "PRIOR_DOF", 0.0)
    raw = uqhpo.create_study(_space(), strategy="random", seed=2, n_replicates=2, adaptive_replicates=True, kappa=0)
    for number, values in [(raw.add_trial(a.config, 2), [1.0, 1.0]), (raw.add_trial(b.config, 2), [0.0, 2.0])]:
        raw.tell(number, values)
    assert list(raw.observations().variances) == pytest.approx([0.0, 1.0])  # the old behaviour
