"""A surrogate fitted to a stored study, queried with configs instead of unit-cube points.

Sensitivity indices and surrogate slices both need the model the search used (RBF or GP)
refitted on everything the study knows. :func:`fit_study_surrogate` fits it on the
study's observations (aggregate objective, minimised, with the variance of each estimate)
and :class:`SurrogateView` answers in the study's own direction and units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

__all__ = ["SurrogateView", "fit_surrogate", "fit_study_surrogate", "SURROGATE_KINDS"]

SURROGATE_KINDS = ("rbf", "gp")


@dataclass
class SurrogateView:
    """A fitted surrogate of the objective over a space.

    Attributes:
        model: the fitted :class:`~uqhpo.surrogates.base.Surrogate` (minimises ``sign * y``).
        space: the :class:`~uqhpo.space.Space` it was fitted in.
        sign: +1 when minimising, -1 when maximising (predictions are returned unsigned).
        kind: "rbf" or "gp".
        target: what was modelled ("objective" or "mean").
    """

    model: Any
    space: Any
    sign: float = 1.0
    kind: str = "rbf"
    target: str = "objective"

    def predict_encoded(self, X: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """``(m, d)`` unit-cube points -> (mean ``(m,)``, std ``(m,)`` or None)."""
        mean, std = self.model.predict(np.atleast_2d(np.asarray(X, dtype=float)))
        return self.sign * np.asarray(mean, dtype=float), None if std is None else np.asarray(std, dtype=float)

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """Configs -> (mean ``(m,)``, std ``(m,)`` or None) in the study's direction."""
        return self.predict_encoded(self.space.encode(list(configs)))


def fit_surrogate(space: Any, X: np.ndarray, y: np.ndarray, y_var: Optional[np.ndarray] = None,
                  kind: str = "rbf", sign: float = 1.0, target: str = "objective") -> SurrogateView:
    """Fit an RBF or GP surrogate on ``(n, d)`` encoded points and ``(n,)`` minimised values.

    Raises:
        ValueError: unknown ``kind``, or fewer than two points.
    """
    if kind not in SURROGATE_KINDS:
        raise ValueError(f"surrogate '{kind}' is unknown; choose one of {', '.join(SURROGATE_KINDS)}")
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        raise ValueError(f"a surrogate needs at least two completed trials, got {int(ok.sum())}")
    var = None if y_var is None else np.asarray(y_var, dtype=float)[ok]
    if kind == "gp":
        from ..surrogates.gp import GaussianProcess  # noqa: PLC0415

        model: Any = GaussianProcess()
    else:
        from ..surrogates.rbf import RBFSurrogate  # noqa: PLC0415

        model = RBFSurrogate()
    from ..surrogates.base import SurrogateFitError  # noqa: PLC0415

    try:
        model.fit(X[ok], y[ok], var)
    except SurrogateFitError as e:  # one line for the CLI, like any bad input
        raise ValueError(f"the {kind} surrogate could not be fitted: {e}") from None
    return SurrogateView(model=model, space=space, sign=sign, kind=kind, target=target)


def fit_study_surrogate(study: Any, kind: str = "auto", target: str = "objective") -> SurrogateView:
    """Fit a surrogate on a stored study's completed trials.

    Args:
        study: a :class:`~uqhpo.study.Study`.
        kind: "rbf", "gp", or "auto" (the study's own strategy when it is one of them,
            else "gp", which also gives a std).
        target: "objective" (the aggregate the search minimises, mean + kappa*std) or
            "mean" (the replicate mean loss).
    """
    if kind == "auto":
        kind = study.settings.strategy if study.settings.strategy in SURROGATE_KINDS else "gp"
    if target not in ("objective", "mean"):
        raise ValueError(f"surrogate target must be 'objective' or 'mean', got {target!r}")
    summaries = study.trials
    sign = study.settings.sign
    X = study.space.encode([s.config for s in summaries]) if summaries else np.zeros((0, study.space.dim))
    values = np.array([s.value if target == "objective" else s.mean for s in summaries], dtype=float)
    n = np.array([max(s.n, 1) for s in summaries], dtype=float)
    stds = np.nan_to_num(np.array([s.std for s in summaries], dtype=float))
    return fit_surrogate(study.space, X, sign * values, stds ** 2 / n, kind=kind, sign=sign, target=target)
