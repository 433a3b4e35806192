"""The surrogate plug point: a cheap model of objective over the unit cube."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional

import numpy as np


class SurrogateFitError(RuntimeError):
    """Raised by ``fit`` when the model cannot be built; strategies catch it and fall back."""


class Surrogate(ABC):
    """fit on ``(n, d)`` unit-cube points, predict mean (and std where the model has one)."""

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray, y_var: Optional[np.ndarray] = None) -> Surrogate:
        """Args:
            X: ``(n, d)`` points in [0, 1]^d (duplicates allowed).
            y: ``(n,)`` observed values (minimised).
            y_var: ``(n,)`` variance of each observation's estimate, or None (noise-free).
        """

    @abstractmethod
    def predict(self, X: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """``(m, d)`` -> (mean ``(m,)``, std ``(m,)`` or None)."""
