"""Learning curves (mean ± std over replicates per step) and the sweep "bowl" (loss mean
± std against one hyperparameter, one line per value of another)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .common import DEFAULT_FORMATS, log_if_wide, loss_label, param_axis, pyplot, save_figure

__all__ = ["plot_curves", "plot_param_effect"]


def _short(config: dict, limit: int = 60) -> str:
    text = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plot_curves(curves: Sequence[Any], path: str | os.PathLike, *, title: Optional[str] = None,
                formats: Sequence[str] = DEFAULT_FORMATS) -> list[Path]:
    """One line per config: the reported metric per step, mean ± std over replicates.

    Args:
        curves: :class:`~uqhpo.analysis.curves.LearningCurve` list (e.g. the top k).
        path: output path.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 4.4), constrained_layout=True)
    metric = curves[0].metric if curves else "metric"
    for i, c in enumerate(curves):
        color = f"C{i % 10}"
        ax.plot(c.steps, c.mean, color=color, lw=1.5, label=f"trial {c.number}: {_short(c.config)}")
        if np.isfinite(c.std).any():
            ax.fill_between(c.steps, c.mean - np.nan_to_num(c.std), c.mean + np.nan_to_num(c.std),
                            color=color, alpha=0.15)
    if curves:
        log_if_wide(ax, "y", np.concatenate([c.mean for c in curves]))
    else:
        ax.text(0.5, 0.5, "no reported curves", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("step (epoch)")
    ax.set_ylabel(f"{metric} (reported during training), mean ± std over replicates")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, frameon=False)
    if title:
        ax.set_title(title)
    return save_figure(fig, path, formats)


def plot_param_effect(effect: Any, path: str | os.PathLike, *, title: Optional[str] = None,
                      formats: Sequence[str] = DEFAULT_FORMATS) -> list[Path]:
    """Loss mean ± std against ``effect.x_name``, one line per group value (the bowl).

    Args:
        effect: a :class:`~uqhpo.analysis.param_effect.ParamEffect`.
        path: output path.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True, sharex=True)
    cats = effect.x_categories
    for i, line in enumerate(effect.lines):
        x = np.array([cats.index(str(v)) for v in line.x]) if cats is not None else np.asarray(line.x, dtype=float)
        label = (f"{effect.group_name} = {line.group}" if effect.group_name else None)
        color = f"C{i % 10}"
        axes[0].errorbar(x, line.mean, yerr=np.nan_to_num(line.std), fmt="o-", color=color, capsize=3, ms=4,
                         label=label)
        axes[1].plot(x, line.std, "o-", color=color, ms=4, label=label)
    source = ("after that many epochs (reported curves)" if effect.source == "curves"
              else "returned by each training")
    axes[0].set_ylabel(f"{loss_label(effect.metric)} ± std\n{source}", fontsize=8)
    axes[1].set_ylabel(f"std of {effect.metric} (validation) over replicates", fontsize=8)
    for ax in axes:
        param_axis(ax, "x", log=effect.x_log, categories=cats, label=effect.x_name)
        ax.grid(alpha=0.3)
    log_if_wide(axes[0], "y", np.concatenate([ln.mean for ln in effect.lines]) if effect.lines else [1.0])
    if effect.group_name:
        axes[0].legend(fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, formats)
