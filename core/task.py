"""The task plug point: one training of one config.

A task is any object with ``search_space() -> Space`` and ``run(config, ctx) -> float |
dict`` (a dict holds "loss" plus metrics), or a subclass of :class:`Task`. Workers import
tasks by path (``"uqhpo.apps.template:task"``), never by pickled closure. A plain
function ``f(config, seed)`` or ``f(config, ctx)`` is accepted too (see :func:`as_task`).
"""
from __future__ import annotations

import importlib
import inspect
import json
import logging
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .space import Space

logger = logging.getLogger("uqhpo")


class Task:
    """Base class of a training task. Subclasses override ``search_space`` and ``run``.

    The optional data protocol: a task that reads data overrides :meth:`configure`. The
    config's ``data:`` section (or ``Study.optimize(..., data=)``) is handed to
    ``configure`` in the driver and, carried with every job, in every worker (once per
    distinct data per process). A task with no data configured uses its own defaults.
    """

    #: keys the ``data`` section must contain (the config loader names a missing one)
    required_data_keys: tuple[str, ...] = ()
    #: True when the task writes its default data file itself on first use, so a config
    #: may name a data file that does not exist yet
    generates_missing_data: bool = False

    def search_space(self) -> Space:
        raise NotImplementedError(f"{type(self).__name__} defines no search space")

    def run(self, config: dict, ctx: TrialContext) -> float | dict:
        raise NotImplementedError

    def configure(self, data: dict) -> None:
        """Take the data settings (paths already absolute). The base task takes none.

        Raises:
            ValueError: a key is unknown or a value invalid (one line naming the key).
        """
        if data:
            raise ValueError(f"task {type(self).__name__} takes no data (data keys given: {', '.join(sorted(data))})")

    def check(self) -> None:
        """Validate inputs before a study starts (e.g. the data file exists); raise
        ``ValueError`` / ``FileNotFoundError`` with a one-line message naming the file."""


class TrialPruned(BaseException):
    """Raised inside a task by ``ctx.report`` when the study's pruner stopped this training.

    A ``BaseException`` (like ``KeyboardInterrupt``), so a task's broad ``except Exception``
    does not swallow it; the worker records the replicate as PRUNED. A task may also raise
    it itself to stop early.

    Attributes:
        step: the step of the report that received the decision (None when raised by hand).
    """

    def __init__(self, step: Optional[int] = None):
        super().__init__(f"pruned at step {step}" if step is not None else "pruned")
        self.step = step


