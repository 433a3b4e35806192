"""Convergence against cost (trainings, wall time), of one study or of several compared.

Renderers over :mod:`uqhpo.analysis.convergence` and :mod:`uqhpo.analysis.compare`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .common import DEFAULT_FORMATS, log_if_wide, loss_label, pyplot, save_figure

__all__ = ["plot_cost_convergence", "plot_comparison"]

_AXIS_LABEL = {"evaluations": "completed trainings (replicates)", "seconds": "wall-clock time (s)"}


def _draw_curve(ax: Any, curve: Any, axis: str, color: str, label: str) -> None:
    x = getattr(curve, axis)
    ok = np.isfinite(x)
    if not ok.any():
        ax.text(0.5, 0.5, "no times stored", ha="center", va="center", transform=ax.transAxes)
        return
    x, best, std, vals = x[ok], curve.best_values[ok], np.nan_to_num(curve.best_stds[ok]), curve.values[ok]
    ax.plot(x, vals, "o", ms=3, color="0.6", label="trial objective")
    ax.fill_between(x, best - std, best + std, step="post", color=color, alpha=0.2,
                    label="± std of the best trial's replicates")
    ax.step(x, best, where="post", color=color, lw=2, label=label)
    if axis == "evaluations" and curve.surrogate_start is not None:
        ax.axvline(curve.surrogate_start, color="k", ls="--", lw=1, label="surrogate phase starts")


def plot_cost_convergence(curve: Any, path: str | os.PathLike, *, title: Optional[str] = None,
                          formats: Sequence[str] = DEFAULT_FORMATS, objective: str = "mean + κ·std") -> list[Path]:
    """Best-so-far objective vs completed trainings (left) and vs wall time (right).

    Args:
        curve: a :class:`~uqhpo.analysis.convergence.CostCurve`.
        path: output path (suffix replaced per format).
        title: figure title.
        formats: file formats.
        objective: how the objective is defined (legend).
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True, sharey=True)
    for ax, axis in zip(axes, ("evaluations", "seconds")):
        if len(curve):
            _draw_curve(ax, curve, axis, "C0", f"best so far ({objective})")
            log_if_wide(ax, "y", curve.values)
        else:
            ax.text(0.5, 0.5, "no completed trial yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(_AXIS_LABEL[axis])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(loss_label(stat="objective"))
    axes[0].legend(fontsize=7, frameon=False, loc="best")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, formats)


def plot_comparison(comparison: Any, path: str | os.PathLike, *, title: Optional[str] = None,
                    formats: Sequence[str] = DEFAULT_FORMATS, show_studies: bool = True) -> list[Path]:
    """Median (line) and inter-quartile range (band) of best-so-far per group of studies.

    Args:
        comparison: a :class:`~uqhpo.analysis.compare.Comparison`.
        path: output path.
        show_studies: also draw each study's own curve, thin.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    all_y = []
    for i, band in enumerate(comparison.bands):
        color = f"C{i}"
        if show_studies:
            for c in comparison.curves.get(band.label, []):
                x = getattr(c, comparison.axis)
                ax.step(x, c.best_values, where="post", color=color, lw=0.6, alpha=0.35)
        stats = comparison.final.get(band.label)
        n = stats[3] if stats else 0
        ok = np.isfinite(band.median)
        ax.fill_between(band.x[ok], band.q25[ok], band.q75[ok], step="post", color=color, alpha=0.2)
        ax.step(band.x[ok], band.median[ok], where="post", color=color, lw=2,
                label=f"{band.label}: median and IQR over {n} studies")
        all_y.append(band.median[ok])
    if all_y:
        log_if_wide(ax, "y", np.concatenate(all_y))
    ax.set_xlabel(_AXIS_LABEL[comparison.axis])
    ax.set_ylabel("best " + loss_label(stat="objective") + " so far")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    return save_figure(fig, path, formats)
