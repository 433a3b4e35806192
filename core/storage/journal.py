"""JSON-lines journal storage for shared file systems (NFS) where SQLite locking is unsafe.

The file is an append-only log, one event per line (``create_study``, ``settings``,
``add_trial``, ``claim``, ``heartbeat``, ``finish``, ``report``, ``extend``, ``retry``,
``stale``; see :mod:`uqhpo.storage._events`). The state is what replaying the log gives;
each process keeps its replayed :class:`~uqhpo.storage._replay.Book` and the byte offset
it has read up to, and reads only new lines on each call.

Writers serialise on ``<file>.lock``, a :class:`~uqhpo.storage._lock.LinkLock`. Under
the lock a writer first catches up with the log, then decides (the next trial number,
which attempt to claim), appends one line, flushes and ``fsync``s.

A last line without its newline is a write in progress (or a writer that died mid-line):
readers leave it alone; a writer holding the lock ends it with a newline first, so the
torn text becomes one unreadable line that every reader skips.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from ._events import Event, decode
from ._json import dumps, no_gc
from ._lock import LinkLock
from ._planned import PlannedStorage
from ._replay import Book
from .base import StorageError, check_file_path

__all__ = ["JournalStorage", "LinkLock"]

log = logging.getLogger("uqhpo")


_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _parse_line(line: str) -> object:
    """One journal line as JSON: the C scanner for the compact lines uqhpo writes (no
    ``json.loads`` checks, several times faster), ``json.loads`` for anything else.

    Raises:
        ValueError: not one JSON value (a torn line).
    """
    try:
        value, end = _scan(line, 0)
    except StopIteration:
        return json.loads(line)
    if end != len(line):
        return json.loads(line)  # trailing text: json.loads says what is wrong
    return value


class JournalStorage(PlannedStorage):
    """Storage in an append-only JSON-lines file.

    Args:
        path: the ``.jsonl`` file (created with its parent directories).
        lock_ttl: seconds after which a writer's lock is presumed dead (a lock of a dead
            process on this host is broken at once).
        fsync: ``os.fsync`` after each line (durable against power loss; slower).
        read_only: read an existing journal without writing to it (no lock file either);
            writes raise ``StorageError``.
    """

    path: str

    def __init__(self, path: str | os.PathLike[str], lock_ttl: float = 30.0, fsync: bool = True,
                 read_only: bool = False):
        self.path = os.path.abspath(os.fspath(path))
        self.lock_ttl = float(lock_ttl)
        self.fsync = bool(fsync)
        self.read_only = bool(read_only)
        check_file_path(self.path, create=not self.read_only)
        self._lock = threading.RLock()
        self._file_lock = LinkLock(self.path + ".lock", ttl=lock_ttl)
        self._book = Book()
        self._offset = 0          # bytes of the log replayed into the book
        self._fd: Optional[int] = None
        self._pid: Optional[int] = None
        self._handle()

    def __repr__(self) -> str:
        return f"JournalStorage('{self.path}')"

    # processes started with spawn get the path and replay the log themselves
    def __getstate__(self) -> dict:
        return {"path": self.path, "lock_ttl": self.lock_ttl, "fsync": self.fsync, "read_only": self.read_only}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def _handle(self, reopen: bool = False) -> int:
        """The log's descriptor, opened by this process (a forked child must not share it)."""
        if reopen and self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
            self._pid = None
        if self._fd is None or self._pid != os.getpid():
            flags = os.O_RDONLY if self.read_only else os.O_RDWR | os.O_APPEND | os.O_CREAT
            try:
                self._fd = os.open(self.path, flags, 0o644)
            except OSError as e:
                raise StorageError(f"cannot open storage '{self.path}': {e.strerror or e}") from None
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd, self._pid = None, None

    # -- the two hooks ------------------------------------------------------------------------
    @contextmanager
    def _locked(self, write: bool) -> Iterator[Book]:
        with self._lock:
            if not write:
                self._catch_up()
                yield self._book
                return
            if self.read_only:
                raise StorageError(f"storage '{self.path}' was opened read-only")
            with self._file_lock:
                # NFS gives close-to-open consistency: a fresh open sees every line written
                # (and fsync'ed) by the previous holder of the lock, and its true length
                fd = self._handle(reopen=True)
                self._catch_up()
                if os.fstat(fd).st_size > self._offset:
                    # a torn tail left by a dead writer (we hold the lock, nobody is writing)
                    os.write(fd, b"\n")
                    self._catch_up()
                yield self._book

    def _commit(self, event: Event) -> None:
        fd = self._handle()
        data = (dumps(event.to_json()) + "\n").encode()
        while data:
            data = data[os.write(fd, data):]
        if self.fsync:
            os.fsync(fd)
        self._catch_up()  # replays the line just written, so the book holds the event

    # -- the log --------------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Replay the complete lines appended since the last call."""
        fd = self._handle()
        size = os.fstat(fd).st_size
        if size <= self._offset:
            return
        data = os.pread(fd, size - self._offset, self._offset)
        end = data.rfind(b"\n")
        if end < 0:
            return  # only an unfinished line so far
        with no_gc():
            self._replay(data[:end].decode("utf-8", errors="replace").split("\n"))
        self._offset += end + 1

    def _replay(self, lines: list[str]) -> None:
        for line in lines:
            if not line.strip():
                continue
            try:
                fields = _parse_line(line)
            except ValueError:
                log.warning("journal %s: skipping an unreadable (torn) line", self.path)
                continue
            if not isinstance(fields, dict):
                log.warning("journal %s: skipping a line that is not a JSON object", self.path)
                continue
            try:
                self._book.apply(decode(fields))
            except (StorageError, KeyError, TypeError, ValueError, AttributeError) as exc:
                op = fields.get("op") if isinstance(fields, dict) else None
                log.warning("journal %s: skipping operation %s: %s", self.path, op, exc)
