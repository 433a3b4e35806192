"""One suite every storage passes (in-memory, SQLite, journal); multi-process parts for the file ones."""
from __future__ import annotations

import json
import multiprocessing as mp
import threading
from pathlib import Path

import numpy as np
import pytest

from uqhpo.storage import (InMemoryStorage, JournalStorage, SQLiteStorage, Storage, StorageError,
                           StudyExistsError, StudyRecord, get_storage)
from uqhpo.trial import State

BACKENDS = ["memory", "sqlite", "journal"]
FILE_BACKENDS = ["sqlite", "journal"]


def _url(kind: str, tmp_path: Path) -> str:
    return {"memory": "memory", "sqlite": f"sqlite:///{tmp_path}/db/study.db",
            "journal": f"journal:///{tmp_path}/log/study.jsonl"}[kind]


def _record(name: str = "s", **kw) -> StudyRecord:
    base = dict(name=name, direction="minimize", seed=7, space={"lr": {"type": "real", "low": 1e-4, "high": 0.1}},
                space_fingerprint="fp-" + name, config_hash="h1", settings={"budget": {"trials": 10}})
    base.update(kw)
    return StudyRecord(**base)


@pytest.fixture(params=BACKENDS)
def storage(request, tmp_path) -> Storage:
    s = get_storage(_url(request.param, tmp_path))
    s.create_study(_record())
    yield s
    s.close()


@pytest.fixture(params=FILE_BACKENDS)
def file_url(request, tmp_path) -> str:
    return _url(request.param, tmp_path)


# -- URLs -------------------------------------------------------------------------------------
def test_get_storage_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert isinstance(get_storage(None), InMemoryStorage)
    assert isinstance(get_storage(":memory:"), InMemoryStorage)
    rel = get_storage("sqlite:///runs/a/x.db")
    assert isinstance(rel, SQLiteStorage) and (tmp_path / "runs/a/x.db").exists()
    absolute = get_storage(f"sqlite:///{tmp_path}/abs/y.db")
    assert isinstance(absolute, SQLiteStorage) and absolute.path == str(tmp_path / "abs/y.db")
    assert isinstance(get_storage("journal:///j/z.jsonl"), JournalStorage) and (tmp_path / "j/z.jsonl").exists()
    assert isinstance(get_storage(str(tmp_path / "plain.jsonl")), JournalStorage)
    assert get_storage(rel) is rel
    for bad in ["postgres://host/db", "study.db", "sqlite:///", 42]:
        with pytest.raises(ValueError, match="storage"):
            get_storage(bad)


def test_memory_storage_is_not_shipped_to_processes():
    import pickle
    with pytest.raises(TypeError, match="sqlite:///"):
        pickle.dumps(InMemoryStorage())


# -- studies ----------------------------------------------------------------------------------
def test_create_get_list_study(storage):
    storage.create_study(_record("second", direction="maximize", seed=3, settings={"a": [1, [2, 3]]}))
    assert storage.list_studies() == ["s", "second"]
    got = storage.get_study("second")
    expected = _record("second", direction="maximize", seed=3, settings={"a": [1, [2, 3]]})
    for field in ["name", "direction", "seed", "space", "space_fingerprint", "config_hash", "settings"]:
        assert getattr(got, field) == getattr(expected, field), field
    assert storage.get_study("missing") is None


def test_duplicate_study_raises(storage):
    with pytest.raises(StudyExistsError, match="'s'"):
        storage.create_study(_record())
    assert storage.list_studies() == ["s"]


def test_update_settings(storage):
    storage.update_settings("s", {"budget": {"trials": 40}, "strategy": "rbf"})
    assert storage.get_study("s").settings == {"budget": {"trials": 40}, "strategy": "rbf"}
    with pytest.raises(StorageError, match="nope"):
        storage.update_settings("nope", {})


# -- trials -----------------------------------------------------------------------------------
def test_add_trial_numbering(storage):
    numbers = [storage.add_trial("s", {"lr": 0.01 * (i + 1), "act": "relu"}, [10 + i, 20 + i], {"i": i})
               for i in range(4)]
    assert numbers == [0, 1, 2, 3]
    assert storage.n_trials("s") == 4
    trials = storage.get_trials("s")
    assert [t.number for t in trials] == [0, 1, 2, 3]
    t2 = storage.get_trial("s", 2)
    assert t2.config == {"lr": 0.03, "act": "relu"} and t2.user_attrs == {"i": 2} and t2.n_replicates == 2
    assert [(r.index, r.attempt, r.seed, r.state) for r in t2.replicates] == [
        (0, 0, 12, State.WAITING), (1, 0, 22, State.WAITING)]
    with pytest.raises(StorageError):
        storage.get_trial("s", 9)
    with pytest.raises(StorageError, match="nope"):
        storage.add_trial("nope", {}, [1])


