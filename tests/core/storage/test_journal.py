"""Journal specifics: the log format, incremental replay, torn lines, and the os.link lock."""
from __future__ import annotations

import json
import logging
import os
import pickle
import threading
import time

import pytest

from uqhpo.storage import JournalStorage, StudyRecord, get_storage
from uqhpo.storage.journal import LinkLock
from uqhpo.trial import State


@pytest.fixture
def path(tmp_path) -> str:
    return str(tmp_path / "runs" / "study.jsonl")


@pytest.fixture
def journal(path) -> JournalStorage:
    s = get_storage(path)
    s.create_study(StudyRecord("s", "minimize", 0, {}, "fp"))
    s.add_trial("s", {"x": 1}, [3])
    return s


def _append_raw(path: str, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def test_log_has_one_operation_per_line(journal, path):
    r = journal.claim("s", "w", now=1.0)
    journal.heartbeat("s", 0, 0, 0, now=2.0)
    journal.add_report("s", 0, 0, 0, 1, {"v": 1})
    journal.finish("s", 0, 0, 0, State.FAILED, error="boom", now=3.0)
    journal.retry("s", 0, 0)
    journal.claim("s", "w", now=4.0)
    journal.requeue_stale("s", 1.0, now=10.0)
    journal.update_settings("s", {"budget": 2})
    lines = open(path, "rb").read().split(b"\n")
    assert lines[-1] == b""
    ops = [json.loads(line)["op"] for line in lines[:-1]]
    assert ops == ["create_study", "add_trial", "claim", "heartbeat", "report", "finish", "retry", "claim", "stale",
                   "settings"]
    assert r.seed == 3


def test_readers_replay_only_new_lines(journal, path):
    other = JournalStorage(path)
    assert other.n_trials("s") == 1
    offset = other._offset
    journal.add_trial("s", {"x": 2}, [4])
    assert other.n_trials("s") == 2
    assert other._offset > offset and other._offset == os.path.getsize(path)


def test_torn_tail_is_ignored_then_terminated(journal, path):
    _append_raw(path, b'{"op":"add_trial","study":"s","numb')  # a writer died mid-line
    reader = JournalStorage(path)
    assert reader.n_trials("s") == 1 and journal.n_trials("s") == 1
    assert journal.add_trial("s", {"x": 2}, [4]) == 1      # terminates the torn line first
    lines = open(path, "rb").read().split(b"\n")
    assert lines[-3] == b'{"op":"add_trial","study":"s","numb' and json.loads(lines[-2])["number"] == 1
    for handle in (reader, JournalStorage(path)):
        assert [t.config for t in handle.get_trials("s")] == [{"x": 1}, {"x": 2}]


def test_complete_line_without_newline_counts_once_terminated(journal, path):
    op = {"op": "add_trial", "study": "s", "number": 1, "config": {"x": "late"}, "seeds": [8], "user_attrs": {},
          "created": 0.0}
    _append_raw(path, json.dumps(op).encode())
    assert journal.n_trials("s") == 1                 # not complete until its newline is there
    assert journal.add_trial("s", {"x": 3}, [9]) == 2  # the writer ends the line, replays it, then numbers
    assert [t.config["x"] for t in JournalStorage(path).get_trials("s")] == [1, "late", 3]


def test_conflicting_operation_is_skipped_on_replay(journal, path, caplog):
    journal.claim("s", "first", now=1.0)
    # what a second writer that wrongly believed it held the lock could leave behind
    _append_raw(path, b'{"op":"claim","study":"s","trial":0,"index":0,"attempt":0,"worker":"second","now":2.0}\n')
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        fresh = JournalStorage(path)
        assert fresh.get_trial("s", 0).replicates[0].worker == "first"
    assert any("skipping operation claim" in rec.message for rec in caplog.records)


def test_pickle_reopens_by_path(journal):
    clone = pickle.loads(pickle.dumps(journal))
    assert clone.path == journal.path and clone.get_trial("s", 0).config == {"x": 1}


# -- the os.link lock ----------------------------------------------------------------------------
def test_link_lock_excludes_a_second_holder(tmp_path):
    target = str(tmp_path / "f.lock")
    first, second = LinkLock(target), LinkLock(target)
    first.acquire()
    got = threading.Event()

    def take() -> None:
        second.acquire()
        got.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert not got.wait(0.2)
    first.release()
    assert got.wait(10)
    thread.join()
    second.release()
    assert os.listdir(tmp_path) == []  # no lock and no temporary link files left


def test_link_lock_breaks_a_dead_holders_lock(tmp_path, caplog):
    target = tmp_path / "f.lock"
    target.write_text("host 12345 0\n")
    old = time.time() - 100
    os.utime(target, (old, old))
    lock = LinkLock(str(target), ttl=30.0)
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        lock.acquire()
    assert os.stat(target).st_mtime > old + 50  # now ours
    assert any("broke a lock" in rec.message for rec in caplog.records)
    lock.release()
    assert os.listdir(tmp_path) == []


def test_link_lock_keeps_a_fresh_lock(tmp_path):
    target = tmp_path / "f.lock"
    target.write_text("someone else\n")
    lock = LinkLock(str(target), ttl=30.0)
    lock._break_if_stale()
    assert target.read_text() == "someone else\n"


def test_release_does_not_remove_another_holders_lock(tmp_path, caplog):
    target = tmp_path / "f.lock"
    lock = LinkLock(str(target))
    lock.acquire()
    os.unlink(target)
    target.write_text("taken over\n")
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        lock.release()
    assert target.read_text() == "taken over\n"
    assert any("broken while held" in rec.message for rec in caplog.records)
