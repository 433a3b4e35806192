"""Expected improvement / lower confidence bound on a GP, with pending points as fantasies.

Search for one point: score a large candidate set (scrambled Sobol points plus
perturbations of the best observed points, each snapped to a valid config with
``Space.round``); improve the top few by a coordinate search over the values of each
integer and categorical parameter, then refine their real-valued columns with L-BFGS-B
while the integer and categorical columns stay at their values; take the best-scoring
candidate whose config is not taken yet. For a batch, each chosen point is added to the
GP as a "kriging believer" fantasy (value = posterior mean) before the next is chosen,
which shrinks the std around it and pushes the next choice elsewhere. Pending configs
enter the same way before the first choice.
"""
from __future__ import annotations

import math
from collections.abc import MutableSet
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import erfcx, ndtr

from ..space import Categorical, Integer, Space, select_new
from ..surrogates.gp import GaussianProcess

__all__ = ["expected_improvement", "log_expected_improvement", "lower_confidence_bound",
           "acquisition_scores", "candidate_points", "propose_gp"]

_SQRT_HALF_PI = math.sqrt(math.pi / 2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
ACQUISITIONS = ("ei", "lcb")


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """EI below ``best`` (minimisation): ``E[max(best - f, 0)]`` for f ~ N(mean, std^2), shape (m,)."""
    std = np.maximum(std, 1e-300)
    z = (best - mean) / std
    return std * (np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) + z * ndtr(z))


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best: float
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log EI with its partial derivatives: (logei (m,), d/dmean (m,), d/dstd (m,)).

    ``EI = std * h(z)`` with ``h(z) = phi(z) + z Phi(z)``, ``z = (best - mean) / std``; for
    ``z < -1`` h is written as ``phi(z) * (1 + z * Phi(z)/phi(z))`` with the Mills ratio from
    ``erfcx``, which stays accurate where EI underflows.
    """
    mean, std = np.asarray(mean, dtype=float), np.maximum(np.asarray(std, dtype=float), 1e-300)
    z = (best - mean) / std
    log_phi = -0.5 * z * z - _LOG_SQRT_2PI
    # Phi(z) / h(z) and phi(z) / h(z): dEI/dmean = -Phi(z), dEI/dstd = phi(z)
    cdf_over_h, pdf_over_h, log_h = np.empty_like(z), np.empty_like(z), np.empty_like(z)
    head = z >= -1.0
    if np.any(head):
        zh = z[head]
        pdf, cdf = np.exp(log_phi[head]), ndtr(zh)
        h = pdf + zh * cdf
        log_h[head], cdf_over_h[head], pdf_over_h[head] = np.log(h), cdf / h, pdf / h
    tail = ~head
    if np.any(tail):
        zt = z[tail]
        mills = _SQRT_HALF_PI * erfcx(-zt / math.sqrt(2.0))   # Phi(z) / phi(z)
        ratio = 1.0 + zt * mills                              # h(z) / phi(z), cancels for z << 0
        far = zt < -40.0
        inv2 = 1.0 / zt[far] ** 2
        ratio[far] = inv2 * (1.0 - 3.0 * inv2 + 15.0 * inv2 ** 2)  # asymptotic series there
        log_h[tail], cdf_over_h[tail], pdf_over_h[tail] = log_phi[tail] + np.log(ratio), mills / ratio, 1.0 / ratio
    return np.log(std) + log_h, -cdf_over_h / std, pdf_over_h / std


def lower_confidence_bound(mean: np.ndarray, std: np.ndarray, beta: float) -> np.ndarray:
    """``mean - beta * std`` (m,): lower is more promising."""
    return mean - beta * std


def acquisition_scores(gp: GaussianProcess, X: np.ndarray, kind: str, best: float, beta: float,
                       with_grad: bool = False) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Acquisition value to maximise (log EI or -LCB) at ``X`` (m, d), and its gradient (m, d)."""
    if with_grad:
        mean, std, dmean, dstd = gp.predict_with_grad(X)
    else:
        mean, std = gp.predict(X)
    if kind == "ei":
        val, gm, gs = log_expected_improvement(mean, std, best)
    else:
        val, gm, gs = -lower_confidence_bound(mean, std, beta), -np.ones_like(mean), np.full_like(std, beta)
    if not with_grad:
        return val, None
    return val, gm[:, None] * dmean + gs[:, None] * dstd