def test_returned_records_are_copies(storage):
    storage.add_trial("s", {"x": [1, 2]}, [1])
    t = storage.get_trials("s")[0]
    t.config["x"].append(3)
    t.replicates[0].metrics["junk"] = 1
    fresh = storage.get_trial("s", 0)
    assert fresh.config == {"x": [1, 2]} and fresh.replicates[0].metrics == {}


def test_claim_order_and_restriction(storage):
    for i in range(2):
        storage.add_trial("s", {"i": i}, [i * 10, i * 10 + 1])
    r = storage.claim("s", "w-a", trial=1, index=1, now=100.0)
    assert (r.trial, r.index, r.attempt, r.state) == (1, 1, 0, State.RUNNING)
    assert (r.worker, r.heartbeat, r.started) == ("w-a", 100.0, 100.0)
    assert (storage.claim("s", "w", now=1.0).trial, storage.claim("s", "w", trial=0, now=1.0).index) == (0, 1)
    assert storage.claim("s", "w", trial=0, now=1.0) is None
    r = storage.claim("s", "w", index=0, now=1.0)
    assert (r.trial, r.index) == (1, 0)
    assert storage.claim("s", "w", now=1.0) is None
    assert storage.claim("s", "w", trial=5, now=1.0) is None
    stored = {(x.trial, x.index): x for t in storage.get_trials("s") for x in t.replicates}
    assert all(x.state == State.RUNNING for x in stored.values())
    assert stored[(1, 1)].worker == "w-a"


def test_finish_claimed(storage):
    storage.add_trial("s", {"i": 0}, [5, 6])
    for _ in range(2):
        r = storage.claim("s", "w", now=10.0)
        storage.heartbeat("s", r.trial, r.index, r.attempt, now=12.0)
        storage.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=0.5 + r.index,
                       metrics={"acc": 0.9}, runtime=1.5, now=13.0)
    t = storage.get_trial("s", 0)
    assert t.state == State.COMPLETE and list(t.losses) == [0.5, 1.5]
    r0 = t.replicates[0]
    assert (r0.heartbeat, r0.started, r0.finished, r0.runtime, r0.metrics) == (12.0, 10.0, 13.0, 1.5, {"acc": 0.9})


def test_finished_records_never_change(storage):
    storage.add_trial("s", {}, [1])
    r = storage.claim("s", "w", now=1.0)
    storage.finish("s", 0, 0, 0, State.COMPLETE, loss=0.25, now=2.0)
    before = storage.get_trial("s", 0).replicates[0]
    for state, loss in [(State.COMPLETE, 0.1), (State.FAILED, None)]:
        with pytest.raises(StorageError, match="never change"):
            storage.finish("s", r.trial, r.index, r.attempt, state, loss=loss)
    storage.heartbeat("s", 0, 0, 0, now=99.0)        # ignored: no longer RUNNING
    storage.add_report("s", 0, 0, 0, 5, {"late": 1})  # ignored: finished
    assert storage.get_trial("s", 0).replicates[0] == before
    with pytest.raises(StorageError):
        storage.finish("s", 0, 0, 7, State.COMPLETE, loss=1.0)


def test_complete_needs_finite_loss(storage):
    storage.add_trial("s", {}, [1])
    storage.claim("s", "w")
    for loss in [None, float("nan"), float("inf")]:
        with pytest.raises(StorageError, match="finite"):
            storage.finish("s", 0, 0, 0, State.COMPLETE, loss=loss)
    storage.finish("s", 0, 0, 0, State.FAILED, loss=float("nan"), error="loss is NaN")
    r = storage.get_trial("s", 0).replicates[0]
    assert (r.state, r.loss, r.error) == (State.FAILED, None, "loss is NaN")


def test_retry_after_failed(storage):
    storage.add_trial("s", {}, [11, 12])
    with pytest.raises(StorageError, match="WAITING"):
        storage.retry("s", 0, 1)
    r = storage.claim("s", "w", trial=0, index=1)
    with pytest.raises(StorageError, match="RUNNING"):
        storage.retry("s", 0, 1)
    storage.finish("s", 0, 1, 0, State.FAILED, error="Traceback: boom")
    assert storage.retry("s", 0, 1) == 1
    t = storage.get_trial("s", 0)
    assert [(x.index, x.attempt, x.seed, x.state) for x in t.replicates] == [
        (0, 0, 11, State.WAITING), (1, 0, 12, State.FAILED), (1, 1, 12, State.WAITING)]
    assert t.replicates[1].error == "Traceback: boom"
    again = storage.claim("s", "w2", index=1)
    assert (again.trial, again.index, again.attempt, again.seed) == (0, 1, 1, r.seed)
    with pytest.raises(StorageError):
        storage.retry("s", 3, 0)


