"""SQLite storage: one file in WAL mode that a user can open with the ``sqlite3`` shell.

Tables ``studies``, ``trials``, ``replicates`` and ``reports`` (see ``_SCHEMA``). A trigger
refuses any update of a finished replicate row, so "finished records never change" holds
even for other tools writing the file. Read-modify-write operations (trial numbering,
claim, retry, stale re-queue) run in short ``BEGIN IMMEDIATE`` transactions; single-row
changes are one conditional ``UPDATE``. Each process (and each fork) opens its own
connection on first use.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

from ..trial import _INTERRUPTED, Replicate, State, Trial
from ._json import config_key, dumps, loads, no_gc
from .base import (
    JsonInput,
    ReplicateRef,
    Storage,
    StorageError,
    StudyExistsError,
    StudyRecord,
    check_file_path,
    final_loss,
    now_or,
)

__all__ = ["SQLiteStorage"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE, direction TEXT NOT NULL, seed INTEGER NOT NULL, space TEXT NOT NULL,
    space_fingerprint TEXT NOT NULL, config_hash TEXT NOT NULL, settings TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    study TEXT NOT NULL, number INTEGER NOT NULL, config TEXT NOT NULL, n_replicates INTEGER NOT NULL,
    created REAL, user_attrs TEXT NOT NULL, seq INTEGER NOT NULL DEFAULT 0, config_key TEXT,
    UNIQUE (study, number));
CREATE TABLE IF NOT EXISTS replicates (
    study TEXT NOT NULL, trial INTEGER NOT NULL, idx INTEGER NOT NULL, attempt INTEGER NOT NULL,
    seed INTEGER NOT NULL, state TEXT NOT NULL, loss REAL, metrics TEXT NOT NULL, runtime REAL, error TEXT,
    worker TEXT, heartbeat REAL, started REAL, finished REAL, UNIQUE (study, trial, idx, attempt));
CREATE INDEX IF NOT EXISTS replicates_by_state ON replicates (study, state, trial, idx);
CREATE TABLE IF NOT EXISTS reports (
    study TEXT NOT NULL, trial INTEGER NOT NULL, idx INTEGER NOT NULL, attempt INTEGER NOT NULL,
    step INTEGER NOT NULL, metrics TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS reports_by_replicate ON reports (study, trial, idx, attempt);
DROP TRIGGER IF EXISTS finished_replicates_never_change;
CREATE TRIGGER IF NOT EXISTS finished_replicates_never_change_v2 BEFORE UPDATE ON replicates
    WHEN OLD.state IN ('COMPLETE', 'FAILED', 'STALE', 'PRUNED')
    BEGIN SELECT RAISE(ABORT, 'finished records never change'); END;
"""

# ``changes_since``: every write to a trial, its replicates or its reports gives the trial
# the study's next sequence number (writers are serialised, so numbers follow commit order)
_NEXT_SEQ = "(SELECT MAX(seq) FROM trials WHERE study = NEW.study) + 1"
_CHANGES_SCHEMA = f"""
CREATE INDEX IF NOT EXISTS trials_by_seq ON trials (study, seq);
CREATE INDEX IF NOT EXISTS trials_by_config ON trials (study, config_key);
CREATE TRIGGER IF NOT EXISTS seq_on_new_trial AFTER INSERT ON trials
    BEGIN UPDATE trials SET seq = {_NEXT_SEQ} WHERE rowid = NEW.rowid; END;
CREATE TRIGGER IF NOT EXISTS seq_on_new_replicate AFTER INSERT ON replicates
    BEGIN UPDATE trials SET seq = {_NEXT_SEQ} WHERE study = NEW.study AND number = NEW.trial; END;
CREATE TRIGGER IF NOT EXISTS seq_on_replicate_change AFTER UPDATE ON replicates
    BEGIN UPDATE trials SET seq = {_NEXT_SEQ} WHERE study = NEW.study AND number = NEW.trial; END;
CREATE TRIGGER IF NOT EXISTS seq_on_new_report AFTER INSERT ON reports
    BEGIN UPDATE trials SET seq = {_NEXT_SEQ} WHERE study = NEW.study AND number = NEW.trial; END;
"""
_TRIAL_INSERT = ("INSERT INTO trials (study, number, config, n_replicates, created, user_attrs, config_key) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)")

