"""Shared by training and evaluation: the linear-interpolation baseline, scaling, scores.

:func:`interpolate_angles` fills each missing sinogram row linearly between the nearest
measured angles on either side; across the end of [0, π) it uses p(θ + π, s) = p(θ, −s),
so the first measured row, mirrored, continues after the last one. It is the best
non-learned inpainting and the objective's baseline. :func:`prepare` reads a file once
per process into :class:`Prepared`: the splits, their baselines, the scale the network
sees, and the reference reconstructions of the samples scored by PSNR/SSIM: full
sinogram, sparse (FBP of the measured angles only) and interpolated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .recon import flip_detector, reconstruct

REFERENCES = ("full", "sparse", "interp")


def interpolate_angles(sino: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Linear interpolation of missing rows between measured angles (periodic with flip).

    Args:
        sino: ``(n, nθ, ndet)`` sinograms (missing rows ignored); mask: ``(n, nθ)`` bool.

    Returns:
        ``(n, nθ, ndet)`` float32: measured rows kept, missing rows interpolated.
    """
    n, n_angles, _ = sino.shape
    out = np.array(sino, dtype=np.float32, copy=True)
    j = np.arange(n_angles)
    for i in range(n):
        m = np.flatnonzero(mask[i])
        # measured rows extended by one period each side: index -nθ+m_last and nθ+m_first, mirrored
        idx = np.concatenate([[m[-1] - n_angles], m, [m[0] + n_angles]])
        rows = np.concatenate([flip_detector(sino[i, m[-1:]]), sino[i, m], flip_detector(sino[i, m[:1]])])
        right = np.searchsorted(idx, j, side="left")
        right = np.clip(right, 1, len(idx) - 1)
        left = right - 1
        w = ((j - idx[left]) / (idx[right] - idx[left]))[:, None]
        filled = (1 - w) * rows[left] + w * rows[right]
        missing = ~mask[i].astype(bool)
        out[i, missing] = filled[missing]
    return out


def missing_mse(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared error over the missing rows: ``(n, nθ, ndet)`` ×2, mask ``(n, nθ)`` bool."""
    missing = ~mask.astype(bool)
    diff = (np.asarray(pred, dtype=np.float64) - target)[missing]
    return float(np.mean(diff ** 2)) if diff.size else float("nan")


def image_scores(images: np.ndarray, phantoms: np.ndarray) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of ``(n, H, W)`` reconstructions against the phantoms, each
    image with its phantom's value range as the data range."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: PLC0415

    psnr, ssim = [], []
    for im, ph in zip(images, phantoms):
        rng = float(ph.max() - ph.min()) or 1.0
        psnr.append(peak_signal_noise_ratio(ph, im.astype(ph.dtype), data_range=rng))
        ssim.append(structural_similarity(ph, im.astype(ph.dtype), data_range=rng))
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}


@dataclass
class Split:
    """One split's arrays (physical units: line integrals) and, for scored splits, references.

    Attributes:
        full, sparse, interp: ``(n, nθ, ndet)``; mask ``(n, nθ)`` bool; phantom ``(n, H, H)``.
        scored: indices of the samples reconstructed for PSNR/SSIM.
        recon: name in :data:`REFERENCES` -> ``(len(scored), H, H)`` reconstructions.
        scores: name -> ``{"psnr", "ssim"}`` of those reconstructions.
    """

    full: np.ndarray
    sparse: np.ndarray
    mask: np.ndarray
    phantom: np.ndarray
    interp: np.ndarray
    scored: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    recon: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)


@dataclass
class Prepared:
    """A data file ready for training: splits, scale, geometry, reconstruction settings."""

    path: str
    theta: np.ndarray
    pixel_size: float
    scale: float                 # the network sees sinograms / scale
    backend: str
    filter_name: str
    splits: dict[str, Split]

    def reconstruct(self, sinograms: np.ndarray) -> np.ndarray:
        """FBP of ``(n, nθ, ndet)`` line integrals -> ``(n, H, H)`` attenuation images."""
        return reconstruct(np.asarray(sinograms) / self.pixel_size, self.theta, self.backend, self.filter_name)

    def reconstruct_measured(self, sinograms: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """FBP of the measured rows only (``mask`` ``(n, nθ)``), each with its own angles:
        the sparse-angle reconstruction without inpainting -> ``(n, H, H)``."""
        return np.stack([reconstruct(s[m] / self.pixel_size, self.theta[m], self.backend, self.filter_name)
                         for s, m in zip(np.asarray(sinograms), np.asarray(mask, dtype=bool))])


def prepare(loaded: dict, path: str, backend: str = "auto", filter_name: str = "ramp",
            recon_samples: Optional[int] = None) -> Prepared:
    """Splits of a file read by ``data.read_h5`` -> :class:`Prepared`.

    Args:
        loaded: what ``read_h5`` returns; path: its file (for messages).
        backend, filter_name: the FBP used for every reconstruction.
        recon_samples: first samples of valid/test reconstructed and scored (None: all).
    """
    splits = {}
    for name in ("train", "valid", "test"):
        a = loaded[name]
        full, mask = a["sino_full"], a["mask"]
        sparse = a["sino_sparse"] * mask[:, :, None]
        splits[name] = Split(full=full, sparse=sparse, mask=mask, phantom=a["phantom"],
                             interp=interpolate_angles(sparse, mask))
    scale = float(np.std(splits["train"].full)) or 1.0
    prep = Prepared(path=str(path), theta=loaded["theta"], pixel_size=float(loaded["pixel_size"]), scale=scale,
                    backend=backend, filter_name=filter_name, splits=splits)
    for name in ("valid", "test"):
        s = splits[name]
        s.scored = np.arange(len(s.full) if recon_samples is None else min(int(recon_samples), len(s.full)))
        for ref in REFERENCES:
            sino = getattr(s, ref)[s.scored]
            s.recon[ref] = (prep.reconstruct_measured(sino, s.mask[s.scored]) if ref == "sparse"
                            else prep.reconstruct(sino))
            s.scores[ref] = image_scores(s.recon[ref], s.phantom[s.scored])
    return prep
