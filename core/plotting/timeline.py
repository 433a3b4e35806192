"""Worker timeline (Gantt): one row per worker, one bar per replicate attempt, coloured by
search phase; utilization in the title. Several timelines (e.g. asynchronous vs
synchronous) are stacked on one shared time axis."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from .common import DEFAULT_FORMATS, PHASE_COLORS, pyplot, save_figure

__all__ = ["plot_timeline"]


def _draw(ax: Any, tl: Any, name: str) -> None:
    from matplotlib.patches import Patch  # noqa: PLC0415

    for b in tl.bars:
        color = PHASE_COLORS.get(b.phase, "0.6")
        hatch = "xx" if b.state != "COMPLETE" else None
        ax.broken_barh([(b.start, max(b.duration, 1e-9))], (b.row - 0.4, 0.8), facecolors=color,
                       edgecolor="k", linewidth=0.3, hatch=hatch)
    ax.set_yticks(range(len(tl.workers)))
    ax.set_yticklabels(tl.workers, fontsize=7)
    ax.set_ylim(len(tl.workers) - 0.5, -0.5)
    ax.set_title(f"{name + ': ' if name else ''}{tl.utilization_line()}", fontsize=9)
    phases = list(dict.fromkeys(b.phase for b in tl.bars))
    handles = [Patch(color=PHASE_COLORS.get(p, "0.6"), label=p) for p in phases]
    if any(b.state != "COMPLETE" for b in tl.bars):
        handles.append(Patch(facecolor="w", edgecolor="k", hatch="xx", label="failed / stale"))
    if handles:
        ax.legend(handles=handles, fontsize=7, frameon=False, loc="upper right", ncol=len(handles))
    ax.grid(axis="x", alpha=0.3)


def plot_timeline(timeline: Any | Mapping[str, Any], path: str | os.PathLike, *, title: Optional[str] = None,
                  formats: Sequence[str] = DEFAULT_FORMATS) -> list[Path]:
    """Gantt chart of :class:`~uqhpo.analysis.timeline.Timeline` (or ``{label: Timeline}``).

    Args:
        timeline: one timeline, or several to stack (same time axis).
        path: output path.
    """
    plt = pyplot()
    groups = dict(timeline) if isinstance(timeline, Mapping) else {"": timeline}
    heights = [max(len(t.workers), 1) * 0.45 + 0.9 for t in groups.values()]
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, sum(heights) + 0.6), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": heights}, constrained_layout=True)
    for ax, (name, tl) in zip(axes[:, 0], groups.items()):
        if tl.bars:
            _draw(ax, tl, name)
        else:
            ax.text(0.5, 0.5, "no timed replicate", ha="center", va="center", transform=ax.transAxes)
        ax.set_ylabel("worker")
    axes[-1, 0].set_xlabel("wall-clock time since the first training started (s)")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, formats)