_REPLICATE_COLUMNS = ("trial, idx, attempt, seed, state, loss, metrics, runtime, error, worker, heartbeat, started, "
                      "finished")
_FINISHED = "('COMPLETE', 'FAILED', 'STALE', 'PRUNED')"  # the trigger's list (v2 added PRUNED)


# Trial.trainings_spent in SQL (uqhpo.trial.counts_as_training): what a training cap counts
_SPENT_SQL = ("SELECT COUNT(*) FROM replicates WHERE study = ? AND (state IN ('WAITING', 'RUNNING', 'COMPLETE', "
              f"'PRUNED') OR (state = 'FAILED' AND (error IS NULL OR substr(error, 1, {len(_INTERRUPTED)}) <> "
              f"'{_INTERRUPTED}')))")
_STATES = {s.value: s for s in State}  # a dict lookup is several times faster than State(text)
_UQHPO_TABLES = {"studies", "trials", "replicates", "reports"}


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _trial_columns(conn: sqlite3.Connection) -> set[str]:
    return {r[1] for r in conn.execute("PRAGMA table_info(trials)")}


def _migrate(conn: sqlite3.Connection) -> None:
    """Give a file written before ``changes_since`` its ``seq`` and ``config_key`` columns
    (inside the schema transaction)."""
    columns = _trial_columns(conn)
    if "seq" not in columns:
        conn.execute("ALTER TABLE trials ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
        conn.execute("UPDATE trials SET seq = 1")  # every existing trial is new to a reader at seq 0
    if "config_key" not in columns:
        conn.execute("ALTER TABLE trials ADD COLUMN config_key TEXT")
        keys = [(config_key(loads(text)), rowid) for rowid, text in conn.execute("SELECT rowid, config FROM trials")]
        conn.executemany("UPDATE trials SET config_key = ? WHERE rowid = ?", keys)


#: one row of ``SELECT {_REPLICATE_COLUMNS}``
ReplicateRow = tuple[int, int, int, int, str, Optional[float], str, Optional[float], Optional[str], Optional[str],
                     Optional[float], Optional[float], Optional[float]]


def _replicate(row: ReplicateRow) -> Replicate:
    t, i, a, seed, state, loss, metrics, runtime, error, worker, hb, started, finished = row
    r = object.__new__(Replicate)  # the dataclass' fields, set without __init__'s keyword handling (2x faster)
    r.__dict__.update(trial=t, index=i, attempt=a, seed=seed, state=_STATES[state], loss=loss,
                      metrics={} if metrics == "{}" else loads(metrics), runtime=runtime, error=error, worker=worker,
                      heartbeat=hb, started=started, finished=finished, reports=[])
    return r


class SQLiteStorage(Storage):
    """Storage in one SQLite file.

    Args:
        path: the database file (created with its parent directories).
        timeout: seconds a call waits for another process's write lock (``busy_timeout``).
        read_only: open an existing uqhpo database without changing it (no schema, no WAL
            switch); writes raise. Reading commands use it, so a foreign file stays as it was.

    Raises:
        StorageError: the path is a directory, cannot be created, is not an SQLite file,
            or is another program's database (uqhpo never adds its tables to one).
    """

    path: str

    def __init__(self, path: str | os.PathLike[str], timeout: float = 30.0, read_only: bool = False):
        self.path = os.path.abspath(os.fspath(path))
        self.timeout = float(timeout)
        self.read_only = bool(read_only)
        check_file_path(self.path, create=not self.read_only)
        self._lock = threading.RLock()
        self._conn: Optional[sqlite3.Connection] = None
        self._counted = False  # the file has the change counter of ``changes_since``
        self._pid: Optional[int] = None
        self._connection()  # create the schema now, so that errors show at open

    def __repr__(self) -> str:
        return f"SQLiteStorage('{self.path}')"

    # processes started with spawn open their own connection
    def __getstate__(self) -> dict:
        return {"path": self.path, "timeout": self.timeout, "read_only": self.read_only}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def _connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # never use a connection inherited through fork
            try:
                conn = self._open()
            except sqlite3.DatabaseError as e:
                raise StorageError(f"cannot open storage '{self.path}': {e}") from None
            self._conn, self._pid = conn, os.getpid()
        return self._conn  # type: ignore[return-value]

    def _open(self) -> sqlite3.Connection:
        """A new connection; a writable one creates the schema (refusing a foreign database)."""
        if self.read_only:
            uri = f"{Path(self.path).as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if _tables(conn) < _UQHPO_TABLES:
                conn.close()
                raise StorageError(f"'{self.path}' is not a uqhpo storage (no uqhpo tables)")
            self._counted = "seq" in _trial_columns(conn)  # a file of an older version has no counter
            return conn
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        tables = _tables(conn)  # also fails on a file that is not a database, before anything is written
        if tables and not _UQHPO_TABLES <= tables:
            conn.close()
            raise StorageError(f"'{self.path}' is an SQLite database of another program (tables: "
                               f"{', '.join(sorted(tables)[:5])}); uqhpo will not add its tables to it")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable against crashes of the process
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            _migrate(conn)
            for statement in _CHANGES_SCHEMA.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._counted = True
        return conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn, self._pid = None, None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: reads inside it see no concurrent writer."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several queries see one consistent state."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    @staticmethod
    def _next_number(conn: sqlite3.Connection, study: str) -> int:
        """The next free trial number (numbers are contiguous; MAX reads one index entry)."""
        (number,) = conn.execute("SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study = ?",
                                 (study,)).fetchone()
        return int(number)

    def _check_study(self, conn: sqlite3.Connection, study: str) -> None:
        if conn.execute("SELECT 1 FROM studies WHERE name = ?", (study,)).fetchone() is None:
            raise StorageError(f"unknown study '{study}'")

    # -- studies ----------------------------------------------------------------------------
    def create_study(self, record: StudyRecord) -> None:
        try:
            with self._write() as conn:
                conn.execute("INSERT INTO studies (name, direction, seed, space, space_fingerprint, config_hash, "
                             "settings, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (record.name, record.direction, int(record.seed), dumps(record.space),
                              record.space_fingerprint, record.config_hash, dumps(record.settings),
                              float(record.created)))
        except sqlite3.IntegrityError:
            raise StudyExistsError(f"study '{record.name}' already exists in {self.path}") from None

    def get_study(self, name: str) -> Optional[StudyRecord]:
        with self._lock:
            row = self._connection().execute(
                "SELECT name, direction, seed, space, space_fingerprint, config_hash, settings, created "
                "FROM studies WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return StudyRecord(name=row[0], direction=row[1], seed=row[2], space=loads(row[3]),
                           space_fingerprint=row[4], config_hash=row[5], settings=loads(row[6]), created=row[7])

    def update_settings(self, name: str, settings: JsonInput) -> None:
        with self._lock:
            cur = self._connection().execute("UPDATE studies SET settings = ? WHERE name = ?", (dumps(settings), name))
        if cur.rowcount == 0:
            raise StorageError(f"unknown study '{name}'")

    def list_studies(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._connection().execute("SELECT name FROM studies ORDER BY id")]

    # -- trials -----------------------------------------------------------------------------
    def add_trial(self, study: str, config: JsonInput, seeds: Sequence[int],
                  user_attrs: Optional[JsonInput] = None) -> int:
        config_text, attrs_text = dumps(config), dumps(user_attrs or {})
        with self._write() as conn:
            self._check_study(conn, study)
            number = self._next_number(conn, study)
            conn.execute(_TRIAL_INSERT, (study, number, config_text, len(seeds), time.time(), attrs_text,
                                         config_key(loads(config_text))))
            conn.executemany(f"INSERT INTO replicates (study, {_REPLICATE_COLUMNS}) "
                             "VALUES (?, ?, ?, 0, ?, 'WAITING', NULL, '{}', NULL, NULL, NULL, NULL, NULL, NULL)",
                             [(study, number, i, int(s)) for i, s in enumerate(seeds)])
        return number

    def reserve_trial(self, study: str, number: int, config: JsonInput, seeds: Sequence[int],
                      user_attrs: Optional[JsonInput] = None, unique: bool = True,
                      max_trainings: Optional[int] = None) -> bool:
        config_text, attrs_text = dumps(config), dumps(user_attrs or {})
        config_json = loads(config_text)
        key = config_key(config_json)
        with self._write() as conn:
            self._check_study(conn, study)
            count = self._next_number(conn, study)
            if int(number) != count:
                return False
            # configs equal as parsed JSON share their key (any key order); the key's index
            # finds the candidates, a parsed comparison rules out keys that only collide
            if unique and any(loads(text) == config_json for (text,) in conn.execute(
                    "SELECT config FROM trials WHERE study = ? AND config_key = ?", (study, key))):
                return False
            if max_trainings is not None and \
                    conn.execute(_SPENT_SQL, (study,)).fetchone()[0] + len(seeds) > int(max_trainings):
                return False
            conn.execute(_TRIAL_INSERT, (study, count, config_text, len(seeds), time.time(), attrs_text, key))
            conn.executemany(f"INSERT INTO replicates (study, {_REPLICATE_COLUMNS}) "
                             "VALUES (?, ?, ?, 0, ?, 'WAITING', NULL, '{}', NULL, NULL, NULL, NULL, NULL, NULL)",
                             [(study, count, i, int(s)) for i, s in enumerate(seeds)])
        return True

    def claim(self, study: str, worker: str, trial: Optional[int] = None, index: Optional[int] = None,
              now: Optional[float] = None) -> Optional[Replicate]:
        t = now_or(now)
        where, args = "study = ? AND state = 'WAITING'", list[object]([study])
        if trial is not None:
            where, args = where + " AND trial = ?", args + [int(trial)]
        if index is not None:
            where, args = where + " AND idx = ?", args + [int(index)]
        with self._write() as conn:
            self._check_study(conn, study)
            row = conn.execute(f"SELECT trial, idx, attempt FROM replicates WHERE {where} ORDER BY trial, idx LIMIT 1",
                               args).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE replicates SET state = 'RUNNING', worker = ?, heartbeat = ?, started = ? "
                         "WHERE study = ? AND trial = ? AND idx = ? AND attempt = ?", (str(worker), t, t, study, *row))
            claimed = conn.execute(f"SELECT {_REPLICATE_COLUMNS} FROM replicates WHERE study = ? AND trial = ? "
                                   "AND idx = ? AND attempt = ?", (study, *row)).fetchone()
        return _replicate(claimed)

    def heartbeat(self, study: str, trial: int, index: int, attempt: int, now: Optional[float] = None) -> None:
        with self._lock:
            cur = self._connection().execute(
                "UPDATE replicates SET heartbeat = ? WHERE study = ? AND trial = ? AND idx = ? AND attempt = ? "
                "AND state = 'RUNNING'", (now_or(now), study, int(trial), int(index), int(attempt)))
            if cur.rowcount == 0:
                self._state_of(study, trial, index, attempt)  # raises if there is no such replicate

    def _state_of(self, study: str, trial: int, index: int, attempt: int) -> State:
        row = self._connection().execute(
            "SELECT state FROM replicates WHERE study = ? AND trial = ? AND idx = ? AND attempt = ?",
            (study, int(trial), int(index), int(attempt))).fetchone()
        if row is None:
            raise StorageError(f"study '{study}' has no replicate (trial={trial}, index={index}, attempt={attempt})")
        return State(row[0])

    def finish(self, study: str, trial: int, index: int, attempt: int, state: State, *,
               loss: Optional[float] = None, metrics: Optional[JsonInput] = None, runtime: Optional[float] = None,
               error: Optional[str] = None, now: Optional[float] = None) -> None:
        state = State(state)
        value = final_loss(state, loss)
        args = (state.value, value, dumps(metrics or {}), None if runtime is None else float(runtime),
                None if error is None else str(error), now_or(now), study, int(trial), int(index), int(attempt))
        with self._lock:
            cur = self._connection().execute(
                "UPDATE replicates SET state = ?, loss = ?, metrics = ?, runtime = ?, error = ?, finished = ? "
                f"WHERE study = ? AND trial = ? AND idx = ? AND attempt = ? AND state NOT IN {_FINISHED}", args)
            if cur.rowcount == 0:
                found = self._state_of(study, trial, index, attempt)
                raise StorageError(f"study '{study}': replicate (trial={trial}, index={index}, attempt={attempt}) "
                                   f"is already {found.value}; finished records never change")

    def add_report(self, study: str, trial: int, index: int, attempt: int, step: int, metrics: JsonInput) -> None:
        with self._lock:
            cur = self._connection().execute(
                "INSERT INTO reports SELECT study, trial, idx, attempt, ?, ? FROM replicates WHERE study = ? "
                f"AND trial = ? AND idx = ? AND attempt = ? AND state NOT IN {_FINISHED}",
                (int(step), dumps(metrics), study, int(trial), int(index), int(attempt)))
            if cur.rowcount == 0:
                self._state_of(study, trial, index, attempt)  # missing -> error; finished -> late report, ignored

    def _add_attempt(self, conn: sqlite3.Connection, study: str, trial: int, index: int, attempt: int,
                     seed: int) -> None:
        conn.execute(f"INSERT INTO replicates (study, {_REPLICATE_COLUMNS}) "
                     "VALUES (?, ?, ?, ?, ?, 'WAITING', NULL, '{}', NULL, NULL, NULL, NULL, NULL, NULL)",
                     (study, trial, index, attempt, seed))

    def extend_trial(self, study: str, trial: int, seed: int, *,
                     expected_replicates: Optional[int] = None, max_trainings: Optional[int] = None) -> Optional[int]:
        with self._write() as conn:
            self._check_study(conn, study)
            row = conn.execute("SELECT n_replicates FROM trials WHERE study = ? AND number = ?",
                               (study, int(trial))).fetchone()
            if row is None:
                raise StorageError(f"study '{study}' has no trial {trial}")
            index = int(row[0])
            if expected_replicates is not None and index != int(expected_replicates):
                return None  # another driver extended it meanwhile
            if max_trainings is not None and conn.execute(_SPENT_SQL, (study,)).fetchone()[0] + 1 > int(max_trainings):
                return None  # other drivers spent the budget meanwhile
            conn.execute("UPDATE trials SET n_replicates = ? WHERE study = ? AND number = ?",
                         (index + 1, study, int(trial)))
            self._add_attempt(conn, study, int(trial), index, 0, int(seed))
        return index

    def retry(self, study: str, trial: int, index: int) -> int:
        with self._write() as conn:
            row = conn.execute("SELECT attempt, state, seed FROM replicates WHERE study = ? AND trial = ? AND idx = ? "
                               "ORDER BY attempt DESC LIMIT 1", (study, int(trial), int(index))).fetchone()
            if row is None:
                raise StorageError(f"study '{study}' has no replicate (trial={trial}, index={index})")
            attempt, state, seed = row
            if state not in ("FAILED", "STALE"):
                raise StorageError(f"study '{study}': cannot retry (trial={trial}, index={index}): latest attempt "
                                   f"{attempt} is {state}, not FAILED or STALE")
            self._add_attempt(conn, study, int(trial), int(index), attempt + 1, seed)
        return attempt + 1

    def requeue_stale(self, study: str, timeout: float, now: Optional[float] = None,
                      workers: Optional[Sequence[str]] = None) -> list[ReplicateRef]:
        t = now_or(now)
        only = None if workers is None else {str(w) for w in workers}
        with self._write() as conn:
            self._check_study(conn, study)
            rows = [(trial, index, attempt, seed) for trial, index, attempt, seed, worker in conn.execute(
                "SELECT trial, idx, attempt, seed, worker FROM replicates WHERE study = ? AND state = 'RUNNING' "
                "AND (heartbeat IS NULL OR heartbeat < ?) ORDER BY trial, idx", (study, t - float(timeout)))
                if only is None or worker in only]
            for trial, index, attempt, seed in rows:
                conn.execute("UPDATE replicates SET state = 'STALE', finished = ? "
                             "WHERE study = ? AND trial = ? AND idx = ? AND attempt = ?",
                             (t, study, trial, index, attempt))
                self._add_attempt(conn, study, trial, index, attempt + 1, seed)
        return [ReplicateRef(trial, index) for trial, index, _, _ in rows]

    # -- reads ------------------------------------------------------------------------------
    def _load(self, conn: sqlite3.Connection, study: str, number: Optional[int]) -> list[Trial]:
        only, args = ("", (study,)) if number is None else (" AND trial = ?", (study, int(number)))
        return self._load_where(conn, only, args)

    def _load_numbers(self, conn: sqlite3.Connection, study: str, numbers: Sequence[int]) -> list[Trial]:
        """Trials ``numbers`` (ascending), read in chunks of at most 500."""
        out: list[Trial] = []
        for start in range(0, len(numbers), 500):
            chunk = [int(n) for n in numbers[start:start + 500]]
            marks = ", ".join("?" * len(chunk))
            out += self._load_where(conn, f" AND trial IN ({marks})", (study, *chunk))
        return out

    def _load_where(self, conn: sqlite3.Connection, only: str, args: tuple) -> list[Trial]:
        """Trials (with replicates and reports) of ``WHERE study = ?{only}``, by number."""
        only_number = only.replace("trial", "number")  # the trials table calls it number
        trials: dict[int, Trial] = {}
        for n, config, k, created, attrs in conn.execute(
                f"SELECT number, config, n_replicates, created, user_attrs FROM trials WHERE study = ?{only_number} "
                "ORDER BY number", args):
            trials[n] = Trial(number=n, config=loads(config), n_replicates=k, created=created,
                              user_attrs=loads(attrs))
        reports = conn.execute(f"SELECT trial, idx, attempt, step, metrics FROM reports WHERE study = ?{only} "
                               "ORDER BY rowid", args).fetchall()
        reps: dict[tuple[int, int, int], Replicate] = {}  # plain tuples: the hot loop of a read
        for row in conn.execute(f"SELECT {_REPLICATE_COLUMNS} FROM replicates WHERE study = ?{only} "
                                "ORDER BY trial, idx, attempt", args):
            r = _replicate(row)
            trials[row[0]].replicates.append(r)
            if reports:
                reps[row[0], row[1], row[2]] = r
        for t, i, a, step, metrics in reports:
            reps[(t, i, a)].reports.append((step, loads(metrics)))
        return list(trials.values())

    def get_trials(self, study: str) -> list[Trial]:
        with self._snapshot() as conn:
            self._check_study(conn, study)
            with no_gc():
                return self._load(conn, study, None)

    def get_trial(self, study: str, number: int) -> Trial:
        with self._snapshot() as conn:
            self._check_study(conn, study)
            found = self._load(conn, study, number)
        if not found:
            raise StorageError(f"study '{study}' has no trial {number}")
        return found[0]

    def changes_since(self, study: str, seq: int = 0) -> tuple[list[Trial], int]:
        with self._snapshot() as conn:
            self._check_study(conn, study)
            if not self._counted:  # a file of an older version opened read-only: no counter
                with no_gc():
                    return self._load(conn, study, None), int(seq) + 1
            (top,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM trials WHERE study = ?", (study,)).fetchone()
            if seq <= 0:
                with no_gc():
                    return self._load(conn, study, None), int(top)
            numbers = [n for (n,) in conn.execute("SELECT number FROM trials WHERE study = ? AND seq > ? "
                                                  "ORDER BY number", (study, int(seq)))]
            with no_gc(len(numbers)):
                return self._load_numbers(conn, study, numbers), int(top)

    def n_trials(self, study: str) -> int:
        with self._snapshot() as conn:
            self._check_study(conn, study)
            return self._next_number(conn, study)
