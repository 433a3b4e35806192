"""The single-process part of the storage conformance suite (see :mod:`uqhpo.testing.storage`)."""
from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pytest

from ...storage.base import ReplicateRef, Storage, StorageError, StudyExistsError, StudyRecord
from ...trial import Replicate, State, Trial
from .changes import ChangesChecks
from .reservation import ReservationChecks

__all__ = ["StorageConformance", "study_record", "by_key", "must_claim", "must_study"]


def study_record(name: str = "s", **overrides: object) -> StudyRecord:
    """A study record for tests (settings ``{"budget": {"trials": 10}}``)."""
    fields: dict = dict(name=name, direction="minimize", seed=7,
                        space={"lr": {"type": "real", "low": 1e-4, "high": 0.1}}, space_fingerprint="fp-" + name,
                        config_hash="h1", settings={"budget": {"trials": 10}})
    fields.update(overrides)
    return StudyRecord(**fields)


def must_claim(storage: Storage, study: str, worker: str, trial: Optional[int] = None,
               index: Optional[int] = None, now: Optional[float] = None) -> Replicate:
    """``storage.claim(...)`` where a WAITING replicate is there to be claimed."""
    r = storage.claim(study, worker, trial=trial, index=index, now=now)
    assert r is not None, f"claim(trial={trial}, index={index}) found nothing although a replicate was WAITING"
    return r


def must_study(storage: Storage, name: str) -> StudyRecord:
    """``storage.get_study(name)`` of a study that exists."""
    record = storage.get_study(name)
    assert record is not None, f"get_study('{name}') returned None for an existing study"
    return record


def by_key(trials: list[Trial]) -> dict[tuple[int, int, int], Replicate]:
    """Every stored replicate attempt by (trial, index, attempt)."""
    return {(t.number, r.index, r.attempt): r for t in trials for r in t.replicates}


