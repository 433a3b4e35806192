"""Radial basis function surrogate: cubic kernel with a linear polynomial tail.

The interpolant is ``s(x) = sum_i c_i phi(|x - x_i|) + p(x)`` with ``phi(r) = r^3`` and
``p`` linear. It solves the saddle-point system
``[[Phi + diag(lambda), Q], [Q^T, 0]] [c; b] = [y; 0]``: by a Cholesky factorisation of the
kernel matrix on the coefficient vectors that annihilate the tail (positive definite there,
see :class:`_Factor`), built block by block so that a later fit with more points reuses it
(``warm_start``: the same bits as a fit from scratch, so proposals never depend on whether
an earlier fit exists); by LU on the full system when that fails.

Robustness choices:

* exact duplicate points are merged (values averaged, variances combined), so the
  kernel matrix never has two equal rows;
* the polynomial tail is an orthonormal basis of the *span* of ``[1, X]`` (via SVD),
  so constant columns, one-hot blocks (which sum to the constant) or fewer points
  than ``d + 1`` do not make the system singular;
* per-point smoothing ``lambda_i`` comes from the variance of each observation
  (replicate spread), plus a tiny nugget (relative to the kernel over the first 64 points);
  a failed solve is retried with a larger nugget before :class:`SurrogateFitError` is raised;
* optional median capping of ``y`` (values above the median are set to the median),
  for objectives where a few huge values far from the optimum dominate the fit.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .base import Surrogate, SurrogateFitError

__all__ = ["RBFSurrogate", "KERNELS"]

def _cube(r: np.ndarray) -> np.ndarray:
    """``r ** 3`` by two multiplications (several times faster than the power ufunc)."""
    out = r * r
    out *= r
    return out


KERNELS = {
    "cubic": _cube,
    "linear": lambda r: -r,  # conditionally positive definite of order 1 with this sign
}


class RBFSurrogate(Surrogate):
    """Cubic (or linear) RBF interpolant with a linear tail.

    Args:
        kernel: ``"cubic"`` (default) or ``"linear"``.
        cap: ``None`` (default) fits the raw values; ``"median"`` clips values above the
            median to the median first (helps when a few huge values dominate).
        smoothing_scale: multiplies the per-point smoothing ``y_var / scale(y)^2``.
        nugget: smallest relative diagonal term, for near-duplicate points.
        warm_start: an earlier fit of this kind whose factorisation :meth:`fit` reuses for the
            leading points that are unchanged (same rows in the same order, same smoothing). The
            model is bitwise the same as without it: the factor is built in fixed blocks of
            points, each a function of the points up to its end only, and a warm start only
            skips the blocks it already holds.
    """

    def __init__(self, kernel: str = "cubic", cap: Optional[str] = None, smoothing_scale: float = 1.0,
                 nugget: float = 1e-10, warm_start: Optional[RBFSurrogate] = None):
        if kernel not in KERNELS:
            raise ValueError(f"RBF kernel '{kernel}' is unknown; choose one of {', '.join(KERNELS)}")
        if cap not in (None, "median"):
            raise ValueError(f"RBF cap '{cap}' is unknown; use 'median' or None")
        if smoothing_scale < 0 or nugget < 0:
            raise ValueError("RBF smoothing_scale and nugget must be >= 0")
        self.kernel = kernel
        self.cap = cap
        self.smoothing_scale = float(smoothing_scale)
        self.nugget = float(nugget)
        self._phi = KERNELS[kernel]
        self._fitted = False
        self._warm = warm_start._factor if isinstance(warm_start, RBFSurrogate) and warm_start._fitted else None
        self._factor: Optional[_Factor] = None
        self._last: Optional[tuple[np.ndarray, np.ndarray]] = None

    # -- fitting --------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray, y_var: Optional[np.ndarray] = None) -> RBFSurrogate:
        """Fit to ``(n, d)`` points ``X``, values ``y`` ``(n,)`` and variances ``y_var`` ``(n,)``
        (reusing the factorisation of ``warm_start`` where it applies).

        Raises:
            SurrogateFitError: no points, non-finite inputs, or an unsolvable system.
        """
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float).ravel()
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise SurrogateFitError(f"RBF fit: X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
        if X.shape[0] == 0:
            raise SurrogateFitError("RBF fit: no points")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise SurrogateFitError("RBF fit: X and y must be finite")
        var = np.zeros_like(y) if y_var is None else np.asarray(y_var, dtype=float).ravel()
        if var.shape != y.shape:
            raise SurrogateFitError(f"RBF fit: y_var must be (n,) like y, got {var.shape}")
        var = np.where(np.isfinite(var), np.maximum(var, 0.0), 0.0)

        X, y, var = _merge_duplicates(X, y, var)
        if self.cap == "median" and len(y) > 2:
            y = np.minimum(y, np.median(y))
        self._y_shift = float(y.mean())
        scale = float(y.std())
        self._y_scale = scale if scale > 1e-12 * max(1.0, abs(self._y_shift)) else 1.0
        z = (y - self._y_shift) / self._y_scale

        self._x_shift = X.mean(axis=0)
        P = np.hstack([np.ones((len(X), 1)), X - self._x_shift])
        U, S, Vt = np.linalg.svd(P, full_matrices=False)
        rank = int(np.sum(S > 1e-9 * S[0]))
        self._tail = Vt[:rank].T / S[:rank]  # (d+1, r): P @ tail = orthonormal basis
        Q = U[:, :rank]

        from scipy.spatial.distance import cdist
        n = len(X)
        # the nugget scales with the kernel over the first points only, so it stays put as points are added
        head = X[:NUGGET_POINTS]
        base = self.nugget * max(1.0, float(np.abs(self._phi(cdist(head, head))).max()))
        lam = self.smoothing_scale * var / self._y_scale ** 2
        diag = lam + base
        self._factor, self._last = None, None
        warm, self._warm = self._warm, None  # used once: a chain of fits holds one factor at a time
        solved = None
        if rank < n:
            try:
                solved = _solve_projected(X, z, diag, Q, self.kernel, self._phi, warm)
            except (np.linalg.LinAlgError, ValueError, ArithmeticError):
                solved = None
        if solved is not None:
            coef, poly, self._factor = solved
        else:
            # the saddle-point system by LU: a layout the projected solve cannot take, or a retry
            # with a larger nugget
            Phi = self._phi(cdist(X, X))
            rhs = np.concatenate([z, np.zeros(rank)])
            for attempt in range(4):
                A = np.zeros((n + rank, n + rank))
                A[:n, :n] = Phi
                A[np.arange(n), np.arange(n)] += lam + base * 1e3 ** attempt
                A[:n, n:] = Q
                A[n:, :n] = Q.T
                full = _solve(A, rhs)
                if full is not None:
                    break
            else:
                raise SurrogateFitError(f"RBF fit: linear system of {n} points could not be solved")
            coef, poly = full[:n], full[n:]
        self._centers, self._coef, self._poly = X, coef, poly
        self._smoothed = bool(np.any(lam > 0))
        self._fitted = True
        return self

    # -- prediction -----------------------------------------------------------------------
    def predict(self, X: np.ndarray) -> tuple[np.ndarray, None]:
        """``(m, d)`` points -> (predicted mean ``(m,)``, None): an RBF has no std."""
        if not self._fitted:
            raise RuntimeError("RBFSurrogate.predict called before fit")
        from scipy.spatial.distance import cdist
        points = X
        X = np.atleast_2d(np.asarray(X, dtype=float))
        if X.shape[1] != self._centers.shape[1]:
            raise ValueError(f"RBF predict: expected {self._centers.shape[1]} columns, got {X.shape[1]}")
        P = np.hstack([np.ones((len(X), 1)), X - self._x_shift])
        z = (P @ self._tail) @ self._poly
        nearest = np.empty(len(X))
        # in chunks of about 256 KB: a large temporary costs more in page faults than in arithmetic
        rows = max(8, PREDICT_CHUNK // max(len(self._centers), 1))
        for start in range(0, len(X), rows):
            part = slice(start, start + rows)
            r = cdist(X[part], self._centers)
            nearest[part] = r.min(axis=1)
            z[part] += self._phi(r) @ self._coef
        self._last = (points, nearest)  # for nearest(): the same distances, free
        return self._y_shift + self._y_scale * z, None

    def nearest(self, X: np.ndarray) -> np.ndarray:
        """Distances ``(m,)`` of ``(m, d)`` points to their nearest centre; no extra work right
        after ``predict`` on the same (unchanged) array."""
        if not self._fitted:
            raise RuntimeError("RBFSurrogate.nearest called before fit")
        if self._last is not None and self._last[0] is X:
            return self._last[1]
        from scipy.spatial.distance import cdist
        return cdist(np.atleast_2d(np.asarray(X, dtype=float)), self._centers).min(axis=1)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Gradient ``(d,)`` of the predicted mean at one point ``x`` ``(d,)``."""
        if not self._fitted:
            raise RuntimeError("RBFSurrogate.gradient called before fit")
        diff = np.asarray(x, dtype=float).ravel()[None, :] - self._centers  # (n, d)
        r = np.sqrt((diff ** 2).sum(axis=1))
        if self.kernel == "cubic":
            weights = 3.0 * r * self._coef
        else:  # d(-r)/dx = -(x - x_i) / r, zero at a centre
            weights = -np.divide(self._coef, r, out=np.zeros_like(r), where=r > 0)
        grad = weights @ diff + self._tail[1:] @ self._poly
        return self._y_scale * grad

    @property
    def smoothed(self) -> bool:
        """Whether the fit smooths (some point had a variance > 0), rather than interpolates."""
        return self._fitted and self._smoothed

    @property
    def n_centers(self) -> int:
        """Number of distinct points in the fit (after merging duplicates)."""
        return len(self._centers) if self._fitted else 0


