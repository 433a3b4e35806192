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

Opening a long log would replay all of it, so writers leave a *snapshot* next to it
(``<file>.snapshot``, :mod:`uqhpo.storage._journal_snapshot`): the replayed state of the
log's first ``offset`` bytes. A new handle starts from the snapshot when it matches the
log (digests of the log before ``offset`` and of its own body; otherwise it is ignored
with a warning and the whole log is replayed) and replays only the lines after
``offset``, so a snapshot never hides an event. A writable handle writes a new snapshot
when the log has grown past the last one by ``snapshot_bytes`` and by an eighth of the
part it covers (so rewriting it costs each written line a constant, amortized), outside
the log's lock, one process at a time (``<file>.snapshot.writing``); read-only handles
never write one.

The log is read in pieces of 1 MiB, and each line is applied without building its event
(:data:`~uqhpo.storage._replay.REPLAYERS`). The first read of every trial by a read-only
handle (what ``uqhpo status`` and the other reading commands do first) hands out the
replayed records themselves instead of copies; a later read that needs records replays
into a new book (from the snapshot), so what the caller does with them never reaches it.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional

from ._events import Event
from ._journal_snapshot import SnapshotError, covered_offset, load_snapshot, snapshot_path, write_snapshot
from ._json import dumps, no_gc
from ._lock import LinkLock, _pid_namespace
from ._planned import PlannedStorage
from ._replay import REPLAYERS, Book, replay_fields
from .base import StorageError, StudyRecord, check_file_path

if TYPE_CHECKING:
    from ..trial import Trial

__all__ = ["JournalStorage", "LinkLock"]

log = logging.getLogger("uqhpo")

#: the log grows by at least this many bytes (about 25 000 events) between two snapshots
SNAPSHOT_BYTES = 4 << 20
#: ... and by at least this fraction of the part the last snapshot covers
SNAPSHOT_GROWTH = 0.125
#: bytes of the log read, decoded and replayed at a time
_CHUNK = 1 << 20
#: bytes of a short journal line (``no_gc`` is told about how many records a catch-up makes)
_BYTES_PER_RECORD = 128
#: a ``.snapshot.writing`` marker older than this (seconds) belongs to a writer that died
_MARKER_TTL = 600.0
#: seconds before a writer looks again when another process was writing a snapshot
_RETRY_S = 5.0


