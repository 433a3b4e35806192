"""Storages by URL: ``get_storage("sqlite:///runs/x.db")``.

* ``None``, ``"memory"``, ``":memory:"``: :class:`InMemoryStorage` (lost on exit);
* ``"sqlite:///relative/path.db"`` or ``"sqlite:////abs/path.db"``: :class:`SQLiteStorage`;
* ``"journal:///path.jsonl"`` or a plain path ending in ``.jsonl``: :class:`JournalStorage`
  (append-only log with an ``os.link`` lock, for NFS where SQLite locking is unsafe);
* a :class:`Storage` instance is returned as it is.
"""
from __future__ import annotations

import importlib
import os
from typing import Union

from .base import AttemptKey, ReplicateRef, Storage, StorageError, StudyExistsError, StudyRecord
from .memory import InMemoryStorage

__all__ = ["Storage", "StudyRecord", "StorageError", "StudyExistsError", "ReplicateRef", "AttemptKey",
           "InMemoryStorage", "SQLiteStorage", "JournalStorage", "get_storage"]

# file backends are imported on first use
_LAZY = {"SQLiteStorage": "uqhpo.storage.sqlite", "JournalStorage": "uqhpo.storage.journal"}

_FORMS = "None, 'memory', 'sqlite:///path.db', 'journal:///path.jsonl' or a path ending in .jsonl"


def __getattr__(name: str) -> type[Storage]:
    if name in _LAZY:
        backend: type[Storage] = getattr(importlib.import_module(_LAZY[name]), name)
        return backend
    raise AttributeError(f"module 'uqhpo.storage' has no attribute '{name}'")


def _url_path(url: str, scheme: str) -> str:
    # "sqlite:///rel/x.db" -> "rel/x.db"; "sqlite:////abs/x.db" -> "/abs/x.db"
    path = url[len(scheme) + len(":///"):]
    if not path:
        raise ValueError(f"storage URL '{url}' has no path; expected {_FORMS}")
    return os.path.expanduser(path)


def get_storage(url: Union[str, os.PathLike, Storage, None] = None, read_only: bool = False) -> Storage:
    """Open the storage a URL names.

    Args:
        url: see the module docstring for the accepted forms.
        read_only: open an existing file storage without changing it (reading commands).

    Returns:
        A :class:`Storage`; file backends create missing parent directories.

    Raises:
        ValueError: the URL has none of the accepted forms.
    """
    if isinstance(url, Storage):
        return url
    if url is None:
        return InMemoryStorage()
    text = os.fspath(url) if isinstance(url, os.PathLike) else url
    if not isinstance(text, str):
        raise ValueError(f"storage must be a URL string or a Storage, got {type(url).__name__}; accepted: {_FORMS}")
    if text in ("memory", ":memory:"):
        return InMemoryStorage()
    if text.startswith("sqlite:///"):
        from .sqlite import SQLiteStorage
        return SQLiteStorage(_url_path(text, "sqlite"), read_only=read_only)
    if text.startswith("journal:///"):
        from .journal import JournalStorage
        return JournalStorage(_url_path(text, "journal"), read_only=read_only)
    if "://" not in text and text.endswith(".jsonl"):
        from .journal import JournalStorage
        return JournalStorage(os.path.expanduser(text), read_only=read_only)
    raise ValueError(f"unknown storage '{text}'; accepted: {_FORMS}")
