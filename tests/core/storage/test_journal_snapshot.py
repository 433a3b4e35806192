"""Journal snapshots: an open starts from ``<journal>.snapshot`` and replays only the lines
after it; a snapshot that does not match the log (stale, damaged, another version) is
ignored; lines appended after it are seen; writers in several processes keep it valid.
Replay work is measured by counting lines (``JournalStorage.lines_replayed``), not by time."""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import pytest

from uqhpo.storage import JournalStorage, Storage
from uqhpo.storage import _journal_snapshot as snap
from uqhpo.storage._json import dumps
from uqhpo.testing.storage import MultiProcessConformance, study_record
from uqhpo.trial import State

#: writable handles in these tests snapshot as soon as the log grows at all
EAGER = 1


def _lines(path: str) -> int:
    with open(path, "rb") as fh:
        return fh.read().count(b"\n")


def _state(storage: JournalStorage) -> dict[str, Any]:
    """Everything a replayed book holds, in comparable form (the internals a snapshot rebuilds)."""
    out: dict[str, Any] = {}
    with storage._locked(write=False) as book:
        for name, d in book.studies.items():
            out[name] = {
                "record": d.record, "trials": d.trials, "reps": d.reps, "latest": d.latest, "running": d.running,
                "seq": d.seq, "changed": list(d.changed.items()),
                "waiting": sorted(k for k in set(d.waiting) if d.is_waiting(k)),
                "next_waiting": d.find_waiting(None, None), "expired": d.expired(1e12),
            }
    return out


def _full_replay(path: str) -> JournalStorage:
    """A read-only handle that replays the whole log (the snapshot moved away meanwhile)."""
    spath = snap.snapshot_path(path)
    hidden = spath + ".hidden"
    os.replace(spath, hidden)
    try:
        storage = JournalStorage(path, read_only=True)
        storage.list_studies()
    finally:
        os.replace(hidden, spath)
    assert storage.lines_replayed == _lines(path) and storage.snapshot_offset == 0
    return storage


def _rich_log(path: str) -> JournalStorage:
    """A journal with every kind of event in two studies, written without snapshots."""
    s = JournalStorage(path, snapshot_bytes=0)
    s.create_study(study_record("a"))
    s.create_study(study_record("b"))
    s.update_settings("a", {"budget": {"trials": 20}, "note": [1, 2.5, None]})
    for i in range(6):
        s.add_trial("a", {"lr": 0.01 * (i + 1), "tag": f"t{i}"}, [10 * i, 10 * i + 1], user_attrs={"i": i})
    s.add_trial("b", {"lr": 0.5}, [1])
    for _ in range(9):
        s.claim("a", "w1", now=100.0)
    s.heartbeat("a", 0, 0, 0, now=150.0)
    s.add_report("a", 0, 0, 0, step=1, metrics={"val": 0.5})
    s.add_report("a", 0, 0, 0, step=2, metrics={"val": 0.25, "curve": [1.0, float("inf")]})
    s.finish("a", 0, 0, 0, State.COMPLETE, loss=0.25, metrics={"acc": 0.9}, runtime=3.0, now=160.0)
    s.finish("a", 0, 1, 0, State.FAILED, error="boom\ntraceback", now=161.0)
    s.retry("a", 0, 1)
    s.finish("a", 1, 0, 0, State.PRUNED, loss=0.7, now=162.0)
    s.extend_trial("a", 1, seed=99)
    s.requeue_stale("a", timeout=10.0, now=1000.0, workers=["w1"])  # trial 1 index 1 ... go STALE, retried
    s.claim("a", "w2", now=1001.0)
    s.finish("b", 0, 0, 0, State.COMPLETE, loss=1.0, now=5.0)
    return s


def _snapshot_now(path: str) -> JournalStorage:
    """Open a writable handle that snapshots at once; it has replayed the whole log."""
    s = JournalStorage(path, snapshot_bytes=EAGER)
    s.list_studies()
    assert os.path.exists(snap.snapshot_path(path))
    return s


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "log" / "study.jsonl")


def test_an_open_starts_from_the_snapshot_and_rebuilds_the_same_state(path):
    writer = _rich_log(path)
    assert not os.path.exists(snap.snapshot_path(path))  # snapshot_bytes=0 never writes one
    _snapshot_now(path)
    reader = JournalStorage(path, read_only=True)
    assert reader.list_studies() == ["a", "b"]
    assert reader.lines_replayed == 0 and reader.snapshot_offset == os.path.getsize(path)
    assert _state(reader) == _state(writer) == _state(_full_replay(path))
    for study in ("a", "b"):
        assert reader.get_trials(study) == writer.get_trials(study)
        for seq in (0, 1, 5, 17, 30, 10**6):
            assert reader.changes_since(study, seq) == writer.changes_since(study, seq)


