"""Cubic RBF surrogate: accuracy, shapes, duplicates, smoothing, failures."""
from __future__ import annotations

import numpy as np
import pytest

from uqhpo.surrogates import rbf as rbf_module
from uqhpo.surrogates.base import Surrogate, SurrogateFitError
from uqhpo.surrogates.rbf import RBFSurrogate


def smooth(X: np.ndarray) -> np.ndarray:
    return np.sin(3.0 * X[:, 0]) + (X[:, 1] - 0.4) ** 2


def test_is_a_surrogate():
    assert isinstance(RBFSurrogate(), Surrogate)


def test_interpolates_smooth_function_and_generalises():
    rng = np.random.default_rng(0)
    X, X_test = rng.random((80, 2)), rng.random((200, 2))
    model = RBFSurrogate().fit(X, smooth(X))
    at_data, _ = model.predict(X)
    np.testing.assert_allclose(at_data, smooth(X), atol=1e-6)
    held_out, _ = model.predict(X_test)
    assert np.max(np.abs(held_out - smooth(X_test))) < 0.05


def test_linear_function_is_reproduced_exactly_by_the_tail():
    rng = np.random.default_rng(1)
    X = rng.random((12, 3))
    f = lambda Z: 2.0 * Z[:, 0] - Z[:, 1] + 0.5 * Z[:, 2] + 3.0  # noqa: E731
    Z = rng.random((50, 3))
    mean, _ = RBFSurrogate().fit(X, f(X)).predict(Z)
    np.testing.assert_allclose(mean, f(Z), atol=1e-6)


def test_predict_shapes():
    rng = np.random.default_rng(2)
    model = RBFSurrogate().fit(rng.random((10, 4)), rng.random(10))
    mean, std = model.predict(rng.random((7, 4)))
    assert mean.shape == (7,) and std is None
    mean1, _ = model.predict(rng.random(4))  # one point as a 1-D array
    assert mean1.shape == (1,)
    with pytest.raises(ValueError, match="columns"):
        model.predict(rng.random((3, 2)))


@pytest.mark.parametrize("with_var", [False, True])
def test_exact_duplicates_are_merged_without_error(with_var):
    rng = np.random.default_rng(3)
    X = rng.random((15, 2))
    X_dup = np.vstack([X, X[:5], X[:5]])
    y = np.concatenate([smooth(X), smooth(X[:5]) + 0.2, smooth(X[:5]) - 0.2])
    y_var = np.full(len(y), 0.01) if with_var else None
    model = RBFSurrogate().fit(X_dup, y, y_var)
    assert model.n_centers == 15
    mean, _ = model.predict(X[:5])
    assert np.all(np.isfinite(mean))
    # the duplicates average to the original values; their spread only smooths a little
    np.testing.assert_allclose(mean, smooth(X[:5]), atol=0.2)


def test_identical_duplicates_still_interpolate():
    rng = np.random.default_rng(3)
    X = rng.random((15, 2))
    model = RBFSurrogate().fit(np.vstack([X, X[:4]]), np.concatenate([smooth(X), smooth(X[:4])]))
    mean, _ = model.predict(X)
    np.testing.assert_allclose(mean, smooth(X), atol=1e-6)


def test_near_duplicates_do_not_raise():
    rng = np.random.default_rng(4)
    X = rng.random((20, 3))
    X_near = np.vstack([X, X + 1e-13])
    y = np.concatenate([X.sum(1), X.sum(1) + 1e-3])
    mean, _ = RBFSurrogate().fit(X_near, y).predict(X)
    assert np.all(np.isfinite(mean))
    np.testing.assert_allclose(mean, X.sum(1), atol=0.05)


def test_degenerate_layouts_fit():
    rng = np.random.default_rng(5)
    # one-hot block (its columns sum to the constant), a constant column, and one point
    idx = rng.integers(0, 3, 12)
    onehot = np.eye(3)[idx]
    X = np.hstack([rng.random((12, 1)), onehot, np.full((12, 1), 0.5)])
    mean, _ = RBFSurrogate().fit(X, rng.random(12)).predict(X)
    assert np.all(np.isfinite(mean))
    single, _ = RBFSurrogate().fit(X[:1], np.array([2.5])).predict(rng.random((4, 5)))
    np.testing.assert_allclose(single, 2.5)
    # fewer points than d + 1
    few, _ = RBFSurrogate().fit(rng.random((3, 6)), np.array([1.0, 2.0, 3.0])).predict(rng.random((5, 6)))
    assert few.shape == (5,) and np.all(np.isfinite(few))


def test_variance_smooths_instead_of_interpolating():
    rng = np.random.default_rng(6)
    X = rng.random((40, 2))
    y = smooth(X) + rng.normal(0, 0.3, 40)
    exact, _ = RBFSurrogate().fit(X, y).predict(X)
    smoothed, _ = RBFSurrogate().fit(X, y, np.full(40, 0.09)).predict(X)
    assert np.median(np.abs(exact - y)) < 1e-4
    assert np.mean(np.abs(smoothed - y)) > 0.05
    # smoothing pulls toward the truth on average
    assert np.mean((smoothed - smooth(X)) ** 2) < np.mean((y - smooth(X)) ** 2)


def test_median_cap_flattens_large_values():
    X = np.linspace(0, 1, 9).reshape(-1, 1)
    y = np.array([5.0, 1.0, 0.5, 0.2, 0.0, 0.2, 0.5, 1.0, 100.0])
    mean, _ = RBFSurrogate(cap="median").fit(X, y).predict(X)
    np.testing.assert_allclose(mean, np.minimum(y, np.median(y)), atol=1e-6)


def test_bad_inputs_raise_fit_error():
    with pytest.raises(SurrogateFitError):
        RBFSurrogate().fit(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(SurrogateFitError):
        RBFSurrogate().fit(np.random.default_rng(0).random((3, 2)), np.array([1.0, np.nan, 2.0]))
    with pytest.raises(SurrogateFitError):
        RBFSurrogate().fit(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(RuntimeError, match="before fit"):
        RBFSurrogate().predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="kernel"):
        RBFSurrogate(kernel="gaussian")


def test_unsolvable_system_raises_fit_error(monkeypatch):
    monkeypatch.setattr(rbf_module, "_solve", lambda A, rhs: None)
    monkeypatch.setattr(rbf_module, "_solve_projected", lambda *args: None)
    with pytest.raises(SurrogateFitError, match="could not be solved"):
        RBFSurrogate().fit(np.random.default_rng(0).random((5, 2)), np.arange(5.0))


def test_linear_kernel_interpolates():
    rng = np.random.default_rng(7)
    X = rng.random((30, 2))
    mean, _ = RBFSurrogate(kernel="linear").fit(X, smooth(X)).predict(X)
    np.testing.assert_allclose(mean, smooth(X), atol=1e-6)


@pytest.mark.parametrize("kernel", ["cubic", "linear"])
def test_gradient_matches_finite_differences(kernel):
    rng = np.random.default_rng(8)
    X = rng.random((30, 3))
    model = RBFSurrogate(kernel=kernel).fit(X, 3 * np.sin(X).sum(1))
    x, eps = rng.random(3), 1e-6
    numeric = [(model.predict(x + eps * e)[0][0] - model.predict(x - eps * e)[0][0]) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(model.gradient(x), numeric, rtol=1e-5, atol=1e-7)
