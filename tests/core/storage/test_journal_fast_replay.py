"""The journal's fast replay: lines applied without building events (``REPLAYERS``), read
in pieces, indices of the book built on first use, and the records of a read-only
handle's first full read handed out without copies. Each must give exactly what the
reference path gives: ``book.apply(decode(json.loads(line)))`` line by line, skipping (and
warning about) what it refuses, with the indices kept up to date on every event."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from uqhpo.storage import JournalStorage
from uqhpo.storage import journal as journal_module
from uqhpo.storage._events import decode
from uqhpo.storage._replay import REPLAYERS, Book
from uqhpo.storage.base import StorageError
from uqhpo.testing.storage import study_record
from uqhpo.trial import State


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "log" / "study.jsonl")


def _written_log(path: str) -> JournalStorage:
    """Every kind of event in two studies, written by the storage itself."""
    s = JournalStorage(path, snapshot_bytes=0)
    s.create_study(study_record("a"))
    s.create_study(study_record("b"))
    s.update_settings("a", {"budget": {"trials": 20}})
    for i in range(5):
        s.add_trial("a", {"lr": 0.01 * (i + 1), "tag": f"t{i}"}, [10 * i, 10 * i + 1], user_attrs={"i": i})
    s.add_trial("b", {"lr": 0.5}, [1, 2, 3])
    for _ in range(8):
        s.claim("a", "w1", now=100.0)
    s.claim("b", "w\u00e9", now=7.0)
    s.heartbeat("a", 0, 0, 0, now=150.0)
    s.add_report("a", 0, 0, 0, step=1, metrics={"val": 0.5})
    s.add_report("a", 0, 0, 0, step=2, metrics={"val": 0.25, "curve": [1.0, float("inf")]})
    s.finish("a", 0, 0, 0, State.COMPLETE, loss=0.25, metrics={"acc": 0.9}, runtime=3.0, now=160.0)
    s.finish("a", 0, 1, 0, State.FAILED, error="boom\n\"quoted\"", now=161.0)
    s.retry("a", 0, 1)
    s.finish("a", 1, 0, 0, State.PRUNED, loss=float("nan"), now=162.0)
    s.extend_trial("a", 1, seed=99)
    s.requeue_stale("a", timeout=10.0, now=1000.0, workers=["w1"])
    s.claim("a", "w2", now=1001.0)
    s.add_report("a", 4, 1, 0, step=0, metrics={})
    s.finish("b", 0, 0, 0, State.COMPLETE, loss=1.0, now=5.0)
    return s


def _line(**fields: Any) -> str:
    return json.dumps(fields, separators=(",", ":"))


#: lines a log can hold besides what uqhpo writes: other spellings, events that contradict the
#: state, damaged and foreign lines (each is applied or refused exactly as by ``apply``)
ODD_LINES = [
    "",
    "   ",
    '{"op":"claim"',                                             # torn
    '{"op":"nonsense"}',                                         # unknown kind
    "{}",
    "[1, 2]",                                                    # not an object
    '"text"',
    '{"op":"claim","study":"a"} trailing',
    '{"op":["claim"],"study":"a"}',                              # unhashable kind
    _line(op="claim", study="a", trial=4, index=0, attempt=0, worker="w"),            # no "now"
    _line(op="claim", study="nope", trial=4, index=0, attempt=0, worker="w", now=1.0),
    _line(op="claim", study=["a"], trial=4, index=0, attempt=0, worker="w", now=1.0),
    _line(op="claim", study="a", trial=0, index=0, attempt=0, worker="w", now=1.0),   # COMPLETE already
    _line(op="claim", study="a", trial="4", index=0, attempt=0, worker="w", now=1.0),
    _line(op="claim", study="a", trial=[4], index=0, attempt=0, worker="w", now=1.0),
    _line(op="heartbeat", study="a", trial=4, index=0, attempt=0, now=2.0),           # WAITING
    _line(op="report", study="a", trial=0, index=0, attempt=0, step=9, metrics={}),   # COMPLETE
    _line(op="finish", study="a", trial=4, index=0, attempt=0, state="BOGUS", loss=None, metrics={},
          runtime=None, error=None, now=3.0),
    _line(op="finish", study="a", trial=4, index=0, attempt=0, state=5, loss=None, metrics={},
          runtime=None, error=None, now=3.0),
    _line(op="finish", study="a", trial=4, index=0, attempt=0, state=["COMPLETE"], loss=None, metrics={},
          runtime=None, error=None, now=3.0),
    _line(op="finish", study="a", trial=4, index=0, attempt=0, state="COMPLETE", loss=None, metrics={},
          runtime=None, now=3.0),                                                      # no "error"
    _line(op="add_trial", study="a", number=3, config={}, seeds=[1], user_attrs={}, created=0.0),  # taken
    _line(op="add_trial", study="a", number=5, config={}, seeds=["x"], user_attrs={}, created=0.0),
    _line(op="add_trial", study="a", number=5, config={}, seeds=None, user_attrs={}, created=0.0),
    # other key orders, padding, extra keys and numbers spelled as floats are still events
    '  {"now":4.0,"worker":"w3","attempt":0,"index":0,"trial":4,"study":"a","op":"claim"}  ',
    _line(op="add_trial", study="a", number=5.0, config={"lr": 1}, seeds=[5.0, 6], user_attrs={}, created=1.5,
          extra="ignored"),
    _line(op="claim", study="a", trial=5.0, index=0, attempt=0, worker="w4", now=5.0),
    _line(op="claim", study="a", trial=5, index=0, attempt=0, worker="w4", now=5.0),  # RUNNING already
    _line(op="heartbeat", study="a", trial=5, index=0, attempt=0, now=6.0),
    _line(op="report", study="a", trial=5, index=0, attempt=0, step=1, metrics={"v": [1, {"w": None}]}),
    _line(op="finish", study="a", trial=5.0, index=0, attempt=0, state="FAILED", loss=None, metrics={},
          runtime=1.0, error="x", now=7.0),
    _line(op="retry", study="a", trial=5, index=0, attempt=1),
    _line(op="finish", study="a", trial=5, index=1, attempt=0, state="COMPLETE", loss=2.0, metrics={"m": 1},
          runtime=None, error=None, now=8.0),                                          # WAITING -> COMPLETE
    _line(op="settings", study="b", settings={"note": "x"}),
    _line(op="stale", study="a", items=[[4, 0, 0]], now=9.0),
    _line(op="add_trial", study="b", number=1, config={"lr": 0.1}, seeds=[7], user_attrs={"u": 1}, created=2.0),
]


def _log_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert text.endswith("\n")
    return text[:-1].split("\n")


def _reference(lines: list[str]) -> tuple[Book, list[str]]:
    """The book and the warnings of the reference replay: each line parsed by ``json.loads``,
    decoded into its event and applied through ``Book.apply``."""
    book, warnings = Book(), []
    for line in lines:
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except ValueError:
            warnings.append("skipping an unreadable (torn) line")
            continue
        if not isinstance(fields, dict):
            warnings.append("skipping a line that is not a JSON object")
            continue
        try:
            book.apply(decode(fields))
        except (StorageError, KeyError, TypeError, ValueError, AttributeError) as exc:
            warnings.append(f"skipping operation {fields.get('op')}: {exc}")
    return book, warnings


def _state(book: Book) -> dict[str, Any]:
    """Everything the book holds (with the types of numbers: ``repr``), indices included."""
    out: dict[str, Any] = {}
    for name, d in book.studies.items():
        out[name] = {
            "record": repr(d.record), "seq": d.seq, "changed": repr(list(d.changed.items())),
            "trials": repr(d.trials), "reps": repr(list(d.reps.items())), "latest": repr(sorted(d.latest.items())),
            "running": repr(sorted(d.running)), "waiting": sorted(k for k in set(d.waiting) if d.is_waiting(k)),
            "next_waiting": d.find_waiting(None, None), "next_index_1": d.find_waiting(None, 1),
            "expired": d.expired(1e12),
        }
    return out


def _journal_state(path: str, caplog: pytest.LogCaptureFixture) -> tuple[dict[str, Any], list[str], int]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        reader = JournalStorage(path, read_only=True)
        reader.list_studies()
    prefix = f"journal {path}: "
    warnings = [r.getMessage().removeprefix(prefix) for r in caplog.records]
    with reader._locked(write=False) as book:
        return _state(book), warnings, reader.lines_replayed


@pytest.mark.parametrize("chunk", [1 << 20, 100, 7])
def test_the_replay_equals_the_reference_line_by_line(path, caplog, monkeypatch, chunk):
    _written_log(path).close()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(ODD_LINES) + "\n")
    monkeypatch.setattr(journal_module, "_CHUNK", chunk)  # lines longer than a piece, pieces ending mid-line
    state, warnings, replayed = _journal_state(path, caplog)
    lines = _log_lines(path)
    ref_book, ref_warnings = _reference(lines)
    assert replayed == len(lines)
    assert warnings == ref_warnings and len(warnings) > 20
    assert state == _state(ref_book)
    assert state["a"]["next_waiting"] is not None and state["a"]["expired"]  # the indices are not empty


def test_every_prefix_of_the_log_replays_like_the_reference(path):
    """After each line, the same state as the reference: replayed by a handle that replays
    one line at a time into a book whose indices are built (as a writer's), and by a new
    handle that replays all lines so far before building them."""
    _written_log(path).close()
    lines = [line for line in ODD_LINES if line.strip()] + _log_lines(path) + ODD_LINES[-12:]
    os.remove(path)
    _check_prefixes(path, lines)


def test_numbers_spelled_as_floats_replay_like_the_reference(path):
    """A trial number written as 1.0 (no uqhpo writes it) is refused half-way by the handler:
    the fast path does exactly the same."""
    s = JournalStorage(path, snapshot_bytes=0)
    s.create_study(study_record("a"))
    s.add_trial("a", {"lr": 0.1}, [1])
    s.close()
    lines = _log_lines(path) + [
        _line(op="add_trial", study="a", number=1.0, config={"lr": 0.2}, seeds=[2, 3], user_attrs={}, created=1.0),
        _line(op="add_trial", study="a", number=True, config={"lr": 0.3}, seeds=[4], user_attrs={}, created=1.0),
        _line(op="claim", study="a", trial=1.0, index=0, attempt=0, worker="w", now=2.0),
        _line(op="finish", study="a", trial=1, index=0, attempt=0, state="FAILED", loss=None, metrics={},
              runtime=None, error="e", now=3.0),
        _line(op="retry", study="a", trial=1, index=0, attempt=1),
        _line(op="add_trial", study="a", number=2, config={"lr": 0.4}, seeds=[5], user_attrs={}, created=1.0),
        _line(op="claim", study="a", trial=2, index=0, attempt=0, worker="w", now=4.0),
    ]
    os.remove(path)
    _check_prefixes(path, lines)


def _check_prefixes(path: str, lines: list[str]) -> None:
    follower = None
    for n, line in enumerate(lines, 1):
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        expected = _state(_reference(lines[:n])[0])
        if follower is None:
            follower = JournalStorage(path, snapshot_bytes=0)
        for storage in (follower, JournalStorage(path, read_only=True)):
            with storage._locked(write=False) as book:
                assert _state(book) == expected, f"after line {n}: {line}"


def test_the_fast_kinds_are_the_frequent_ones():
    assert set(REPLAYERS) == {"add_trial", "claim", "heartbeat", "finish", "report"}


def test_a_writer_claims_in_order_after_replaying_a_long_log(path):
    """The lazily built waiting heap gives claims in (trial, index) order, also for trials
    added by another process after it was built."""
    first = JournalStorage(path, snapshot_bytes=0)
    first.create_study(study_record("a"))
    for i in range(30):
        first.add_trial("a", {"lr": i / 100}, [i, i + 1])
    second = JournalStorage(path, snapshot_bytes=0)
    order = [second.claim("a", "w", now=1.0) for _ in range(3)]
    first.add_trial("a", {"lr": 0.9}, [7])
    order += [second.claim("a", "w", now=1.0) for _ in range(59)]
    assert [(r.trial, r.index) for r in order if r is not None] == [(t, i) for t in range(30) for i in range(2)] + [
        (30, 0)]
    assert second.claim("a", "w") is None and first.claim("a", "w") is None


# -- the first full read of a read-only handle ----------------------------------------------------
def _grown_log(path: str) -> JournalStorage:
    writer = _written_log(path)
    writer.add_trial("a", {"lr": 0.7}, [1, 2])
    return writer


def test_a_reader_hands_out_its_records_once_and_answers_no_change_without_reading_again(path):
    writer = _grown_log(path)
    reader = JournalStorage(path, read_only=True)
    trials, seq = reader.changes_since("a")
    assert (trials, seq) == writer.changes_since("a")
    read = reader.lines_replayed
    assert reader.changes_since("a", seq) == ([], seq) == writer.changes_since("a", seq)
    assert reader.n_trials("a") == len(trials) and reader.lines_replayed == read
    trials.clear()
    assert reader.n_trials("a") == 6 and reader.get_study("a") == writer.get_study("a")
    assert reader.list_studies() == ["a", "b"] and reader.lines_replayed == read


def test_records_changed_by_the_caller_do_not_reach_later_reads(path):
    writer = _grown_log(path)
    reader = JournalStorage(path, read_only=True)
    trials = reader.get_trials("a")
    trials[0].replicates[0].loss = -1.0
    trials[0].config["lr"] = "changed"
    trials[1].replicates.clear()
    read = reader.lines_replayed
    assert reader.get_trial("a", 0) == writer.get_trial("a", 0) != trials[0]
    assert reader.lines_replayed == 2 * read  # the log read again, once
    again = reader.get_trials("a")
    assert again == writer.get_trials("a") and again[0] is not trials[0]
    again[0].config["lr"] = "changed too"  # later full reads are copies
    assert reader.get_trials("a") == writer.get_trials("a") and reader.lines_replayed == 2 * read


def test_changes_after_the_records_were_handed_out_are_seen(path):
    writer = _grown_log(path)
    reader, mirror = JournalStorage(path, read_only=True), JournalStorage(path)
    trials, seq = reader.changes_since("a")
    assert (trials, seq) == mirror.changes_since("a")
    trials[5].replicates[0].loss = -1.0  # the caller's copy: not what the log says
    writer.claim("a", "w9", trial=5, now=2000.0)
    writer.finish("a", 5, 0, 0, State.COMPLETE, loss=0.5, now=2001.0)
    changed, new_seq = reader.changes_since("a", seq)
    assert (changed, new_seq) == mirror.changes_since("a", seq)
    assert [t.number for t in changed] == [5] and changed[0].replicates[0].loss == 0.5
    assert reader.changes_since("a", new_seq) == ([], new_seq)
    assert reader.get_trials("a") == writer.get_trials("a")


def test_other_studies_and_writable_handles_get_copies(path):
    writer = _grown_log(path)
    reader = JournalStorage(path, read_only=True)
    a = reader.get_trials("a")
    b = reader.get_trials("b")  # not the first full read: a copy, from a new book
    b[0].config["lr"] = "changed"
    assert reader.get_trials("b") == writer.get_trials("b") != b
    mine = writer.get_trials("a")
    mine[0].replicates[0].loss = -1.0
    assert writer.get_trials("a") == a != mine
    with pytest.raises(StorageError, match="unknown study 'zz'"):
        JournalStorage(path, read_only=True).get_trials("zz")