#: kernel values per chunk of a prediction (256 KB)
PREDICT_CHUNK = 32768
#: points per block of the projected factorisation; a warm start reuses whole blocks only
BLOCK = 32
#: the nugget is relative to the largest kernel value among this many leading points
NUGGET_POINTS = 64
#: a factorisation of more points than this is not kept for a warm start (8 n^2 bytes)
MAX_WARM_POINTS = 3000


class _Factor:
    """What a warm start reuses: the Cholesky factor of the kernel matrix projected onto
    the coefficient vectors that annihilate the linear tail.

    With ``S`` the ``r`` leading points that span the tail (see :func:`_select_spanning`) and
    ``R`` the others in their order, a coefficient vector is ``c_R`` ``(m,)`` on ``R`` and
    ``c_S = -Lam^T c_R`` on ``S``, where ``Lam`` ``(m, r)`` holds the values at ``R`` of the
    linear functions that are one at one point of ``S`` and zero at the others. On such
    vectors the kernel matrix ``M = Phi + diag(lambda)`` becomes
    ``B = M_RR - Lam M_SR - M_RS Lam^T + Lam M_SS Lam^T`` ``(m, m)``, positive definite for
    the cubic and linear kernels (conditionally positive definite of order 2 and 1). Its
    entries for two points depend on those points and ``S`` only, so the factor of the
    first ``k`` rows is the leading block of the factor of all of them.

    Attributes:
        kernel: kernel name the factor was built with.
        S: ``(r,)`` indices of the spanning points; XS ``(r, d)``, DS ``(r,)`` their rows and
            diagonal terms.
        XR: ``(k, d)`` rows of the first ``k`` other points (whole blocks); DR ``(k,)``.
        Lam: ``(k, r)``; L: ``(k, k)`` lower Cholesky factor of ``B`` for those points.
    """

    __slots__ = ("kernel", "S", "XS", "DS", "XR", "DR", "Lam", "L")

    def __init__(self, kernel: str, S: np.ndarray, XS: np.ndarray, DS: np.ndarray,
                 XR: np.ndarray, DR: np.ndarray, Lam: np.ndarray, L: np.ndarray):
        self.kernel, self.S, self.XS, self.DS = kernel, S, XS, DS
        self.XR, self.DR, self.Lam, self.L = XR, DR, Lam, L

    def reusable(self, kernel: str, S: np.ndarray, XS: np.ndarray, DS: np.ndarray,
                 XR: np.ndarray, DR: np.ndarray) -> int:
        """Number of leading ``R`` points (a multiple of :data:`BLOCK`) whose rows of ``L``
        are valid for a fit with these arguments (``XR`` ``(m, d)``, ``DR`` ``(m,)``: the
        diagonal terms include the nugget, so a changed nugget shows there)."""
        if (kernel != self.kernel or not np.array_equal(S, self.S)
                or not np.array_equal(XS, self.XS) or not np.array_equal(DS, self.DS)):
            return 0
        k = min(len(self.XR), len(XR))
        same = np.all(XR[:k] == self.XR[:k], axis=1) & (DR[:k] == self.DR[:k])
        agree = k if same.all() else int(np.argmin(same))
        return agree // BLOCK * BLOCK


