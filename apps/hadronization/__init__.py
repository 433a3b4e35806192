"""Hadronization app: a conditional GAN replaces the two-body decay of a cluster.

``task`` (import path ``uqhpo.apps.hadronization:task``) trains the GAN and scores it by
the Wasserstein distance between generated and true decay angles. Importing this
package is cheap: torch, POT and h5py load only when data is read or a training runs.
"""
from __future__ import annotations

from .task import HadronizationTask, task

__all__ = ["HadronizationTask", "task"]