def test_lines_appended_after_the_snapshot_are_replayed_and_seen(path):
    writer = _rich_log(path)
    _snapshot_now(path)
    mirror = JournalStorage(path, read_only=True)
    trials, seq = mirror.changes_since("a")
    covered = _lines(path)
    writer.add_trial("a", {"lr": 0.9}, [5])
    writer.finish("a", 5, 1, 0, State.COMPLETE, loss=0.1)
    writer.add_report("a", 6, 0, 0, step=4, metrics={"v": 1})
    reader = JournalStorage(path, read_only=True)
    assert reader.n_trials("a") == 7
    assert reader.lines_replayed == _lines(path) - covered == 3
    assert reader.get_trial("a", 5).replicates[1].state is State.COMPLETE
    assert reader.get_trial("a", 6).replicates[0].reports == [(4, {"v": 1})]
    assert reader.get_trials("a") == writer.get_trials("a") == _full_replay(path).get_trials("a")
    changed, new_seq = reader.changes_since("a", seq)
    assert [t.number for t in changed] == [5, 6] and mirror.changes_since("a", seq) == (changed, new_seq)


def test_a_read_only_handle_never_writes_a_snapshot(path):
    _rich_log(path).close()
    reader = JournalStorage(path, read_only=True, snapshot_bytes=EAGER)
    reader.list_studies()
    assert reader.lines_replayed == _lines(path)
    assert [name for name in os.listdir(os.path.dirname(path)) if "snapshot" in name] == []


def test_writers_renew_the_snapshot_as_the_log_grows(path):
    writer = JournalStorage(path, snapshot_bytes=2000)
    writer.create_study(study_record("a"))
    offsets = []
    for i in range(200):
        writer.add_trial("a", {"lr": i / 200}, [i])
        header = snap.read_header(snap.snapshot_path(path))
        if header is not None and (not offsets or header["offset"] != offsets[-1]):
            offsets.append(header["offset"])
    size = os.path.getsize(path)
    # renewed when the log grows by 2000 bytes and by an eighth: several times, not on every line
    assert 5 <= len(offsets) < 100 and offsets == sorted(offsets)
    assert size - offsets[-1] <= max(2000, size / 8) + 200  # the tail left to replay stays bounded
    reader = JournalStorage(path, read_only=True)
    assert reader.n_trials("a") == 200 and reader.snapshot_offset > 0 and reader.lines_replayed < _lines(path) / 4


def _rewrite_header(path: str, **changes: Any) -> None:
    spath = snap.snapshot_path(path)
    data = Path(spath).read_bytes()
    end = data.index(b"\n")
    header = json.loads(data[:end])
    header.update(changes)
    Path(spath).write_bytes(dumps(header).encode() + data[end:])


def _damage_body(path: str, body: bytes) -> None:
    """Replace the body and fix the digest: a body this version would not have written."""
    spath = snap.snapshot_path(path)
    data = Path(spath).read_bytes()
    header = json.loads(data[:data.index(b"\n")])
    header.update(body=snap._digest(body), size=len(body))
    Path(spath).write_bytes(dumps(header).encode() + b"\n" + body)


def _swap_two_replicate_rows(path: str) -> None:
    data = Path(snap.snapshot_path(path)).read_bytes()
    doc = json.loads(data[data.index(b"\n") + 1:])
    reps = doc["studies"][0]["reps"]
    reps[0], reps[1] = reps[1], reps[0]
    _damage_body(path, dumps(doc).encode())


def _flip_a_body_byte(path: str) -> None:
    """A bit flipped in a stored metric: still valid JSON, only the digest tells."""
    spath = snap.snapshot_path(path)
    data = Path(spath).read_bytes()
    assert data.count(b'"acc":0.9') == 1
    Path(spath).write_bytes(data.replace(b'"acc":0.9', b'"acc":0.8'))


