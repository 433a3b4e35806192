"""Template app: MLP regression on a synthetic table, the smallest complete uqhpo app.

Copy this package to start a new app: ``data.py`` (generator + loader), ``model.py``
(the network), ``task.py`` (the Task), ``configs/`` (study configs), ``README.md``.
Importing it is cheap: torch is loaded only when a training runs.
"""
from __future__ import annotations

from .task import TemplateTask, task

__all__ = ["TemplateTask", "task"]
