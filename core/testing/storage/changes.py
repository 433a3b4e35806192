"""Conformance checks of ``Storage.changes_since``: a reader that keeps the trials and
asks only for what changed ends up with exactly what ``get_trials`` returns.

:class:`ChangesChecks` is mixed into :class:`~uqhpo.testing.storage.StorageConformance`
(one handle) and :class:`ProcessChangesChecks` into
:class:`~uqhpo.testing.storage.MultiProcessConformance` (other handles and spawned
processes write while the reader catches up).
"""
from __future__ import annotations

import multiprocessing as mp
import pickle
import time
from multiprocessing.synchronize import Event
from typing import Callable

import pytest

from ...storage.base import Storage, StorageError, StudyRecord
from ...trial import State, Trial

__all__ = ["ChangesChecks", "ProcessChangesChecks", "Mirror"]


class Mirror:
    """What a reader keeps: the trials by number, updated from ``changes_since`` only."""

    def __init__(self, storage: Storage, study: str = "s"):
        self.storage, self.study, self.seq = storage, study, 0
        self.trials: dict[int, Trial] = {}

    def catch_up(self) -> list[int]:
        """Apply the changes since the last call; the numbers of the trials that changed."""
        changed, seq = self.storage.changes_since(self.study, self.seq)
        assert seq >= self.seq, f"changes_since went back from sequence number {self.seq} to {seq}"
        numbers = [t.number for t in changed]
        assert numbers == sorted(set(numbers)), f"changes_since returned trials {numbers}, not ascending and unique"
        for t in changed:
            self.trials[t.number] = t
        self.seq = seq
        return numbers

    def as_list(self) -> list[Trial]:
        return [self.trials[n] for n in sorted(self.trials)]


def _changed_by(storage: Storage, mirror: Mirror, write: Callable[[], object]) -> list[int]:
    seq = mirror.seq
    write()
    numbers = mirror.catch_up()
    assert mirror.seq > seq, "a change did not advance the sequence number"
    return numbers


class ChangesChecks:
    """Single-handle checks over the ``storage`` fixture (study ``"s"``)."""

    def test_changes_since_zero_is_everything(self, storage: Storage) -> None:
        assert storage.changes_since("s", 0)[0] == []
        for i in range(3):
            storage.add_trial("s", {"i": i}, [i, i + 10])
        trials, seq = storage.changes_since("s", 0)
        assert trials == storage.get_trials("s") and seq > 0
        assert storage.changes_since("s", seq) == ([], seq)  # nothing changed since
        with pytest.raises(StorageError):
            storage.changes_since("nope", 0)

    def test_each_kind_of_change_is_reported(self, storage: Storage) -> None:
        for i in range(3):
            storage.add_trial("s", {"i": i}, [i, i + 10])
        mirror = Mirror(storage)
        mirror.catch_up()
        assert _changed_by(storage, mirror, lambda: storage.claim("s", "w", trial=1, index=0, now=100.0)) == [1]
        assert _changed_by(storage, mirror, lambda: storage.heartbeat("s", 1, 0, 0, now=101.0)) == [1]
        assert _changed_by(storage, mirror, lambda: storage.add_report("s", 1, 0, 0, 3, {"v": 1.0})) == [1]
        assert _changed_by(storage, mirror, lambda: storage.finish("s", 1, 0, 0, State.FAILED, error="x")) == [1]
        assert _changed_by(storage, mirror, lambda: storage.retry("s", 1, 0)) == [1]
        assert _changed_by(storage, mirror, lambda: storage.finish("s", 0, 1, 0, State.COMPLETE, loss=0.5)) == [0]
        assert _changed_by(storage, mirror, lambda: storage.extend_trial("s", 0, seed=7)) == [0]
        assert _changed_by(storage, mirror, lambda: storage.add_trial("s", {"i": 3}, [3])) == [3]
        assert _changed_by(storage, mirror, lambda: storage.reserve_trial("s", 4, {"i": 4}, [4])) == [4]
        storage.claim("s", "dead", trial=2, index=0, now=100.0)
        storage.claim("s", "dead", trial=4, index=0, now=100.0)
        mirror.catch_up()
        assert _changed_by(storage, mirror, lambda: storage.requeue_stale("s", 1.0, now=200.0)) == [2, 4]
        assert mirror.as_list() == storage.get_trials("s")

    def test_refused_writes_and_other_studies_change_nothing(self, storage: Storage) -> None:
        storage.add_trial("s", {"i": 0}, [1])
        storage.finish("s", 0, 0, 0, State.COMPLETE, loss=1.0)
        _, seq = storage.changes_since("s", 0)
        with pytest.raises(StorageError):
            storage.finish("s", 0, 0, 0, State.COMPLETE, loss=2.0)
        storage.add_report("s", 0, 0, 0, 1, {"late": 1})  # ignored: finished
        storage.heartbeat("s", 0, 0, 0)                  # ignored: not RUNNING
        assert not storage.reserve_trial("s", 1, {"i": 0}, [2])  # config taken
        storage.create_study(StudyRecord(name="other", direction="minimize", seed=1, space={},
                                         space_fingerprint="fp-other"))
        storage.add_trial("other", {"i": 0}, [1])
        storage.update_settings("s", {"budget": {"trials": 3}})
        assert storage.changes_since("s", seq)[0] == []
        assert [t.number for t in storage.changes_since("other", 0)[0]] == [0]

    def test_changed_trials_are_copies(self, storage: Storage) -> None:
        storage.add_trial("s", {"x": [1]}, [1])
        trials, _ = storage.changes_since("s", 0)
        trials[0].config["x"].append(2)
        trials[0].replicates[0].metrics["junk"] = 1
        assert storage.changes_since("s", 0)[0][0].config == {"x": [1]}
        assert storage.get_trial("s", 0).replicates[0].metrics == {}

    def test_a_mirror_follows_many_interleaved_writes(self, storage: Storage) -> None:
        mirror = Mirror(storage)
        for step in range(40):
            if step % 3 == 0:
                storage.add_trial("s", {"step": step}, [step, step + 1])
            r = storage.claim("s", "w", now=float(step))
            if r is not None and step % 2:
                storage.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=float(step))
            elif r is not None:
                storage.add_report("s", r.trial, r.index, r.attempt, step, {"v": step})
            if step % 7 == 0:
                storage.requeue_stale("s", 5.0, now=float(step))
            if step % 4 == 0:
                mirror.catch_up()
        mirror.catch_up()
        assert mirror.as_list() == storage.get_trials("s")


