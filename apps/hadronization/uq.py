"""Replicate spread: per-replicate histograms of theta* per perturbative class, folded into bands.

Each replicate saves its test-split histograms (``replicate{r}_hist.npz`` in the trial's
work dir): theta* per perturbative class for the generated, true and condition-blind
baseline decays, plus its scores. :func:`aggregate_histograms` folds the replicates of a
trial into a per-bin mean and standard deviation, the band drawn by ``figures.py``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from .prep import CLASS_NAMES

THETA_RANGE = (0.0, np.pi)


def class_histograms(angles: np.ndarray, classes: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised theta* histograms per class -> densities ``(n_classes, bins)``, edges ``(bins + 1,)``.

    A class without clusters has an all-zero row.
    """
    edges = np.linspace(*THETA_RANGE, bins + 1)
    dens = np.zeros((len(CLASS_NAMES), bins))
    for c in range(len(CLASS_NAMES)):
        sel = classes == c
        if sel.any():
            dens[c] = np.histogram(angles[sel, 1], bins=edges, density=True)[0]
    return dens, edges


def save_histograms(path: str | os.PathLike, generated: np.ndarray, true: np.ndarray, baseline: np.ndarray,
                    classes: np.ndarray, *, bins: int, scores: dict) -> Path:
    """Write one replicate's histograms and scores to ``path`` (.npz, atomic).

    Args:
        generated, true, baseline: ``(n, 2)`` angles of the same test clusters.
        classes: ``(n,)`` perturbative class ids; scores: name -> number.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gen_h, edges = class_histograms(generated, classes, bins)
    true_h, _ = class_histograms(true, classes, bins)
    base_h, _ = class_histograms(baseline, classes, bins)
    counts = np.array([np.sum(classes == c) for c in range(len(CLASS_NAMES))])
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, edges=edges, generated=gen_h, true=true_h, baseline=base_h, counts=counts,
             **{k: np.float64(v) for k, v in scores.items()})
    os.replace(tmp, path)
    return path


_ARRAYS = ("edges", "generated", "true", "baseline", "counts")


def aggregate_histograms(paths: Iterable[str | os.PathLike]) -> dict:
    """Replicate histograms -> per-bin mean/std of generated densities, plus the truth.

    Returns:
        dict with ``edges (b+1,)``, ``true (c, b)``, ``baseline (c, b)``, ``counts (c,)``,
        ``generated_mean (c, b)``, ``generated_std (c, b)``, ``generated (k, c, b)``
        and ``scores`` (name -> ``(k,)`` per replicate); c = classes, k = replicates.
    """
    loaded = [np.load(p) for p in sorted(map(str, paths))]
    if not loaded:
        raise ValueError("no replicate histograms to aggregate")
    gen = np.stack([f["generated"] for f in loaded])
    score_keys = [k for k in loaded[0].files if k not in _ARRAYS]
    return {"edges": loaded[0]["edges"], "true": loaded[0]["true"], "baseline": loaded[0]["baseline"],
            "counts": loaded[0]["counts"], "generated": gen, "generated_mean": gen.mean(axis=0),
            "generated_std": gen.std(axis=0, ddof=1) if len(gen) > 1 else np.zeros_like(gen[0]),
            "scores": {k: np.array([float(f[k]) for f in loaded]) for k in score_keys}}
