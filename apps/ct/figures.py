"""Figures of the CT app: reconstructions side by side with their error and uncertainty.

:func:`plot_reconstructions` draws, for a few test samples of one trial, one row each:
FBP of the measured angles only, the reference (FBP of the full sinogram), the FBP of
the inpainted sinogram (mean over replicates), the absolute difference inpainted −
reference (darker is better) and the per-pixel standard deviation (MC dropout within a
replicate + spread between replicates). matplotlib is imported inside (Agg, files only).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from uqhpo.analysis.saved_files import replicate_files

from .uq import aggregate_examples

EXAMPLES_PATTERN = "replicate*_examples.npz"


def trial_example_paths(trial: Any, search_dirs: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """The saved replicate files of a trial (a ``Trial`` or a folder); sorted, maybe empty."""
    return replicate_files(trial, "examples_path", EXAMPLES_PATTERN, search_dirs)


def _psnr(image: np.ndarray, truth: np.ndarray) -> float:
    rng = float(truth.max() - truth.min()) or 1.0
    return float(10 * np.log10(rng ** 2 / max(float(np.mean((image - truth) ** 2)), 1e-20)))


def plot_reconstructions(paths: Iterable[str | os.PathLike], out: str | os.PathLike, *, rows: int = 3,
                         title: Optional[str] = None) -> Path:
    """Write the reconstruction figure of one trial's replicates to ``out`` (PNG).

    Args:
        paths: the replicates' ``.npz`` examples (see ``uq.save_examples``).
        out: output file; its folder is created.
        rows: at most this many test samples, one per row.
        title: figure title (e.g. the trial's config).
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    agg = aggregate_examples(paths)
    n = min(int(rows), len(agg["phantom"]))
    if n < 1:
        raise ValueError("the replicate examples hold no samples")
    fig, axes = plt.subplots(n, 5, figsize=(14, 2.9 * n + 0.6), squeeze=False)
    for i in range(n):
        truth, ref, inp = agg["phantom"][i], agg["recon_full"][i], agg["recon_inpainted"][i]
        lo, hi = float(truth.min()), float(truth.max())
        diff = np.abs(inp - ref)
        panels = [
            (agg["recon_sparse"][i], f"sparse FBP ({int(agg['mask'][i].sum())} angles)\n"
                                     f"PSNR {_psnr(agg['recon_sparse'][i], truth):.1f} dB", "gray", (lo, hi)),
            (ref, f"reference: full FBP ({agg['mask'].shape[1]} angles)\nPSNR {_psnr(ref, truth):.1f} dB",
             "gray", (lo, hi)),
            (inp, f"inpainted FBP (mean of {agg['n_replicates']})\nPSNR {_psnr(inp, truth):.1f} dB "
                  f"(interp. {_psnr(agg['recon_interp'][i], truth):.1f})", "gray", (lo, hi)),
            (diff, "|inpainted − reference|\n(darker is better)", "magma", (0.0, float(np.percentile(diff, 99.5)))),
            (agg["std_total"][i], "UQ std: MC dropout +\nreplicates", "viridis", (0.0, None)),
        ]
        for ax, (image, label, cmap, (vmin, vmax)) in zip(axes[i], panels):
            shown = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0 or cmap != "gray":
                ax.set_title(label, fontsize=8)
            else:
                ax.set_title(label.split("\n")[-1], fontsize=8)
            if cmap != "gray":
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out
