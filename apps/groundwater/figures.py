"""Figure of the groundwater app: observed vs forecast level through the drought, with bands.

:func:`plot_drought` draws one row per trial (e.g. the best and a poor one): on the left
the observed level of the first well over the validation and test periods, the forecast
made ``lead`` days earlier (mean over replicates and dropout passes) with its 95 % band
(replicate spread and Monte-Carlo dropout combined), the drought shaded; on the right the
RMSE per lead day (replicate mean ± std) against persistence. matplotlib is imported
inside the function (Agg backend, files only).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from .uq import aggregate_forecasts


def plot_drought(trials: Sequence[Iterable[str | os.PathLike]], out: str | os.PathLike, *,
                 labels: Optional[Sequence[str]] = None, title: Optional[str] = None) -> Path:
    """Write the drought figure (PNG) for one or more trials.

    Args:
        trials: per trial, its replicates' ``replicate*_forecast.npz`` files.
        out: output file; its folder is created.
        labels: one line per trial (e.g. its config and loss); title: figure title.
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    aggs = [aggregate_forecasts(paths) for paths in trials]
    fig, axes = plt.subplots(len(aggs), 2, figsize=(13, 3.6 * len(aggs)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1]})
    for row, agg in enumerate(aggs):
        ax, ax_lead = axes[row]
        dates = agg["date"].astype("datetime64[D]").astype(object)
        k, lead = len(agg["forecast"]), agg["lead"]
        if agg["drought"]:
            start, end = (np.datetime64(d, "D").astype(object) for d in agg["drought"])
            ax.axvspan(start, end, color="tab:orange", alpha=0.15, lw=0, label="drought")
        test_start = np.datetime64(agg["test_start"], "D").astype(object)
        ax.axvline(test_start, color="grey", lw=0.8, ls=":")
        band = 1.96 * agg["total_std"]
        ax.fill_between(dates, agg["mean"] - band, agg["mean"] + band, color="tab:red", alpha=0.25, lw=0,
                        label="95 % band (replicates + MC dropout)")
        ax.plot(dates, agg["observed"], color="black", lw=0.9, label=f"observed ({agg['well']})")
        ax.plot(dates, agg["mean"], color="tab:red", lw=0.9, label=f"forecast {lead} d ahead, mean of {k}")
        ax.set_ylabel("level [m]")
        low, high = float(np.min(agg["observed"])), float(np.max(agg["observed"]))
        ax.set_ylim(low - 0.1 * (high - low), high + 0.4 * (high - low))   # headroom for the legend
        ax.text(test_start, high + 0.08 * (high - low), "← validation | test →", fontsize=7, color="grey",
                ha="center")
        if labels is not None and row < len(labels):
            ax.set_title(labels[row], fontsize=8, loc="left")
        ax.legend(fontsize=7, loc="upper center", ncol=4)
        leads = np.arange(1, agg["val_rmse_by_lead"].shape[1] + 1)
        for split, style in (("val", "-"), ("test", "--")):
            curve = agg[f"{split}_rmse_by_lead"]
            mean, std = curve.mean(axis=0), curve.std(axis=0)
            ax_lead.plot(leads, mean, style, color="tab:red", label=f"LSTM ({split})")
            ax_lead.fill_between(leads, mean - std, mean + std, color="tab:red", alpha=0.2, lw=0)
            ax_lead.plot(leads, agg[f"{split}_persistence_by_lead"], style, color="grey",
                         label=f"persistence ({split})")
        ax_lead.set_xlabel("lead [days]")
        ax_lead.set_ylabel("RMSE [m]")
        ax_lead.set_ylim(bottom=0)
        ax_lead.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out