def _write_trials(storage: Storage, wid: int, n: int, go: Event) -> None:
    go.wait()
    for k in range(n):
        number = storage.add_trial("s", {"w": wid, "k": k}, [k, k + 1])
        for i in range(2):
            r = storage.claim("s", f"w{wid}", trial=number, index=i)
            if r is not None:
                storage.add_report("s", r.trial, r.index, r.attempt, 0, {"w": wid})
                storage.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=float(wid))
    storage.close()


class ProcessChangesChecks:
    """Checks with several handles and processes (mixed into ``MultiProcessConformance``)."""

    N_WRITERS, TRIALS_EACH = 3, 15

    def test_changes_of_another_handle(self, storage: Storage) -> None:
        reopen = getattr(self, "open_again", lambda s: pickle.loads(pickle.dumps(s)))
        other: Storage = reopen(storage)
        mirror = Mirror(storage)
        other.add_trial("s", {"i": 0}, [1, 2])
        assert mirror.catch_up() == [0]
        r = other.claim("s", "other")
        assert r is not None
        assert mirror.catch_up() == [0] and mirror.trials[0].replicates[0].state == State.RUNNING
        other.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=0.25)
        storage.add_trial("s", {"i": 1}, [3])
        assert mirror.catch_up() == [0, 1]
        assert mirror.as_list() == storage.get_trials("s") == other.get_trials("s")
        other.close()

    def test_mirror_of_concurrent_writer_processes(self, storage: Storage) -> None:
        """Spawned processes write while this one catches up again and again: the mirror
        built from changes alone ends equal to a full read (no change lost in a race)."""
        ctx = mp.get_context("spawn")
        go = ctx.Event()
        procs = [ctx.Process(target=_write_trials, args=(storage, w, self.TRIALS_EACH, go))
                 for w in range(self.N_WRITERS)]
        for p in procs:
            p.start()
        mirror = Mirror(storage)
        go.set()
        reads = 0
        while any(p.is_alive() for p in procs):
            mirror.catch_up()
            reads += 1
            time.sleep(0.005)
        for p in procs:
            p.join()
        assert [p.exitcode for p in procs] == [0] * self.N_WRITERS
        mirror.catch_up()
        trials = storage.get_trials("s")
        assert len(trials) == self.N_WRITERS * self.TRIALS_EACH and reads > 0
        assert mirror.as_list() == trials
        assert all(t.state == State.COMPLETE for t in trials)