def candidate_points(space: Space, X_top: np.ndarray, rng: np.random.Generator, n_sobol: int,
                     n_local: int) -> np.ndarray:
    """Rounded candidates ``(m, d)``: Sobol points plus perturbations of the ``X_top`` (k, d) points.

    Perturbations are Gaussian with a scale drawn per candidate from {0.01, 0.05, 0.2}; an
    integer column also jumps by +-1 step with probability 1/2 and a categorical parameter
    is redrawn with probability 1/4 (otherwise rounding would always snap back).
    """
    from scipy.stats import qmc

    d = space.dim
    m = 1 << max(int(math.ceil(math.log2(max(n_sobol, 2)))), 1)
    sobol = qmc.Sobol(d, scramble=True, rng=rng).random(m)
    parts = [sobol]
    if len(X_top) and n_local > 0:
        base = X_top[rng.integers(len(X_top), size=n_local)]
        scale = rng.choice([0.01, 0.05, 0.2], size=(n_local, 1))
        P = base + scale * rng.normal(size=(n_local, d))
        for j, col in enumerate(space.columns):
            if col.kind in ("integer", "ordinal") and col.step > 0:
                jump = rng.choice([-1.0, 0.0, 0.0, 1.0], size=n_local) * col.step
                P[:, j] = base[:, j] + jump + 0.5 * scale[:, 0] * rng.normal(size=n_local)
        for name in space.names:  # redraw one-hot blocks now and then
            sl = space.slice_of(name)
            if sl.stop - sl.start > 1 and space.columns[sl.start].kind == "onehot":
                redraw = rng.random(n_local) < 0.25
                P[redraw, sl] = rng.random((int(redraw.sum()), sl.stop - sl.start))
        parts.append(np.clip(P, 0.0, 1.0))
    return space.round(np.vstack(parts))


def discrete_values(space: Space, max_values: int = 64) -> list[tuple[slice, np.ndarray]]:
    """Per integer / categorical parameter: its columns and the encodings of its values
    ``(k, width)`` (at most ``max_values``, evenly spread over a wide integer range)."""
    out = []
    for name, p in space.params.items():
        if isinstance(p, Integer):
            values = np.unique(np.round(np.linspace(p.low, p.high, min(p.n_values, max_values))).astype(int))
            out.append((space.slice_of(name), np.array([p.encode(int(v)) for v in values])))
        elif isinstance(p, Categorical) and len(p.choices) > 1:
            out.append((space.slice_of(name), np.array([p.encode(c) for c in p.choices])))
    return out


def _sweep_discrete(gp: GaussianProcess, space: Space, starts: np.ndarray, kind: str, best: float, beta: float,
                    rounds: int = 2) -> np.ndarray:
    """Coordinate search over the integer and categorical parameters of ``starts`` (q, d):
    each parameter in turn is set to its best value (all others held), ``rounds`` passes."""
    blocks = discrete_values(space)
    X = starts.copy()
    if not blocks or len(X) == 0:
        return X
    score = acquisition_scores(gp, X, kind, best, beta)[0]
    rows = np.arange(len(X))
    for _ in range(rounds):
        improved = False
        for sl, values in blocks:
            k = len(values)
            V = np.repeat(X, k, axis=0)
            V[:, sl] = np.tile(values, (len(X), 1))
            s = acquisition_scores(gp, V, kind, best, beta)[0].reshape(len(X), k)
            j = np.argmax(s, axis=1)
            better = s[rows, j] > score + 1e-12
            if better.any():
                X[better, sl] = values[j[better]]
                score[better] = s[rows, j][better]
                improved = True
        if not improved:
            break
    return X


