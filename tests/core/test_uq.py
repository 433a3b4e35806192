"""UQ aggregates, observations from trial records, and the MC-dropout summary."""
from __future__ import annotations

import math

import numpy as np
import pytest

from uqhpo.space import Categorical, Integer, Space
from uqhpo.trial import Replicate, State, Trial
from uqhpo.uq import Aggregate, aggregate, direction_sign, mc_dropout_summary, observations_from_trials


def test_aggregate_matches_numpy_by_hand():
    x = np.array([0.31, 0.29, 0.35, 0.40])
    a = aggregate(x, kappa=2.0)
    mean = x.sum() / 4
    std = math.sqrt(((x - mean) ** 2).sum() / 3)
    assert a.n == 4
    assert a.mean == pytest.approx(mean)
    assert a.std == pytest.approx(std)
    assert a.sem == pytest.approx(std / 2)
    assert a.objective == pytest.approx(mean + 2 * std)
    assert a.objective_var == pytest.approx(std ** 2 / 4 + 4 * std ** 2 / 6)


def test_kappa_zero_is_the_plain_mean_and_single_loss_has_no_spread():
    a = aggregate([1.0, 2.0, 6.0], kappa=0.0)
    assert a.objective == pytest.approx(3.0)
    assert a.objective_var == pytest.approx(a.sem ** 2)
    one = aggregate([0.5], kappa=3.0)
    assert one == Aggregate(1, 0.5, 0.0, 0.0, 0.5, 0.0)


def test_non_finite_losses_are_ignored_and_empty_gives_nan():
    a = aggregate([1.0, math.nan, 3.0, math.inf], kappa=1.0)
    assert a.n == 2 and a.mean == pytest.approx(2.0) and a.std == pytest.approx(math.sqrt(2))
    empty = aggregate([math.nan, -math.inf])
    assert empty.n == 0
    assert all(math.isnan(getattr(empty, f)) for f in ("mean", "std", "sem", "objective", "objective_var"))
    assert aggregate([]).n == 0


def test_direction_sign():
    assert direction_sign("minimize") == 1.0 and direction_sign("maximize") == -1.0
    with pytest.raises(ValueError, match="direction"):
        direction_sign("down")


def _trial(number, config, states_losses, n_replicates=None):
    reps = []
    for i, (state, loss) in enumerate(states_losses):
        reps.append(Replicate(trial=number, index=i, attempt=0, seed=100 + i, state=state, loss=loss))
    return Trial(number=number, config=config, n_replicates=n_replicates or len(reps), replicates=reps)


def _history():
    C, F, R = State.COMPLETE, State.FAILED, State.RUNNING
    return [
        _trial(0, {"a": 1, "c": "x"}, [(C, 1.0), (C, 3.0)]),
        _trial(1, {"a": 2, "c": "y"}, [(F, None), (F, None)]),
        _trial(2, {"a": 3, "c": "x"}, [(C, 2.0), (F, None)]),
        _trial(3, {"a": 4, "c": "y"}, [(C, 5.0), (R, None)]),
        _trial(4, {"a": 5, "c": "x"}, [(C, 0.5)], n_replicates=2),
    ]


def test_observations_from_trials_minimize():
    space = Space({"a": Integer(1, 9), "c": Categorical(["x", "y"])})
    obs = observations_from_trials(_history(), space, kappa=1.0)
    assert obs.configs == [{"a": 1, "c": "x"}, {"a": 3, "c": "x"}]
    np.testing.assert_allclose(obs.values, [2.0 + math.sqrt(2), 2.0])
    np.testing.assert_allclose(obs.variances, [2 / 2 + 2 / 2, 0.0])
    assert obs.failed == [{"a": 2, "c": "y"}]
    # completed replicate attempts of every trial, also of running/waiting ones
    assert obs.n_evaluations == 2 + 1 + 1 + 1
    assert obs.best_index == 1


def test_observations_from_trials_maximize_negates_before_aggregating():
    space = Space({"a": Integer(1, 9), "c": Categorical(["x", "y"])})
    obs = observations_from_trials(_history(), space, kappa=1.0, direction="maximize")
    np.testing.assert_allclose(obs.values, [-2.0 + math.sqrt(2), -2.0])
    assert obs.best_index == 1


def test_observations_keep_only_space_parameters():
    space = Space({"a": Integer(1, 9)})
    obs = observations_from_trials(_history()[:1], space)
    assert obs.configs == [{"a": 1}]


def test_retried_replicate_counts_once():
    space = Space({"a": Integer(1, 9)})
    t = _trial(0, {"a": 1}, [(State.COMPLETE, 1.0), (State.STALE, None)])
    t.replicates.append(Replicate(trial=0, index=1, attempt=1, seed=7, state=State.COMPLETE, loss=2.0))
    obs = observations_from_trials([t], space, kappa=0.0)
    np.testing.assert_allclose(obs.values, [1.5])
    assert obs.n_evaluations == 2


def test_mc_dropout_summary_on_a_hand_made_array():
    # k=2 trainings x m=2 masks x n=3 samples
    P = np.array([[[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]],
                  [[2.0, 2.0, 2.0], [4.0, 4.0, 4.0]]])
    T = np.array([2.0, 2.0, 2.0])
    s = mc_dropout_summary(P, T)
    # per-replicate mask means: [2, 2, 2] and [3, 3, 3]
    np.testing.assert_allclose(s["prediction_mean"], [2.5, 2.5, 2.5])
    np.testing.assert_allclose(s["epistemic_std"], np.full(3, math.sqrt(0.5)))
    np.testing.assert_allclose(s["prediction_std"], np.std(P.reshape(4, 3), axis=0, ddof=1))
    np.testing.assert_allclose(s["loss_per_replicate"], [0.0, 1.0])
    assert s["loss_mean"] == pytest.approx(0.5)
    assert s["loss_std"] == pytest.approx(math.sqrt(0.5))
    assert s["loss_of_mean"] == pytest.approx(0.25)


def test_mc_dropout_summary_shapes_custom_loss_and_single_replicate():
    rng = np.random.default_rng(0)
    P = rng.normal(size=(3, 5, 7, 2))
    T = rng.normal(size=(7, 2))
    s = mc_dropout_summary(P, T, loss_fn=lambda p, t: float(np.abs(p - t).mean()))
    for key in ("prediction_mean", "prediction_std", "epistemic_std"):
        assert s[key].shape == (7, 2)
    assert s["loss_per_replicate"].shape == (3,)
    assert s["loss_per_replicate"][1] == pytest.approx(np.abs(P[1].mean(0) - T).mean())
    single = mc_dropout_summary(P[:1], T)
    assert single["loss_std"] == 0.0 and np.all(single["epistemic_std"] == 0)
    assert single["loss_mean"] == pytest.approx(single["loss_of_mean"])


def test_mc_dropout_summary_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="targets"):
        mc_dropout_summary(np.zeros((2, 3, 4)), np.zeros(5))
    with pytest.raises(ValueError, match="predictions"):
        mc_dropout_summary(np.zeros((2, 3)), np.zeros(3))
