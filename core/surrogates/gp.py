"""Gaussian-process surrogate: Matern 5/2 ARD kernel, per-point noise, MAP hyperparameters.

The model works on standardised targets ``(y - mean) / std`` with a zero prior mean (a
constant mean in the original units). The covariance of the observations is

    K = s2 * Matern52(r) + diag(y_var / std**2 + noise) ,  r**2 = sum_k ((x_k - x'_k) / l_k)**2

where ``y_var`` is the known variance of each aggregate (from its replicates) and
``noise`` a small learned homoscedastic term. The log length scales ``l``, ``s2`` and
``noise`` maximise the log marginal likelihood plus weak priors (L-BFGS-B with analytic
gradients, a few restarts). Everything is float64; Cholesky factorisations retry with a
growing jitter on the diagonal before giving up with ``SurrogateFitError``.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
from scipy.linalg import cho_solve, cholesky, lapack, solve_triangular
from scipy.optimize import minimize

from .base import Surrogate, SurrogateFitError

__all__ = ["GaussianProcess", "cholesky_jitter", "matern52"]

_LOG_2PI = math.log(2.0 * math.pi)
_SQRT5 = math.sqrt(5.0)


def sq_dist(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(a, b)`` between rows of A (a, d) and B (b, d)."""
    D = (A ** 2).sum(1)[:, None] + (B ** 2).sum(1)[None, :] - 2.0 * (A @ B.T)
    return np.maximum(D, 0.0)


def matern52(r2: np.ndarray) -> np.ndarray:
    """Matern 5/2 correlation of squared scaled distances ``r2`` (any shape)."""
    r = np.sqrt(r2)
    return (1.0 + _SQRT5 * r + (5.0 / 3.0) * r2) * np.exp(-_SQRT5 * r)


def matern52_grad_factor(r2: np.ndarray) -> np.ndarray:
    """``-(dk/dr) / r`` of the Matern 5/2 correlation, finite at r = 0 (shape of ``r2``)."""
    r = np.sqrt(r2)
    return (5.0 / 3.0) * (1.0 + _SQRT5 * r) * np.exp(-_SQRT5 * r)


def cholesky_jitter(K: np.ndarray, start: float = 1e-10, limit: float = 1e-3) -> tuple[np.ndarray, float]:
    """Lower Cholesky factor of ``K`` (n, n), adding ``jitter * mean(diag)`` when needed.

    The jitter starts at 0, then ``start`` and grows x10 until ``limit``.

    Returns:
        (L (n, n), jitter actually added, relative to the mean diagonal).

    Raises:
        SurrogateFitError: when even the largest jitter fails or K is not finite.
    """
    if not np.all(np.isfinite(K)):
        raise SurrogateFitError("GP covariance matrix is not finite")
    scale = float(np.mean(np.diag(K))) if K.size else 1.0
    scale = scale if scale > 0 else 1.0
    jitter = 0.0
    while True:
        try:
            A = K if jitter == 0.0 else K + (jitter * scale) * np.eye(K.shape[0])
            return cholesky(A, lower=True, check_finite=False), jitter
        except np.linalg.LinAlgError:
            jitter = start if jitter == 0.0 else jitter * 10.0
            if jitter > limit * (1 + 1e-9):
                raise SurrogateFitError(f"GP Cholesky failed even with jitter {limit:g}") from None