def _refine(gp: GaussianProcess, space: Space, starts: np.ndarray, kind: str, best: float, beta: float,
            max_iter: int) -> np.ndarray:
    """L-BFGS-B on the real columns of all ``starts`` (q, d) at once (their scores add up)."""
    real = np.array([c.kind == "real" for c in space.columns])
    if not real.any() or len(starts) == 0:
        return starts
    q, r = len(starts), int(real.sum())
    fixed = starts.copy()

    def negative(z: np.ndarray) -> tuple[float, np.ndarray]:
        X = fixed.copy()
        X[:, real] = z.reshape(q, r)
        val, grad = acquisition_scores(gp, X, kind, best, beta, with_grad=True)
        assert grad is not None  # with_grad=True always returns one
        return -float(val.sum()), -grad[:, real].ravel()

    res = minimize(negative, starts[:, real].ravel(), jac=True, method="L-BFGS-B",
                   bounds=[(0.0, 1.0)] * (q * r), options={"maxiter": max_iter})
    out = fixed.copy()
    out[:, real] = np.clip(res.x.reshape(q, r), 0.0, 1.0)
    return space.round(out)


def propose_gp(gp: GaussianProcess, space: Space, n: int, rng: np.random.Generator, taken: MutableSet[str], *,
               X_top: np.ndarray, best: float, pending: Sequence[Mapping[str, Any]] = (),
               kind: str = "ei", beta: float = 2.0, n_candidates: Optional[int] = None,
               n_refine: int = 4, refine_iter: int = 60) -> list[dict]:
    """Up to ``n`` new configs chosen one after another by the acquisition.

    Args:
        gp: a fitted GP on the encoded observations.
        space: the search space (encoding, rounding, de-duplication keys).
        n: configs wanted (fewer come back only when no untaken candidate is found).
        rng: source of the candidate sets.
        taken: keys of evaluated, failed and pending configs; updated with the choices.
        X_top: ``(k, d)`` encoded best observations, centres of the local candidates.
        best: incumbent value for EI (e.g. the lowest posterior mean at observed points).
        pending: configs under evaluation, added as fantasies first.
        kind: "ei" (expected improvement) or "lcb" (lower confidence bound with ``beta``).
        n_candidates: Sobol candidates per choice (default grows with the dimension).
        n_refine: top candidates improved per choice (discrete sweep, then L-BFGS-B).
        refine_iter: iteration cap of that refinement.
    """
    if kind not in ACQUISITIONS:
        raise ValueError(f"acquisition '{kind}' is unknown; choose one of {', '.join(ACQUISITIONS)}")
    d = space.dim
    n_sobol = n_candidates or min(2048, 256 * max(d, 2))
    if len(pending):
        gp, best = _add_fantasies(gp, space.encode(pending), best)
    chosen: list[dict] = []
    for _ in range(n):
        C = candidate_points(space, X_top, rng, n_sobol, n_local=n_sobol // 2)
        C = np.unique(C, axis=0)
        scores, _ = acquisition_scores(gp, C, kind, best, beta)
        top = C[np.argsort(-scores)[:n_refine]]
        top = _sweep_discrete(gp, space, top, kind, best, beta)
        R = _refine(gp, space, top, kind, best, beta, refine_iter)
        C = np.vstack([R, C])
        scores = np.concatenate([acquisition_scores(gp, R, kind, best, beta)[0], scores])
        order = np.argsort(-scores, kind="stable")
        pick: list[dict] = []
        # decode best-first in growing chunks: usually the first few are new
        for lo, hi in ((0, 16), (16, 256), (256, len(order))):
            pick = select_new(space, space.decode(C[order[lo:hi]]), taken, 1) if hi > lo else []  # type: ignore[arg-type]
            if pick:
                break
        if not pick:
            break
        chosen.append(pick[0])
        if len(chosen) < n:
            gp, best = _add_fantasies(gp, space.encode(pick), best)
    return chosen


def _add_fantasies(gp: GaussianProcess, X: np.ndarray, best: float) -> tuple[GaussianProcess, float]:
    """Kriging believer: condition on ``X`` (q, d) at its posterior mean. The incumbent
    drops to a fantasy's value when lower, or EI would keep pointing at the pending point."""
    mean = gp.predict(X)[0]
    return gp.condition(X, mean), min(best, float(mean.min()))