@dataclass
class TrialContext:
    """What a training gets besides its config.

    Attributes:
        seed: the replicate's seed; seed every RNG from it.
        trial: trial number; replicate: replicate index; attempt: retry number.
        device: "cpu" or "cuda" (the worker's GPU when it has one).
        workdir: this trial's directory (created on first use).
        mc_dropout: Monte-Carlo dropout passes requested (0 = off).
    """

    seed: int
    trial: int = 0
    replicate: int = 0
    attempt: int = 0
    # UQHPO_DEVICE lets the GPU meta-test re-run CPU smoke tests on CUDA unchanged
    device: str = field(default_factory=lambda: os.environ.get("UQHPO_DEVICE", "cpu"))
    workdir: Path = field(default_factory=lambda: Path("."))
    mc_dropout: int = 0
    reports: list = field(default_factory=list)
    _on_report: Optional[Callable[[int, dict], None]] = None

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)

    def report(self, step: int, **metrics: float) -> None:
        """Record intermediate metrics (e.g. validation loss per epoch); they reach the
        storage at once (live learning curves).

        Raises:
            TrialPruned: the study's pruner stopped this training (let it propagate).
        """
        clean = {k: float(v) for k, v in metrics.items()}
        self.reports.append((int(step), clean))
        if self._on_report is not None:
            self._on_report(int(step), clean)  # may raise TrialPruned

    @property
    def checkpoint_path(self) -> Path:
        """Where this replicate may save a checkpoint to continue after a restart."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.workdir / f"replicate{self.replicate}.ckpt"


class FunctionTask(Task):
    """Wraps ``f(config, seed)`` or ``f(config, ctx)`` as a task."""

    def __init__(self, fn: Callable[..., Any], space: Optional[Space] = None):
        self.fn = fn
        self.space = space
        params = list(inspect.signature(fn).parameters.values())
        second = params[1] if len(params) > 1 else None
        self.wants_ctx = second is not None and (second.name in ("ctx", "context")
                                                 or second.annotation in (TrialContext, "TrialContext"))

    def search_space(self) -> Space:
        if self.space is None:
            raise ValueError("a function objective has no search space of its own; pass space=")
        return self.space

    def run(self, config: dict, ctx: TrialContext) -> float | dict:
        return self.fn(config, ctx if self.wants_ctx else ctx.seed)


def import_object(path: str) -> Any:
    """Import ``"package.module:attribute"`` (attribute may be dotted)."""
    if not isinstance(path, str) or ":" not in path:
        raise ValueError(f"task path must look like 'package.module:attribute', got {path!r}")
    mod_name, attr = path.split(":", 1)
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"task '{path}': cannot import module '{mod_name}' ({e})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"task '{path}': module '{mod_name}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    return obj


def as_task(obj: Any, space: Optional[Space] = None) -> Any:
    """Task object, Task class, import path or plain function -> an object with ``run``."""
    if isinstance(obj, str):
        obj = import_object(obj)
    if inspect.isclass(obj):
        obj = obj()
    if hasattr(obj, "run") and hasattr(obj, "search_space"):
        return obj
    if callable(obj):
        return FunctionTask(obj, space)
    raise ValueError(f"{obj!r} is not a task: it needs search_space() and run(config, ctx)")


def task_path(obj: Any) -> Optional[str]:
    """The import path of a module-level task/function, or None (lambdas, closures)."""
    if isinstance(obj, str):
        return obj
    target = obj.fn if isinstance(obj, FunctionTask) else obj
    mod = getattr(target, "__module__", None)
    qual = getattr(target, "__qualname__", None) or getattr(type(target), "__qualname__", None)
    if not mod or not qual or "<" in qual or mod == "__main__":
        return None
    if not (inspect.isfunction(target) or inspect.isclass(target)):
        return None
    return f"{mod}:{qual}"


def normalize_result(out: Any, dropped: Optional[list[str]] = None) -> tuple[float, dict]:
    """Task return value -> (loss, metrics).

    The loss must be a real number: a Python or numpy number, or a 0-d array/tensor. A
    string that looks like a number, a boolean or None is refused, as is a non-finite
    loss. Metrics are made JSON-safe (numpy scalars and 0-d arrays become numbers, arrays
    lists); a metric the storage cannot hold is dropped with a warning naming it (logged
    here, or appended to ``dropped`` for the caller to report, e.g. from a worker process).

    Raises:
        ValueError: no usable loss (the message says why; the replicate is FAILED).
    """
    if isinstance(out, dict):
        if "loss" not in out:
            raise ValueError(f"task returned a dict without 'loss' (keys: {sorted(map(str, out))})")
        metrics = {k: v for k, v in out.items() if k != "loss"}
        loss = out["loss"]
    else:
        metrics, loss = {}, out
    value = _as_number(loss)
    if value is None:
        raise ValueError(f"task returned a loss that is not a number: {_short(loss)} ({type(loss).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"task returned a non-finite loss ({value})")
    return value, _jsonable(metrics, dropped)


def _as_number(value: Any) -> Optional[float]:
    """A real number (not bool, not str), numpy scalar or 0-d array/tensor -> float; else None."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "item") and tuple(getattr(value, "shape", (1,))) == ():
        try:
            item = value.item()
        except Exception:  # noqa: BLE001 - a foreign object's item() may raise anything
            return None
        return None if isinstance(item, (bool, str)) else _as_number(item)
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable(d: dict, dropped: Optional[list[str]] = None) -> dict:
    """Metrics -> JSON-safe values: numpy scalars and 0-d arrays to numbers, arrays to lists,
    non-finite floats to None; a value JSON cannot hold is dropped with a warning."""
    out = {}
    for k, v in d.items():
        try:
            if hasattr(v, "tolist"):
                v = v.tolist()
            v = _finite_or_none(v)
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError, OverflowError, RecursionError) as e:
            note = (f"dropping metric '{k}': a {type(v).__name__} cannot be stored "
                    f"({str(e).splitlines()[0] if str(e) else type(e).__name__})")
            if dropped is None:
                logger.warning("%s", note)
            else:
                dropped.append(note)
            continue
        out[str(k)] = v
    return out


def _finite_or_none(v: Any) -> Any:
    """NaN/inf floats (also inside lists) -> None, so the stored JSON stays standard."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (list, tuple)):
        return [_finite_or_none(x) for x in v]
    if isinstance(v, dict):
        return {str(key): _finite_or_none(x) for key, x in v.items()}
    return v


def default_device() -> str:
    """"cuda" when this process was given a GPU via CUDA_VISIBLE_DEVICES and torch sees it."""
    vis = os.environ.get("CUDA_VISIBLE_DEVICES")
    if vis is not None and vis.strip() in ("", "-1"):
        return "cpu"
    try:
        import torch  # noqa: PLC0415 - only when a task asks
        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"
