"""SRBF / DYCORS candidate search for RBF surrogates.

Candidates are perturbations of the incumbent (the best observed point): each
parameter is perturbed with a probability that decays with the number of
evaluations (DYCORS), reals by a Gaussian step, integers and ordinals by whole
steps, categoricals by switching to another choice; a share of candidates is
uniform in the cube. Each candidate's merit mixes its scaled prediction with its
scaled distance to evaluated and pending points; a batch is picked one point at a
time, each pick joining the pending set for the next. Everything here is a pure
function of its arguments: the step size and weights are derived from the history.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from ..space import Space

__all__ = ["ParamBlock", "param_blocks", "dycors_probability", "step_size_from_history", "generate_candidates",
           "polish", "select_batch", "DEFAULT_WEIGHTS"]

#: weight of the prediction in the merit, cycled by the number of observed + pending configs
DEFAULT_WEIGHTS = (0.3, 0.5, 0.8, 0.95)


@dataclass(frozen=True)
class ParamBlock:
    """Encoded columns of one parameter and how a perturbation moves them.

    Attributes:
        cols: column indices ``(w,)``.
        kind: ``"real"``, ``"integer"``, ``"ordinal"`` or ``"onehot"``.
        step: size of one discrete step in the cube (0: continuous or log-integer).
    """

    cols: np.ndarray
    kind: str
    step: float


def param_blocks(space: Space) -> list[ParamBlock]:
    """One block per parameter with encoded columns (fixed parameters have none)."""
    blocks = []
    for name in space.names:
        sl = space.slice_of(name)
        if sl.stop == sl.start:
            continue
        col = space.columns[sl.start]
        blocks.append(ParamBlock(np.arange(sl.start, sl.stop), col.kind, float(col.step)))
    return blocks


def dycors_probability(n_params: int, n_eval: int, n_initial: int, budget: int) -> float:
    """Probability of perturbing each parameter (Regis & Shoemaker's DYCORS schedule).

    ``min(20/d, 1) * (1 - log(n_eval - n_initial + 1) / log(budget - n_initial))``, kept
    at least ``1/d`` so on average one parameter moves (one always does, see
    :func:`generate_candidates`).
    """
    d = max(int(n_params), 1)
    p0 = min(20.0 / d, 1.0)
    span = budget - n_initial
    if span > 1:
        done = max(n_eval - n_initial, 0)
        p0 *= 1.0 - math.log(done + 1) / math.log(span)
    return float(min(max(p0, 1.0 / d), 1.0))


def step_size_from_history(values: np.ndarray, n_initial: int, n_params: int, sigma_init: float = 0.2,
                           sigma_min: float = 0.2 * 0.5 ** 6, n_success: int = 3,
                           n_failure: int | None = None) -> float:
    """Gaussian step size after replaying the success/failure counters over ``values``.

    Args:
        values: ``(n,)`` observed values in the order they were observed.
        n_initial: values before this index (the initial design) set the first incumbent
            and are not counted.
        n_params: number of parameters ``d``; failures tolerated is ``max(d, 5)`` by default.
        sigma_init: starting (and largest) step, as a fraction of the unit cube.
        sigma_min: below this the step is reset to ``sigma_init`` (explore again).
        n_success: consecutive improvements that double the step.
        n_failure: consecutive non-improvements that halve it.
    """
    values = np.asarray(values, dtype=float)
    tol_fail = max(n_params, 5) if n_failure is None else int(n_failure)
    head = values[: max(n_initial, 1)]
    head = head[np.isfinite(head)]
    best = float(head.min()) if head.size else math.inf
    sigma, succ, fail = sigma_init, 0, 0
    for v in values[max(n_initial, 1):].tolist():  # Python floats: several times faster to loop over
        if not math.isfinite(v):
            continue
        if v < best - 1e-3 * abs(best):
            succ, fail = succ + 1, 0
        else:
            succ, fail = 0, fail + 1
        best = min(best, v)
        if succ >= n_success:
            sigma, succ = min(2.0 * sigma, sigma_init), 0
        elif fail >= tol_fail:
            sigma, fail = sigma / 2.0, 0
            if sigma < sigma_min:
                sigma = sigma_init
    return float(sigma)


def generate_candidates(blocks: Sequence[ParamBlock], center: np.ndarray, n: int, sigma: float, prob: float,
                        rng: np.random.Generator) -> np.ndarray:
    """``(n, d)`` candidates: DYCORS perturbations of ``center`` ``(d,)``.

    Each parameter is perturbed with probability ``prob`` (at least one per candidate).
    Real columns get ``N(0, sigma)`` reflected at the cube's faces; integer and ordinal
    columns move by a whole, non-zero number of steps; one-hot blocks switch choice.
    Candidates are not yet snapped to valid encodings (see :meth:`Space.round`).
    """
    m = max(int(n), 0)
    X = np.tile(np.asarray(center, dtype=float), (m, 1))
    k = len(blocks)
    if m and k:
        mask = rng.random((m, k)) < prob
        forced = rng.integers(k, size=m)
        mask[np.arange(m), forced] |= ~mask.any(axis=1)
        for j, block in enumerate(blocks):
            rows = np.flatnonzero(mask[:, j])
            if rows.size:
                _perturb(X, rows, block, sigma, rng)
    return X


def _perturb(X: np.ndarray, rows: np.ndarray, block: ParamBlock, sigma: float, rng: np.random.Generator) -> None:
    """Move ``block`` of ``X[rows]`` in place."""
    if block.kind == "onehot":
        width = len(block.cols)
        if width < 2:
            return
        current = np.argmax(X[np.ix_(rows, block.cols)], axis=1)
        new = (current + rng.integers(1, width, size=rows.size)) % width  # any other choice
        X[np.ix_(rows, block.cols)] = 0.0
        X[rows, block.cols[new]] = 1.0
        return
    c = block.cols[0]
    delta = rng.normal(0.0, sigma, size=rows.size)
    if block.step > 0:
        steps = np.round(delta / block.step)
        steps = np.where(steps == 0, np.where(delta < 0, -1.0, 1.0), steps)
        delta = steps * block.step
    x = X[rows, c] + delta
    x = np.where(x < 0, -x, x)  # reflect at the faces
    x = np.where(x > 1, 2 - x, x)
    X[rows, c] = np.clip(x, 0.0, 1.0)


def polish(value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], starts: np.ndarray,
           blocks: Sequence[ParamBlock], radius: float, max_iter: int = 30) -> np.ndarray:
    """Locally minimise the surrogate over the real columns from each start.

    Discrete columns stay at the start's values; each real column may move at most
    ``radius`` (a trust region: a cubic RBF extrapolates wildly far from its data).

    Args:
        value_and_grad: ``x (d,) -> (value, gradient (d,))`` of the surrogate mean.
        starts: ``(k, d)`` rounded start points (``Space.round``).
        blocks: parameter blocks of the space.
        radius: half-width of the box around each start, in cube units.
        max_iter: L-BFGS-B iterations per start.

    Returns:
        ``(k, d)`` polished points (a start is kept when the optimiser fails).
    """
    from scipy.optimize import minimize

    real = np.concatenate([b.cols for b in blocks if b.kind == "real"] or [np.zeros(0, dtype=int)]).astype(int)
    out = np.array(starts, dtype=float, copy=True)
    if real.size == 0 or radius <= 0:
        return out
    for i, x0 in enumerate(out):
        bounds = list(zip(np.maximum(x0[real] - radius, 0.0), np.minimum(x0[real] + radius, 1.0)))

        def fun(z: np.ndarray, x0: np.ndarray = x0) -> tuple[float, np.ndarray]:
            x = x0.copy()
            x[real] = z
            v, g = value_and_grad(x)
            return float(v), np.asarray(g, dtype=float)[real]

        try:
            res = minimize(fun, x0[real], jac=True, method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": max_iter})
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            continue
        if np.all(np.isfinite(res.x)) and np.isfinite(res.fun) and res.fun <= fun(x0[real])[0]:
            out[i, real] = res.x
    return out


def _unit_scale(v: np.ndarray) -> np.ndarray:
    """Affine map of finite ``v`` to [0, 1] (all ones when constant)."""
    lo, hi = float(v.min()), float(v.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.ones_like(v)
    return (v - lo) / (hi - lo)


def select_batch(candidates: np.ndarray, predictions: np.ndarray, taken: np.ndarray, n: int,
                 weight: Callable[[int], float], radius: float,
                 eligible: Optional[Callable[[int], Optional[np.ndarray]]] = None,
                 nearest: Optional[np.ndarray] = None) -> list[int]:
    """Pick up to ``n`` candidate rows by merit, one at a time.

    Merit (lower is better) ``= w * scaled prediction + (1 - w) * (1 - scaled distance)``
    where distance is to the nearest of ``taken`` ``(t, d)`` (evaluated and pending) and
    of the rows already picked. Rows closer than ``radius`` are never picked.

    Args:
        candidates: ``(m, d)`` rounded candidates (``Space.round``).
        predictions: ``(m,)`` surrogate means.
        taken: ``(t, d)`` points already evaluated or pending.
        n: number wanted.
        weight: ``k -> w`` for the k-th pick of this batch.
        radius: minimum distance to anything taken.
        eligible: ``k -> (m,)`` bool mask of rows allowed for the k-th pick (None: all).
        nearest: ``(m,)`` distances of the candidates to the nearest of ``taken`` when the
            caller has them already (then ``taken`` is not read).

    Returns:
        Indices into ``candidates``, best first (fewer than ``n`` when too few qualify).
    """
    m = len(candidates)
    if m == 0 or n <= 0:
        return []
    if nearest is not None:
        dist = np.asarray(nearest, dtype=float).copy()
    elif len(taken):
        from scipy.spatial import cKDTree
        dist, _ = cKDTree(taken).query(candidates, k=1)
    else:
        dist = np.full(m, np.inf)
    pred = np.where(np.isfinite(predictions), predictions, np.inf)
    finite_pred = np.isfinite(pred)
    chosen: list[int] = []
    for k in range(n):
        ok = (dist >= radius) & finite_pred
        mask = eligible(k) if eligible is not None else None
        if mask is not None:
            ok &= mask
        if not ok.any():
            break
        idx = np.flatnonzero(ok)
        d_ok = np.minimum(dist[idx], 1e6)  # no taken point at all: distance carries no signal
        w = float(weight(k))
        merit = w * _unit_scale(pred[idx]) + (1.0 - w) * (1.0 - _unit_scale(d_ok))
        best = int(idx[int(np.argmin(merit))])
        chosen.append(best)
        dist = np.minimum(dist, np.linalg.norm(candidates - candidates[best], axis=1))
    return chosen
