"""Figure of the traffic app: a week of forecasts with bands, and per-link errors.

:func:`plot_forecast` draws, from one trial's saved replicate forecasts, the first test
week of a few links (truth, the forecast ``lead`` hours ahead averaged over replicates,
and the 95 % band of MC dropout + residual + replicate spread), and the test MAE of every
link for the model (mean ± std over replicates) against persistence and
same-hour-last-week. matplotlib is imported inside the functions (Agg backend, files only).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from uqhpo.analysis.saved_files import replicate_files

from .uq import Z95, aggregate

FORECAST_PATTERN = "replicate*_forecast.npz"
DEFAULT_LINKS = ("KANS->CHIC", "FNAL->CHIC", "WASH->CERN")   # backbone, lab spur, transatlantic


def trial_forecast_paths(trial: Any, search_dirs: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """The saved replicate files of a trial (a ``Trial`` or a folder); sorted, maybe empty."""
    return replicate_files(trial, "forecast_path", FORECAST_PATTERN, search_dirs)


def _pick_links(names: Sequence[str], wanted: Optional[Sequence[str]]) -> list[int]:
    names = list(names)
    chosen = [names.index(n) for n in (wanted or DEFAULT_LINKS) if n in names]
    if wanted and len(chosen) < len(wanted):
        missing = [n for n in wanted if n not in names]
        raise ValueError(f"links not in the data: {', '.join(missing)}")
    return chosen or list(range(min(3, len(names))))


def plot_forecast(paths: Iterable[str | os.PathLike], out: str | os.PathLike, *, links: Optional[Sequence[str]] = None,
                  lead: Optional[int] = None, title: Optional[str] = None) -> Path:
    """Write the forecast figure of one trial's replicates to ``out`` (PNG).

    Args:
        paths: the replicates' ``.npz`` forecasts (see ``TrafficTask.run``).
        out: output file; its folder is created.
        links: link names for the week panels (default: a backbone link, a lab spur and a
            transatlantic link when present).
        lead: forecast lead time in steps (default: the horizon, the hardest).
        title: figure title (e.g. the trial's config).
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    agg = aggregate(paths)
    names = [str(n) for n in agg["link_names"]]
    horizon, hours = int(agg["horizon"]), int(agg["hours"])
    lead = horizon if lead is None else int(lead)
    if not 1 <= lead <= horizon:
        raise ValueError(f"lead must be between 1 and {horizon}, got {lead}")
    chosen = _pick_links(names, links)
    # the forecast for hour first + i issued lead steps earlier: origin index i + horizon - lead
    rows = np.arange(hours) + horizon - lead
    mean, std = agg["mean"][rows, lead - 1], agg["std"][rows, lead - 1]
    offset = int(agg["first_hour"]) - int(agg["truth_start"])
    truth = agg["truth"][offset:offset + hours]
    fig = plt.figure(figsize=(14, 7.5))
    grid = fig.add_gridspec(2, len(chosen), height_ratios=[1, 1.1])
    t = np.arange(hours)
    for col, link in enumerate(chosen):
        ax = fig.add_subplot(grid[0, col])
        ax.plot(t, truth[:, link], color="black", lw=1.0, label="measured")
        ax.plot(t, mean[:, link], color="tab:red", lw=1.0, label=f"forecast {lead} h ahead (mean of {agg['k']})")
        ax.fill_between(t, mean[:, link] - Z95 * std[:, link], mean[:, link] + Z95 * std[:, link],
                        color="tab:red", alpha=0.25, lw=0, label="95 % interval")
        ax.set_title(names[link], fontsize=9)
        ax.set_xlabel("hour of the first test week")
        ax.set_ylabel("traffic [Gbps]")
        ax.set_ylim(bottom=0)
        if col == 0:
            ax.legend(fontsize=7, loc="upper left")
    ax = fig.add_subplot(grid[1, :])
    model = agg["test_mae"]
    order = np.argsort(model.mean(0))
    x = np.arange(len(names))
    ax.errorbar(x, model.mean(0)[order], yerr=model.std(0)[order] if agg["k"] > 1 else None, fmt="o", ms=3,
                color="tab:red", lw=0.8, label=f"graph GRU (mean ± std of {agg['k']} replicates)")
    for key, marker, colour in (("persistence", "x", "tab:blue"), ("same_hour_last_week", "+", "tab:green")):
        if f"{key}_test_mae" in agg:
            ax.plot(x, agg[f"{key}_test_mae"][order], marker, ms=4, color=colour, label=key.replace("_", "-"))
    ax.set_yscale("log")
    ax.set_xlim(-1, len(names))
    ax.set_xticks(x[::3])
    ax.set_xticklabels([names[i] for i in order[::3]], rotation=90, fontsize=6)
    ax.set_ylabel("test MAE per link [Gbps]")
    ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
