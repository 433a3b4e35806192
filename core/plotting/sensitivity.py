"""Per-hyperparameter sensitivity (value vs loss, coloured by std; Sobol bars) and
surrogate slices (1-D per parameter, 2-D for a pair) through the incumbent."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .common import DEFAULT_FORMATS, log_if_wide, loss_label, param_axis, pyplot, save_figure, std_label

__all__ = ["plot_sensitivity", "plot_slices"]


def _grid(n: int, extra: int = 0) -> tuple[int, int]:
    total = n + extra
    cols = min(3, max(total, 1))
    return int(math.ceil(total / cols)), cols


def plot_sensitivity(scatters: Sequence[Any], path: str | os.PathLike, *, sobol: Any = None,
                     title: Optional[str] = None, formats: Sequence[str] = DEFAULT_FORMATS) -> list[Path]:
    """One panel per hyperparameter (value vs mean loss, colour = std over replicates) and,
    when given, a panel of Sobol indices (first-order and total, 95% bootstrap bars).

    Args:
        scatters: :class:`~uqhpo.analysis.sensitivity.ParamScatter` per hyperparameter.
        path: output path.
        sobol: :class:`~uqhpo.analysis.sensitivity.SobolIndices` or None.
    """
    plt = pyplot()
    rows, cols = _grid(len(scatters), 1 if sobol is not None else 0)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), constrained_layout=True, squeeze=False)
    flat = list(axes.ravel())
    stds = np.concatenate([s.stds for s in scatters]) if scatters else np.zeros(0)
    finite = stds[np.isfinite(stds)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    sc = None
    for ax, s in zip(flat, scatters):
        jitter: Any = 0.0
        if s.categories is not None:  # spread categorical points so equal values stay visible
            jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(s.values))
        color = np.where(np.isfinite(s.stds), s.stds, np.nan)
        sc = ax.scatter(s.values + jitter, s.means, c=color, cmap="plasma", vmin=vmin, vmax=vmax, s=18,
                        edgecolor="k", linewidth=0.3, plotnonfinite=True)
        param_axis(ax, "x", log=s.log, categories=s.categories, label=s.name)
        log_if_wide(ax, "y", s.means)
        ax.grid(alpha=0.3)
    for ax in flat[::cols]:
        ax.set_ylabel(loss_label())
    if sc is not None:
        fig.colorbar(sc, ax=flat[: len(scatters)], shrink=0.8).set_label(std_label())
    used = len(scatters)
    if sobol is not None:
        ax = flat[used]
        used += 1
        order = np.argsort(-sobol.total, kind="stable")
        y = np.arange(len(order))
        ax.barh(y - 0.2, sobol.first[order], 0.4, xerr=np.nan_to_num(sobol.first_ci[order]), label="first order S",
                color="C0")
        ax.barh(y + 0.2, sobol.total[order], 0.4, xerr=np.nan_to_num(sobol.total_ci[order]), label="total ST",
                color="C1")
        ax.set_yticks(y)
        ax.set_yticklabels([sobol.names[i] for i in order])
        ax.invert_yaxis()
        ax.set_xlim(left=min(0.0, float(np.min(sobol.first))))
        ax.set_xlabel("Sobol index (on the surrogate)")
        ax.legend(fontsize=7, frameon=False)
    for ax in flat[used:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, formats)


def _slice_x(s: Any) -> np.ndarray:
    return np.arange(len(s.values)) if s.categories is not None else np.asarray(s.values, dtype=float)


def plot_slices(slices: Sequence[Any], path: str | os.PathLike, *, slice2d: Any = None, title: Optional[str] = None,
                target: str = "objective", formats: Sequence[str] = DEFAULT_FORMATS) -> list[Path]:
    """1-D surrogate slices (mean ± std where the model has one) through the incumbent,
    the incumbent's value marked, and optionally a 2-D slice as a filled contour.

    Args:
        slices: :class:`~uqhpo.analysis.slices.Slice1D` per hyperparameter.
        path: output path.
        slice2d: a :class:`~uqhpo.analysis.slices.Slice2D` or None.
        target: what the surrogate models ("objective" or "mean"), for the axis label.
    """
    plt = pyplot()
    rows, cols = _grid(len(slices), 1 if slice2d is not None else 0)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), constrained_layout=True, squeeze=False)
    flat = list(axes.ravel())
    ylabel = "surrogate of " + loss_label(stat="objective" if target == "objective" else "mean")
    for ax, s in zip(flat, slices):
        x = _slice_x(s)
        style = "o-" if s.categories is not None else "-"
        ax.plot(x, s.mean, style, color="C0", ms=4)
        if s.std is not None:
            ax.fill_between(x, s.mean - s.std, s.mean + s.std, color="C0", alpha=0.2)
        centre = s.categories.index(str(s.center)) if s.categories is not None else s.center
        ax.axvline(centre, color="k", ls="--", lw=1)
        param_axis(ax, "x", log=s.log, categories=s.categories, label=s.name)
        ax.grid(alpha=0.3)
    for ax in flat[::cols]:
        ax.set_ylabel(ylabel, fontsize=8)
    used = len(slices)
    if slice2d is not None:
        ax = flat[used]
        used += 1
        s2 = slice2d
        xs = np.arange(len(s2.x_values)) if s2.x_categories is not None else np.asarray(s2.x_values, dtype=float)
        ys = np.arange(len(s2.y_values)) if s2.y_categories is not None else np.asarray(s2.y_values, dtype=float)
        cs = ax.contourf(xs, ys, s2.mean, levels=15, cmap="viridis")
        fig.colorbar(cs, ax=ax).set_label(ylabel, fontsize=7)
        cx = s2.x_categories.index(str(s2.center[0])) if s2.x_categories is not None else s2.center[0]
        cy = s2.y_categories.index(str(s2.center[1])) if s2.y_categories is not None else s2.center[1]
        ax.plot([cx], [cy], "r*", ms=12, label="incumbent")
        param_axis(ax, "x", log=s2.x_log, categories=s2.x_categories, label=s2.x_name)
        param_axis(ax, "y", log=s2.y_log, categories=s2.y_categories, label=s2.y_name)
        ax.legend(fontsize=7, frameon=False)
    for ax in flat[used:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, formats)
