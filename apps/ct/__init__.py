"""CT app: a U-Net inpaints the missing angles of sparse-view sinograms before FBP.

``task`` (import path ``uqhpo.apps.ct:task``) trains the U-Net and scores it by the MSE on
the missing sinogram rows; reconstructions are scored by PSNR/SSIM. Importing this package
is cheap: torch, h5py, scikit-image and matplotlib load only when data is read or a
training runs.
"""
from __future__ import annotations

from .task import CTTask, task

__all__ = ["CTTask", "task"]
