"""``Storage.changes_since`` beyond the conformance suite: the suite catches a backend
that misses changes, and SQLite files written before the change counter keep working."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Optional

import pytest

from uqhpo.storage import InMemoryStorage, SQLiteStorage, Storage
from uqhpo.storage._events import Event, Heartbeat
from uqhpo.testing.storage import StorageConformance, study_record
from uqhpo.testing.storage.changes import Mirror
from uqhpo.trial import State, Trial


class _SuiteOnMemory(StorageConformance):
    def make_storage(self, tmp_path: Path) -> Storage:
        return InMemoryStorage()


class _IgnoresHeartbeats(InMemoryStorage):
    """Records heartbeats but does not count them as changes."""

    def _commit(self, event: Event) -> None:
        if isinstance(event, Heartbeat):
            data = self._book.study(event.study)
            seq, changed = data.seq, dict(data.changed)
            super()._commit(event)
            data.seq, data.changed = seq, changed
        else:
            super()._commit(event)


class _Rereads(InMemoryStorage):
    """The base-class fallback: every trial, every time (correct but not incremental)."""

    def changes_since(self, study: str, seq: int = 0) -> tuple[list[Trial], int]:
        return Storage.changes_since(self, study, seq)


@pytest.mark.parametrize("backend, check", [
    (_IgnoresHeartbeats, "test_each_kind_of_change_is_reported"),
    (_Rereads, "test_changes_since_zero_is_everything"),
])
def test_suite_fails_a_backend_that_misses_changes(backend: type, check: str) -> None:
    storage = backend()
    storage.create_study(study_record())
    with pytest.raises(AssertionError):
        getattr(_SuiteOnMemory(), check)(storage)


def test_the_fallback_is_correct_for_a_mirror() -> None:
    storage = _Rereads()
    storage.create_study(study_record())
    mirror = Mirror(storage)
    storage.add_trial("s", {"i": 0}, [1])
    mirror.catch_up()
    storage.finish("s", 0, 0, 0, State.COMPLETE, loss=1.0)
    mirror.catch_up()
    assert mirror.as_list() == storage.get_trials("s")


# -- SQLite files of an earlier version ---------------------------------------------------------
_OLD_SCHEMA = """
CREATE TABLE studies (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, direction TEXT NOT NULL,
    seed INTEGER NOT NULL, space TEXT NOT NULL, space_fingerprint TEXT NOT NULL, config_hash TEXT NOT NULL,
    settings TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE trials (study TEXT NOT NULL, number INTEGER NOT NULL, config TEXT NOT NULL,
    n_replicates INTEGER NOT NULL, created REAL, user_attrs TEXT NOT NULL, UNIQUE (study, number));
CREATE TABLE replicates (study TEXT NOT NULL, trial INTEGER NOT NULL, idx INTEGER NOT NULL,
    attempt INTEGER NOT NULL, seed INTEGER NOT NULL, state TEXT NOT NULL, loss REAL, metrics TEXT NOT NULL,
    runtime REAL, error TEXT, worker TEXT, heartbeat REAL, started REAL, finished REAL,
    UNIQUE (study, trial, idx, attempt));
CREATE TABLE reports (study TEXT NOT NULL, trial INTEGER NOT NULL, idx INTEGER NOT NULL, attempt INTEGER NOT NULL,
    step INTEGER NOT NULL, metrics TEXT NOT NULL);
INSERT INTO studies VALUES (1, 's', 'minimize', 7, '{}', 'fp', 'h', '{}', 0.0);
INSERT INTO trials VALUES ('s', 0, '{"lr":0.1,"n":2}', 1, 0.0, '{}');
INSERT INTO trials VALUES ('s', 1, '{"lr":0.2,"n":3}', 1, 0.0, '{}');
INSERT INTO replicates VALUES ('s', 0, 0, 0, 5, 'COMPLETE', 0.5, '{}', 1.0, NULL, 'w', NULL, NULL, 1.0);
INSERT INTO replicates VALUES ('s', 1, 0, 0, 6, 'WAITING', NULL, '{}', NULL, NULL, NULL, NULL, NULL, NULL);
"""


def _old_file(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(_OLD_SCHEMA)
    conn.commit()
    conn.close()
    return path


def test_an_old_file_read_only_falls_back_to_full_reads(tmp_path: Path) -> None:
    path = _old_file(tmp_path)
    storage = SQLiteStorage(path, read_only=True)
    trials, seq = storage.changes_since("s", 0)
    assert [t.number for t in trials] == [0, 1]
    again, seq2 = storage.changes_since("s", seq)
    assert again == trials and seq2 > seq  # no counter: everything, every time
    storage.close()
    conn = sqlite3.connect(path)
    assert "seq" not in {r[1] for r in conn.execute("PRAGMA table_info(trials)")}  # the file was not changed
    conn.close()


def test_an_old_file_opened_for_writing_gets_the_counter(tmp_path: Path) -> None:
    path = _old_file(tmp_path)
    storage = SQLiteStorage(path)
    mirror = Mirror(storage)
    assert mirror.catch_up() == [0, 1]
    assert storage.changes_since("s", mirror.seq)[0] == []
    r: Optional[object] = storage.claim("s", "w")
    assert r is not None
    assert mirror.catch_up() == [1]
    # configs written before the key column are found by the uniqueness check (any key order)
    assert not storage.reserve_trial("s", 2, {"n": 2, "lr": 0.1}, [1])
    assert storage.reserve_trial("s", 2, {"n": 4, "lr": 0.1}, [1])
    assert mirror.catch_up() == [2]
    assert mirror.as_list() == storage.get_trials("s")
    storage.close()


def test_equal_configs_of_another_spelling_are_taken(tmp_path: Path) -> None:
    for storage in (InMemoryStorage(), SQLiteStorage(tmp_path / "k.db")):
        storage.create_study(study_record())
        storage.add_trial("s", {"a": 1, "b": [1, {"c": 2.0}]}, [1])
        assert not storage.reserve_trial("s", 1, {"b": [1.0, {"c": 2}], "a": 1.0}, [1])
        assert storage.reserve_trial("s", 1, {"b": [1.0, {"c": 3}], "a": 1.0}, [1])
        big = 2 ** 60
        storage.add_trial("s", {"a": big}, [1])
        assert storage.reserve_trial("s", 3, {"a": big + 1}, [1])  # same key, not equal: not taken
        assert not storage.reserve_trial("s", 4, {"a": big}, [1])
        storage.close()


def test_sqlite_records_have_every_field(tmp_path: Path) -> None:
    """The SQLite reader builds replicates without ``__init__``: every dataclass field is set."""
    import dataclasses

    from uqhpo.trial import Replicate

    storage = SQLiteStorage(tmp_path / "f.db")
    storage.create_study(study_record())
    storage.add_trial("s", {"i": 0}, [1, 2])
    storage.add_report("s", 0, 0, 0, 1, {"v": 1})
    storage.finish("s", 0, 1, 0, State.COMPLETE, loss=1.0, metrics={"m": [1]})
    for r in storage.get_trial("s", 0).replicates:
        assert set(vars(r)) == {f.name for f in dataclasses.fields(Replicate)}
    assert storage.get_trial("s", 0).replicates == storage.changes_since("s", 0)[0][0].replicates
    storage.close()
