"""Shared pieces of the matplotlib renderers: lazy import, axes conventions, saving.

Conventions every figure follows: axes name the metric and say which split a number
comes from (the ``loss`` a task returns is the validation split); log axes use
matplotlib's scientific-notation ticks (``10^-3``) everywhere; categorical axes put one
tick per category at its code; figures are written as PNG and PDF.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence

__all__ = ["pyplot", "save_figure", "param_axis", "loss_label", "std_label", "DEFAULT_FORMATS", "PHASE_COLORS"]

DEFAULT_FORMATS = ("png", "pdf")
#: timeline colours per search phase
PHASE_COLORS = {"initial": "#8da0cb", "surrogate": "#fc8d62", "enqueued": "#66c2a5", "copied": "#bbbbbb",
                "search": "#8da0cb"}


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg back-end (no display needed), imported on first use."""
    try:
        import matplotlib  # noqa: PLC0415
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'uqhpo[plot]'") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def loss_label(metric: str = "loss", split: str = "validation", stat: str = "mean") -> str:
    """``"loss (validation), mean over replicates"``: the metric, its split and the statistic."""
    tail = {"mean": ", mean over replicates", "objective": ", objective", "": ""}.get(stat, f", {stat}")
    return f"{metric} ({split}){tail}"


def std_label(metric: str = "loss", split: str = "validation") -> str:
    return f"std of {metric} ({split}) over replicates"


def param_axis(ax: Any, which: str, log: bool = False, categories: Optional[Sequence[Any]] = None,
               label: Optional[str] = None) -> None:
    """Set one axis (``"x"`` or ``"y"``) for a hyperparameter: log scale with one tick style,
    or one tick per category code."""
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator  # noqa: PLC0415

    axis = ax.xaxis if which == "x" else ax.yaxis
    if categories is not None:
        axis.set_ticks(range(len(categories)))
        axis.set_ticklabels([str(c) for c in categories])
    elif log:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        axis.set_major_locator(LogLocator(base=10))
        axis.set_major_formatter(LogFormatterSciNotation(base=10))
    if label is not None:
        (ax.set_xlabel if which == "x" else ax.set_ylabel)(label)


def log_if_wide(ax: Any, which: str, values: Any) -> None:
    """Log-scale an axis of positive values spanning more than a decade (diverged configs)."""
    import numpy as np  # noqa: PLC0415

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) and (v > 0).all() and v.max() / v.min() > 10:
        param_axis(ax, which, log=True)


def save_figure(fig: Any, path: str | os.PathLike, formats: Sequence[str] = DEFAULT_FORMATS,
                dpi: int = 130) -> list[Path]:
    """Write ``fig`` once per format next to ``path`` (its suffix is replaced) and close it.

    Returns:
        The files written, in ``formats`` order.
    """
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_suffix("") if path.suffix.lower() in (".png", ".pdf", ".svg") else path
    written = []
    try:
        for fmt in formats:
            out = stem.with_name(f"{stem.name}.{fmt}")
            tmp = out.with_name(f".{out.name}.tmp{os.getpid()}.{fmt}")
            fig.savefig(tmp, dpi=dpi)
            os.replace(tmp, out)  # a reader never sees half a file
            written.append(out)
    finally:
        plt.close(fig)
    return written
