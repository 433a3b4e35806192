"""Tests of the Gaussian-process surrogate (core/surrogates/gp.py)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from uqhpo.surrogates.base import SurrogateFitError
from uqhpo.surrogates.gp import GaussianProcess, cholesky_jitter


def smooth(X: np.ndarray) -> np.ndarray:
    return np.sin(5.0 * X[:, 0]) + (X[:, 1] - 0.3) ** 2


def test_interpolates_smooth_function_with_small_heldout_error():
    rng = np.random.default_rng(0)
    X = rng.random((40, 2))
    Xt = rng.random((200, 2))
    gp = GaussianProcess().fit(X, smooth(X))
    mean, std = gp.predict(Xt)
    assert mean.shape == (200,) and std.shape == (200,)
    rmse = float(np.sqrt(np.mean((mean - smooth(Xt)) ** 2)))
    assert rmse < 0.05 * float(np.ptp(smooth(Xt)))
    # training points are reproduced almost exactly
    assert np.allclose(gp.predict(X)[0], smooth(X), atol=1e-2)


def test_std_is_larger_far_from_data_and_roughly_calibrated():
    rng = np.random.default_rng(1)
    X = rng.random((25, 2)) * 0.5          # data only in the lower-left quarter
    gp = GaussianProcess().fit(X, smooth(X))
    _, std_near = gp.predict(rng.random((50, 2)) * 0.5)
    _, std_far = gp.predict(0.8 + 0.2 * rng.random((50, 2)))
    assert np.median(std_far) > 3.0 * np.median(std_near)
    # calibration: most held-out errors within 3 std inside the data region
    Xt = rng.random((100, 2)) * 0.5
    mean, std = gp.predict(Xt)
    assert np.mean(np.abs(mean - smooth(Xt)) <= 3.0 * std + 1e-3) > 0.8


def test_lml_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    X = rng.random((20, 3))
    y = smooth(X) + 0.1 * rng.normal(size=20)
    ys = (y - y.mean()) / y.std()
    noise = np.full(20, 0.02)
    gp = GaussianProcess()
    theta = np.array([-0.5, 0.2, 0.7, 0.1, -3.0])
    value, grad = gp._objective(theta, X, ys, noise)
    numeric = approx_fprime(theta, lambda t: gp._objective(t, X, ys, noise)[0], 1e-6)
    assert np.isfinite(value)
    assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-4)


def test_predict_with_grad_matches_predict_and_finite_differences():
    rng = np.random.default_rng(3)
    X = rng.random((30, 2))
    gp = GaussianProcess().fit(X, smooth(X))
    Xq = rng.random((6, 2))
    mean, std, dmean, dstd = gp.predict_with_grad(Xq)
    m0, s0 = gp.predict(Xq)
    assert np.allclose(mean, m0) and np.allclose(std, s0)
    eps = 1e-6
    for k in range(2):
        Xp = Xq.copy()
        Xp[:, k] += eps
        mp, sp = gp.predict(Xp)
        assert np.allclose((mp - m0) / eps, dmean[:, k], rtol=1e-3, atol=1e-4)
        assert np.allclose((sp - s0) / eps, dstd[:, k], rtol=1e-3, atol=1e-4)


def test_duplicated_points_are_averaged_and_fit_succeeds():
    X = np.array([[0.2, 0.2], [0.2, 0.2], [0.2, 0.2], [0.8, 0.7], [0.5, 0.1], [0.1, 0.9]])
    y = np.array([1.0, 1.2, 1.4, 0.0, 0.5, 2.0])
    gp = GaussianProcess().fit(X, y)
    mean, std = gp.predict(X[:1])
    assert np.isfinite(mean).all() and np.isfinite(std).all()
    assert abs(mean[0] - 1.2) < 0.15   # pulled to the mean of the three draws


def test_per_point_noise_relaxes_interpolation():
    rng = np.random.default_rng(4)
    X = rng.random((30, 1))
    y = np.sin(6.0 * X[:, 0])
    y_noisy = y.copy()
    y_noisy[0] += 1.0                        # one outlier ...
    y_var = np.full(30, 1e-6)
    y_var[0] = 1.0                           # ... whose estimate is known to be uncertain
    exact = GaussianProcess().fit(X, y_noisy)
    aware = GaussianProcess().fit(X, y_noisy, y_var)
    at0_exact = exact.predict(X[:1])[0][0]
    at0_aware = aware.predict(X[:1])[0][0]
    assert abs(at0_aware - y[0]) < abs(at0_exact - y[0])
    assert abs(at0_aware - y[0]) < 0.3
    # the other points are still interpolated
    assert np.allclose(aware.predict(X[1:])[0], y[1:], atol=0.05)


def test_jitter_retry_on_near_singular_set():
    X = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5 + 1e-12], [0.1, 0.9]])
    y = np.array([1.0, 1.0, 1.0, 0.0])
    gp = GaussianProcess(optimize=False, lengthscale=0.3, signal_var=1.0, noise_var=0.0)
    gp.fit(X, y)
    assert gp.jitter_ > 0.0
    mean, std = gp.predict(X)
    assert np.isfinite(mean).all() and np.isfinite(std).all()


def test_cholesky_jitter_gives_up_with_fit_error():
    K = -np.eye(3)                           # not positive definite at any small jitter
    with pytest.raises(SurrogateFitError):
        cholesky_jitter(K)
    L, jitter = cholesky_jitter(np.eye(3))
    assert jitter == 0.0 and np.allclose(L, np.eye(3))


def test_non_finite_input_raises_fit_error():
    X = np.random.default_rng(5).random((5, 2))
    with pytest.raises(SurrogateFitError):
        GaussianProcess().fit(X, np.array([1.0, np.nan, 0.0, 1.0, 2.0]))


def test_condition_on_fantasy_shrinks_std_and_keeps_mean():
    rng = np.random.default_rng(6)
    X = rng.random((15, 2))
    gp = GaussianProcess().fit(X, smooth(X))
    p = np.array([[0.95, 0.95]])
    m0, s0 = gp.predict(p)
    fant = gp.condition(p)
    m1, s1 = fant.predict(p)
    assert np.allclose(m0, m1, atol=1e-6)
    assert s1[0] < 0.1 * s0[0]
    # the original model is untouched
    assert np.allclose(gp.predict(p)[1], s0)
    # block update equals a full refit with the same hyperparameters
    same = GaussianProcess(optimize=False, lengthscale=gp.lengthscales_, signal_var=gp.signal_var_,
                           noise_var=gp.noise_var_)
    same.fit(np.vstack([X, p]), np.concatenate([smooth(X), m0]))
    Xt = rng.random((10, 2))
    # std in standardised units depends only on the inputs and hyperparameters
    ref_std = same.predict(Xt)[1] / same.y_std_
    got_std = fant.predict(Xt)[1] / gp.y_std_
    assert np.allclose(got_std, ref_std, rtol=1e-4, atol=1e-7)


def test_same_data_same_model():
    rng = np.random.default_rng(7)
    X = rng.random((20, 3))
    y = smooth(X)
    a = GaussianProcess(seed=3).fit(X, y)
    b = GaussianProcess(seed=3).fit(X, y)
    assert np.array_equal(a.lengthscales_, b.lengthscales_)
    assert np.array_equal(a.predict(X)[0], b.predict(X)[0])
