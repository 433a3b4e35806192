"""Scores and replicate spread: Wasserstein distances, the isotropic baseline, histograms.

Each replicate saves its generated-angle histograms (``replicate{r}_hist.npz`` in the
trial's work dir); :func:`aggregate_histograms` folds the replicates of a trial into a
per-bin mean and standard deviation, the band drawn by ``figures.py``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

ANGLE_NAMES = ("phi", "theta")
RANGES = ((-np.pi, np.pi), (0.0, np.pi))


def w1_per_angle(generated: np.ndarray, true: np.ndarray) -> np.ndarray:
    """1-D Wasserstein-1 distance (POT) of each angle: ``(n, 2)``, ``(m, 2)`` -> ``(2,)``."""
    import ot  # noqa: PLC0415 - optional dependency

    return np.array([float(ot.wasserstein_1d(generated[:, k], true[:, k], p=1)) for k in range(2)])


def w1(generated: np.ndarray, true: np.ndarray) -> float:
    """The objective: W1 averaged over phi* and theta*."""
    return float(np.mean(w1_per_angle(generated, true)))


def sliced_w1(generated: np.ndarray, true: np.ndarray, seed: int = 0, n_projections: int = 128) -> float:
    """2-D sliced Wasserstein distance (POT) of ``(n, 2)`` and ``(m, 2)`` angle samples."""
    import ot  # noqa: PLC0415

    return float(ot.sliced_wasserstein_distance(np.ascontiguousarray(generated, dtype=np.float64),
                                                np.ascontiguousarray(true, dtype=np.float64),
                                                n_projections=n_projections, seed=int(seed)))


def isotropic_angles(n: int, seed: int) -> np.ndarray:
    """The non-learned baseline: an isotropic decay, ``(n, 2)`` (phi*, theta*)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11]))
    return np.column_stack([rng.uniform(-np.pi, np.pi, n), np.arccos(rng.uniform(-1.0, 1.0, n))])


def histograms(angles: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised histograms of both angles -> densities ``(2, bins)``, edges ``(2, bins + 1)``."""
    dens, edges = [], []
    for k, (lo, hi) in enumerate(RANGES):
        h, e = np.histogram(angles[:, k], bins=bins, range=(lo, hi), density=True)
        dens.append(h)
        edges.append(e)
    return np.array(dens), np.array(edges)


def save_histograms(path: str | os.PathLike, generated: np.ndarray, true: np.ndarray, baseline: np.ndarray,
                    *, bins: int, scores: dict) -> Path:
    """Write one replicate's histograms and scores to ``path`` (.npz, atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gen_h, edges = histograms(generated, bins)
    true_h, _ = histograms(true, bins)
    base_h, _ = histograms(baseline, bins)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, edges=edges, generated=gen_h, true=true_h, baseline=base_h,
             **{k: np.float64(v) for k, v in scores.items()})
    os.replace(tmp, path)
    return path


def aggregate_histograms(paths: Iterable[str | os.PathLike]) -> dict:
    """Replicate histograms -> per-bin mean/std of generated densities, plus the truth.

    Returns:
        dict with ``edges (2, b+1)``, ``true (2, b)``, ``baseline (2, b)``,
        ``generated_mean (2, b)``, ``generated_std (2, b)``, ``generated (k, 2, b)``
        and ``scores`` (name -> ``(k,)`` per replicate).
    """
    loaded = [np.load(p) for p in sorted(map(str, paths))]
    if not loaded:
        raise ValueError("no replicate histograms to aggregate")
    gen = np.stack([f["generated"] for f in loaded])
    score_keys = [k for k in loaded[0].files if k not in ("edges", "generated", "true", "baseline")]
    return {"edges": loaded[0]["edges"], "true": loaded[0]["true"], "baseline": loaded[0]["baseline"],
            "generated": gen, "generated_mean": gen.mean(axis=0),
            "generated_std": gen.std(axis=0, ddof=1) if len(gen) > 1 else np.zeros_like(gen[0]),
            "scores": {k: np.array([float(f[k]) for f in loaded]) for k in score_keys}}
