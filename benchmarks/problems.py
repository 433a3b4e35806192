"""Benchmark problems for the optimizer comparison (benchmarks/optimizer_bench.py).

Three classic test functions on mixed integer/real boxes, each also in a noisy
version, two more added later that no strategy default was tuned on (exact only), and
one real training problem:

* ``branin-int``: Branin with x1 integer in [-5, 10] and x2 real in [0, 15].
* ``hartmann6``: Hartmann-6 on [0, 1]^6.
* ``ackley5-mixed``: Ackley on [-5, 10]^5 whose first three coordinates are integers.
* ``styblinski-tang4``: Styblinski-Tang on [-5, 5]^4 (untuned).
* ``levy6-mixed``: Levy on [-10, 10]^6 whose first three coordinates are integers (untuned).
* ``<name>-noisy`` (first three only): observed value = f(x) + N(0, sigma), sigma = 5 % of f's range
  over the box. The range is estimated once with a fixed scrambled Sobol sample
  (:func:`estimate_range`) and recorded in :data:`RECORDED_RANGES`; a test checks
  that the estimate still reproduces the recorded number.
* ``digits-mlp``: 3-fold CV error of a small scikit-learn MLP on the digits data set
  (shipped with scikit-learn). The MLP's ``random_state`` comes from the evaluation
  seed, so the observed value is noisy across seeds; the "true" value of a config is
  the mean CV error over :data:`DIGITS_TRUTH_SEEDS` fresh seeds never used by an
  optimizer.

A config is a plain ``dict`` as produced by :class:`uqhpo.Space`; the true
functions are vectorised over ``(n, d)`` arrays in natural units.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping

import numpy as np

from uqhpo.space import Integer, Real, Space

__all__ = ["Problem", "PROBLEMS", "get_problem", "problem_names", "estimate_range", "branin", "hartmann6",
           "ackley", "styblinski_tang", "levy", "CLEAN_PROBLEMS", "RECORDED_RANGES", "NOISE_FRACTION",
           "DIGITS_TRUTH_SEEDS"]

#: noise standard deviation of the noisy variants, as a fraction of f's range over the box
NOISE_FRACTION = 0.05
#: Sobol sample used to estimate a function's range over its box
RANGE_SAMPLE_LOG2 = 16
RANGE_SAMPLE_SEED = 20240601
#: f's range (max - min) over the box from :func:`estimate_range` (2^16 scrambled Sobol points)
RECORDED_RANGES = {"branin-int": 307.517, "hartmann6": 3.24322, "ackley5-mixed": 16.5189,
                   "styblinski-tang4": 570.816, "levy6-mixed": 304.156}
#: seeds of the fresh trainings that define the "true" value of a digits config
DIGITS_TRUTH_SEEDS = tuple(range(10_000_001, 10_000_006))


# -- test functions (natural units, vectorised) ---------------------------------------------
def branin(X: np.ndarray) -> np.ndarray:
    """Branin-Hoo. ``X``: ``(n, 2)`` -> ``(n,)``."""
    X = np.atleast_2d(X)
    x1, x2 = X[:, 0], X[:, 1]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann6(X: np.ndarray) -> np.ndarray:
    """Hartmann-6. ``X``: ``(n, 6)`` in [0, 1]^6 -> ``(n,)``."""
    X = np.atleast_2d(X)
    inner = np.einsum("kj,nkj->nk", _H6_A, (X[:, None, :] - _H6_P[None]) ** 2)
    return -np.exp(-inner) @ _H6_ALPHA


def styblinski_tang(X: np.ndarray) -> np.ndarray:
    """Styblinski-Tang ``0.5 * sum(x^4 - 16 x^2 + 5 x)``. ``X``: ``(n, d)`` -> ``(n,)``;
    minimum ``-39.16616570377142 * d`` at ``x_i = -2.903534027771178``."""
    X = np.atleast_2d(X)
    return 0.5 * np.sum(X ** 4 - 16 * X ** 2 + 5 * X, axis=1)


def levy(X: np.ndarray) -> np.ndarray:
    """Levy. ``X``: ``(n, d)`` -> ``(n,)``, minimum 0 at ``x = (1, ..., 1)``."""
    X = np.atleast_2d(X)
    W = 1 + (X - 1) / 4
    head = np.sin(math.pi * W[:, 0]) ** 2
    mid = np.sum((W[:, :-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * W[:, :-1] + 1) ** 2), axis=1)
    tail = (W[:, -1] - 1) ** 2 * (1 + np.sin(2 * math.pi * W[:, -1]) ** 2)
    return head + mid + tail


def ackley(X: np.ndarray) -> np.ndarray:
    """Ackley (a=20, b=0.2, c=2 pi). ``X``: ``(n, d)`` -> ``(n,)``, minimum 0 at the origin."""
    X = np.atleast_2d(X)
    d = X.shape[1]
    s1 = np.sqrt(np.sum(X ** 2, axis=1) / d)
    s2 = np.sum(np.cos(2 * math.pi * X), axis=1) / d
    return -20 * np.exp(-0.2 * s1) - np.exp(s2) + 20 + math.e


# -- problem record --------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Attributes:
        name: identifier used on the command line and in tables.
        space: the uqhpo search space (column order = the function's argument order).
        optimum: global minimum of the true function over the (mixed) domain; for
            ``digits-mlp`` ``nan`` (unknown; the harness uses the best value seen).
        f_range: f's range over the box (the scale of the 1 % target and of the noise).
        noise_sd: standard deviation of the additive observation noise (0 = exact).
        true_batch: vectorised true function, ``(n, d)`` natural units -> ``(n,)``;
            ``None`` for problems that are not closed-form.
        observe_fn: ``(config, seed) -> observed value`` for non-closed-form problems.
        truth_fn: ``config -> true value`` for non-closed-form problems.
        expensive: True when one evaluation is a real training.
    """

    name: str
    space: Space
    optimum: float
    f_range: float
    noise_sd: float = 0.0
    true_batch: Callable[[np.ndarray], np.ndarray] | None = None
    observe_fn: Callable[[Mapping, int], float] | None = None
    truth_fn: Callable[[Mapping], float] | None = None
    expensive: bool = False

    @property
    def noisy(self) -> bool:
        return self.noise_sd > 0 or self.observe_fn is not None

    @property
    def target(self) -> float:
        """The "within 1 % of the range above the optimum" threshold."""
        return self.optimum + 0.01 * self.f_range

    def to_array(self, config: Mapping) -> np.ndarray:
        """Config -> ``(d,)`` natural-unit vector in the space's parameter order."""
        return np.array([float(config[n]) for n in self.space.names])

    def true_value(self, config: Mapping) -> float:
        """Noise-free value of ``config`` (for digits: mean over the truth seeds)."""
        if self.truth_fn is not None:
            return float(self.truth_fn(config))
        return float(self.true_batch(self.to_array(config)[None])[0])

    def observe(self, config: Mapping, seed: int) -> float:
        """What an optimizer sees for ``config`` evaluated with ``seed``."""
        if self.observe_fn is not None:
            return float(self.observe_fn(config, seed))
        value = self.true_value(config)
        if self.noise_sd > 0:
            value += self.noise_sd * float(np.random.default_rng(seed).standard_normal())
        return value


