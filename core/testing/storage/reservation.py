"""Conformance checks of the reservation and targeted re-queue methods of a storage.

Mixed into :class:`~uqhpo.testing.storage.StorageConformance`: ``reserve_trial`` (a
trial added only at the expected number and, optionally, only with a config no other
trial has and within a cap on the trainings spent) and ``requeue_stale(workers=...)``
(re-queue the attempts of a driver known to be dead, at once).
"""
from __future__ import annotations

from ...storage.base import ReplicateRef, Storage
from ...trial import State

__all__ = ["ReservationChecks"]


class ReservationChecks:
    """Tests over the ``storage`` fixture of the class they are mixed into (study ``"s"``)."""

    def test_reserve_trial_at_the_next_number(self, storage: Storage) -> None:
        assert storage.reserve_trial("s", 0, {"lr": 0.1}, [5, 6])
        t = storage.get_trial("s", 0)
        assert t.config == {"lr": 0.1} and [r.seed for r in t.replicates] == [5, 6]
        assert all(r.state == State.WAITING for r in t.replicates)
        assert not storage.reserve_trial("s", 0, {"lr": 0.2}, [1])   # number taken
        assert not storage.reserve_trial("s", 5, {"lr": 0.2}, [1])   # not the next number
        assert storage.n_trials("s") == 1
        assert storage.reserve_trial("s", 1, {"lr": 0.2}, [1], user_attrs={"by": "me"})
        assert storage.get_trial("s", 1).user_attrs == {"by": "me"}

    def test_reserve_trial_refuses_a_taken_config(self, storage: Storage) -> None:
        storage.add_trial("s", {"lr": 0.1, "n": 2}, [1])
        assert not storage.reserve_trial("s", 1, {"lr": 0.1, "n": 2}, [1])
        assert not storage.reserve_trial("s", 1, {"n": 2, "lr": 0.1}, [1])  # key order does not matter
        assert storage.n_trials("s") == 1
        assert storage.reserve_trial("s", 1, {"lr": 0.1, "n": 2}, [1], unique=False)
        assert storage.reserve_trial("s", 2, {"lr": 0.1, "n": 3}, [1])
        assert [t.number for t in storage.get_trials("s")] == [0, 1, 2]

    def test_a_training_cap_refuses_what_would_pass_it(self, storage: Storage) -> None:
        storage.add_trial("s", {"lr": 0.1}, [1, 2])
        r = storage.claim("s", "w")
        assert r is not None
        storage.finish("s", r.trial, r.index, r.attempt, State.FAILED, error="interrupted by SIGTERM")
        assert storage.retry("s", r.trial, r.index) == 1              # spent: 2 (the interrupted one is not)
        assert not storage.reserve_trial("s", 1, {"lr": 0.2}, [3, 4], max_trainings=3)
        assert storage.extend_trial("s", 0, seed=5, max_trainings=2) is None
        assert storage.n_trials("s") == 1 and storage.get_trial("s", 0).n_replicates == 2
        assert storage.reserve_trial("s", 1, {"lr": 0.2}, [3], max_trainings=3)  # 3 of 3
        assert storage.extend_trial("s", 1, seed=6, max_trainings=3) is None
        failed = storage.claim("s", "w")
        assert failed is not None
        storage.finish("s", failed.trial, failed.index, failed.attempt, State.FAILED, error="boom")
        assert storage.extend_trial("s", 1, seed=6, max_trainings=4) == 1    # a failed training counts: 4 of 4
        assert not storage.reserve_trial("s", 2, {"lr": 0.3}, [7], max_trainings=4)

    def test_requeue_stale_of_named_workers_only(self, storage: Storage) -> None:
        storage.add_trial("s", {}, [1, 2, 3])
        dead = storage.claim("s", "driver:h:1", now=100.0)
        alive = storage.claim("s", "driver:h:2", now=100.0)
        assert dead is not None and alive is not None
        assert storage.requeue_stale("s", timeout=0.0, now=100.5, workers=["driver:h:1"]) == \
            [ReplicateRef(dead.trial, dead.index)]
        reps = {(r.index, r.attempt): r for r in storage.get_trial("s", 0).replicates}
        assert reps[(dead.index, 0)].state == State.STALE and reps[(dead.index, 1)].state == State.WAITING
        assert reps[(alive.index, 0)].state == State.RUNNING
        assert storage.requeue_stale("s", timeout=0.0, now=100.5, workers=["nobody"]) == []