def _select_spanning(P: np.ndarray, rank: int) -> Optional[np.ndarray]:
    """``rank`` row indices of ``P`` ``(n, k)`` whose rows span its row space, earliest first.

    Rows are scanned in order and a row is taken when its distance to the span of the rows
    taken so far is above a fraction of its norm (0.1, else looser): the choice depends on
    the leading rows only, and the linear functions built on them stay well scaled. None
    when no such rows are found."""
    for tol in (0.1, 1e-3, 1e-7):
        chosen: list[int] = []
        basis = np.zeros((0, P.shape[1]))
        for i, row in enumerate(P):
            res = row - (basis @ row) @ basis
            size = float(np.sqrt(res @ res))
            if size > tol * float(np.sqrt(row @ row)):
                chosen.append(i)
                if len(chosen) == rank:
                    return np.asarray(chosen)
                basis = np.vstack([basis, res / size])
    return None


def _solve_projected(X: np.ndarray, z: np.ndarray, diag: np.ndarray, Q: np.ndarray, kernel: str,
                     phi: Callable[[np.ndarray], np.ndarray], warm: Optional[_Factor]
                     ) -> Optional[tuple[np.ndarray, np.ndarray, Optional[_Factor]]]:
    """Interpolation coefficients by a Cholesky solve on the tail-free subspace (see :class:`_Factor`).

    Args:
        X: ``(n, d)`` distinct points; z ``(n,)`` scaled values; diag ``(n,)`` smoothing plus nugget.
        Q: ``(n, r)`` orthonormal basis of the tail at the points.
        warm: a factor from an earlier fit, reused where it applies.

    Returns:
        (kernel coefficients ``(n,)``, tail coefficients ``(r,)``, the factor to keep or None),
        or None when no spanning points are found (the caller solves the full system).

    Raises:
        numpy.linalg.LinAlgError: the projected matrix is not numerically positive definite.
    """
    from scipy.linalg.blas import dtrsm, dtrsv
    from scipy.linalg.lapack import dpotrf
    from scipy.spatial.distance import cdist

    n, r = len(X), Q.shape[1]
    S = _select_spanning(np.hstack([np.ones((n, 1)), X - X[0]]), r)
    if S is None:
        return None
    mask = np.ones(n, dtype=bool)
    mask[S] = False
    R = np.flatnonzero(mask)
    XS, DS, XR, DR = X[S], diag[S], X[R], diag[R]
    origin = XS[0]
    pinv_S = np.linalg.pinv(np.hstack([np.ones((r, 1)), XS - origin]))  # (d+1, r)
    M_SS = phi(cdist(XS, XS))
    M_SS[np.arange(r), np.arange(r)] += DS
    k = 0
    L, Lam = np.zeros((0, 0)), np.zeros((0, r))
    if warm is not None:
        k = warm.reusable(kernel, S, XS, DS, XR, DR)
        if k:
            L = warm.L if k == len(warm.L) else np.ascontiguousarray(warm.L[:k, :k])
            Lam = warm.Lam[:k]
    m = len(R)
    tail_rows = np.zeros((0, k))  # rows of the last, partial block: (p, k) and (p, p)
    tail_diag = np.zeros((0, 0))
    # the factor grows a block at a time, in two buffers allocated once: a fresh large array per
    # block costs more in page faults than the copy
    whole = m // BLOCK * BLOCK
    buffers = [np.empty(whole * whole), np.empty(whole * whole)] if whole > k else []
    while k < m:
        p = min(BLOCK, m - k)
        J = slice(k, k + p)
        lam_J = np.hstack([np.ones((p, 1)), XR[J] - origin]) @ pinv_S  # (p, r)
        lam_C = np.vstack([Lam, lam_J])  # (k + p, r)
        # one distance computation per block: rows J and S against columns R[:k + p] and S
        K_all = phi(cdist(np.vstack([XR[J], XS]), np.vstack([XR[: k + p], XS])))  # (p + r, k + p + r)
        B = K_all[:p, : k + p]  # M_JC - Lam_J M_SC - M_JS Lam_C^T + Lam_J M_SS Lam_C^T
        B -= lam_J @ (K_all[p:, : k + p] - M_SS @ lam_C.T)
        B -= K_all[:p, k + p:] @ lam_C.T
        B[np.arange(p), k + np.arange(p)] += DR[J]
        if k:
            rows = dtrsm(1.0, L.T, B[:, :k].T, lower=0, trans_a=1).T  # (p, k): L rows^T = B_J,:k^T
            block = B[:, k:] - rows @ rows.T
        else:
            rows, block = np.zeros((p, 0)), B[:, k:]
        L_J, info = dpotrf(block, lower=1, clean=1)
        if info:
            raise np.linalg.LinAlgError("RBF fit: the projected kernel matrix is not positive definite")
        if p < BLOCK:
            tail_rows, tail_diag, Lam = rows, L_J, lam_C
            break
        grown = buffers[0][: (k + p) ** 2].reshape(k + p, k + p)  # L lives in the other one
        buffers.reverse()
        grown[:k, :k] = L
        grown[:k, k:] = 0.0
        grown[k:, :k] = rows
        grown[k:, k:] = L_J
        L, Lam, k = grown, lam_C, k + p
    # solve B c_R = z_R - Lam z_S with L = [[L, 0], [tail_rows, tail_diag]]
    rhs = z[R] - Lam @ z[S]
    K = len(L)
    # (L is C-ordered: L.T is the Fortran-ordered upper factor, passed without a copy)
    u = dtrsv(L.T, rhs[:K], lower=0, trans=1) if K else rhs[:0]  # L u = rhs
    if len(tail_diag):
        u2 = dtrsv(tail_diag, rhs[K:] - tail_rows @ u, lower=1)
        w2 = dtrsv(tail_diag, u2, lower=1, trans=1)
        u = u - tail_rows.T @ w2
    else:
        w2 = rhs[:0]
    w1 = dtrsv(L.T, u, lower=0) if K else rhs[:0]  # L^T w = u
    c_R = np.concatenate([w1, w2])
    coef = np.empty(n)
    coef[R] = c_R
    coef[S] = -(Lam.T @ c_R)
    # the tail from the equations at S: Q_S b = z_S - M_S. c
    poly = np.linalg.solve(Q[S], z[S] - phi(cdist(XS, X)) @ coef - DS * coef[S])
    if not (np.isfinite(coef).all() and np.isfinite(poly).all()):
        return None
    keep = None
    if 0 < K <= MAX_WARM_POINTS:
        keep = _Factor(kernel, S, XS, DS, XR[:K], DR[:K], Lam[:K].copy(), L)
    return coef, poly, keep