class StorageConformance(ReservationChecks, ChangesChecks):
    """Checks every backend passes. Override :meth:`make_storage`.

    The ``storage`` fixture is a fresh storage holding one study, ``"s"``.
    """

    def make_storage(self, tmp_path: Path) -> Storage:
        """A new, empty storage (files, if any, under ``tmp_path``)."""
        raise NotImplementedError("a conformance test class must define make_storage(self, tmp_path)")

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        s = self.make_storage(tmp_path)
        s.create_study(study_record())
        yield s
        s.close()

    # -- studies ----------------------------------------------------------------------------
    def test_create_get_list_study(self, storage: Storage) -> None:
        expected = study_record("second", direction="maximize", seed=3, settings={"a": [1, [2, 3]]}, created=5.0)
        storage.create_study(expected)
        assert storage.list_studies() == ["s", "second"]
        assert storage.get_study("second") == expected
        assert storage.get_study("missing") is None

    def test_duplicate_study_raises_and_keeps_the_first(self, storage: Storage) -> None:
        with pytest.raises(StudyExistsError, match="'s'"):
            storage.create_study(study_record(seed=99, settings={"other": 1}))
        assert storage.list_studies() == ["s"]
        assert must_study(storage, "s") == study_record(created=must_study(storage, "s").created)

    def test_update_settings(self, storage: Storage) -> None:
        storage.update_settings("s", {"budget": {"trials": 40}, "strategy": "rbf"})
        record = must_study(storage, "s")
        assert record.settings == {"budget": {"trials": 40}, "strategy": "rbf"}
        record.settings["budget"]["trials"] = 0  # a copy: the stored record stays
        assert must_study(storage, "s").settings["budget"] == {"trials": 40}
        with pytest.raises(StorageError, match="nope"):
            storage.update_settings("nope", {})

    def test_unknown_study_is_refused_everywhere(self, storage: Storage) -> None:
        calls = {
            "add_trial": lambda: storage.add_trial("nope", {}, [1]),
            "claim": lambda: storage.claim("nope", "w"),
            "heartbeat": lambda: storage.heartbeat("nope", 0, 0, 0),
            "finish": lambda: storage.finish("nope", 0, 0, 0, State.FAILED),
            "add_report": lambda: storage.add_report("nope", 0, 0, 0, 0, {}),
            "extend_trial": lambda: storage.extend_trial("nope", 0, 1),
            "retry": lambda: storage.retry("nope", 0, 0),
            "requeue_stale": lambda: storage.requeue_stale("nope", 1.0),
            "get_trials": lambda: storage.get_trials("nope"),
            "get_trial": lambda: storage.get_trial("nope", 0),
            "n_trials": lambda: storage.n_trials("nope"),
        }
        for name, call in calls.items():
            with pytest.raises(StorageError):
                call()
                pytest.fail(f"{name} accepted an unknown study")
        assert storage.list_studies() == ["s"]

    # -- trials -----------------------------------------------------------------------------
    def test_add_trial_numbering(self, storage: Storage) -> None:
        numbers = [storage.add_trial("s", {"lr": 0.01 * (i + 1), "act": "relu"}, [10 + i, 20 + i], {"i": i})
                   for i in range(4)]
        assert numbers == [0, 1, 2, 3] and storage.n_trials("s") == 4
        assert [t.number for t in storage.get_trials("s")] == [0, 1, 2, 3]
        t2 = storage.get_trial("s", 2)
        assert (t2.config, t2.user_attrs, t2.n_replicates) == ({"lr": 0.03, "act": "relu"}, {"i": 2}, 2)
        assert t2.created is not None and abs(t2.created - time.time()) < 3600
        assert [(r.index, r.attempt, r.seed, r.state) for r in t2.replicates] == [
            (0, 0, 12, State.WAITING), (1, 0, 22, State.WAITING)]
        for missing in (9, -1):
            with pytest.raises(StorageError):
                storage.get_trial("s", missing)

    def test_records_are_copies_both_ways(self, storage: Storage) -> None:
        config: dict[str, list] = {"x": [1, 2]}
        metrics: dict[str, list] = {"m": [1]}
        storage.add_trial("s", config, [1])
        config["x"].append("changed by the caller")
        r = must_claim(storage, "s", "w")
        r.worker = "changed"
        storage.add_report("s", 0, 0, 0, 0, metrics)
        storage.finish("s", 0, 0, 0, State.COMPLETE, loss=1.0, metrics=metrics)
        metrics["m"].append("changed")
        t = storage.get_trials("s")[0]
        t.config["x"].append(3)
        t.user_attrs["junk"] = 1
        t.replicates[0].metrics["junk"] = 1
        t.replicates[0].reports[0][1]["junk"] = 1
        fresh = storage.get_trial("s", 0)
        assert (fresh.config, fresh.user_attrs) == ({"x": [1, 2]}, {})
        assert (fresh.replicates[0].worker, fresh.replicates[0].metrics) == ("w", {"m": [1]})
        assert fresh.replicates[0].reports == [(0, {"m": [1]})]

    def test_claim_order_and_restriction(self, storage: Storage) -> None:
        for i in range(2):
            storage.add_trial("s", {"i": i}, [i * 10, i * 10 + 1])
        r = must_claim(storage, "s", "w-a", trial=1, index=1, now=100.0)
        assert (r.trial, r.index, r.attempt, r.state, r.seed) == (1, 1, 0, State.RUNNING, 11)
        assert (r.worker, r.heartbeat, r.started) == ("w-a", 100.0, 100.0)
        assert must_claim(storage, "s", "w", now=1.0).trial == 0
        assert must_claim(storage, "s", "w", trial=0, now=1.0).index == 1
        assert storage.claim("s", "w", trial=0, now=1.0) is None
        r = must_claim(storage, "s", "w", index=0, now=1.0)
        assert (r.trial, r.index) == (1, 0)
        assert storage.claim("s", "w", now=1.0) is None
        assert storage.claim("s", "w", trial=5, now=1.0) is None
        stored = by_key(storage.get_trials("s"))
        assert all(x.state == State.RUNNING for x in stored.values())
        assert stored[(1, 1, 0)].worker == "w-a"

    def test_claim_hands_out_each_attempt_once(self, storage: Storage) -> None:
        for i in range(3):
            storage.add_trial("s", {"i": i}, [i, i + 10])
        keys = []
        while (r := storage.claim("s", "w")) is not None:
            keys.append((r.trial, r.index, r.attempt))
            assert len(keys) <= 6, f"claim handed out {keys[-1]} again"
        assert sorted(keys) == keys == [(t, i, 0) for t in range(3) for i in range(2)]
        assert all(r.state == State.RUNNING for r in by_key(storage.get_trials("s")).values())

    def test_finish_claimed(self, storage: Storage) -> None:
        storage.add_trial("s", {"i": 0}, [5, 6])
        for _ in range(2):
            r = must_claim(storage, "s", "w", now=10.0)
            storage.heartbeat("s", r.trial, r.index, r.attempt, now=12.0)
            storage.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=0.5 + r.index,
                           metrics={"acc": 0.9}, runtime=1.5, now=13.0)
        t = storage.get_trial("s", 0)
        assert t.state == State.COMPLETE and list(t.losses) == [0.5, 1.5]
        r0 = t.replicates[0]
        assert (r0.heartbeat, r0.started, r0.finished, r0.runtime, r0.metrics) == (12.0, 10.0, 13.0, 1.5, {"acc": 0.9})

    def test_finish_a_waiting_attempt(self, storage: Storage) -> None:
        storage.add_trial("s", {}, [1])
        storage.finish("s", 0, 0, 0, State.COMPLETE, loss=2.0, now=3.0)  # ask/tell without a worker
        r = storage.get_trial("s", 0).replicates[0]
        assert (r.state, r.loss, r.finished) == (State.COMPLETE, 2.0, 3.0)
        assert storage.claim("s", "w") is None

    def test_finished_records_never_change(self, storage: Storage) -> None:
        storage.add_trial("s", {}, [1, 2, 3])
        for index, state, loss in [(0, State.COMPLETE, 0.25), (1, State.FAILED, None)]:
            must_claim(storage, "s", "w", index=index, now=1.0)
            storage.finish("s", 0, index, 0, state, loss=loss, error="boom" if loss is None else None, now=2.0)
        must_claim(storage, "s", "w", index=2, now=1.0)
        storage.requeue_stale("s", timeout=1.0, now=50.0)  # index 2 goes STALE
        before = storage.get_trial("s", 0).replicates
        assert [r.state for r in before if r.attempt == 0] == [State.COMPLETE, State.FAILED, State.STALE]
        for index in range(3):
            for state, loss in [(State.COMPLETE, 0.1), (State.FAILED, None)]:
                with pytest.raises(StorageError, match="never change"):
                    storage.finish("s", 0, index, 0, state, loss=loss)
            storage.heartbeat("s", 0, index, 0, now=99.0)        # ignored: no longer RUNNING
            storage.add_report("s", 0, index, 0, 5, {"late": 1})  # ignored: finished
        assert storage.claim("s", "w", index=0) is None and storage.claim("s", "w", index=1) is None
        after = storage.get_trial("s", 0).replicates
        assert [r for r in after if r.attempt == 0] == [r for r in before if r.attempt == 0]
        with pytest.raises(StorageError):
            storage.finish("s", 0, 0, 7, State.COMPLETE, loss=1.0)

    def test_complete_needs_finite_loss(self, storage: Storage) -> None:
        storage.add_trial("s", {}, [1])
        must_claim(storage, "s", "w")
        for loss in [None, float("nan"), float("inf"), -float("inf")]:
            with pytest.raises(StorageError, match="finite"):
                storage.finish("s", 0, 0, 0, State.COMPLETE, loss=loss)
        for state in (State.WAITING, State.RUNNING, State.STALE):
            with pytest.raises(StorageError, match="COMPLETE or FAILED"):
                storage.finish("s", 0, 0, 0, state, loss=1.0)
        assert storage.get_trial("s", 0).replicates[0].state == State.RUNNING  # refusals changed nothing
        storage.finish("s", 0, 0, 0, State.FAILED, loss=float("nan"), error="loss is NaN")
        r = storage.get_trial("s", 0).replicates[0]
        assert (r.state, r.loss, r.error) == (State.FAILED, None, "loss is NaN")

    def test_retry_after_failed(self, storage: Storage) -> None:
        storage.add_trial("s", {}, [11, 12])
        with pytest.raises(StorageError, match="WAITING"):
            storage.retry("s", 0, 1)
        r = must_claim(storage, "s", "w", trial=0, index=1)
        with pytest.raises(StorageError, match="RUNNING"):
            storage.retry("s", 0, 1)
        storage.finish("s", 0, 1, 0, State.FAILED, error="Traceback: boom")
        assert storage.retry("s", 0, 1) == 1
        with pytest.raises(StorageError, match="WAITING"):
            storage.retry("s", 0, 1)  # the new attempt is the latest now
        t = storage.get_trial("s", 0)
        assert [(x.index, x.attempt, x.seed, x.state) for x in t.replicates] == [
            (0, 0, 11, State.WAITING), (1, 0, 12, State.FAILED), (1, 1, 12, State.WAITING)]
        assert t.replicates[1].error == "Traceback: boom"
        again = must_claim(storage, "s", "w2", index=1)
        assert (again.trial, again.index, again.attempt, again.seed) == (0, 1, 1, r.seed)
        storage.finish("s", 0, 1, 1, State.COMPLETE, loss=0.5)
        assert storage.get_trial("s", 0).latest()[1].loss == 0.5
        for trial, index in [(3, 0), (0, 5)]:
            with pytest.raises(StorageError):
                storage.retry("s", trial, index)

    def test_extend_trial_adds_a_waiting_replicate(self, storage: Storage) -> None:
        storage.add_trial("s", {"lr": 0.01}, [5])
        r = must_claim(storage, "s", "w")
        storage.finish("s", 0, 0, r.attempt, State.COMPLETE, loss=0.5)
        assert storage.extend_trial("s", 0, seed=77) == 1
        t = storage.get_trial("s", 0)
        assert t.n_replicates == 2 and t.state == State.WAITING
        assert [(x.index, x.attempt, x.seed, x.state) for x in t.replicates] == [
            (0, 0, 5, State.COMPLETE), (1, 0, 77, State.WAITING)]
        claimed = must_claim(storage, "s", "w")
        assert (claimed.trial, claimed.index, claimed.seed) == (0, 1, 77)
        assert storage.extend_trial("s", 0, seed=78) == 2
        assert storage.get_trial("s", 0).n_replicates == 3
        with pytest.raises(StorageError):
            storage.extend_trial("s", 9, seed=1)

    def test_requeue_stale(self, storage: Storage) -> None:
        storage.add_trial("s", {}, [1, 2, 3])
        a = must_claim(storage, "s", "dead", now=100.0)
        b = must_claim(storage, "s", "alive", now=100.0)
        storage.heartbeat("s", b.trial, b.index, b.attempt, now=150.0)
        requeued = storage.requeue_stale("s", timeout=30.0, now=160.0)
        assert requeued == [(a.trial, a.index)] and requeued == [ReplicateRef(a.trial, a.index)]
        assert storage.requeue_stale("s", timeout=30.0, now=160.0) == []
        reps = {(r.index, r.attempt): r for r in storage.get_trial("s", 0).replicates}
        assert reps[(0, 0)].state == State.STALE and reps[(0, 0)].finished == 160.0
        assert reps[(0, 1)].state == State.WAITING and reps[(0, 1)].seed == a.seed
        assert reps[(1, 0)].state == State.RUNNING and reps[(2, 0)].state == State.WAITING
        with pytest.raises(StorageError, match="never change"):
            storage.finish("s", 0, 0, 0, State.COMPLETE, loss=1.0)  # the dead worker came back too late
        nxt = must_claim(storage, "s", "w")
        assert (nxt.index, nxt.attempt) == (0, 1)

    def test_reports_round_trip_in_order(self, storage: Storage) -> None:
        storage.add_trial("s", {}, [1, 2])
        must_claim(storage, "s", "w")
        reports: list[tuple[int, dict]] = [(0, {"val": 1.0}), (2, {"val": 0.5, "per_link": [0.1, 0.2]}),
                                           (1, {"val": 0.7})]
        for step, metrics in reports:
            storage.add_report("s", 0, 0, 0, step, metrics)
        storage.add_report("s", 0, 1, 0, 3, {"val": 7})  # WAITING is allowed (ask/tell users report too)
        reps = storage.get_trial("s", 0).replicates
        assert reps[0].reports == [(0, {"val": 1.0}), (2, {"val": 0.5, "per_link": [0.1, 0.2]}), (1, {"val": 0.7})]
        assert reps[1].reports == [(3, {"val": 7})]
        with pytest.raises(StorageError):
            storage.add_report("s", 0, 5, 0, 0, {})

    def test_json_round_trip(self, storage: Storage) -> None:
        storage.add_trial("s", {"layers": np.int64(3), "lr": np.float64(0.01), "shape": (2, 3)}, [np.int64(4)])
        must_claim(storage, "s", "w")
        metrics = {"per_link": np.arange(3, dtype=float), "nested": [[1, 2], [3, [4.5, None]]], "name": "ok",
                   "count": np.int64(5), "flag": True, "deep": {"a": {"b": [{"c": 1}]}}, "nan": math.nan,
                   "unicode": "Ω µ"}
        storage.finish("s", 0, 0, 0, State.COMPLETE, loss=np.float32(0.5), metrics=metrics, runtime=np.float64(2))
        r = storage.get_trials("s")[0].replicates[0]
        assert storage.get_trial("s", 0).config == {"layers": 3, "lr": 0.01, "shape": [2, 3]}
        stored = dict(r.metrics)
        assert math.isnan(stored.pop("nan"))
        assert stored == {"per_link": [0.0, 1.0, 2.0], "nested": [[1, 2], [3, [4.5, None]]], "name": "ok",
                          "count": 5, "flag": True, "deep": {"a": {"b": [{"c": 1}]}}, "unicode": "Ω µ"}
        assert json.dumps(stored)  # plain JSON types only
        assert (r.loss, r.seed, r.runtime) == (0.5, 4, 2.0) and type(r.seed) is int

    def test_threads_share_one_handle(self, storage: Storage) -> None:
        claimed: dict[int, list] = {w: [] for w in range(4)}
        numbers: dict[int, list] = {w: [] for w in range(4)}

        errors: list[BaseException] = []

        def work(w: int) -> None:
            try:
                for k in range(10):
                    numbers[w].append(storage.add_trial("s", {"w": w, "k": k}, [k]))
                    r = storage.claim("s", f"t{w}")
                    if r is not None:
                        claimed[w].append((r.trial, r.index, r.attempt))
                        storage.finish("s", r.trial, r.index, r.attempt, State.COMPLETE, loss=float(w))
            except BaseException as exc:  # a thread's exception would otherwise pass unseen
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(n for ns in numbers.values() for n in ns) == list(range(40))
        keys = [k for ks in claimed.values() for k in ks]
        assert len(keys) == len(set(keys))
        stored = by_key(storage.get_trials("s"))
        for w, ks in claimed.items():
            assert all(stored[k].worker == f"t{w}" and stored[k].loss == float(w) for k in ks)

