"""Executors by name: ``make_executor("local", workers=4)``.

Names: "serial" (in this process), "local" (spawned worker processes, one GPU each when
there are GPUs) and "simulated" (virtual clock, for tests of asynchrony). Other
back-ends (dask, slurm) join the table with :func:`register_executor`.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any

from .base import Executor, Job, ReplicateResult, ReplicateSlot

# name -> "module:Class"; modules are imported lazily (the local one pulls in multiprocessing)
_REGISTRY: dict[str, str] = {
    "serial": "uqhpo.executors.serial:SerialExecutor",
    "local": "uqhpo.executors.local:LocalExecutor",
    "simulated": "uqhpo.executors.simulated:SimulatedExecutor",
    "dask": "uqhpo.executors.dask:DaskExecutor",
}


def executor_names() -> tuple[str, ...]:
    """Names :func:`make_executor` accepts."""
    return tuple(_REGISTRY)


def register_executor(name: str, path: str) -> None:
    """Add an executor class by import path ``"package.module:Class"``."""
    if ":" not in path:
        raise ValueError(f"executor '{name}': path must look like 'package.module:Class', got {path!r}")
    _REGISTRY[name] = path


def executor_class(name: str) -> type[Executor]:
    """The class registered under ``name``; unknown names raise with a suggestion."""
    if name not in _REGISTRY:
        import difflib
        hint = difflib.get_close_matches(str(name), _REGISTRY, n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ValueError(f"unknown executor '{name}'{extra}; choose one of {', '.join(_REGISTRY)}")
    mod, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(mod), cls)


def make_executor(name: str | Executor, **options: Any) -> Executor:
    """Build an executor by name; an :class:`Executor` instance is returned unchanged.

    Args:
        name: "serial", "local", "simulated" (or a registered name), or an instance.
        **options: constructor options, e.g. ``workers=4``. An option the executor does
            not know raises ``ValueError`` naming it.
    """
    if isinstance(name, Executor):
        return name
    if not isinstance(name, str):
        raise ValueError(f"executor must be a name or an Executor instance, got {type(name).__name__}")
    cls = executor_class(name)
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    known = [p for p in params if p != "self" and params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    for key in options:
        if not takes_any and key not in known:
            raise ValueError(f"executor '{name}' has no option '{key}' (options: {', '.join(known)})")
    return cls(**options)


__all__ = ["Executor", "Job", "ReplicateResult", "ReplicateSlot", "make_executor", "executor_class",
           "executor_names", "register_executor"]