class GaussianProcess(Surrogate):
    """GP regression on the unit cube (minimisation-agnostic).

    Args:
        n_restarts: L-BFGS-B starts for the hyperparameters (the first from the initial
            values below, the others from the best of 16 random draws of the prior).
        max_iter: iteration cap of each L-BFGS-B run.
        max_fit_points: above this many observations the hyperparameters are fitted on a
            subset (the best quarter plus a random rest); the final model uses all points.
        optimize: False keeps the hyperparameters given below (no fitting).
        lengthscale: initial / fixed length scale(s), scalar or ``(d,)``.
        signal_var: initial / fixed kernel variance (standardised units).
        noise_var: initial / fixed learned noise variance (standardised units).
        noise_bounds: bounds of the learned noise variance.
        seed: seed of the restart draws (the fit is deterministic given the data).
    """

    lengthscale_bounds = (1e-2, 1e2)
    signal_var_bounds = (5e-2, 20.0)

    def __init__(self, *, n_restarts: int = 3, max_iter: int = 80, max_fit_points: int = 150,
                 optimize: bool = True, lengthscale: float | np.ndarray = 0.5, signal_var: float = 1.0,
                 noise_var: float = 1e-3, noise_bounds: tuple[float, float] = (1e-6, 1.0), seed: int = 0):
        self.n_restarts = int(n_restarts)
        self.max_iter = int(max_iter)
        self.max_fit_points = int(max_fit_points)
        self.optimize = bool(optimize)
        self.noise_bounds = (float(noise_bounds[0]), float(noise_bounds[1]))
        self.seed = int(seed)
        self._init = (lengthscale, float(signal_var), float(noise_var))
        self.jitter_ = 0.0

    # -- prior on the hyperparameters (in log space) ---------------------------------------
    @staticmethod
    def _prior_mean_log_l(d: int) -> float:
        # Wider length scales in more dimensions: distances in the cube grow like sqrt(d).
        # The centre 0.25 * sqrt(d) was tuned on Branin / Hartmann-6 / Ackley-5 with 50
        # evaluations: longer prior length scales made EI stall in local basins.
        return math.log(0.25) + 0.5 * math.log(max(d, 1))

    def _neg_log_prior(self, theta: np.ndarray, d: int) -> tuple[float, np.ndarray]:
        grad = np.zeros_like(theta)
        mu, sig = self._prior_mean_log_l(d), 1.0
        z = (theta[:d] - mu) / sig
        val = 0.5 * float(z @ z)
        grad[:d] = z / sig
        # signal variance log-normal around 1 (y is standardised)
        val += 0.5 * theta[d] ** 2
        grad[d] = theta[d]
        # noise: exponential prior (flat for tiny noise, penalises explaining data as noise)
        rate = 10.0
        sn2 = math.exp(theta[d + 1])
        val += rate * sn2
        grad[d + 1] = rate * sn2
        return val, grad

    # -- log marginal likelihood ------------------------------------------------------------
    def _objective(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray, fixed_noise: np.ndarray
                   ) -> tuple[float, np.ndarray]:
        """Negative log posterior of ``theta`` = [log l (d), log s2, log noise] and its gradient."""
        n, d = X.shape
        inv_l = np.exp(-theta[:d])
        s2, sn2 = math.exp(theta[d]), math.exp(theta[d + 1])
        Xs = X * inv_l
        r2 = sq_dist(Xs, Xs)
        Kf = s2 * matern52(r2)
        K = Kf.copy()
        K[np.diag_indices(n)] += fixed_noise + sn2
        try:
            L, _ = cholesky_jitter(K)
        except SurrogateFitError:
            return 1e25, np.zeros_like(theta)
        alpha = cho_solve((L, True), y, check_finite=False)
        nll = 0.5 * float(y @ alpha) + float(np.sum(np.log(np.diag(L)))) + 0.5 * n * _LOG_2PI
        Kinv, info = lapack.dpotri(L, lower=1)
        if info != 0:
            return 1e25, np.zeros_like(theta)
        Kinv = np.tril(Kinv) + np.tril(Kinv, -1).T
        W = np.outer(alpha, alpha) - Kinv          # d lml / dK = W / 2
        grad = np.empty_like(theta)
        A = W * (s2 * matern52_grad_factor(r2))   # dK/dlog l_k = A-factor * (xs_ik - xs_jk)^2
        AX = A @ Xs
        grad[:d] = -(Xs ** 2 * A.sum(axis=1)[:, None] - Xs * AX).sum(axis=0)
        grad[d] = -0.5 * float(np.sum(W * Kf))
        grad[d + 1] = -0.5 * sn2 * float(np.trace(W))
        pv, pg = self._neg_log_prior(theta, d)
        return nll + pv, grad + pg

    def _bounds(self, d: int) -> list[tuple[float, float]]:
        def logs(bounds: Any) -> tuple[float, float]:
            return math.log(bounds[0]), math.log(bounds[1])

        return [logs(self.lengthscale_bounds)] * d + [logs(self.signal_var_bounds), logs(self.noise_bounds)]

    def _fit_hyperparameters(self, X: np.ndarray, y: np.ndarray, fixed_noise: np.ndarray,
                             theta0: np.ndarray) -> np.ndarray:
        n, d = X.shape
        rng = np.random.default_rng(self.seed)
        if n > self.max_fit_points:  # subset: keep the best quarter (the region that matters)
            order = np.argsort(y)
            n_best = self.max_fit_points // 4
            rest = rng.choice(order[n_best:], self.max_fit_points - n_best, replace=False)
            idx = np.concatenate([order[:n_best], rest])
            # same standardisation as the full data, so s2 and noise transfer unchanged
            X, y, fixed_noise = X[idx], y[idx], fixed_noise[idx]
        bounds = self._bounds(d)
        lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
        starts = [np.clip(theta0, lo, hi)]
        if self.n_restarts > 1:
            # screen random prior draws by their objective value, start from the best ones
            draws = np.column_stack([
                rng.normal(self._prior_mean_log_l(d), 1.0, (16, d)),
                rng.normal(0.0, 0.5, 16), rng.uniform(lo[-1], math.log(0.1), 16)])
            draws = np.clip(draws, lo, hi)
            vals = [self._objective(t, X, y, fixed_noise)[0] for t in draws]
            starts += [draws[i] for i in np.argsort(vals)[: self.n_restarts - 1]]
        best_theta, best_val = starts[0], math.inf
        for t0 in starts:
            res = minimize(self._objective, t0, args=(X, y, fixed_noise), jac=True, method="L-BFGS-B",
                           bounds=bounds, options={"maxiter": self.max_iter})
            if np.all(np.isfinite(res.x)) and res.fun < best_val:
                best_theta, best_val = res.x, float(res.fun)
        if not math.isfinite(best_val) or best_val >= 1e24:
            raise SurrogateFitError("GP hyperparameter optimisation found no valid point")
        return best_theta

    # -- Surrogate API ----------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray, y_var: Optional[np.ndarray] = None) -> GaussianProcess:
        """Fit on ``X`` (n, d) in the unit cube, ``y`` (n,), optional ``y_var`` (n,)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        y = np.asarray(y, dtype=np.float64).ravel()
        n, d = X.shape
        if n == 0 or y.shape[0] != n:
            raise SurrogateFitError(f"GP needs matching X (n, d) and y (n,), got {X.shape} and {y.shape}")
        y_var = np.zeros(n) if y_var is None else np.asarray(y_var, dtype=np.float64).ravel()
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y)) and np.all(np.isfinite(y_var))):
            raise SurrogateFitError("GP got non-finite inputs (X, y or y_var)")
        self.y_mean_ = float(y.mean())
        self.y_std_ = float(y.std()) if n > 1 and y.std() > 1e-12 * max(1.0, abs(self.y_mean_)) else 1.0
        ys = (y - self.y_mean_) / self.y_std_
        self.fixed_noise_ = np.maximum(y_var, 0.0) / self.y_std_ ** 2
        ls, s2, sn2 = self._init
        theta0 = np.concatenate([np.log(np.broadcast_to(np.asarray(ls, dtype=float), (d,))),
                                 [math.log(s2), math.log(max(sn2, 1e-300))]])
        if self.optimize and n >= 2:
            theta = self._fit_hyperparameters(X, ys, self.fixed_noise_, theta0)
        else:
            theta = theta0
        self.lengthscales_ = np.exp(theta[:d])
        self.signal_var_ = math.exp(theta[d])
        self.noise_var_ = math.exp(theta[d + 1])
        self._set_data(X, ys, self.fixed_noise_)
        return self

    def _kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Noise-free covariance ``(a, b)`` between rows of A (a, d) and B (b, d)."""
        return self.signal_var_ * matern52(sq_dist(A / self.lengthscales_, B / self.lengthscales_))

    def _set_data(self, X: np.ndarray, ys: np.ndarray, fixed_noise: np.ndarray) -> None:
        K = self._kernel(X, X)
        K[np.diag_indices(X.shape[0])] += fixed_noise + self.noise_var_
        self.L_, self.jitter_ = cholesky_jitter(K)
        self.X_, self.ys_, self.fixed_noise_ = X, ys, fixed_noise
        self.alpha_ = cho_solve((self.L_, True), ys, check_finite=False)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior of the latent function at ``X`` (m, d): (mean (m,), std (m,))."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        Ks = self._kernel(X, self.X_)
        mean = Ks @ self.alpha_
        V = solve_triangular(self.L_, Ks.T, lower=True, check_finite=False)
        var = np.maximum(self.signal_var_ - np.einsum("ij,ij->j", V, V), 1e-12 * self.signal_var_)
        return self.y_mean_ + self.y_std_ * mean, self.y_std_ * np.sqrt(var)

    def predict_with_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean and std at ``X`` (m, d) with their gradients: mean (m,), std (m,), dmean (m, d), dstd (m, d)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        inv_l2 = 1.0 / self.lengthscales_ ** 2
        r2 = sq_dist(X / self.lengthscales_, self.X_ / self.lengthscales_)
        Ks = self.signal_var_ * matern52(r2)
        G = self.signal_var_ * matern52_grad_factor(r2)     # dk/dx_k = -G * (x_k - x'_k) / l_k^2
        Q = cho_solve((self.L_, True), Ks.T, check_finite=False).T  # K^-1 k*  (m, n)
        mean = Ks @ self.alpha_
        var_raw = self.signal_var_ - np.einsum("ij,ij->i", Ks, Q)
        var = np.maximum(var_raw, 1e-12 * self.signal_var_)

        def weighted_diff(Wt: np.ndarray) -> np.ndarray:  # sum_n Wt_mn (x_mk - x_nk) / l_k^2
            return (X * Wt.sum(axis=1)[:, None] - Wt @ self.X_) * inv_l2

        dmean = -weighted_diff(G * self.alpha_[None, :])
        dvar = 2.0 * weighted_diff(G * Q)
        std = np.sqrt(var)
        dstd = dvar / (2.0 * std[:, None])
        dstd[var_raw <= 1e-12 * self.signal_var_] = 0.0  # clipped at the variance floor: flat there
        s = self.y_std_
        return self.y_mean_ + s * mean, s * std, s * dmean, s * dstd

    def condition(self, X_new: np.ndarray, y_new: Optional[np.ndarray] = None) -> GaussianProcess:
        """A copy conditioned on extra points ("kriging believer" fantasies when ``y_new`` is None:
        the values are the current posterior mean). Hyperparameters are not refitted.

        Args:
            X_new: ``(q, d)`` points.
            y_new: ``(q,)`` values in original units, or None for the posterior mean.
        """
        X_new = np.atleast_2d(np.asarray(X_new, dtype=np.float64))
        if y_new is None:
            y_new = self.predict(X_new)[0]
        ys_new = (np.asarray(y_new, dtype=np.float64).ravel() - self.y_mean_) / self.y_std_
        out = object.__new__(GaussianProcess)
        out.__dict__.update(self.__dict__)
        # block Cholesky update: [[L, 0], [B^T, C]] with B = L^-1 K12, C C^T = K22 - B^T B
        K12 = self._kernel(self.X_, X_new)
        K22 = self._kernel(X_new, X_new)
        K22[np.diag_indices(X_new.shape[0])] += self.noise_var_
        B = solve_triangular(self.L_, K12, lower=True, check_finite=False)
        C, _ = cholesky_jitter(K22 - B.T @ B)
        n, q = self.X_.shape[0], X_new.shape[0]
        L = np.zeros((n + q, n + q))
        L[:n, :n], L[n:, :n], L[n:, n:] = self.L_, B.T, C
        out.L_ = L
        out.X_ = np.vstack([self.X_, X_new])
        out.ys_ = np.concatenate([self.ys_, ys_new])
        out.fixed_noise_ = np.concatenate([self.fixed_noise_, np.zeros(q)])
        out.alpha_ = cho_solve((L, True), out.ys_, check_finite=False)
        return out