CORRUPTIONS = {
    "empty file": lambda p: Path(snap.snapshot_path(p)).write_bytes(b""),
    "truncated": lambda p: Path(snap.snapshot_path(p)).write_bytes(Path(snap.snapshot_path(p)).read_bytes()[:-100]),
    "a flipped byte in the body": _flip_a_body_byte,
    "garbage": lambda p: Path(snap.snapshot_path(p)).write_bytes(b"\x00\xffnot json\n{}"),
    "no header": lambda p: Path(snap.snapshot_path(p)).write_bytes(b'{"studies": []}\n{}'),
    "another version": lambda p: _rewrite_header(p, version=snap.VERSION + 1),
    "header without digests": lambda p: _rewrite_header(p, head=None),
    "a body that is not JSON, digest fixed": lambda p: _damage_body(p, b"[1, 2"),
    "replicate fields of another version": lambda p: _damage_body(p, b'{"replicate_fields": ["x"], "studies": []}'),
    "replicates out of order, digest fixed": _swap_two_replicate_rows,
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_damaged_snapshot_is_ignored_and_rewritten(path, corruption, caplog):
    writer = _rich_log(path)
    _snapshot_now(path)
    CORRUPTIONS[corruption](path)
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        reader = JournalStorage(path, read_only=True)
        assert reader.list_studies() == ["a", "b"]
    assert reader.lines_replayed == _lines(path) and reader.snapshot_offset == 0  # the whole log
    assert "ignoring its snapshot" in caplog.text
    assert _state(reader) == _state(writer)
    renewed = JournalStorage(path, snapshot_bytes=EAGER)  # the next writer writes a good one
    renewed.list_studies()
    again = JournalStorage(path, read_only=True)
    assert again.list_studies() == ["a", "b"] and again.lines_replayed == 0
    assert _state(again) == _state(writer)


def _cut_back(path: str, keep: int) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(keep)


def test_a_stale_snapshot_is_ignored(path, caplog):
    """Snapshots of another log at the same path: begun again, cut back, cut back and written on."""
    _rich_log(path).close()
    _snapshot_now(path).close()
    old = Path(snap.snapshot_path(path)).read_bytes()
    offset = snap.read_header(snap.snapshot_path(path))["offset"]
    lines = Path(path).read_bytes().splitlines(keepends=True)

    def trials_in_log() -> int:
        return Path(path).read_bytes().count(b'{"op":"add_trial","study":"a"')

    def check(expect_trials_a: int) -> None:
        Path(snap.snapshot_path(path)).write_bytes(old)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="uqhpo"):
            reader = JournalStorage(path, read_only=True)
            assert reader.n_trials("a") == expect_trials_a
        assert "ignoring its snapshot" in caplog.text and reader.lines_replayed == _lines(path)

    # cut back to its first half: the log ends before the snapshot's offset
    Path(path).write_bytes(b"".join(lines[:12]))
    check(expect_trials_a=trials_in_log())
    # ... then written on past the snapshot's offset: other lines where the snapshot ends
    w = JournalStorage(path, snapshot_bytes=0)
    while os.path.getsize(path) < offset + 1000:
        w.add_trial("a", {"lr": 0.7 + os.path.getsize(path) / 1e9}, [1, 2, 3])
    check(expect_trials_a=trials_in_log())
    # deleted and begun again: the same lines but another creation time in the first one
    os.remove(path)
    again = JournalStorage(path, snapshot_bytes=0)
    again.create_study(study_record("a", created=12345.0))
    for i in range(40):
        again.add_trial("a", {"lr": i / 40}, [i])
    check(expect_trials_a=40)


def test_a_snapshot_never_covers_a_torn_tail(path):
    writer = _rich_log(path)
    with open(path, "ab") as fh:
        fh.write(b'{"op":"add_trial","study":"a","num')  # a write in progress
    _snapshot_now(path)
    assert snap.read_header(snap.snapshot_path(path))["offset"] == Path(path).read_bytes().rindex(b"\n") + 1
    writer.add_trial("a", {"lr": 0.3}, [1])  # ends the torn line first
    reader = JournalStorage(path, read_only=True)
    assert reader.n_trials("a") == 7 and reader.lines_replayed == 2  # the torn line (skipped) and the trial


def test_a_snapshot_in_progress_elsewhere_is_left_alone(path):
    _rich_log(path).close()
    marker = snap.snapshot_path(path) + ".writing"
    Path(marker).write_text("")
    JournalStorage(path, snapshot_bytes=EAGER).list_studies()
    assert not os.path.exists(snap.snapshot_path(path))
    os.utime(marker, (0, 0))  # its writer died long ago: the marker goes, the next check writes
    s = JournalStorage(path, snapshot_bytes=EAGER)
    s.list_studies()
    s.add_trial("a", {"lr": 0.2}, [1])
    assert not os.path.exists(marker) and os.path.exists(snap.snapshot_path(path))


def _writer(path: str, wid: int, n: int, go: Any) -> None:
    s = JournalStorage(path, snapshot_bytes=EAGER)
    go.wait()
    for i in range(n):
        number = s.add_trial("s", {"w": wid, "i": i}, [wid, i])
        for _ in range(2):
            r = s.claim("s", f"w{wid}", trial=number)
            assert r is not None
            s.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=float(i))
    s.close()


