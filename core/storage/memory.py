"""In-memory storage: the default for a study without a ``storage`` URL.

It lives in one process (threads may share it; one lock guards every call) and is lost
when the process exits. Values pass through JSON on the way in, so what reads back is
what the file backends would give (tuples become lists, numpy numbers plain numbers).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from ._events import Event
from ._planned import PlannedStorage
from ._replay import Book

__all__ = ["InMemoryStorage"]


class InMemoryStorage(PlannedStorage):
    """Thread-safe storage held in a :class:`~uqhpo.storage._replay.Book`."""

    def __init__(self) -> None:
        self._book = Book()
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return "InMemoryStorage()"

    def __getstate__(self) -> dict:
        raise TypeError("an in-memory storage cannot be shared with other processes; "
                        "use storage='sqlite:///path.db' (or 'journal:///path.jsonl')")

    @contextmanager
    def _locked(self, write: bool) -> Iterator[Book]:
        with self._lock:  # readers lock too: a write changes the book in several steps
            yield self._book

    def _commit(self, event: Event) -> None:
        self._book.apply(event)
