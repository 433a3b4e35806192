"""JSON (de)serialisation shared by the storages: what goes in is what reads back.

Values pass through JSON on the way in (numpy numbers become plain numbers, tuples
lists), so the in-memory storage returns what the file backends would.
"""
from __future__ import annotations

import dataclasses
import enum
import gc
import json
import os
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

from .base import JsonObject, StudyRecord

__all__ = ["dumps", "loads", "as_json", "copy_json", "config_key", "no_gc", "record_to_dict", "record_from_dict"]


@contextmanager
def no_gc(records: int = 2000) -> Iterator[None]:
    """A block that makes ``records`` long-lived records (decoding many trials, a replay, a
    snapshot): no garbage collection inside it, and, for :data:`BULK_PROMOTE` records or
    more, on leaving it every object made meanwhile joins the oldest generation without a
    scan (``gc.freeze(); gc.unfreeze()`` moves all tracked objects there at once).

    Reading 10 000 trials makes ~10^5 objects: collections inside the block rescanned the
    whole heap again and again (``get_trials`` was about 5x slower), and the first ones
    after it scan all of them once per generation (a fifth of the CPU time of ``uqhpo
    status`` on 10^5 replicates). Nothing is hidden from the collector (the old generation
    is scanned as before); garbage of the process that was young at that moment waits for
    the next full collection, which is why small blocks (a writer replays one line per
    write) do not promote.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if records >= BULK_PROMOTE:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


#: blocks that make at least this many records promote them (see :func:`no_gc`)
BULK_PROMOTE = 2000


def _json_default(obj: object) -> object:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"value of type {type(obj).__name__} cannot be stored as JSON")


def dumps(obj: object) -> str:
    """Compact JSON (numpy values become plain numbers; NaN/inf are kept)."""
    return json.dumps(obj, default=_json_default, separators=(",", ":"))


# the C scanner without json.loads' checks: ~3x faster on small texts
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads(text: str) -> Any:
    """Parse JSON text; fast for the compact texts :func:`dumps` writes."""
    if text == "{}":
        return {}
    try:
        return _scan(text, 0)[0]
    except StopIteration:
        return json.loads(text)  # written by another tool, e.g. with leading spaces


def as_json(obj: object) -> Any:
    """``obj`` as it reads back after a JSON round trip (tuples become lists, ...)."""
    return json.loads(dumps(obj))


_CONTAINERS = (dict, list)


def copy_json(obj: Any) -> Any:
    """Deep copy of plain JSON data (many times faster than ``copy.deepcopy``)."""
    if type(obj) is dict:
        return {k: copy_json(v) if type(v) in _CONTAINERS else v for k, v in obj.items()}
    if type(obj) is list:
        return [copy_json(v) if type(v) in _CONTAINERS else v for v in obj]
    return obj


def _canonical(obj: Any) -> Any:
    if type(obj) is dict:
        return {k: _canonical(v) for k, v in obj.items()}
    if type(obj) is list:
        return [_canonical(v) for v in obj]
    if isinstance(obj, (bool, int)):
        try:
            return float(obj)  # 1 == 1.0 == True in Python: one key for all three
        except OverflowError:
            return obj
    return obj


def config_key(config: Any) -> str:
    """An index key of parsed JSON: configs that compare equal (``==``) get the same key
    (key order and int/float spelling do not matter). Keys may collide for unequal configs
    (huge integers): a lookup compares the candidates it finds with ``==``."""
    return json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"))


def record_to_dict(record: StudyRecord) -> JsonObject:
    """A study record as plain JSON data."""
    out: JsonObject = as_json(dataclasses.asdict(record))
    return out


def record_from_dict(data: JsonObject) -> StudyRecord:
    """The inverse of :func:`record_to_dict` (the record owns a copy of ``data``)."""
    return StudyRecord(**copy_json(data))
