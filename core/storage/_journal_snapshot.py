"""Snapshots of a journal's replayed state, so that opening a long log replays only its tail.

A snapshot is the :class:`~uqhpo.storage._replay.Book` that replaying the first ``offset``
bytes of the log gives, stored next to the log as ``<journal>.snapshot``. It is a cache,
never the truth: the log stays the only record, and a snapshot that does not match it is
ignored (the open replays the whole log, and the next writer writes a new snapshot).

File layout: one header line of JSON, then the body (JSON)::

    {"format": "uqhpo-journal-snapshot", "version": 1, "offset": N, "window": W,
     "head": blake2b(log[0:min(W, N)]), "tail": blake2b(log[max(0, N-W):N]),
     "body": blake2b(body), "size": len(body)}

``offset`` ends with a complete line (the byte before it is ``\\n``). The log is
append-only, so a log whose first and last ``W`` bytes before ``offset`` match the
snapshot's digests is the log the snapshot was made from (a journal deleted and begun
again has another head: its ``create_study`` line carries a creation time; one cut back
and written on has another tail). The body's own digest catches a damaged file. The
body holds every study's record, change counter, trials (with the sequence number of
their last change, so ``changes_since`` answers the same afterwards) and replicate
attempts as rows; the indices of :class:`~uqhpo.storage._replay.StudyData` are rebuilt.

Written atomically (a temporary file, then ``os.replace``), without ``fsync``: a file
lost or truncated by a crash fails its digest and is ignored.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import operator
import os
from typing import Any, Optional

from ..atomic_file import atomic_path
from ..trial import Replicate, State, Trial
from ._json import dumps, no_gc, record_from_dict, record_to_dict
from ._replay import Book, StudyData
from .base import AttemptKey

__all__ = ["FORMAT", "VERSION", "SnapshotError", "snapshot_path", "read_header", "covered_offset", "load_snapshot",
           "write_snapshot", "encode_book", "decode_book"]

log = logging.getLogger("uqhpo")

FORMAT = "uqhpo-journal-snapshot"
#: bump when the body's layout or the meaning of replay changes: older snapshots are then ignored
VERSION = 1
#: bytes of the log hashed at each end of the covered part
WINDOW = 1 << 16
#: the longest header line read
_HEADER_MAX = 4096

_REP_FIELDS = tuple(f.name for f in dataclasses.fields(Replicate))
_rep_values = operator.attrgetter(*_REP_FIELDS)
_STATE = _REP_FIELDS.index("state")
_REPORTS = _REP_FIELDS.index("reports")
#: trials are built with positional arguments only while ``Trial`` has exactly these fields
_FAST_TRIAL = tuple(f.name for f in dataclasses.fields(Trial)) == (
    "number", "config", "n_replicates", "replicates", "created", "user_attrs")
_STATES = {s.value: s for s in State}
_tuple = tuple.__new__  # a named tuple without its Python-level __new__


class SnapshotError(ValueError):
    """A snapshot that cannot be used (damaged, of another version, or of another log)."""


def snapshot_path(journal_path: str) -> str:
    """Where the snapshot of the journal at ``journal_path`` lives."""
    return journal_path + ".snapshot"


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _log_digests(fd: int, offset: int, window: int) -> tuple[str, str]:
    """Digests of the first and the last ``window`` bytes of ``log[0:offset]``.

    Raises:
        SnapshotError: the log is shorter than ``offset`` or does not end a line there.
    """
    head = os.pread(fd, min(window, offset), 0)
    start = max(0, offset - window)
    tail = os.pread(fd, offset - start, start)
    if len(tail) != offset - start or len(head) != min(window, offset):
        raise SnapshotError(f"the log is shorter than the {offset} bytes the snapshot covers")
    if offset and not tail.endswith(b"\n"):
        raise SnapshotError(f"the log does not end a line at byte {offset}")
    return _digest(head), _digest(tail)


# -- the body -------------------------------------------------------------------------------------
def encode_book(book: Book) -> bytes:
    """The body of a snapshot of ``book`` (JSON, UTF-8)."""
    studies = []
    for data in book.studies.values():
        changed = data.changed
        trials = [[t.number, t.n_replicates, t.created, changed.get(t.number, 0), t.config, t.user_attrs]
                  for t in data.trials]
        reps = []
        for t in data.trials:
            for r in t.replicates:
                row = list(_rep_values(r))
                row[_STATE] = r.state.value
                reps.append(row)
        studies.append({"record": record_to_dict(data.record), "seq": data.seq, "trials": trials, "reps": reps})
    return dumps({"replicate_fields": list(_REP_FIELDS), "studies": studies}).encode()


def _study_from(entry: dict) -> StudyData:
    data = StudyData(record_from_dict(entry["record"]))
    data.seq = int(entry["seq"])
    trials = data.trials
    order = []
    for number, n_replicates, created, last, config, user_attrs in entry["trials"]:
        if number != len(trials):
            raise SnapshotError(f"trial {number} out of order")
        if _FAST_TRIAL:  # positional arguments: several times cheaper than keywords
            t = Trial(number, config, n_replicates, [], created, user_attrs)
        else:
            t = Trial(number=number, config=config, n_replicates=n_replicates, created=created,
                      user_attrs=user_attrs)
        trials.append(t)
        order.append((last, number))
    order.sort()  # ``changed`` is ordered by seq; trials of one event by number, as ``Book.apply`` puts them
    data.changed = {number: last for last, number in order if last > 0}
    states, reps, reports_ = _STATES, data.reps, _REPORTS
    previous = (-1, -1, -1)
    for row in entry["reps"]:  # the indices of ``data`` (latest, waiting, running) are built on first use
        row[_STATE] = states[row[_STATE]]
        if row[reports_]:
            row[reports_] = [(step, metrics) for step, metrics in row[reports_]]
        r = Replicate(*row)  # the fields in order (``replicate_fields`` was checked)
        trial = r.trial
        key = _tuple(AttemptKey, (trial, r.index, r.attempt))
        if not key > previous:
            raise SnapshotError(f"replicate {key} out of order")
        previous = key
        reps[key] = r
        trials[trial].replicates.append(r)  # rows come in (trial, index, attempt) order
    return data


def decode_book(body: bytes) -> Book:
    """The book a snapshot body holds.

    Raises:
        SnapshotError: the body is not one this version wrote.
    """
    try:
        with no_gc():
            doc = json.loads(body)
            if doc.get("replicate_fields") != list(_REP_FIELDS):
                raise SnapshotError("the snapshot's replicate fields differ from this version's")
            book = Book()
            for entry in doc["studies"]:
                data = _study_from(entry)
                book.studies[data.record.name] = data
            return book
    except SnapshotError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise SnapshotError(f"unreadable body ({type(exc).__name__}: {exc})") from None


# -- the file ----------------------------------------------------------------------------------------
def read_header(path: str) -> Optional[dict[str, Any]]:
    """The header of the snapshot file ``path``; ``None`` when there is none or it is unreadable."""
    try:
        with open(path, "rb") as fh:
            line = fh.readline(_HEADER_MAX)
        header = json.loads(line)
    except (OSError, ValueError):
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        return None
    return header


def _checked(path: str, log_fd: int) -> tuple[int, bytes]:
    """The log offset and the body of the snapshot file ``path``, checked against the log
    open as ``log_fd`` (digests of both; the body is not decoded).

    Raises:
        FileNotFoundError: there is no snapshot.
        SnapshotError: there is one, but it must not be used (the message says why).
    """
    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SnapshotError(f"cannot read it: {exc.strerror or exc}") from None
    end = text.find(b"\n", 0, _HEADER_MAX)
    try:
        header = json.loads(text[:end]) if end >= 0 else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SnapshotError("no snapshot header")
    if header.get("version") != VERSION:
        raise SnapshotError(f"version {header.get('version')!r}, this uqhpo reads version {VERSION}")
    try:
        offset, window, size = int(header["offset"]), int(header["window"]), int(header["size"])
        head, tail, body_digest = str(header["head"]), str(header["tail"]), str(header["body"])
    except (KeyError, TypeError, ValueError):
        raise SnapshotError("incomplete header") from None
    if offset < 0 or window <= 0:
        raise SnapshotError("invalid header")
    if _log_digests(log_fd, offset, window) != (head, tail):
        raise SnapshotError(f"made from another log (the first {offset} bytes differ)")
    body = text[end + 1:]
    if len(body) != size or _digest(body) != body_digest:
        raise SnapshotError("damaged (its body does not match its digest)")
    return offset, body


def covered_offset(path: str, log_fd: int) -> Optional[int]:
    """The log offset the snapshot file ``path`` covers when it matches the log open as
    ``log_fd`` (digests checked, body not decoded); ``None`` when there is none or it does not."""
    try:
        return _checked(path, log_fd)[0]
    except (OSError, SnapshotError):
        return None


def load_snapshot(path: str, log_fd: int) -> tuple[Book, int]:
    """The book and log offset of the snapshot file ``path``, checked against the log open as ``log_fd``.

    Raises:
        FileNotFoundError: there is no snapshot.
        SnapshotError: there is one, but it must not be used (the message says why).
    """
    offset, body = _checked(path, log_fd)
    return decode_book(body), offset


def write_snapshot(path: str, log_fd: int, book: Book, offset: int) -> None:
    """Write the snapshot of ``book``, the state of ``log[0:offset]``, atomically to ``path``.

    Raises:
        OSError: the file cannot be written.
        SnapshotError: the log does not end a line at ``offset``.
    """
    head, tail = _log_digests(log_fd, offset, WINDOW)
    body = encode_book(book)
    header = {"format": FORMAT, "version": VERSION, "offset": offset, "window": WINDOW, "head": head,
              "tail": tail, "body": _digest(body), "size": len(body)}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(dumps(header).encode() + b"\n")
            fh.write(body)
