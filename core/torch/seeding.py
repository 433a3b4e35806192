"""Seeding from ``ctx.seed`` and saving/restoring every random state a training uses.

:func:`seed_everything` seeds Python's ``random``, NumPy's global RNG and torch (CPU and
CUDA) and, by default, asks torch for deterministic algorithms. :func:`capture_rng_state`
and :func:`restore_rng_state` take those global states plus any generator the task owns
(``torch.Generator``, ``numpy.random.Generator``/``RandomState``, ``random.Random``) so a
training resumed from a checkpoint draws the same numbers as one that never stopped.
States are plain Python values and tensors, loadable with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import os
import random
from typing import Any, Mapping, Optional

import numpy as np
import torch


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed ``random``, NumPy's global RNG and torch from one integer.

    Args:
        seed: the replicate's seed (``ctx.seed``); any non-negative integer.
        deterministic: ask torch for deterministic algorithms (``warn_only``: an op without
            one warns instead of failing), deterministic cuDNN without autotuning, and a
            fixed cuBLAS workspace. ``False`` switches these flags off again (faster on GPU;
            results then vary slightly between runs with the same seed).
    """
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed % 2**64)          # also seeds every CUDA device
    if deterministic:
        # read by cuBLAS when CUDA starts; harmless when it already has (or never will)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def check_generators(generators: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """Validate the generators a task registers for checkpointing.

    Args:
        generators: name -> ``torch.Generator`` | ``numpy.random.Generator`` |
            ``numpy.random.RandomState`` | ``random.Random``; ``None`` for none.

    Raises:
        TypeError: naming the entry whose state cannot be saved.
    """
    out = dict(generators or {})
    for name, gen in out.items():
        if not isinstance(gen, (torch.Generator, np.random.Generator, np.random.RandomState, random.Random)):
            raise TypeError(f"generators['{name}']: cannot checkpoint a {type(gen).__name__}; use a torch.Generator, "
                            "numpy.random.Generator, numpy.random.RandomState or random.Random")
    return out


def _plain(value: Any) -> Any:
    """NumPy arrays inside a state dict -> lists (loadable without unpickling NumPy)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _generator_state(gen: Any) -> Any:
    if isinstance(gen, torch.Generator):
        return gen.get_state()
    if isinstance(gen, np.random.Generator):
        return _plain(gen.bit_generator.state)
    if isinstance(gen, np.random.RandomState):
        return _plain(gen.get_state(legacy=False))
    return gen.getstate()


def _set_generator_state(gen: Any, state: Any) -> None:
    if isinstance(gen, torch.Generator):
        gen.set_state(state)
    elif isinstance(gen, np.random.Generator):
        gen.bit_generator.state = state
    elif isinstance(gen, np.random.RandomState):
        gen.set_state(state)
    else:
        gen.setstate(_as_tuple(state))


def capture_rng_state(generators: Optional[Mapping[str, Any]] = None) -> dict:
    """Every random state a training may draw from.

    Returns:
        ``{"python", "numpy", "torch", "cuda", "generators": {name: state}}``; ``cuda`` is a
        list of per-device states, empty when CUDA was never initialised in this process.
    """
    cuda = [s.cpu() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_initialized() else []
    return {
        "python": random.getstate(),
        "numpy": _plain(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "generators": {name: _generator_state(g) for name, g in check_generators(generators).items()},
    }


def restore_rng_state(state: dict, generators: Optional[Mapping[str, Any]] = None) -> None:
    """Put back what :func:`capture_rng_state` took.

    Raises:
        KeyError: naming a registered generator the saved state does not hold.
    """
    random.setstate(_as_tuple(state["python"]))
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    saved = state.get("generators", {})
    for name, gen in check_generators(generators).items():
        if name not in saved:
            raise KeyError(f"the checkpoint holds no state for generator '{name}'")
        _set_generator_state(gen, saved[name])


def _as_tuple(value: Any) -> Any:
    """``random.setstate`` wants the nested tuples back (a round trip may give lists)."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value
