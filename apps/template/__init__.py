"""The template app: an MLP on a table (regression or classification), the app to copy.

``uqhpo new-app NAME --data FILE`` copies it for your own CSV/HDF5/NPZ table. Files:
``task.py`` (data settings, split, search space, ``run``), ``model.py`` (network,
training through ``uqhpo.torch``, prediction), ``data.py`` (target and feature columns;
synthetic generator), ``columns.py`` (file readers), ``configs/`` (studies).
Importing it is cheap: torch is loaded only when a training runs.
"""
from __future__ import annotations

from .task import TemplateTask, task

__all__ = ["TemplateTask", "task"]
