"""Figures of the hadronization app (matplotlib, Agg backend, files only).

* :func:`plot_theta_per_class`: for one trial, true vs generated theta* in each
  perturbative class, the mean over replicates with a +-1 std band, the condition-blind
  baseline, and each replicate's test loss next to the baseline and the floor.
* :func:`plot_loss_vs_spread`: every trial of a study as (replicate std, mean test loss),
  with the baseline and floor lines.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from uqhpo.analysis.saved_files import replicate_files

from .prep import CLASS_NAMES
from .uq import aggregate_histograms

HIST_PATTERN = "replicate*_hist.npz"


def trial_histogram_paths(trial: Any, search_dirs: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """The saved replicate files of a trial (a ``Trial`` or a folder); sorted, maybe empty."""
    return replicate_files(trial, "hist_path", HIST_PATTERN, search_dirs)


def _pyplot():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _save(fig: Any, out: str | os.PathLike) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    _pyplot().close(fig)
    return out


def plot_theta_per_class(paths: Iterable[str | os.PathLike], out: str | os.PathLike, *,
                         title: Optional[str] = None) -> Path:
    """Write the theta*-per-class figure of one trial's replicates to ``out`` (PNG)."""
    plt = _pyplot()
    agg = aggregate_histograms(paths)
    k = len(agg["generated"])
    classes = [c for c in range(len(CLASS_NAMES)) if agg["counts"][c] > 0]
    fig, axes = plt.subplots(1, len(classes) + 1, figsize=(3.6 * (len(classes) + 1), 3.6), squeeze=False)
    edges = agg["edges"]
    centres = 0.5 * (edges[1:] + edges[:-1])
    for ax, c in zip(axes[0], classes):
        ax.stairs(agg["true"][c], edges, color="black", lw=1.6, label="true (test split)")
        ax.stairs(agg["baseline"][c], edges, color="grey", ls="--", lw=1.0, label="condition-blind sampler")
        mean, std = agg["generated_mean"][c], agg["generated_std"][c]
        ax.plot(centres, mean, color="tab:red", lw=1.4, label=f"GAN, mean of {k} replicates")
        ax.fill_between(centres, mean - std, mean + std, color="tab:red", alpha=0.3, lw=0, label="±1 std")
        ax.set_title(f"{CLASS_NAMES[c]} ({int(agg['counts'][c])} clusters)", fontsize=9)
        ax.set_xlabel(r"$\theta^*$ [rad]")
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("density")
    axes[0][0].legend(fontsize=7)
    ax, scores = axes[0][-1], agg["scores"]
    x = np.arange(k)
    ax.plot(x, scores["test_loss"], "o", color="tab:red", label="GAN (test)")
    if "loss" in scores:
        ax.plot(x, scores["loss"], "x", color="tab:blue", label="GAN (validation, best epoch)")
    for key, style, label in (("baseline_test_loss", "--", "baseline"), ("floor_test_loss", ":", "floor")):
        if key in scores:
            ax.axhline(float(np.mean(scores[key])), color="grey", ls=style, label=label)
    ax.set_xticks(x)
    ax.set_xlabel("replicate")
    ax.set_ylabel(r"loss: stratified $W_1(\theta^*)$ [rad]")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return _save(fig, out)


def plot_loss_vs_spread(rows: Sequence[dict], out: str | os.PathLike, *, baseline: float, floor: float,
                        best: Optional[int] = None, title: Optional[str] = None) -> Path:
    """Scatter of a study's trials: replicate std (x) vs mean loss (y), baseline and floor lines.

    Args:
        rows: one dict per trial with ``number``, ``mean``, ``std`` (validation) and
            optionally ``test_mean``, ``test_std``; best: the best trial's number (a star).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    series = (("mean", "std", "o", "none", "tab:blue", "validation (selects)"),
              ("test_mean", "test_std", "s", "tab:orange", "tab:orange", "test (reported)"))
    for key, spread, marker, face, edge, label in series:
        x = np.array([r.get(spread, np.nan) for r in rows], dtype=float)
        y = np.array([r.get(key, np.nan) for r in rows], dtype=float)
        if np.isfinite(x * y).any():
            ax.scatter(x, y, marker=marker, s=30, facecolors=face, edgecolors=edge, label=label)
    b = next((r for r in rows if r["number"] == best), None) if best is not None else None
    if b is not None:
        on_test = np.isfinite(b.get("test_mean", np.nan) * b.get("test_std", np.nan))
        x, y = (b["test_std"], b["test_mean"]) if on_test else (b["std"], b["mean"])
        ax.scatter([x], [y], marker="*", s=180, color="tab:red", label=f"best trial {best}", zorder=3)
    ax.axhline(baseline, color="grey", ls="--", label=f"baseline {baseline:.3f}")
    ax.axhline(floor, color="grey", ls=":", label=f"floor {floor:.3f}")
    ax.set_xlabel("std over replicates [rad]")
    ax.set_ylabel(r"mean loss: stratified $W_1(\theta^*)$ [rad]")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return _save(fig, out)
