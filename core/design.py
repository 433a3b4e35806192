"""Initial designs: space-filling first configs before any surrogate is fitted.

A design is drawn in a *parameter cube* with one column per non-fixed parameter
(so a Latin hypercube stratifies categorical choices too), mapped to the encoded
unit cube of :class:`~uqhpo.space.Space`, and decoded there, so every config is
valid. Among ``n_draws`` candidate designs the one with the largest minimum
pairwise distance (maximin, measured on the rounded encodings) is kept.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import MutableSet
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .space import Categorical, Fixed, Integer, Real, Space, select_new, taken_keys

__all__ = ["initial_design", "default_design_size", "validate_points", "enumerate_configs", "sample_unseen",
           "describe_values", "DESIGN_METHODS"]

DESIGN_METHODS = ("lhs", "sobol", "random")

# Enumerating a finite space is cheap up to this many configs; beyond it we only sample.
_ENUMERATE_LIMIT = 100_000


def default_design_size(space: Space) -> int:
    """Default number of initial configs: ``2 * (d + 1)`` with ``d = space.dim``."""
    return 2 * (space.dim + 1)


def initial_design(space: Space, n: int, rng: np.random.Generator, method: str = "lhs",
                   exclude: Sequence[Mapping[str, Any]] = (), n_draws: int = 10) -> list[dict]:
    """Space-filling, valid, distinct configs.

    Args:
        space: the search space.
        n: number of configs wanted.
        rng: the only source of randomness (same state -> same design).
        method: ``"lhs"`` (Latin hypercube), ``"sobol"`` (scrambled Sobol) or ``"random"``.
        exclude: configs never to return (evaluated, failed, pending...).
        n_draws: candidate designs drawn; the one whose smallest distance (between its
            rounded points, and from them to ``exclude``) is largest is kept.

    Returns:
        Up to ``n`` distinct configs, none in ``exclude``. Fewer only when the space has
        fewer unseen configs; a finite space with at most ``n`` configs is returned whole
        (minus ``exclude``) in enumeration order.
    """
    if method not in DESIGN_METHODS:
        raise ValueError(f"design method '{method}' is unknown; choose one of {', '.join(DESIGN_METHODS)}")
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    n = int(n)
    if n <= 0:
        return []
    exclude = list(exclude)
    taken = taken_keys(space, exclude)
    size = space.cardinality()
    if size <= n:
        return select_new(space, list(enumerate_configs(space)), taken, n)

    excluded_X = space.encode(exclude) if len(exclude) else np.zeros((0, space.dim))
    best: list[dict] = []
    best_score = (-1, -math.inf)
    for _ in range(n_draws):
        configs = select_new(space, _draw(space, n, rng, method), set(taken), n)
        score = (len(configs), _min_distance(space.encode(configs), excluded_X))
        if score > best_score:
            best, best_score = configs, score
    taken.update(space.key(c) for c in best)
    return best + sample_unseen(space, n - len(best), rng, taken)


def _unit_sample(d: int, n: int, rng: np.random.Generator, method: str) -> np.ndarray:
    """``(n, d)`` points in ``[0, 1)^d`` from the chosen sequence."""
    if method == "random" or d == 0:
        return rng.random((n, d))
    from scipy.stats import qmc

    seed = int(rng.integers(2**63 - 1))
    cls = qmc.LatinHypercube if method == "lhs" else qmc.Sobol
    try:
        engine = cls(d, rng=seed)
    except TypeError:  # scipy < 1.15 names the argument `seed`
        engine = cls(d, seed=seed)
    if method == "lhs":
        return engine.random(n)
    # a power-of-two prefix keeps Sobol's balance (and avoids scipy's warning)
    return engine.random_base2(max(0, math.ceil(math.log2(n))))[:n]


def _draw(space: Space, n: int, rng: np.random.Generator, method: str) -> list[dict]:
    """One candidate design: ``n`` configs mapped from the parameter cube."""
    active = [(name, p) for name, p in space.params.items() if not isinstance(p, Fixed)]
    U = _unit_sample(len(active), n, rng, method)
    X = np.zeros((n, space.dim))
    for j, (name, p) in enumerate(active):
        cols = space.slice_of(name)
        if isinstance(p, Categorical) and not p.ordered:
            # one stratum per choice: set the one-hot column of floor(u * k)
            idx = np.minimum((U[:, j] * len(p.choices)).astype(int), len(p.choices) - 1)
            X[np.arange(n), cols.start + idx] = 1.0
        else:
            X[:, cols.start] = U[:, j]
    return space.decode(X)


def _min_distance(X: np.ndarray, other: np.ndarray) -> float:
    """Smallest Euclidean distance among rows of ``X`` ``(n, d)`` and from them to ``other`` ``(m, d)``."""
    best = math.inf
    if len(X) > 1:
        diff = X[:, None, :] - X[None, :, :]
        D = np.sqrt((diff ** 2).sum(-1))
        best = float(D[np.triu_indices(len(X), 1)].min())
    if len(X) and len(other):
        D = np.sqrt(((X[:, None, :] - other[None, :, :]) ** 2).sum(-1))
        best = min(best, float(D.min()))
    return best


def sample_unseen(space: Space, n: int, rng: np.random.Generator, taken: MutableSet[str]) -> list[dict]:
    """Up to ``n`` uniformly random configs whose keys are not in ``taken`` (updated)."""
    out: list[dict] = []
    for _ in range(20):
        if len(out) >= n:
            return out
        out += select_new(space, space.sample(rng, 4 * (n - len(out)) + 8), taken, n - len(out))
    # a nearly exhausted finite space: pick from what is left
    if len(out) < n and space.cardinality() <= _ENUMERATE_LIMIT:
        rest = [c for c in enumerate_configs(space) if space.key(c) not in taken]
        order = rng.permutation(len(rest))
        out += select_new(space, [rest[i] for i in order], taken, n - len(out))
    return out


def enumerate_configs(space: Space, values: Mapping[str, Sequence[Any]] | None = None) -> Iterator[dict]:
    """Every config of a finite space, row-major in the order of the space (last parameter fastest).

    Args:
        space: the search space.
        values: optional explicit values per parameter (used by grids); others use all of
            their values. A Real parameter without explicit values raises ``ValueError``.
    """
    axes = []
    for name, p in space.params.items():
        if values is not None and name in values:
            axes.append(list(values[name]))
        elif isinstance(p, Fixed):
            axes.append([p.value])
        elif isinstance(p, Categorical):
            axes.append(list(p.choices))
        elif isinstance(p, Integer):
            axes.append(list(range(p.low, p.high + 1)))
        else:
            raise ValueError(f"parameter '{name}': a real parameter has no finite set of values")
    for combo in itertools.product(*axes):
        yield dict(zip(space.params, combo))


def validate_points(space: Space, points: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Check user-given configs and return them normalised (ints as int, reals as float).

    Fixed parameters may be omitted (their value is filled in).

    Raises:
        ValueError: one line naming the point index and the parameter at fault.
    """
    out = []
    for i, point in enumerate(points):
        if not isinstance(point, Mapping):
            raise ValueError(f"point {i}: expected a mapping of parameter values, got {type(point).__name__}")
        unknown = [k for k in point if k not in space.params]
        if unknown:
            raise ValueError(f"point {i}: unknown parameter '{unknown[0]}' (space has {', '.join(space.names)})")
        config = {}
        for name, p in space.params.items():
            if name not in point:
                if isinstance(p, Fixed):
                    config[name] = p.value
                    continue
                raise ValueError(f"point {i}: parameter '{name}' is missing")
            value = point[name]
            if not p.contains(value):
                raise ValueError(f"point {i}: parameter '{name}': value {value!r} is not in {describe_values(p)}")
            config[name] = _normalise(p, value)
        out.append(config)
    return out


def _normalise(p: Any, value: Any) -> Any:
    """A valid value in its canonical Python type (so config keys match)."""
    if isinstance(p, Integer):
        return int(value)
    if isinstance(p, Real):
        return float(value)
    if isinstance(p, Categorical):
        return next(c for c in p.choices if c == value)
    return value


def describe_values(p: Any) -> str:
    """Short text of a parameter's allowed values, for error messages."""
    if isinstance(p, (Real, Integer)):
        return f"[{p.low}, {p.high}]"
    if isinstance(p, Categorical):
        return f"{list(p.choices)}"
    return f"{{{p.value!r}}}"
