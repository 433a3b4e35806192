"""Loss against its variability: one point per configuration (mean loss, std over replicates).

The figure shows whether a strategy concentrates its samples where the loss is low *and*
stable. Points are coloured by a hyperparameter, a metric (e.g. a parameter count) or
nothing; categorical colour values become integer codes plus their labels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["LossVariability", "loss_variability", "color_values"]


@dataclass(frozen=True)
class LossVariability:
    """Mean and spread of every completed config.

    Attributes:
        numbers: ``(n,)`` trial numbers.
        means: ``(n,)`` replicate mean loss.
        stds: ``(n,)`` replicate standard deviation (NaN with a single replicate).
        n: ``(n,)`` completed replicates.
        color: ``(n,)`` colour values (floats, or category codes), or None.
        color_label: what the colour shows ("" when nothing).
        categories: labels of the category codes, or None for a numeric colour.
        log_color: the colour is a log-scaled hyperparameter.
        best_number: the incumbent's trial number (None when empty).
    """

    numbers: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    n: np.ndarray
    color: Optional[np.ndarray] = None
    color_label: str = ""
    categories: Optional[list] = None
    log_color: bool = False
    best_number: Optional[int] = None

    def __len__(self) -> int:
        return len(self.numbers)


def color_values(summaries: Sequence[Any], key: str,
                 space: Any = None) -> tuple[np.ndarray, Optional[list], bool]:
    """Colour values of ``key`` (a hyperparameter or a metric) for each summary.

    Returns:
        (values ``(n,)``, category labels or None, log scale). Missing values are NaN.

    Raises:
        ValueError: ``key`` is neither a hyperparameter nor a metric of any trial.
    """
    in_config = any(key in s.config for s in summaries)
    in_metrics = any(key in s.metrics for s in summaries)
    if not (in_config or in_metrics):
        names = sorted({k for s in summaries for k in (*s.config, *s.metrics)})
        raise ValueError(f"colour key '{key}' is neither a hyperparameter nor a metric (have: {', '.join(names)})")
    raw = [s.config.get(key) if in_config else s.metrics.get(key) for s in summaries]
    numeric = all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in raw)
    param = space.params.get(key) if space is not None and hasattr(space, "params") else None
    if numeric and getattr(param, "kind", "") not in ("onehot",) and not hasattr(param, "choices"):
        values = np.array([math.nan if v is None else float(v) for v in raw], dtype=float)
        return values, None, bool(getattr(param, "log", False))
    labels = list(getattr(param, "choices", None) or dict.fromkeys(v for v in raw if v is not None))
    code = {str(c): i for i, c in enumerate(labels)}
    values = np.array([code.get(str(v), math.nan) for v in raw], dtype=float)
    return values, labels, False


def loss_variability(summaries: Sequence[Any], color_by: Optional[str] = None, space: Any = None,
                     direction: str = "minimize") -> LossVariability:
    """Every completed config as (mean loss, std over replicates), optionally coloured.

    Args:
        summaries: completed trials (``study.trials``).
        color_by: a hyperparameter or metric name, or None.
        space: the study's space (tells categorical and log-scaled parameters apart).
        direction: picks the incumbent (best objective).
    """
    done = [s for s in summaries if math.isfinite(s.mean)]
    stds = np.array([s.std if s.n > 1 else math.nan for s in done], dtype=float)
    color, labels, log = (None, None, False)
    if color_by:
        color, labels, log = color_values(done, color_by, space)
    sign = 1.0 if direction == "minimize" else -1.0
    best = min(done, key=lambda s: sign * s.value).number if done else None
    return LossVariability(numbers=np.array([s.number for s in done], dtype=int),
                           means=np.array([s.mean for s in done], dtype=float), stds=stds,
                           n=np.array([s.n for s in done], dtype=int), color=color,
                           color_label=color_by or "", categories=labels, log_color=log, best_number=best)
