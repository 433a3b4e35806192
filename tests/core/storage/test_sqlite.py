"""SQLite specifics: a real database file, the schema, WAL, the trigger, indices, fork and pickle."""
from __future__ import annotations

import multiprocessing as mp
import pickle
import sqlite3

import pytest

from uqhpo.storage import SQLiteStorage, StorageError, StudyRecord, get_storage
from uqhpo.trial import State


@pytest.fixture
def db(tmp_path) -> SQLiteStorage:
    s = get_storage(f"sqlite:///{tmp_path}/nested/dir/study.db")
    s.create_study(StudyRecord("s", "minimize", 1, {"x": {"type": "integer", "low": 0, "high": 3}}, "fp",
                               config_hash="c", settings={"budget": 5}))
    s.add_trial("s", {"x": 2}, [4, 5])
    r = s.claim("s", "w1", now=10.0)
    s.add_report("s", r.trial, r.index, r.attempt, 1, {"val": 0.4})
    s.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=0.3, metrics={"per": [1, 2]}, now=11.0)
    return s


def test_file_is_a_plain_sqlite_database(db):
    con = sqlite3.connect(db.path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"studies", "trials", "replicates", "reports"} <= tables
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = [r[1] for r in con.execute("PRAGMA table_info(replicates)")]
    assert cols == ["study", "trial", "idx", "attempt", "seed", "state", "loss", "metrics", "runtime", "error",
                    "worker", "heartbeat", "started", "finished"]
    rows = con.execute("SELECT trial, idx, attempt, seed, state, loss, metrics, worker FROM replicates "
                       "ORDER BY idx").fetchall()
    assert rows == [(0, 0, 0, 4, "COMPLETE", 0.3, '{"per":[1,2]}', "w1"), (0, 1, 0, 5, "WAITING", None, "{}", None)]
    assert con.execute("SELECT name, seed, space_fingerprint, config_hash, settings FROM studies").fetchone() == (
        "s", 1, "fp", "c", '{"budget":5}')
    assert con.execute("SELECT step, metrics FROM reports").fetchall() == [(1, '{"val":0.4}')]
    con.close()


def test_trigger_refuses_changing_finished_rows(db):
    con = sqlite3.connect(db.path)
    with pytest.raises(sqlite3.DatabaseError, match="finished records never change"):
        con.execute("UPDATE replicates SET loss = 0 WHERE state = 'COMPLETE'")
    con.execute("UPDATE replicates SET heartbeat = 1 WHERE state = 'WAITING'")  # unfinished rows may change
    con.close()


def test_hot_queries_use_indices(db):
    con = sqlite3.connect(db.path)
    plans = {
        "claim": "SELECT trial, idx, attempt FROM replicates WHERE study = 's' AND state = 'WAITING' "
                 "ORDER BY trial, idx LIMIT 1",
        "number": "SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study = 's'",
        "finish": "UPDATE replicates SET loss = 1 WHERE study = 's' AND trial = 0 AND idx = 1 AND attempt = 0",
    }
    for name, sql in plans.items():
        detail = " ".join(r[-1] for r in con.execute("EXPLAIN QUERY PLAN " + sql))
        assert "USING" in detail and "SCAN replicates" not in detail and "SCAN trials" not in detail, (name, detail)
    con.close()


def test_pickle_reopens_by_path(db):
    clone = pickle.loads(pickle.dumps(db))
    assert clone.path == db.path and clone.get_trial("s", 0).replicates[0].loss == 0.3


def _add_in_child(storage: SQLiteStorage, queue) -> None:
    queue.put(storage.add_trial("s", {"x": 1}, [9]))


def test_forked_child_opens_its_own_connection(db):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_add_in_child, args=(db, queue))
    proc.start()
    number = queue.get(timeout=60)
    proc.join()
    assert (proc.exitcode, number) == (0, 1)
    assert db.add_trial("s", {"x": 0}, [1]) == 2  # the parent's connection still works
    assert [t.number for t in db.get_trials("s")] == [0, 1, 2]


def test_failed_transaction_leaves_no_lock(db):
    with pytest.raises(StorageError, match="missing"):
        db.add_trial("missing", {}, [1])
    with pytest.raises(StorageError, match="WAITING"):
        db.retry("s", 0, 1)
    other = sqlite3.connect(db.path, timeout=0.5)
    other.execute("BEGIN IMMEDIATE")  # would time out if a rolled-back transaction still held the lock
    other.execute("ROLLBACK")
    other.close()
    assert db.add_trial("s", {"x": 3}, [1]) == 1