def test_extend_trial_adds_a_waiting_replicate(storage, tmp_path):
    storage.add_trial("s", {"lr": 0.01}, [5])
    r = storage.claim("s", "w")
    storage.finish("s", 0, 0, r.attempt, State.COMPLETE, loss=0.5)
    assert storage.get_trial("s", 0).state == State.COMPLETE
    assert storage.extend_trial("s", 0, seed=77) == 1
    t = storage.get_trial("s", 0)
    assert t.n_replicates == 2 and t.state == State.WAITING        # the new replicate is pending
    assert [(x.index, x.attempt, x.seed, x.state) for x in t.replicates] == [
        (0, 0, 5, State.COMPLETE), (1, 0, 77, State.WAITING)]
    claimed = storage.claim("s", "w")
    assert (claimed.trial, claimed.index, claimed.seed) == (0, 1, 77)
    assert storage.extend_trial("s", 0, seed=78) == 2
    with pytest.raises(StorageError):
        storage.extend_trial("s", 9, seed=1)
    # the growth survives a reopen of a file storage
    url = getattr(storage, "path", None)
    if url:
        again = get_storage(("sqlite:///" if str(url).endswith(".db") else "journal:///") + str(url))
        assert again.get_trial("s", 0).n_replicates == 3


def test_requeue_stale(storage):
    storage.add_trial("s", {}, [1, 2, 3])
    a = storage.claim("s", "dead", now=100.0)
    b = storage.claim("s", "alive", now=100.0)
    storage.heartbeat("s", b.trial, b.index, b.attempt, now=150.0)
    assert storage.requeue_stale("s", timeout=30.0, now=160.0) == [(a.trial, a.index)]
    assert storage.requeue_stale("s", timeout=30.0, now=160.0) == []
    reps = {(r.index, r.attempt): r for r in storage.get_trial("s", 0).replicates}
    assert reps[(0, 0)].state == State.STALE and reps[(0, 0)].finished == 160.0
    assert reps[(0, 1)].state == State.WAITING and reps[(0, 1)].seed == a.seed
    assert reps[(1, 0)].state == State.RUNNING
    with pytest.raises(StorageError, match="never change"):
        storage.finish("s", 0, 0, 0, State.COMPLETE, loss=1.0)  # the dead worker came back too late
    nxt = storage.claim("s", "w")
    assert (nxt.index, nxt.attempt) == (0, 1)


def test_reports_round_trip(storage):
    storage.add_trial("s", {}, [1, 2])
    storage.claim("s", "w")
    storage.add_report("s", 0, 0, 0, 0, {"val": 1.0})
    storage.add_report("s", 0, 0, 0, 1, {"val": 0.5, "per_link": [0.1, 0.2]})
    storage.add_report("s", 0, 1, 0, 3, {"val": 7})  # WAITING is allowed (ask/tell users report too)
    reps = storage.get_trial("s", 0).replicates
    assert reps[0].reports == [(0, {"val": 1.0}), (1, {"val": 0.5, "per_link": [0.1, 0.2]})]
    assert reps[1].reports == [(3, {"val": 7})]
    with pytest.raises(StorageError):
        storage.add_report("s", 0, 5, 0, 0, {})


def test_metrics_json_round_trip(storage):
    storage.add_trial("s", {"layers": np.int64(3), "lr": np.float64(0.01), "shape": (2, 3)}, [np.int64(4)])
    storage.claim("s", "w")
    metrics = {"per_link": np.arange(3, dtype=float), "nested": [[1, 2], [3, [4.5, None]]], "name": "ok",
               "count": np.int64(5), "flag": True, "deep": {"a": {"b": [{"c": 1}]}}}
    storage.finish("s", 0, 0, 0, State.COMPLETE, loss=np.float32(0.5), metrics=metrics)
    t = storage.get_trials("s")[0]
    assert t.config == {"layers": 3, "lr": 0.01, "shape": [2, 3]}
    assert t.replicates[0].metrics == {"per_link": [0.0, 1.0, 2.0], "nested": [[1, 2], [3, [4.5, None]]],
                                       "name": "ok", "count": 5, "flag": True, "deep": {"a": {"b": [{"c": 1}]}}}
    assert json.dumps(t.replicates[0].metrics)  # plain JSON types only
    assert t.replicates[0].loss == 0.5 and t.replicates[0].seed == 4


