"""Traffic app: a graph-convolutional GRU forecasts the load on the 102 links of a network.

``task`` (import path ``uqhpo.apps.traffic:task``) trains the model and scores it by the
validation error summed over the links. Importing this package is cheap: torch,
torch-geometric and h5py load only when data is read or a training runs.
"""
from __future__ import annotations

from .task import TrafficTask, task

__all__ = ["TrafficTask", "task"]
