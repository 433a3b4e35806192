"""Groundwater app: an LSTM forecasts well levels through a drought (Keras, or a PyTorch twin).

``task`` (import path ``uqhpo.apps.groundwater:task``) trains the LSTM and scores it by
the validation RMSE in metres. Importing this package is cheap: TensorFlow, torch and
h5py load only when data is read or a training runs.
"""
from __future__ import annotations

from .task import GroundwaterTask, task

__all__ = ["GroundwaterTask", "task"]
