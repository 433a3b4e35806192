"""Which hyperparameters matter: value-vs-loss scatter data and Sobol indices.

Sobol indices are computed on a surrogate fitted to the study (the data alone are too few
and too unevenly placed for Monte-Carlo estimates). Estimators: Saltelli (2010) for the
first-order index and Jansen (1999) for the total index, with matrices ``A``, ``B`` of
independent uniform samples and ``AB_i`` = ``A`` with parameter ``i``'s columns from ``B``:

    S_i  = mean(f(B) * (f(AB_i) - f(A))) / Var(f)
    ST_i = mean((f(A) - f(AB_i))**2) / (2 Var(f))

A parameter is one block of columns (a one-hot categorical moves as a whole), and samples
are snapped to valid configs (integer bins, one category) before the model sees them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

__all__ = ["ParamScatter", "param_scatter", "SobolIndices", "sobol_indices", "study_sobol"]


@dataclass(frozen=True)
class ParamScatter:
    """One hyperparameter's values against the loss of every completed config.

    Attributes:
        name: the hyperparameter.
        values: ``(n,)`` its value per trial (category codes when categorical).
        means: ``(n,)`` replicate mean loss; stds ``(n,)`` replicate std (NaN for one).
        categories: labels of the codes, or None for a numeric parameter.
        log: the parameter is searched on a log scale.
    """

    name: str
    values: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    categories: Optional[list] = None
    log: bool = False


def param_scatter(summaries: Sequence[Any], space: Any) -> list[ParamScatter]:
    """A :class:`ParamScatter` per searched (non-fixed) hyperparameter of ``space``."""
    from .variability import color_values  # noqa: PLC0415

    done = [s for s in summaries if math.isfinite(s.mean)]
    means = np.array([s.mean for s in done], dtype=float)
    stds = np.array([s.std if s.n > 1 else math.nan for s in done], dtype=float)
    out = []
    for name, p in space.params.items():
        if p.width == 0:
            continue
        values, labels, log = color_values(done, name, space) if done else (np.zeros(0), None, False)
        out.append(ParamScatter(name=name, values=values, means=means, stds=stds, categories=labels, log=log))
    return out


@dataclass(frozen=True)
class SobolIndices:
    """First-order and total Sobol indices per hyperparameter.

    Attributes:
        names: ``(p,)`` searched hyperparameters.
        first: ``(p,)`` first-order indices S_i (share of variance from i alone).
        total: ``(p,)`` total indices ST_i (i with all its interactions).
        first_ci, total_ci: ``(p,)`` half-width of a 95% bootstrap interval.
        variance: variance of the model output over the space.
        n: base sample size (the model was evaluated ``n * (p + 2)`` times).
    """

    names: list
    first: np.ndarray
    total: np.ndarray
    first_ci: np.ndarray
    total_ci: np.ndarray
    variance: float
    n: int

    def as_dict(self) -> dict[str, dict[str, float]]:
        """``{name: {"first": S, "total": ST}}``."""
        return {n: {"first": float(s), "total": float(t)} for n, s, t in zip(self.names, self.first, self.total)}

    def ranking(self) -> list[str]:
        """Names by decreasing total index."""
        return [self.names[i] for i in np.argsort(-self.total, kind="stable")]


def sobol_indices(f: Callable[[np.ndarray], np.ndarray], space: Any, n: int = 2048, seed: int = 0,
                  n_boot: int = 100) -> SobolIndices:
    """Sobol indices of ``f`` over the unit cube of ``space``.

    Args:
        f: ``(m, d)`` encoded points -> ``(m,)`` values (e.g. a surrogate's mean).
        space: the :class:`~uqhpo.space.Space` (its parameters define the column blocks).
        n: base sample size.
        seed: seed of the samples and of the bootstrap.
        n_boot: bootstrap resamples for the intervals (0: none, intervals NaN).
    """
    rng = np.random.default_rng(seed)
    params = [(name, space.slice_of(name)) for name, p in space.params.items() if p.width]
    A = space.round(rng.random((n, space.dim)))
    B = space.round(rng.random((n, space.dim)))
    fA, fB = np.asarray(f(A), dtype=float), np.asarray(f(B), dtype=float)
    fAB = np.empty((len(params), n))
    for i, (_, sl) in enumerate(params):
        AB = A.copy()
        AB[:, sl] = B[:, sl]
        fAB[i] = np.asarray(f(AB), dtype=float)

    def estimate(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        a, b, ab = fA[idx], fB[idx], fAB[:, idx]
        var = float(np.var(np.concatenate([a, b])))
        if not var > 0:
            return np.zeros(len(params)), np.zeros(len(params)), 0.0
        first = np.mean(b * (ab - a), axis=1) / var
        total = 0.5 * np.mean((a - ab) ** 2, axis=1) / var
        return first, total, var

    first, total, var = estimate(np.arange(n))
    first_ci = total_ci = np.full(len(params), np.nan)
    if n_boot > 0:
        boots = [estimate(rng.integers(0, n, n)) for _ in range(n_boot)]
        first_ci = 1.96 * np.std([b[0] for b in boots], axis=0)
        total_ci = 1.96 * np.std([b[1] for b in boots], axis=0)
    return SobolIndices(names=[name for name, _ in params], first=first, total=total, first_ci=first_ci,
                        total_ci=total_ci, variance=var, n=int(n))


def study_sobol(study: Any, surrogate: str = "auto", n: int = 2048, seed: int = 0,
                target: str = "objective") -> SobolIndices:
    """Sobol indices of the surrogate fitted to a stored study (see :func:`sobol_indices`)."""
    from .surrogate_view import fit_study_surrogate  # noqa: PLC0415

    view = fit_study_surrogate(study, kind=surrogate, target=target)
    return sobol_indices(lambda X: view.predict_encoded(X)[0], study.space, n=n, seed=seed)
