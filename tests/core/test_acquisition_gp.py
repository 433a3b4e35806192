"""Tests of EI / LCB acquisition with fantasies (core/acquisition/gp_acquisition.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from uqhpo import Categorical, Integer, Real, Space
from uqhpo.acquisition.gp_acquisition import (
    acquisition_scores,
    candidate_points,
    expected_improvement,
    log_expected_improvement,
    lower_confidence_bound,
    propose_gp,
)
from uqhpo.space import taken_keys
from uqhpo.surrogates.gp import GaussianProcess


def test_ei_matches_monte_carlo_and_is_positive():
    rng = np.random.default_rng(0)
    mean, std, best = np.array([0.3]), np.array([0.5]), 0.1
    draws = rng.normal(mean[0], std[0], 400_000)
    mc = np.mean(np.maximum(best - draws, 0.0))
    ei = expected_improvement(mean, std, best)
    assert ei[0] > 0
    assert abs(ei[0] - mc) < 3e-3


def test_ei_monotone_in_mean_and_std():
    means = np.linspace(-1, 2, 50)
    ei = expected_improvement(means, np.full(50, 0.3), best=0.5)
    assert np.all(np.diff(ei) < 0)           # lower mean -> more improvement
    stds = np.linspace(0.01, 2, 50)
    ei = expected_improvement(np.full(50, 1.0), stds, best=0.5)
    assert np.all(np.diff(ei) > 0)           # more uncertainty -> more improvement


def test_log_ei_is_accurate_in_the_tail_and_has_right_derivatives():
    mean = np.array([0.0, 1.0, 5.0, 50.0, 1e4])
    std = np.full(5, 1.0)
    val, d_mean, d_std = log_expected_improvement(mean, std, best=0.0)
    assert np.all(np.isfinite(val)) and np.all(np.isfinite(d_mean)) and np.all(np.isfinite(d_std))
    plain = expected_improvement(mean[:3], std[:3], 0.0)
    assert np.allclose(val[:3], np.log(plain), rtol=1e-10)
    assert np.all(np.diff(val) < 0)          # still strictly decreasing far in the tail
    # asymptotic check at z = -50: EI ~ phi(z) / z^2 * (1 - 3 / z^2)
    assert abs(val[3] - (norm.logpdf(50.0) - 2 * math.log(50.0) + math.log(1 - 3 / 50.0 ** 2))) < 1e-5
    # continuous across the switch to the asymptotic series at z = -40
    near = log_expected_improvement(np.array([40.0 - 1e-9, 40.0 + 1e-9]), np.ones(2), 0.0)[0]
    assert abs(near[0] - near[1]) < 1e-6
    eps = 1e-6
    num_mean = (log_expected_improvement(mean[:4] + eps, std[:4], 0.0)[0] - val[:4]) / eps
    num_std = (log_expected_improvement(mean[:4], std[:4] + eps, 0.0)[0] - val[:4]) / eps
    assert np.allclose(num_mean, d_mean[:4], rtol=1e-3)
    assert np.allclose(num_std, d_std[:4], rtol=1e-3)


def test_lcb_prefers_low_mean_and_high_std():
    assert lower_confidence_bound(np.array([0.0]), np.array([1.0]), 2.0)[0] == -2.0
    lcb = lower_confidence_bound(np.array([1.0, 1.0, 0.0]), np.array([0.1, 1.0, 0.1]), 2.0)
    assert lcb[1] < lcb[0] and lcb[2] < lcb[0]


def _fitted(rng: np.random.Generator) -> tuple[GaussianProcess, np.ndarray, np.ndarray]:
    X = rng.random((12, 2))
    y = (X[:, 0] - 0.7) ** 2 + (X[:, 1] - 0.2) ** 2
    return GaussianProcess().fit(X, y), X, y


@pytest.mark.parametrize("kind", ["ei", "lcb"])
def test_acquisition_gradient_matches_finite_differences(kind):
    gp, _, y = _fitted(np.random.default_rng(1))
    Xq = np.random.default_rng(2).random((5, 2))
    val, grad = acquisition_scores(gp, Xq, kind, float(y.min()), 2.0, with_grad=True)
    eps = 1e-6
    for k in range(2):
        Xp = Xq.copy()
        Xp[:, k] += eps
        num = (acquisition_scores(gp, Xp, kind, float(y.min()), 2.0)[0] - val) / eps
        assert np.allclose(num, grad[:, k], rtol=1e-3, atol=1e-4)


def test_candidates_are_rounded_and_in_bounds():
    space = Space({"x": Real(0, 1), "k": Integer(1, 5), "c": Categorical(["a", "b", "c"])})
    rng = np.random.default_rng(3)
    X_top = space.encode(space.sample(rng, 3))
    C = candidate_points(space, X_top, rng, n_sobol=64, n_local=64)
    assert C.shape == (128, space.dim)
    assert np.allclose(space.round(C), C)
    assert C.min() >= 0.0 and C.max() <= 1.0


@pytest.mark.parametrize("kind", ["ei", "lcb"])
def test_proposal_is_near_the_modelled_minimum(kind):
    space = Space({"a": Real(0, 1), "b": Real(0, 1)})
    rng = np.random.default_rng(4)
    X = rng.random((25, 2))
    y = (X[:, 0] - 0.7) ** 2 + (X[:, 1] - 0.2) ** 2
    gp = GaussianProcess().fit(X, y)
    best = float(gp.predict(X)[0].min())
    configs = propose_gp(gp, space, 1, rng, taken_keys(space, space.decode(X)), X_top=X[np.argsort(y)[:3]],
                         best=best, kind=kind, beta=1.0)
    assert len(configs) == 1
    assert abs(configs[0]["a"] - 0.7) < 0.15 and abs(configs[0]["b"] - 0.2) < 0.15


def test_fantasy_pushes_next_proposal_away_from_pending():
    space = Space({"a": Real(0, 1), "b": Real(0, 1)})
    rng = np.random.default_rng(5)
    X = rng.random((8, 2))
    y = np.sin(5 * X[:, 0]) * np.cos(4 * X[:, 1])
    gp = GaussianProcess().fit(X, y)
    best = float(gp.predict(X)[0].min())
    kwargs = dict(X_top=X[np.argsort(y)[:3]], best=best)
    taken = taken_keys(space, space.decode(X))
    first = propose_gp(gp, space, 1, np.random.default_rng(6), set(taken), **kwargs)[0]
    again = propose_gp(gp, space, 1, np.random.default_rng(6), set(taken), **kwargs)[0]
    assert again == first                    # deterministic given the rng
    nxt = propose_gp(gp, space, 1, np.random.default_rng(6), set(taken), pending=[first], **kwargs)[0]
    gap = math.hypot(nxt["a"] - first["a"], nxt["b"] - first["b"])
    assert gap > 0.05                        # without the fantasy the same point came back (gap 0)
    # and the fantasised EI at the pending point has collapsed
    fant = gp.condition(space.encode([first]))
    ei_before = expected_improvement(*gp.predict(space.encode([first])), best)[0]
    ei_after = expected_improvement(*fant.predict(space.encode([first])), best)[0]
    assert ei_after < 0.1 * ei_before


def test_batch_is_distinct_and_untaken_on_a_small_integer_space():
    space = Space({"i": Integer(0, 4), "j": Integer(0, 2)})   # 15 configs
    rng = np.random.default_rng(7)
    seen = space.sample(rng, 6)
    taken = taken_keys(space, seen)
    uniq = {space.key(c): c for c in seen}
    X = space.encode(list(uniq.values()))
    y = X[:, 0] + X[:, 1]
    gp = GaussianProcess().fit(X, y)
    out = propose_gp(gp, space, 20, rng, set(taken), X_top=X[:2], best=float(y.min()))
    keys = [space.key(c) for c in out]
    assert len(keys) == len(set(keys)) == 15 - len(uniq)
    assert not set(keys) & taken
    assert all(space.contains(c) for c in out)


def test_unknown_acquisition_is_rejected():
    space = Space({"a": Real(0, 1)})
    gp, X, y = _fitted(np.random.default_rng(8))
    with pytest.raises(ValueError, match="acquisition 'pi'"):
        propose_gp(gp, space, 1, np.random.default_rng(0), set(), X_top=X[:1], best=0.0, kind="pi")