def _owner_text() -> str:
    """Who writes the snapshot, in the form of a lock file's text (``LinkLock`` tells from it
    whether that process is gone)."""
    return f"{os.getpid()}.{_pid_namespace()}.{uuid.uuid4().hex[:12]}.{socket.gethostname()}\n"


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
        snapshot_bytes: a writable handle writes a snapshot of the replayed state when the
            log has grown by this many bytes (and by an eighth) since the last one; 0: never.

    Attributes:
        lines_replayed: log lines this handle has replayed (those after a snapshot only).
        snapshot_offset: bytes of the log covered by the latest snapshot this handle loaded,
            found or wrote (0: none).
    """

    path: str

    def __init__(self, path: str | os.PathLike[str], lock_ttl: float = 30.0, fsync: bool = True,
                 read_only: bool = False, snapshot_bytes: int = SNAPSHOT_BYTES):
        self.path = os.path.abspath(os.fspath(path))
        self.lock_ttl = float(lock_ttl)
        self.fsync = bool(fsync)
        self.read_only = bool(read_only)
        self.snapshot_bytes = max(0, int(snapshot_bytes))
        self.lines_replayed = 0
        self.snapshot_offset = 0
        self._snapshot_path = snapshot_path(self.path)
        self._snapshot_bad = False    # the snapshot this handle found did not match the log
        self._snapshot_retry = 0.0    # monotonic time before which no snapshot is attempted
        check_file_path(self.path, create=not self.read_only)
        self._lock = threading.RLock()
        self._file_lock = LinkLock(self.path + ".lock", ttl=lock_ttl)
        self._book = Book()
        self._offset = 0          # bytes of the log replayed into the book
        self._may_lend = self.read_only  # see _lend
        self._lent = False        # the book's records were handed out: read the log again before using it
        self._no_records = False  # inside a read that uses no record (names, study records, counts)
        self._fd: Optional[int] = None
        self._pid: Optional[int] = None
        self._handle()

    def __repr__(self) -> str:
        return f"JournalStorage('{self.path}')"

    # processes started with spawn get the path and replay the log themselves
    def __getstate__(self) -> dict:
        return {"path": self.path, "lock_ttl": self.lock_ttl, "fsync": self.fsync, "read_only": self.read_only,
                "snapshot_bytes": self.snapshot_bytes}

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
            if self._lent and not self._no_records:
                self._reset()
            if not write:
                self._catch_up()
                self._maybe_snapshot()
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
            self._maybe_snapshot()  # outside the log's lock: other writers go on meanwhile

    def _commit(self, event: Event) -> None:
        fd = self._handle()
        data = (dumps(event.to_json()) + "\n").encode()
        while data:
            data = data[os.write(fd, data):]
        if self.fsync:
            os.fsync(fd)
        self._catch_up()  # replays the line just written, so the book holds the event

    # -- reads of every record ------------------------------------------------------------------
    def get_trials(self, study: str) -> list[Trial]:
        lent = self._lend(study)
        return super().get_trials(study) if lent is None else lent[0]

    def changes_since(self, study: str, seq: int = 0) -> tuple[list[Trial], int]:
        seq = int(seq)
        if seq <= 0:
            lent = self._lend(study)
            if lent is not None:
                return lent
        with self._lock:
            if self._lent and os.fstat(self._handle()).st_size == self._offset:
                data = self._book.studies.get(study)
                if data is not None and data.seq <= seq:
                    return [], data.seq  # nothing new: the records handed out are not needed
        return super().changes_since(study, seq)  # after reading the log again if they were

    # reads that use no trial record: the records handed out need not be read again
    def get_study(self, name: str) -> Optional[StudyRecord]:
        with self._without_records():
            return super().get_study(name)

    def list_studies(self) -> list[str]:
        with self._without_records():
            return super().list_studies()

    def n_trials(self, study: str) -> int:
        with self._without_records():
            return super().n_trials(study)

    @contextmanager
    def _without_records(self) -> Iterator[None]:
        with self._lock:
            outer, self._no_records = self._no_records, True
            try:
                yield
            finally:
                self._no_records = outer

    def _lend(self, study: str) -> Optional[tuple[list[Trial], int]]:
        """The first read of every trial by a read-only handle (what a reading command does
        first): the book's own records instead of copies, and the study's seq. The handle
        keeps no use for them: any later read that needs records starts a new book from the
        log (and its snapshot). A read-only handle usually reads every record once and then
        asks only for changes, so copying 10^5 replicates (about 0.15 s) is saved; a handle
        that reads on pays one more read of the log, once (later full reads copy).
        ``None``: copy as usual (a writable handle, or not the first full read)."""
        with self._lock:
            if not self._may_lend:
                return None
            with self._locked(write=False) as book:
                data = book.study(study)
                self._may_lend, self._lent = False, True
                return list(data.trials), data.seq

    def _reset(self) -> None:
        """Forget the replayed state: the next catch-up reads the snapshot and the log again."""
        self._book, self._offset, self.snapshot_offset, self._lent = Book(), 0, 0, False

    # -- the log --------------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Replay the complete lines appended since the last call."""
        fd = self._handle()
        if self._offset == 0 and not self._book.studies:
            self._load_snapshot(fd)
        size = os.fstat(fd).st_size
        if size <= self._offset:
            return
        # in pieces of about _CHUNK bytes: the text of a whole long log at once took more
        # memory than its replayed state (fresh pages cost a new process as much as parsing)
        with no_gc((size - self._offset) // _BYTES_PER_RECORD):
            chunk = _CHUNK
            while self._offset < size:
                data = os.pread(fd, min(chunk, size - self._offset), self._offset)
                end = data.rfind(b"\n")
                if end < 0:
                    if self._offset + len(data) >= size:
                        return  # only an unfinished line so far
                    chunk *= 2  # a line longer than the piece
                    continue
                self._replay(str(memoryview(data)[:end], "utf-8", "replace").split("\n"))
                self._offset += end + 1

    def _replay(self, lines: list[str]) -> None:
        """Apply each line's event to the book; unreadable lines and events that contradict
        the state are skipped with a warning (one loop: 2.3 * 10^5 lines per 10^5 replicates)."""
        self.lines_replayed += len(lines)
        book, scan, replayer, other = self._book, _scan, REPLAYERS.get, replay_fields
        for line in lines:
            try:  # the C scanner for the compact lines uqhpo writes; _parse_line for the rest
                fields, end = scan(line, 0)
                if end != len(line):
                    fields = _parse_line(line)
            except StopIteration:
                if not line.strip():
                    continue
                try:
                    fields = _parse_line(line)
                except ValueError:
                    log.warning("journal %s: skipping an unreadable (torn) line", self.path)
                    continue
            except ValueError:
                log.warning("journal %s: skipping an unreadable (torn) line", self.path)
                continue
            if type(fields) is not dict:
                log.warning("journal %s: skipping a line that is not a JSON object", self.path)
                continue
            try:
                replayer(fields.get("op"), other)(book, fields)
            except (StorageError, KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning("journal %s: skipping operation %s: %s", self.path, fields.get("op"), exc)

    # -- the snapshot ---------------------------------------------------------------------------
    def _load_snapshot(self, fd: int) -> None:
        """Start from the snapshot when there is one that matches the log."""
        try:
            book, offset = load_snapshot(self._snapshot_path, fd)
        except FileNotFoundError:
            return
        except SnapshotError as exc:
            log.warning("journal %s: ignoring its snapshot (%s); replaying the whole log", self.path, exc)
            self._snapshot_bad = True  # a writable handle replaces it at its first chance
            return
        self._book, self._offset, self.snapshot_offset = book, offset, offset

    def _due(self, covered: int) -> bool:
        """True when the log has grown enough past a snapshot covering ``covered`` bytes."""
        return self._offset - covered >= max(self.snapshot_bytes, SNAPSHOT_GROWTH * covered)

    def _maybe_snapshot(self) -> None:
        """Write a snapshot of the book when one is due (writable handles; never raises)."""
        if self.read_only or not self.snapshot_bytes or not self._due(self.snapshot_offset):
            return
        if time.monotonic() < self._snapshot_retry:
            return
        marker = self._snapshot_path + ".writing"
        try:
            marker_fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                with open(marker) as fh:  # age and owner from one open file
                    age = time.time() - os.fstat(fh.fileno()).st_mtime
                    owner = fh.read()
                if age > _MARKER_TTL or LinkLock._holder_dead(owner):
                    os.unlink(marker)  # left by a writer that died: the next call writes
                else:
                    self._snapshot_retry = time.monotonic() + _RETRY_S  # another is writing: look again later
            except OSError:
                pass
            return
        except OSError as exc:
            log.warning("journal %s: cannot write a snapshot: %s", self.path, exc.strerror or exc)
            self.snapshot_offset = self._offset  # not again before the log has grown as much once more
            return
        try:
            try:
                with os.fdopen(marker_fd, "w") as fh:  # whose it is, as a lock file says it
                    fh.write(_owner_text())
            except OSError:
                pass  # an empty marker still works: it expires after _MARKER_TTL
            _remove_orphans(self._snapshot_path)
            fd = self._handle()
            if not self._snapshot_bad:  # another process may have written a newer one meanwhile
                covered = covered_offset(self._snapshot_path, fd)
                if covered is not None and covered > self.snapshot_offset:
                    self.snapshot_offset = covered
                    if not self._due(covered):
                        return
            try:
                write_snapshot(self._snapshot_path, fd, self._book, self._offset)
                self._snapshot_bad = False
            except (OSError, SnapshotError) as exc:
                log.warning("journal %s: cannot write a snapshot: %s", self.path, exc)
            # written, or not again before the log has grown as much once more
            self.snapshot_offset = self._offset
        finally:
            try:
                os.unlink(marker)
            except OSError:
                pass


def _remove_orphans(snapshot: str) -> None:
    """Remove the temporary files of snapshot writers killed mid-write: older than
    ``_MARKER_TTL``, so none can belong to a writer still at work (only the marker's
    holder writes, and its marker would have expired)."""
    folder, name = os.path.split(snapshot)
    limit = time.time() - _MARKER_TTL
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return
    for entry in entries:
        if entry.startswith(name + ".") and entry.endswith(".tmp"):
            orphan = os.path.join(folder, entry)
            try:
                if os.stat(orphan).st_mtime < limit:
                    os.unlink(orphan)
            except OSError:
                pass
