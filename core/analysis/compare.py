"""Strategy comparison across studies: best-so-far median and IQR per strategy.

Studies are grouped by a label (their strategy by default, e.g. ``rbf`` vs ``gp`` vs
``random``, each repeated with several seeds); each group becomes one
:class:`~uqhpo.analysis.convergence.StudyBand` on a shared cost grid, and a table row
gives the final best objective's median and IQR per group.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from .convergence import CostCurve, StudyBand, band_over_studies, study_curve

__all__ = ["Comparison", "compare_curves", "compare_studies", "strategy_label"]


def strategy_label(study: Any) -> str:
    """The default group of a study: its strategy name."""
    return str(study.settings.strategy)


@dataclass(frozen=True)
class Comparison:
    """Bands per group and the final-best table.

    Attributes:
        axis: "evaluations" or "seconds".
        bands: one :class:`StudyBand` per group, in first-seen order.
        curves: group -> its studies' :class:`CostCurve` list.
        final: group -> ``(median, q25, q75, n_studies)`` of each study's final best.
    """

    axis: str
    bands: list
    curves: dict
    final: dict

    def table(self) -> list[str]:
        """Lines ``"rbf     3 studies  final best 0.12 [0.10, 0.15]"`` (median [IQR])."""
        width = max((len(k) for k in self.final), default=5)
        return [f"{k.ljust(width)}  {n} studies  final best median {m:.4g} [IQR {a:.4g}, {b:.4g}]"
                for k, (m, a, b, n) in self.final.items()]


def compare_curves(groups: Mapping[str, Sequence[CostCurve]], axis: str = "evaluations") -> Comparison:
    """Bands and final-best statistics of grouped curves."""
    xs = [getattr(c, axis) for cs in groups.values() for c in cs if len(c)]
    xs = [x[np.isfinite(x)] for x in xs]
    grid = np.unique(np.concatenate(xs)) if xs else np.zeros(0)
    bands: list[StudyBand] = []
    final: dict[str, tuple] = {}
    for label, cs in groups.items():
        bands.append(band_over_studies(cs, axis=axis, grid=grid, label=label))
        ends = np.array([c.best_values[-1] for c in cs if len(c)], dtype=float)
        if len(ends):
            q50, q25, q75 = np.percentile(ends, [50, 25, 75])
            final[label] = (float(q50), float(q25), float(q75), len(ends))
    return Comparison(axis=axis, bands=bands, curves={k: list(v) for k, v in groups.items()}, final=final)


def compare_studies(studies: Sequence[Any], axis: str = "evaluations",
                    label: Optional[Callable[[Any], str]] = None) -> Comparison:
    """Group stored studies (by strategy unless ``label`` says otherwise) and compare them."""
    label = label or strategy_label
    groups: dict[str, list[CostCurve]] = {}
    for s in studies:
        key = label(s)
        groups.setdefault(key, []).append(study_curve(s, label=key))
    return compare_curves(groups, axis=axis)