def test_two_processes_writing_with_snapshots(path):
    """Two spawned writers that snapshot as eagerly as possible while they append; a reader
    keeps a mirror from ``changes_since`` throughout. Nothing is lost or hidden."""
    s = JournalStorage(path, snapshot_bytes=0)
    s.create_study(study_record("s"))
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    n = 25
    procs = [ctx.Process(target=_writer, args=(path, wid, n, go)) for wid in (1, 2)]
    for p in procs:
        p.start()
    go.set()
    mirror: dict[int, Any] = {}
    seq = 0
    opened_from_snapshot = 0
    while any(p.is_alive() for p in procs):
        changed, seq = s.changes_since("s", seq)
        mirror.update((t.number, t) for t in changed)
        reader = JournalStorage(path, read_only=True)  # a fresh open: from the snapshot of the moment
        assert reader.n_trials("s") >= len(mirror)  # never behind what was read before it opened
        opened_from_snapshot += reader.snapshot_offset > 0
    for p in procs:
        p.join()
        assert p.exitcode == 0
    changed, seq = s.changes_since("s", seq)
    mirror.update((t.number, t) for t in changed)
    reader = JournalStorage(path, read_only=True)
    trials = reader.get_trials("s")
    assert reader.snapshot_offset > 0 and reader.lines_replayed < _lines(path) and opened_from_snapshot
    assert len(trials) == 2 * n and [mirror[t.number] for t in trials] == trials
    assert sorted((t.config["w"], t.config["i"]) for t in trials) == [(w, i) for w in (1, 2) for i in range(n)]
    assert all(r.state is State.COMPLETE for t in trials for r in t.replicates)
    assert _state(reader) == _state(_full_replay(path)) == _state(s)


class TestJournalSnapshotEveryWrite(MultiProcessConformance):
    """The whole conformance suite on journals that snapshot as eagerly as they can."""

    def make_storage(self, tmp_path: Path) -> Storage:
        return JournalStorage(tmp_path / "log" / "study.jsonl", snapshot_bytes=EAGER)


def test_bulk_blocks_promote_what_they_made_and_hide_nothing_from_the_collector():
    import gc
    import weakref

    from uqhpo.storage._json import BULK_PROMOTE, no_gc

    class Node:
        pass

    assert gc.isenabled()
    with no_gc(BULK_PROMOTE):
        made = [[i] for i in range(BULK_PROMOTE)]
        assert not gc.isenabled()
        cycle = Node()
        cycle.me = cycle  # type: ignore[attr-defined]
        gone = weakref.ref(cycle)
        del cycle
    assert gc.isenabled()
    young = {id(o) for o in gc.get_objects(generation=0)}
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert not any(id(o) in young for o in made) and all(id(o) in oldest for o in made)
    alive = gone() is not None  # promoted, not collected yet ...
    gc.collect()
    assert alive and gone() is None  # ... and a full collection still finds it
    with no_gc(10):  # a small block promotes nothing
        few = [[1], [2]]
    assert all(id(o) in {id(x) for x in gc.get_objects(generation=0)} for o in few)


def test_the_marker_of_a_dead_writer_on_this_host_is_removed_at_once(path):
    import socket
    import subprocess
    import sys

    from uqhpo.storage._lock import _pid_namespace

    if not _pid_namespace():
        pytest.skip("no /proc: only the marker's age tells")
    _rich_log(path).close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    marker = snap.snapshot_path(path) + ".writing"
    Path(marker).write_text(f"{dead.pid}.{_pid_namespace()}.abc.{socket.gethostname()}\n")
    s = JournalStorage(path, snapshot_bytes=EAGER)
    s.list_studies()  # finds the marker of a gone process: removes it
    assert not os.path.exists(marker) and not os.path.exists(snap.snapshot_path(path))
    s.add_trial("a", {"lr": 0.2}, [1])  # the next call writes the snapshot
    assert os.path.exists(snap.snapshot_path(path)) and not os.path.exists(marker)
    covered = snap.read_header(snap.snapshot_path(path))["offset"]
    grow = JournalStorage(path, snapshot_bytes=0)
    while os.path.getsize(path) < 1.5 * covered:  # a new snapshot is due ...
        grow.add_trial("a", {"lr": os.path.getsize(path) / 1e9}, [1])
    Path(marker).write_text(f"{os.getpid()}.{_pid_namespace()}.abc.{socket.gethostname()}\n")  # ... but alive
    JournalStorage(path, snapshot_bytes=EAGER).list_studies()
    assert os.path.exists(marker) and snap.read_header(snap.snapshot_path(path))["offset"] == covered
    os.remove(marker)
    JournalStorage(path, snapshot_bytes=EAGER).list_studies()
    assert snap.read_header(snap.snapshot_path(path))["offset"] == os.path.getsize(path)


def test_a_writer_removes_what_a_killed_snapshot_writer_left(path):
    _rich_log(path).close()
    folder = Path(path).parent
    old = folder / (Path(snap.snapshot_path(path)).name + ".abc123.tmp")   # as atomic_path names it
    young = folder / (Path(snap.snapshot_path(path)).name + ".def456.tmp")
    old.write_bytes(b"half a snapshot")
    young.write_bytes(b"being written")
    os.utime(old, (0, 0))
    _snapshot_now(path)
    assert not old.exists() and young.exists()   # only files no live writer can own go
