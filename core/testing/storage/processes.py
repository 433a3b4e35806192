"""The multi-process part of the storage conformance suite (see :mod:`uqhpo.testing.storage`).

Workers run in processes started with ``spawn`` (as the executors start them) and get
the storage by pickling; each writes what it saw to a JSON file that the test reads.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import pickle
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from ...storage.base import Storage, StorageError
from ...trial import State
from .changes import ProcessChangesChecks
from .suite import StorageConformance, by_key, must_claim

__all__ = ["MultiProcessConformance"]

N_WORKERS, TRIALS_EACH, SEEDS_EACH = 6, 12, 2
PAYLOAD = list(range(4000))  # ~20 kB a record: a kill often lands in the middle of a write


def _race_worker(storage: Storage, wid: int, out_dir: str, go: Event) -> None:
    go.wait()
    try:  # every worker tries to close the one attempt the test claimed: one may win
        storage.finish("s", 0, 0, 0, State.COMPLETE, loss=float(wid), metrics={"w": wid})
        won = True
    except StorageError:
        won = False
    added, claimed = {}, []

    def claim_and_finish() -> bool:
        r = storage.claim("s", f"w{wid}")
        if r is None:
            return False
        claimed.append([r.trial, r.index, r.attempt])
        storage.heartbeat("s", r.trial, r.index, r.attempt)
        storage.add_report("s", r.trial, r.index, r.attempt, 0, {"w": wid})
        storage.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=wid + r.index / 10, metrics={"w": wid})
        return True

    for k in range(TRIALS_EACH):
        number = storage.add_trial("s", {"w": wid, "k": k}, [wid * 100 + k, wid * 100 + k + 50])
        added[number] = k
        claim_and_finish()
    while claim_and_finish():
        pass
    Path(out_dir, f"{wid}.json").write_text(json.dumps({"won": won, "added": added, "claimed": claimed}))
    storage.close()


def _write_until_killed(storage: Storage, ready: Event) -> None:
    n = 0
    while True:
        number = storage.add_trial("s", {"n": n, "payload": PAYLOAD}, [n, n + 1])
        r = must_claim(storage, "s", "doomed", trial=number, index=0)
        storage.add_report("s", r.trial, r.index, r.attempt, 0, {"payload": PAYLOAD})
        storage.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=float(n), metrics={"payload": PAYLOAD})
        n += 1
        if n == 5:
            ready.set()


class MultiProcessConformance(StorageConformance, ProcessChangesChecks):
    """The whole suite plus what a storage shared by several processes must do."""

    def open_again(self, storage: Storage) -> Storage:
        """A second handle on the same data (default: a pickle round trip, what spawned workers get)."""
        clone: Storage = pickle.loads(pickle.dumps(storage))
        return clone

    def test_reopen_sees_everything(self, storage: Storage) -> None:
        storage.add_trial("s", {"x": 1}, [1, 2])
        r = must_claim(storage, "s", "w", now=5.0)
        storage.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=0.1, metrics={"m": [1]})
        storage.update_settings("s", {"budget": {"trials": 20}})
        storage.extend_trial("s", 0, seed=9)
        storage.add_report("s", 0, 2, 0, 1, {"v": [1.5]})
        record, trials = storage.get_study("s"), storage.get_trials("s")
        storage.close()
        again = self.open_again(storage)
        assert (again.get_study("s"), again.get_trials("s")) == (record, trials)
        assert trials[0].n_replicates == 3 and trials[0].replicates[2].reports == [(1, {"v": [1.5]})]
        assert again.add_trial("s", {"x": 2}, [3]) == 1
        again.close()

    def test_two_handles_interleave(self, storage: Storage) -> None:
        a, b = storage, self.open_again(storage)
        assert b.list_studies() == ["s"]
        assert [a.add_trial("s", {}, [1]), b.add_trial("s", {}, [2]), a.add_trial("s", {}, [3])] == [0, 1, 2]
        first, second = must_claim(b, "s", "b"), must_claim(a, "s", "a")
        assert (first.trial, second.trial) == (0, 1)
        b.finish("s", 0, 0, 0, State.COMPLETE, loss=1.0)
        with pytest.raises(StorageError, match="never change"):
            a.finish("s", 0, 0, 0, State.COMPLETE, loss=2.0)  # a's view may be behind; it must catch up
        assert a.get_trial("s", 0).replicates[0].loss == 1.0
        assert b.get_trial("s", 1).replicates[0].worker == "a"
        b.close()

    def test_concurrent_processes(self, storage: Storage, tmp_path: Path) -> None:
        storage.add_trial("s", {"contested": True}, [0])
        must_claim(storage, "s", "test")
        ctx = mp.get_context("spawn")
        go = ctx.Event()
        procs = [ctx.Process(target=_race_worker, args=(storage, w, str(tmp_path), go)) for w in range(N_WORKERS)]
        for p in procs:
            p.start()
        go.set()
        for p in procs:
            p.join()
        assert [p.exitcode for p in procs] == [0] * N_WORKERS
        results = {w: json.loads((tmp_path / f"{w}.json").read_text()) for w in range(N_WORKERS)}

        winners = [w for w, res in results.items() if res["won"]]
        assert len(winners) == 1, f"several processes finished one attempt: {winners}"
        contested = storage.get_trial("s", 0).replicates[0]
        assert (contested.loss, contested.metrics) == (float(winners[0]), {"w": winners[0]})

        total = 1 + N_WORKERS * TRIALS_EACH
        numbers = [int(n) for res in results.values() for n in res["added"]]
        assert sorted(numbers) == list(range(1, total))  # no lost trial, contiguous, unique
        trials = storage.get_trials("s")
        assert len(trials) == total == storage.n_trials("s")
        for w, res in results.items():
            for n, k in res["added"].items():
                assert trials[int(n)].config == {"w": w, "k": k}

        claimed = {w: {tuple(c) for c in res["claimed"]} for w, res in results.items()}
        assert sum(len(c) for c in claimed.values()) == (total - 1) * SEEDS_EACH  # nothing claimed twice
        stored = by_key(trials)
        assert set().union(*claimed.values()) == set(stored) - {(0, 0, 0)}
        for w, keys in claimed.items():
            for key in keys:
                r = stored[key]
                assert (r.state, r.worker, r.loss, r.metrics) == (State.COMPLETE, f"w{w}", w + key[1] / 10, {"w": w})
                assert r.reports == [(0, {"w": w})]

    def test_killed_writer_leaves_a_whole_storage(self, storage: Storage) -> None:
        ctx = mp.get_context("spawn")
        ready = ctx.Event()
        proc = ctx.Process(target=_write_until_killed, args=(storage, ready))
        proc.start()
        while not ready.wait(0.05):
            assert proc.is_alive(), f"the writer stopped by itself (exit code {proc.exitcode})"
        proc.kill()  # SIGKILL: no cleanup, possibly in the middle of a write or holding a lock
        proc.join()

        again = self.open_again(storage)
        for handle in (storage, again):
            trials = handle.get_trials("s")
            assert len(trials) >= 5 and [t.number for t in trials] == list(range(len(trials)))
            assert handle.n_trials("s") == len(trials)
            for t in trials:
                assert t.config == {"n": t.number, "payload": PAYLOAD} and t.n_replicates == 2
                assert [(r.index, r.attempt) for r in t.replicates] == [(0, 0), (1, 0)]
                first, second = t.replicates
                assert second.state == State.WAITING and all(m == {"payload": PAYLOAD} for _, m in first.reports)
                if first.state == State.COMPLETE:
                    assert (first.loss, first.metrics) == (float(t.number), {"payload": PAYLOAD})
            assert all(t.replicates[0].state == State.COMPLETE for t in trials[:-1])

        # the storage takes new writes: a new trial gets the next number, the dead
        # worker's attempt is re-queued, and every waiting replicate can be run
        n = len(trials)
        assert again.add_trial("s", {"after": True}, [1]) == n
        again.requeue_stale("s", timeout=0.0, now=time.time() + 10)
        while (r := again.claim("s", "survivor")) is not None:
            again.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=1.0)
        assert all(t.state == State.COMPLETE for t in storage.get_trials("s"))
        assert storage.n_trials("s") == n + 1
        again.close()
