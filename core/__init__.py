"""uqhpo: hyperparameter optimization that treats each configuration as a random variable.

``import uqhpo`` is light: numpy and the space/trial model only. Surrogates, executors,
deep-learning frameworks and plotting are imported when first used.
"""
from __future__ import annotations

import logging
from typing import Any

from .space import Categorical, Fixed, Integer, Real, Space
from .task import Task, TrialContext, TrialPruned
from .trial import FrozenTrial, Observations, State, TrialSummary

__version__ = "0.1.0"

logging.getLogger("uqhpo").addHandler(logging.NullHandler())

_LAZY = {
    "create_study": "uqhpo.study",
    "load_study": "uqhpo.study",
    "Study": "uqhpo.study",
    "make_strategy": "uqhpo.strategies",
    "get_storage": "uqhpo.storage",
    "make_executor": "uqhpo.executors",
    "StudySettings": "uqhpo.settings",
    "DataTask": "uqhpo.data_task",
    "recommend": "uqhpo.recommendation",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'uqhpo' has no attribute '{name}'")


__all__ = ["Space", "Real", "Integer", "Categorical", "Fixed", "Task", "TrialContext", "TrialPruned", "TrialSummary",
           "FrozenTrial",
           "Observations", "State", *_LAZY]
