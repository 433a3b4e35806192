"""Convergence plot: best-so-far objective vs trial number, with replicate spread.

A thin renderer over :func:`uqhpo.analysis.history.convergence_history`; matplotlib is
imported inside the function (Agg backend, no display needed).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..analysis.describe import objective_formula
from ..analysis.history import ConvergenceHistory


def plot_convergence(history: ConvergenceHistory, path: str | os.PathLike, *, title: Optional[str] = None,
                     kappa: Optional[float] = None, dpi: int = 120) -> Path:
    """Write the convergence figure as a PNG.

    The line is the best-so-far aggregate objective, the shaded band that best trial's
    replicate std on either side, and each completed trial is a point at its replicate
    mean with a ±std error bar.

    Args:
        history: from :func:`convergence_history`.
        path: output file (parent directories are created).
        title: figure title (e.g. the study name).
        kappa: shown in the legend when given.
        dpi: resolution.

    Returns:
        The path written.
    """
    try:
        import matplotlib  # noqa: PLC0415
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'uqhpo[plot]'") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), constrained_layout=True)
    try:
        if len(history):
            x = history.numbers
            ax.errorbar(x, history.means, yerr=history.stds, fmt="o", ms=3.5, lw=0.8, capsize=2,
                        color="0.55", label="trial: mean ± std of replicates")
            low, high = history.band
            ax.fill_between(x, low, high, step="post", color="C0", alpha=0.2, label="best trial's ± std")
            objective = (objective_formula(kappa, history.direction) if kappa is not None
                         else "mean − κ·std" if history.direction == "maximize" else "mean + κ·std")
            ax.step(x, history.best_values, where="post", color="C0", lw=2, label=f"best so far ({objective})")
            ax.legend(loc="best", fontsize=8, frameon=False)
            # losses spanning decades (a few diverged configs) read better on a log axis
            positive = history.means[history.means > 0]
            if len(positive) == len(history) and positive.max() / positive.min() > 10:
                ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "no completed trial yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("trial number")
        ax.set_ylabel("loss")
        if title:
            ax.set_title(title)
        ax.grid(alpha=0.3)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
    return path