# -- file backends: several handles and processes -----------------------------------------------
def test_reopen_sees_everything(file_url):
    first = get_storage(file_url)
    first.create_study(_record())
    first.add_trial("s", {"x": 1}, [1, 2])
    r = first.claim("s", "w", now=5.0)
    first.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=0.1, metrics={"m": [1]})
    first.close()
    again = get_storage(file_url)
    assert again.get_study("s").settings == {"budget": {"trials": 10}}
    t = again.get_trial("s", 0)
    assert (t.replicates[0].state, t.replicates[0].loss, t.replicates[0].metrics) == (State.COMPLETE, 0.1, {"m": [1]})
    assert again.add_trial("s", {"x": 2}, [3]) == 1


def test_two_handles_interleave(file_url):
    a, b = get_storage(file_url), get_storage(file_url)
    a.create_study(_record())
    assert b.list_studies() == ["s"]
    assert [a.add_trial("s", {}, [1]), b.add_trial("s", {}, [2]), a.add_trial("s", {}, [3])] == [0, 1, 2]
    first = b.claim("s", "b")
    second = a.claim("s", "a")
    assert (first.trial, second.trial) == (0, 1)
    b.finish("s", 0, 0, 0, State.COMPLETE, loss=1.0)
    with pytest.raises(StorageError, match="never change"):
        a.finish("s", 0, 0, 0, State.COMPLETE, loss=2.0)  # a's cached view is behind; it must catch up
    assert a.get_trial("s", 0).replicates[0].loss == 1.0
    assert b.get_trial("s", 1).replicates[0].worker == "a"


N_WORKERS, TRIALS_EACH, SEEDS_EACH = 6, 12, 2


def _worker(url: str, wid: int, out_dir: str, go) -> None:
    storage = get_storage(url)
    go.wait()
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
    Path(out_dir, f"{wid}.json").write_text(json.dumps({"added": added, "claimed": claimed}))
    storage.close()


def test_concurrent_processes(file_url, tmp_path):
    storage = get_storage(file_url)
    storage.create_study(_record())
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=_worker, args=(file_url, w, str(tmp_path), go)) for w in range(N_WORKERS)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0] * N_WORKERS
    results = {w: json.loads((tmp_path / f"{w}.json").read_text()) for w in range(N_WORKERS)}

    numbers = [int(n) for res in results.values() for n in res["added"]]
    total = N_WORKERS * TRIALS_EACH
    assert sorted(numbers) == list(range(total))  # no lost trial, contiguous, unique
    trials = storage.get_trials("s")
    assert len(trials) == total == storage.n_trials("s")
    for w, res in results.items():
        for n, k in res["added"].items():
            assert trials[int(n)].config == {"w": w, "k": k}

    claimed = {w: {tuple(c) for c in res["claimed"]} for w, res in results.items()}
    assert sum(len(c) for c in claimed.values()) == total * SEEDS_EACH  # nothing claimed twice
    everything = {(t.number, r.index, r.attempt) for t in trials for r in t.replicates}
    assert set().union(*claimed.values()) == everything
    by_key = {(t.number, r.index, r.attempt): r for t in trials for r in t.replicates}
    for w, keys in claimed.items():
        for key in keys:
            r = by_key[key]
            assert (r.state, r.worker, r.loss, r.metrics) == (State.COMPLETE, f"w{w}", w + key[1] / 10, {"w": w})
            assert r.reports == [(0, {"w": w})]
    with pytest.raises(StorageError):
        storage.finish("s", 0, 0, 0, State.FAILED)


def test_concurrent_threads_share_one_handle(storage):
    claimed: dict[int, list] = {w: [] for w in range(4)}
    numbers: dict[int, list] = {w: [] for w in range(4)}

    def work(w: int) -> None:
        for k in range(10):
            numbers[w].append(storage.add_trial("s", {"w": w, "k": k}, [k]))
            r = storage.claim("s", f"t{w}")
            if r is not None:
                claimed[w].append((r.trial, r.index, r.attempt))
                storage.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=float(w))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(n for ns in numbers.values() for n in ns) == list(range(40))
    keys = [k for ks in claimed.values() for k in ks]
    assert len(keys) == len(set(keys))
    by_key = {(t.number, r.index, r.attempt): r for t in storage.get_trials("s") for r in t.replicates}
    for w, ks in claimed.items():
        assert all(by_key[k].worker == f"t{w}" and by_key[k].loss == float(w) for k in ks)