def estimate_range(true_batch: Callable[[np.ndarray], np.ndarray], space: Space,
                   log2_n: int = RANGE_SAMPLE_LOG2, seed: int = RANGE_SAMPLE_SEED) -> float:
    """f's range (max - min) over a fixed scrambled Sobol sample of ``2**log2_n`` points,
    decoded through ``space`` so integer coordinates are valid integers."""
    from scipy.stats import qmc

    U = qmc.Sobol(d=space.dim, scramble=True, seed=seed).random_base2(log2_n)
    configs = space.decode(U)
    X = np.array([[float(c[n]) for n in space.names] for c in configs])
    f = true_batch(X)
    return float(f.max() - f.min())


# -- digits MLP ------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data / 16.0, data.target


def digits_cv_error(config: Mapping, seed: int) -> float:
    """3-fold CV error of an MLP with ``config`` trained with ``random_state=seed``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neural_network import MLPClassifier

    X, y = _digits()
    width, layers = int(config["hidden_units"]), int(config["layers"])
    model = MLPClassifier(hidden_layer_sizes=(width,) * layers, alpha=float(config["alpha"]),
                          learning_rate_init=float(config["learning_rate_init"]), max_iter=30,
                          batch_size=128, random_state=int(seed) % (2 ** 31))
    # the folds are shuffled by the same seed: both training and split noise are in the value
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=int(seed) % (2 ** 31))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        accuracy = cross_val_score(model, X, y, cv=folds)
    return float(1.0 - accuracy.mean())


def digits_true_error(config: Mapping) -> float:
    """Mean CV error over :data:`DIGITS_TRUTH_SEEDS` (fresh seeds, never used by an optimizer)."""
    return float(np.mean([digits_cv_error(config, s) for s in DIGITS_TRUTH_SEEDS]))


# -- registry --------------------------------------------------------------------------------
def _base_problems() -> list[Problem]:
    branin_space = Space({"x1": Integer(-5, 10), "x2": Real(0.0, 15.0)})
    hartmann_space = Space({f"x{i}": Real(0.0, 1.0) for i in range(1, 7)})
    ackley_space = Space({**{f"x{i}": Integer(-5, 10) for i in range(1, 4)},
                          **{f"x{i}": Real(-5.0, 10.0) for i in range(4, 6)}})
    # Branin with integer x1: the square can be zeroed at x1 = +-3, leaving 10(1-t)cos(3) + 10
    branin_int_min = 10 * (1 - 1 / (8 * math.pi)) * math.cos(3.0) + 10
    return [
        Problem("branin-int", branin_space, branin_int_min, RECORDED_RANGES["branin-int"], true_batch=branin),
        Problem("hartmann6", hartmann_space, -3.322368011391339, RECORDED_RANGES["hartmann6"],
                true_batch=hartmann6),
        Problem("ackley5-mixed", ackley_space, 0.0, RECORDED_RANGES["ackley5-mixed"], true_batch=ackley),
    ]


def _untuned_problems() -> list[Problem]:
    """Problems added after the strategies were tuned (never used to choose a default);
    exact only (no noisy variant)."""
    st_space = Space({f"x{i}": Real(-5.0, 5.0) for i in range(1, 5)})
    levy_space = Space({**{f"x{i}": Integer(-10, 10) for i in range(1, 4)},
                        **{f"x{i}": Real(-10.0, 10.0) for i in range(4, 7)}})
    return [
        Problem("styblinski-tang4", st_space, -39.16616570377142 * 4, RECORDED_RANGES["styblinski-tang4"],
                true_batch=styblinski_tang),
        Problem("levy6-mixed", levy_space, 0.0, RECORDED_RANGES["levy6-mixed"], true_batch=levy),
    ]


def _build() -> dict[str, Problem]:
    problems: dict[str, Problem] = {}
    for p in _base_problems() + _untuned_problems():
        problems[p.name] = p
    for p in _base_problems():
        noisy = Problem(f"{p.name}-noisy", p.space, p.optimum, p.f_range, NOISE_FRACTION * p.f_range,
                        true_batch=p.true_batch)
        problems[noisy.name] = noisy
    digits_space = Space({"hidden_units": Integer(8, 128, log=True), "layers": Integer(1, 3),
                          "alpha": Real(1e-6, 1e-1, log=True),
                          "learning_rate_init": Real(1e-4, 1e-1, log=True)})
    # error rates live in [0, 1]: the 1 % target is 0.01 above the best value seen in the run
    problems["digits-mlp"] = Problem("digits-mlp", digits_space, float("nan"), 1.0, observe_fn=digits_cv_error,
                                     truth_fn=digits_true_error, expensive=True)
    return problems


PROBLEMS: dict[str, Problem] = _build()
#: the exact (noise-free) closed-form problems, where a final value can be compared to a known optimum
CLEAN_PROBLEMS = [name for name, p in PROBLEMS.items() if not p.noisy and not p.expensive]


def problem_names() -> list[str]:
    """All problem names, in table order."""
    return list(PROBLEMS)


def get_problem(name: str) -> Problem:
    """Problem by name; an unknown name raises a one-line ``ValueError``."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem '{name}'; choose from {', '.join(PROBLEMS)}")
    return PROBLEMS[name]
