"""Case 4 and the file cases of 8: reading commands never change a file and refuse what is
not a uqhpo storage with one line; OS-level errors are one line naming the path."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from reliability_helpers import digest, n_complete, one_line_error


def _foreign_db(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE studies (id INTEGER, title TEXT)")   # a name uqhpo uses, another schema
    con.execute("CREATE TABLE grades (student TEXT, grade REAL)")
    con.execute("INSERT INTO studies VALUES (1, 'not ours')")
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize("command", ["status", "best", "export", "list"])
def test_reading_commands_leave_a_foreign_sqlite_file_alone(ws, command):
    db = _foreign_db(ws.root / "other.db")
    before = digest(db)
    one_line_error(ws.cli(command, db), "other.db", "not a uqhpo storage")
    assert digest(db) == before
    assert sorted(p.name for p in ws.root.iterdir() if p.name.startswith("other")) == ["other.db"]  # no -wal/-shm


def test_run_refuses_to_add_its_tables_to_a_foreign_database(ws):
    db = _foreign_db(ws.root / "other.db")
    before = digest(db)
    one_line_error(ws.cli("run", ws.config(storage="other.db")), "other.db", "another program")
    assert digest(db) == before


def test_status_on_things_that_are_no_storage(ws):
    import h5py

    (ws.root / "notes.db").write_text("just some text\n")
    with h5py.File(ws.root / "data.h5", "w") as f:
        f["x"] = [1.0, 2.0]
    (ws.root / "folder.db").mkdir()
    for target, needle in [("/dev/null", "/dev/null"), (ws.root / "folder.db", "directory"),
                           (ws.root / "notes.db", "notes.db"), (f"sqlite:///{ws.root}/data.h5", "data.h5"),
                           (ws.root / "missing.db", "not found")]:
        one_line_error(ws.cli("status", target), needle)


def test_storage_paths_the_os_refuses(ws):
    (ws.root / "afile").write_text("x")
    (ws.root / "adir.db").mkdir()
    one_line_error(ws.cli("run", ws.config(storage="adir.db")), "adir.db", "directory")
    one_line_error(ws.cli("run", ws.config(storage="afile/sub/s.db")), "afile")
    ws.cli("run", ws.config(task="hostile_tasks:diverges"), "--quiet", check_rc=0)
    complete = n_complete(ws.root / "study.db")
    one_line_error(ws.cli("export", ws.root / "study.db", "--out", ws.root / "afile" / "out.csv"), "afile")
    assert n_complete(ws.root / "study.db") == complete


def test_journal_line_that_is_json_but_not_an_object(ws):
    cfg = ws.config(storage="study.jsonl", task="hostile_tasks:diverges")
    ws.cli("run", cfg, "--quiet", check_rc=0)
    log = ws.root / "study.jsonl"
    with open(log, "a") as fh:
        fh.write(json.dumps([1, 2, 3]) + "\n" + json.dumps("text") + "\n")
    for command in ("status", "best", "export"):
        proc = ws.cli(command, log, check_rc=0)
        assert "Traceback" not in proc.stderr
    ws.cli("run", cfg, "--trials", "3", "--quiet", check_rc=0)
