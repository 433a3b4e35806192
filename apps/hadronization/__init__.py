"""Hadronization app: a conditional GAN replaces the two-body decay of a cluster.

``task`` (import path ``uqhpo.apps.hadronization:task``) trains the GAN and scores it by
the Wasserstein distance of theta* per perturbative class and kinematic bin. Importing
this package is cheap: torch, POT, h5py and scikit-learn load only when data is read or
a training runs.
"""
from __future__ import annotations

from .task import HadronizationTask, task

__all__ = ["HadronizationTask", "task"]