def _merge_duplicates(X: np.ndarray, y: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average the values of identical rows of ``X`` ``(n, d)``, in the order of first occurrence
    (so the merged points of a growing history keep their places, see :class:`_Factor`).

    The merged variance is the variance of the mean: the larger of the mean stated
    variance over ``k`` and the observed spread of the duplicates over ``k``.
    """
    if len(X) < 2:
        return X, y, var
    # fast path: equal rows have equal projections, so all-distinct projections prove no duplicates
    projection = X @ np.cos(np.arange(1, X.shape[1] + 1) * 0.7548776662466927)
    projection.sort()
    if np.all(np.diff(projection) > 0):
        return X, y, var
    uniq, first, inverse, counts = np.unique(X, axis=0, return_index=True, return_inverse=True,
                                             return_counts=True)
    if len(uniq) == len(X):
        return X, y, var
    order = np.argsort(first, kind="stable")
    place = np.empty_like(order)
    place[order] = np.arange(len(order))
    uniq, counts, inverse = uniq[order], counts[order], place[inverse.ravel()]
    mean = np.bincount(inverse, weights=y) / counts
    stated = np.bincount(inverse, weights=var) / counts / counts
    spread = np.bincount(inverse, weights=(y - mean[inverse]) ** 2) / np.maximum(counts - 1, 1) / counts
    return uniq, mean, np.maximum(stated, spread)


def _solve(A: np.ndarray, rhs: np.ndarray) -> Optional[np.ndarray]:
    """Solve the saddle-point system; None when singular or not finite.

    A general LU solve (LAPACK ``gesv``): measured faster than the symmetric indefinite
    one (``sysv``) for these systems, 0.8 vs 1.5 ms at 300 points."""
    try:
        coef = np.linalg.solve(A, rhs)
    except (np.linalg.LinAlgError, ValueError):
        return None
    return coef if np.isfinite(coef).all() else None
