"""Uncertainty of the inpainted sinograms and their reconstructions.

Two sources: MC dropout within one trained network (``ctx.mc_dropout`` passes, each
pass inpainted and reconstructed; FBP is linear, so the spread of the reconstructions is
the spread the sinogram spread causes) and the replicates (trainings with other seeds).
Each replicate saves a few test examples (``replicate{r}_examples.npz`` in the trial's
work dir); :func:`aggregate_examples` folds a trial's replicates into the mean
reconstruction and a per-pixel total standard deviation (law of total variance: mean
of the MC variances + variance of the replicate means).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

ARRAYS = ("phantom", "recon_full", "recon_sparse", "recon_interp", "recon_inpainted", "recon_std",
          "sino_full", "sino_inpainted", "sino_std", "mask")


def pass_statistics(passes: np.ndarray, reconstruct) -> dict[str, np.ndarray]:
    """Mean and std of MC passes and of their reconstructions.

    Args:
        passes: ``(m, k, nθ, ndet)`` inpainted sinograms (m passes of k samples).
        reconstruct: ``(n, nθ, ndet) -> (n, H, H)`` FBP.

    Returns:
        ``sino_inpainted``, ``sino_std`` ``(k, nθ, ndet)``; ``recon_inpainted``, ``recon_std`` ``(k, H, H)``.
    """
    m, k = passes.shape[:2]
    flat = reconstruct(passes.reshape(m * k, *passes.shape[2:]))          # (m * k, H, H)
    recon = flat.reshape(m, k, *flat.shape[1:])
    return {"sino_inpainted": passes.mean(0), "sino_std": passes.std(0),
            "recon_inpainted": recon.mean(0), "recon_std": recon.std(0)}


def save_examples(path: str | os.PathLike, arrays: dict, scores: dict) -> Path:
    """Write one replicate's examples (:data:`ARRAYS`, each ``(k, ...)``) and scores (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    missing = [k for k in ARRAYS if k not in arrays]
    if missing:
        raise ValueError(f"save_examples: missing arrays {missing}")
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **{k: np.asarray(arrays[k], dtype=np.float32) for k in ARRAYS},
                        **{k: np.float64(v) for k, v in scores.items()})
    os.replace(tmp, path)
    return path


def aggregate_examples(paths: Iterable[str | os.PathLike]) -> dict:
    """A trial's replicate examples -> mean reconstruction and total per-pixel std.

    Returns:
        dict with the shared arrays (``phantom``, ``recon_full``, ``recon_sparse``,
        ``recon_interp``, ``mask`` of the first replicate), ``recon_inpainted`` (mean over
        replicates), ``std_total``, ``std_mc`` (root mean MC variance), ``std_replicates``
        (std of replicate means), each ``(k, H, H)``; ``n_replicates``; ``scores`` (name ->
        ``(r,)``).
    """
    loaded = [np.load(p) for p in sorted(map(str, paths))]
    if not loaded:
        raise ValueError("no replicate examples to aggregate")
    recon = np.stack([f["recon_inpainted"] for f in loaded])            # (r, k, H, H)
    mc_var = np.stack([f["recon_std"] ** 2 for f in loaded]).mean(0)
    rep_var = recon.var(0, ddof=1) if len(loaded) > 1 else np.zeros_like(recon[0])
    score_keys = [k for k in loaded[0].files if k not in ARRAYS]
    first = loaded[0]
    return {**{k: first[k] for k in ("phantom", "recon_full", "recon_sparse", "recon_interp", "mask")},
            "recon_inpainted": recon.mean(0), "std_total": np.sqrt(mc_var + rep_var), "std_mc": np.sqrt(mc_var),
            "std_replicates": np.sqrt(rep_var), "n_replicates": len(loaded),
            "scores": {k: np.array([float(f[k]) for f in loaded]) for k in score_keys}}
