"""Checkpoint files: written atomically, read back safely, named model/optimizer states.

A checkpoint is one ``torch.save`` file holding plain values and tensors only, so it
loads with ``weights_only=True`` (no arbitrary unpickling). It is written to a temporary
file in the same folder, flushed to disk and moved over the old one with ``os.replace``:
a worker killed mid-write leaves the previous checkpoint intact, never a torn file.
"""
from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

log = logging.getLogger("uqhpo")


def named(objects: Any, kind: str) -> dict[str, Any]:
    """One object or a name -> object mapping as a dict (a single one is named ``kind``).

    Args:
        objects: e.g. an ``nn.Module``, or ``{"generator": g, "discriminator": d}``; None.
        kind: the name given to a single object ("model", "optimizer", ...).
    """
    if objects is None:
        return {}
    if isinstance(objects, Mapping):
        return {str(k): v for k, v in objects.items()}
    return {kind: objects}


def state_dicts(objects: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: obj.state_dict()}`` (references into the live objects, not copies)."""
    return {name: obj.state_dict() for name, obj in objects.items()}


def copy_state_dicts(objects: Mapping[str, Any]) -> dict[str, Any]:
    """Deep copies of the state dicts: a snapshot later training cannot change."""
    return {name: copy.deepcopy(obj.state_dict()) for name, obj in objects.items()}


def load_state_dicts(objects: Mapping[str, Any], states: Mapping[str, Any]) -> None:
    """Load ``states[name]`` into each object.

    Raises:
        KeyError: naming an object the states do not cover.
    """
    for name, obj in objects.items():
        if name not in states:
            raise KeyError(f"no saved state for '{name}' (saved: {', '.join(sorted(states)) or 'none'})")
        obj.load_state_dict(states[name])


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file + ``os.replace``).

    Args:
        path: the checkpoint file; its folder is created when missing.
        state: plain values and tensors (what ``torch.load(weights_only=True)`` reads).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | Path) -> Optional[dict]:
    """Read a checkpoint onto the CPU; ``None`` when it is missing or unreadable.

    An unreadable file (e.g. written by an incompatible version) is logged and ignored:
    the training starts afresh and overwrites it.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file means "start afresh"
        log.warning("ignoring unreadable checkpoint '%s': %s", path, str(e).splitlines()[0] if str(e) else e)
        return None
    if not isinstance(state, dict):
        log.warning("ignoring checkpoint '%s': not a checkpoint written by uqhpo.torch", path)
        return None
    return state


def remove_checkpoint(path: str | Path) -> None:
    """Delete a checkpoint (and a temporary file a killed writer may have left)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    for tmp in path.parent.glob(f"{path.name}.*.tmp"):
        tmp.unlink(missing_ok=True)
