"""Loss vs variability scatter with marginal histograms (one study coloured by a
hyperparameter, or several studies overlaid, each its own colour)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .common import DEFAULT_FORMATS, loss_label, param_axis, pyplot, save_figure, std_label

__all__ = ["plot_loss_variability"]


def _bins(values: Sequence[np.ndarray], log: bool, n: int = 20) -> np.ndarray:
    v = np.concatenate([x[np.isfinite(x)] for x in values]) if values else np.zeros(0)
    if log:
        v = v[v > 0]
    if len(v) == 0:
        return np.linspace(0, 1, n + 1)
    lo, hi = v.min(), v.max()
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0) * 1e-3
    return np.geomspace(lo, hi, n + 1) if log else np.linspace(lo, hi, n + 1)


def plot_loss_variability(data: Any | Mapping[str, Any], path: str | os.PathLike, *, title: Optional[str] = None,
                          formats: Sequence[str] = DEFAULT_FORMATS) -> list[Path]:
    """Every config as (mean loss, std over replicates), with histograms on both margins.

    Args:
        data: a :class:`~uqhpo.analysis.variability.LossVariability` (coloured by its
            colour values when it has them), or ``{label: LossVariability}`` to overlay
            several studies (e.g. random vs RBF).
        path: output path.
    """
    plt = pyplot()
    groups = dict(data) if isinstance(data, Mapping) else {"": data}
    fig = plt.figure(figsize=(6.4, 6.0), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4))
    ax = fig.add_subplot(grid[1, 0])
    top = fig.add_subplot(grid[0, 0], sharex=ax)
    right = fig.add_subplot(grid[1, 1], sharey=ax)
    means = [d.means for d in groups.values()]
    stds = [d.stds for d in groups.values()]
    all_means = np.concatenate(means) if means else np.zeros(0)
    log_x = bool(len(all_means) and (all_means > 0).all() and all_means.max() / all_means.min() > 10)
    all_stds = np.concatenate(stds) if stds else np.zeros(0)
    pos = all_stds[np.isfinite(all_stds) & (all_stds > 0)]
    log_y = bool(len(pos) and len(pos) == np.isfinite(all_stds).sum() and pos.max() / pos.min() > 10)
    xb, yb = _bins(means, log_x), _bins(stds, log_y)
    for i, (label, d) in enumerate(groups.items()):
        single = len(groups) == 1
        if single and d.color is not None:
            sc = ax.scatter(d.means, d.stds, c=d.color, cmap="viridis", s=22, edgecolor="k", linewidth=0.3,
                            norm=_norm(d))
            bar = fig.colorbar(sc, ax=right, fraction=0.5)
            bar.set_label(d.color_label)
            if d.categories is not None:
                bar.set_ticks(range(len(d.categories)))
                bar.set_ticklabels([str(c) for c in d.categories])
        else:
            ax.scatter(d.means, d.stds, s=22, color=f"C{i}", alpha=0.75, edgecolor="k", linewidth=0.3,
                       label=label or None)
        color = "0.5" if single else f"C{i}"
        top.hist(d.means[np.isfinite(d.means)], bins=xb, color=color, alpha=0.5)
        right.hist(d.stds[np.isfinite(d.stds)], bins=yb, color=color, alpha=0.5, orientation="horizontal")
        if d.best_number is not None:
            k = int(np.flatnonzero(d.numbers == d.best_number)[0])
            ax.scatter([d.means[k]], [d.stds[k]], marker="*", s=180, facecolor="none",
                       edgecolor="k" if single else f"C{i}", linewidth=1.2,
                       label=f"best objective{' (' + label + ')' if label else ''}")
    if log_x:
        param_axis(ax, "x", log=True)
    if log_y:
        param_axis(ax, "y", log=True)
    ax.set_xlabel(loss_label())
    ax.set_ylabel(std_label())
    top.set_ylabel("configs")
    right.set_xlabel("configs")
    top.tick_params(labelbottom=False)
    right.tick_params(labelleft=False)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    if title:
        top.set_title(title)
    return save_figure(fig, path, formats)


def _norm(d: Any) -> Any:
    from matplotlib.colors import LogNorm  # noqa: PLC0415

    c = d.color[np.isfinite(d.color)] if d.color is not None else np.zeros(0)
    if d.log_color and len(c) and (c > 0).all():
        return LogNorm(vmin=c.min(), vmax=c.max())
    return None
