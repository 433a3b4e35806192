"""Figures of the hadronization app: true vs generated decay angles with replicate bands.

:func:`plot_angles` draws, for one trial, the true phi* and theta* histograms, the
mean generated histogram with a +-1 std band over the replicates, the isotropic
baseline, and the Wasserstein distance of each replicate. matplotlib is imported
inside the functions (Agg backend, files only).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from .uq import aggregate_histograms

HIST_PATTERN = "replicate*_hist.npz"


def trial_histogram_paths(trial: Any, search_dirs: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """The saved replicate histograms of a trial.

    Args:
        trial: a ``uqhpo.trial.Trial`` (its completed replicates' ``hist_path`` metrics
            are used) or a directory holding ``replicate*_hist.npz``.
        search_dirs: fallback folders searched for ``trial<N>/replicate*_hist.npz``.

    Returns:
        existing paths, sorted (empty when none were found).
    """
    if isinstance(trial, (str, os.PathLike)):
        return sorted(Path(trial).glob(HIST_PATTERN))
    found = []
    latest = trial.latest() if hasattr(trial, "latest") else {}
    for rep in latest.values():
        p = (rep.metrics or {}).get("hist_path")
        if p and Path(p).exists() and getattr(rep.state, "value", rep.state) == "COMPLETE":
            found.append(Path(p))
    if not found:
        for d in search_dirs:
            found.extend(Path(d).glob(f"**/trial{trial.number}/{HIST_PATTERN}"))
    return sorted(set(found))


def plot_angles(paths: Iterable[str | os.PathLike], out: str | os.PathLike, *, title: Optional[str] = None) -> Path:
    """Write the angle figure of one trial's replicates to ``out`` (PNG).

    Args:
        paths: the replicates' ``.npz`` histograms (see ``uq.save_histograms``).
        out: output file; its folder is created.
        title: figure title (e.g. the trial's config).
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    agg = aggregate_histograms(paths)
    k = len(agg["generated"])
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 1, 0.7]})
    for ax, j, label in ((axes[0], 0, r"$\phi^*$ [rad]"), (axes[1], 1, r"$\theta^*$ [rad]")):
        edges = agg["edges"][j]
        centres = 0.5 * (edges[1:] + edges[:-1])
        ax.stairs(agg["true"][j], edges, color="black", lw=1.6, label="true (test split)")
        ax.stairs(agg["baseline"][j], edges, color="grey", ls="--", lw=1.0, label="isotropic baseline")
        mean, std = agg["generated_mean"][j], agg["generated_std"][j]
        ax.plot(centres, mean, color="tab:red", lw=1.4, label=f"GAN, mean of {k} replicates")
        ax.fill_between(centres, mean - std, mean + std, color="tab:red", alpha=0.3, lw=0,
                        label="±1 std over replicates")
        ax.set_xlabel(label)
        ax.set_ylabel("density")
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=7, loc="lower center")
    scores = agg["scores"]
    ax = axes[2]
    x = np.arange(k)
    ax.plot(x, scores["test_w1"], "o", color="tab:red", label="GAN (test)")
    if "loss" in scores:
        ax.plot(x, scores["loss"], "x", color="tab:blue", label="GAN (validation, best epoch)")
    ax.axhline(float(np.mean(scores["baseline_test_w1"])), color="grey", ls="--", label="isotropic baseline")
    ax.set_xticks(x)
    ax.set_xlabel("replicate")
    ax.set_ylabel(r"$W_1$ (mean of $\phi^*$, $\theta^*$) [rad]")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out
