"""JSON-lines journal storage for shared file systems (NFS) where SQLite locking is unsafe.

The file is an append-only log, one operation per line (``create_study``, ``settings``,
``add_trial``, ``claim``, ``heartbeat``, ``finish``, ``report``, ``retry``, ``stale``).
The state is what replaying the log gives; each process keeps its replayed
:class:`~uqhpo.storage._records.Book` and the byte offset it has read up to, and reads
only new lines on each call.

Writers serialise on ``<file>.lock``, made with ``os.link`` (atomic on NFS, unlike
``O_EXCL`` on old clients and ``fcntl`` locks on many). Under the lock a writer first
catches up with the log, then decides (the next trial number, which attempt to claim),
appends one line, flushes and ``fsync``s. A lock older than ``lock_ttl`` seconds is taken
to belong to a dead process and is broken.

A last line without its newline is a write in progress (or a writer that died mid-line):
readers leave it alone; a writer holding the lock ends it with a newline first, so the
torn text becomes one unreadable line that every reader skips.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Callable, Optional, Sequence

from ..trial import Replicate, State, Trial
from ._records import Book, copy_replicate, dumps, no_gc
from .base import Storage, StorageError, StudyRecord

__all__ = ["JournalStorage", "LinkLock"]

log = logging.getLogger("uqhpo")


class LinkLock:
    """Inter-process lock on a shared file system, built on ``os.link``.

    Args:
        path: the lock file to create (it exists exactly while the lock is held).
        ttl: seconds after which a held lock is presumed dead and broken.
    """

    def __init__(self, path: str, ttl: float = 30.0):
        self.path = path
        self.ttl = float(ttl)
        self._held: Optional[str] = None  # the unique text of the lock file we hold

    def acquire(self) -> None:
        unique = f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
        token = f"{self.path}.{unique}"
        with open(token, "w") as fh:  # its mtime is the lock's age; its text says whose it is
            fh.write(unique + "\n")
        try:
            delay = 0.0005
            while True:
                try:
                    os.link(token, self.path)
                except OSError:
                    pass
                # on NFS a link can be made although the call reports failure: trust the count
                if os.stat(token).st_nlink == 2:
                    self._held = unique + "\n"
                    return
                self._break_if_stale()
                time.sleep(delay)
                delay = min(delay * 1.5, 0.01)
        finally:
            os.unlink(token)

    def _break_if_stale(self) -> None:
        try:
            with open(self.path) as fh:  # age and owner from one open file: the same lock
                age = time.time() - os.fstat(fh.fileno()).st_mtime
                owner = fh.read()
        except FileNotFoundError:
            return
        if age < self.ttl:
            return
        grave = f"{self.path}.stale.{uuid.uuid4().hex[:12]}"
        try:
            os.rename(self.path, grave)  # atomic: only one breaker moves a given lock file
        except FileNotFoundError:
            return
        if _read(grave) != owner:
            # a live process took the lock between our stat and rename: give it back
            try:
                os.link(grave, self.path)
            except OSError:
                log.warning("journal lock %s: could not restore a lock moved by mistake", self.path)
        else:
            log.warning("journal lock %s: broke a lock older than %.0f s", self.path, self.ttl)
        os.unlink(grave)

    def release(self) -> None:
        try:
            # compare contents, not inodes: a freed inode number is soon reused
            if _read(self.path) == self._held:
                os.unlink(self.path)
            else:
                log.warning("journal lock %s was broken while held (held longer than %.0f s?)", self.path, self.ttl)
        except FileNotFoundError:
            log.warning("journal lock %s vanished while held", self.path)
        self._held = None

    def __enter__(self) -> "LinkLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _now(now: Optional[float]) -> float:
    return time.time() if now is None else float(now)


class JournalStorage(Storage):
    """Storage in an append-only JSON-lines file.

    Args:
        path: the ``.jsonl`` file (created with its parent directories).
        lock_ttl: seconds after which a writer's lock is presumed dead.
        fsync: ``os.fsync`` after each line (durable against power loss; slower).
    """

    def __init__(self, path: str, lock_ttl: float = 30.0, fsync: bool = True):
        self.path = os.path.abspath(os.fspath(path))
        self.lock_ttl = float(lock_ttl)
        self.fsync = bool(fsync)
        parent = os.path.dirname(self.path)
        os.makedirs(parent, exist_ok=True)
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
        return {"path": self.path, "lock_ttl": self.lock_ttl, "fsync": self.fsync}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def _handle(self, reopen: bool = False) -> int:
        """The log's descriptor, opened by this process (a forked child must not share it)."""
        if reopen and self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
            self._pid = None
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        return self._fd  # type: ignore[return-value]

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd, self._pid = None, None

    # -- log ------------------------------------------------------------------------------------
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
            self._replay(data[:end].split(b"\n"))
        self._offset += end + 1

    def _replay(self, lines: list[bytes]) -> None:
        for line in lines:
            if not line.strip():
                continue
            try:
                op = json.loads(line)
            except ValueError:
                log.warning("journal %s: skipping an unreadable (torn) line", self.path)
                continue
            try:
                self._book.apply(op)
            except (StorageError, KeyError, TypeError) as exc:
                log.warning("journal %s: skipping operation %s: %s", self.path, op.get("op"), exc)

    def _append(self, plan: Callable[[], Optional[dict]]) -> Optional[dict]:
        """Under the file lock: catch up, decide with ``plan``, append its operation."""
        with self._lock, self._file_lock:
            # NFS gives close-to-open consistency: a fresh open sees every line written
            # (and fsync'ed) by the previous holder of the lock, and its true length
            fd = self._handle(reopen=True)
            self._catch_up()
            if os.fstat(fd).st_size > self._offset:
                # a torn tail left by a dead writer (we hold the lock, nobody is writing)
                os.write(fd, b"\n")
                self._catch_up()
            op = plan()
            if op is None:
                return None
            data = (dumps(op) + "\n").encode()
            while data:
                data = data[os.write(fd, data):]
            if self.fsync:
                os.fsync(fd)
            self._catch_up()
            return op

    def _read(self, fn: Callable[[], object]) -> object:
        with self._lock:
            self._catch_up()
            return fn()

    # -- studies ----------------------------------------------------------------------------
    def create_study(self, record: StudyRecord) -> None:
        self._append(lambda: self._book.plan_create_study(record))

    def get_study(self, name: str) -> Optional[StudyRecord]:
        return self._read(lambda: self._book.get_study(name))  # type: ignore[return-value]

    def update_settings(self, name: str, settings: dict) -> None:
        self._append(lambda: self._book.plan_settings(name, settings))

    def list_studies(self) -> list[str]:
        return self._read(lambda: list(self._book.studies))  # type: ignore[return-value]

    # -- trials -----------------------------------------------------------------------------
    def add_trial(self, study: str, config: dict, seeds: Sequence[int], user_attrs: Optional[dict] = None) -> int:
        op = self._append(lambda: self._book.plan_add_trial(study, config, seeds, user_attrs, time.time()))
        return op["number"]  # type: ignore[index]

    def claim(self, study: str, worker: str, trial: Optional[int] = None, index: Optional[int] = None,
              now: Optional[float] = None) -> Optional[Replicate]:
        t = _now(now)
        with self._lock:
            op = self._append(lambda: self._book.plan_claim(study, worker, trial, index, t))
            if op is None:
                return None
            return copy_replicate(self._book.replicate(study, op["trial"], op["index"], op["attempt"]))

    def heartbeat(self, study: str, trial: int, index: int, attempt: int, now: Optional[float] = None) -> None:
        t = _now(now)
        self._append(lambda: self._book.plan_heartbeat(study, trial, index, attempt, t))

    def finish(self, study: str, trial: int, index: int, attempt: int, state: State, *,
               loss: Optional[float] = None, metrics: Optional[dict] = None, runtime: Optional[float] = None,
               error: Optional[str] = None, now: Optional[float] = None) -> None:
        t = _now(now)
        self._append(lambda: self._book.plan_finish(study, trial, index, attempt, state, loss, metrics, runtime,
                                                    error, t))

    def add_report(self, study: str, trial: int, index: int, attempt: int, step: int, metrics: dict) -> None:
        self._append(lambda: self._book.plan_report(study, trial, index, attempt, step, metrics))

    def extend_trial(self, study: str, trial: int, seed: int) -> int:
        op = self._append(lambda: self._book.plan_extend(study, trial, seed))
        return op["index"]  # type: ignore[index]

    def retry(self, study: str, trial: int, index: int) -> int:
        op = self._append(lambda: self._book.plan_retry(study, trial, index))
        return op["attempt"]  # type: ignore[index]

    def requeue_stale(self, study: str, timeout: float, now: Optional[float] = None) -> list[tuple[int, int]]:
        t = _now(now)
        return self._book.requeued_pairs(self._append(lambda: self._book.plan_requeue_stale(study, timeout, t)))

    def get_trials(self, study: str) -> list[Trial]:
        return self._read(lambda: self._book.get_trials(study))  # type: ignore[return-value]

    def get_trial(self, study: str, number: int) -> Trial:
        return self._read(lambda: self._book.get_trial(study, number))  # type: ignore[return-value]

    def n_trials(self, study: str) -> int:
        return self._read(lambda: len(self._book.study(study).trials))  # type: ignore[return-value]
