"""The study's per-trial cache (:class:`uqhpo.trial_cache.TrialCache`): the same answers as
the uncached functions, reads only the trials that changed, and sees other writers."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

import uqhpo
from uqhpo.policy import trainings_spent
from uqhpo.space import taken_keys
from uqhpo.storage import InMemoryStorage
from uqhpo.summary import (
    TrialList,
    best_of,
    best_summary,
    cached,
    cached_any,
    incumbent,
    pending_configs,
    std_prior,
    summarize_complete,
    with_waiting,
)
from uqhpo.trial import State, Trial
from uqhpo.trial_cache import TrialCache


def _space() -> uqhpo.Space:
    return uqhpo.Space({"x": uqhpo.Real(-5, 5), "n": uqhpo.Integer(0, 10)})


def _loss(config: dict, seed: int) -> float:
    return (config["x"] - 1) ** 2 + (config["n"] - 3) ** 2 + float(np.random.default_rng(seed).normal(0, 0.5))


def _mixed_study(storage: object = None, adaptive: bool = False, direction: str = "minimize") -> uqhpo.Study:
    """Complete, failed, partly failed, retried, running, waiting and overflowing trials."""
    study = uqhpo.create_study(_space(), strategy="random", seed=5, n_replicates=3, storage=storage,
                               adaptive_replicates=adaptive, direction=direction)
    name, store = study.name, study.storage
    for k in range(14):
        trial = study.ask()
        values = [_loss(trial.config, r.seed) for r in trial.waiting()]
        if k == 3:
            values = [math.nan] * len(values)           # every replicate failed
        elif k == 4:
            values[0] = math.nan                        # one failed
        elif k == 5:
            values = [1e308] * len(values)              # the aggregate overflows: counts as failed
        if k == 9:                                      # left running / waiting
            store.claim(name, "w", trial=trial.number, index=0)
            continue
        if k == 10:
            continue
        study.tell(trial, values)
    # a failed replicate retried, then completed
    trials = study.all_trials()
    partly = next((t for t in trials if t.state == State.COMPLETE and any(r.state == State.FAILED
                                                                          for r in t.replicates)),
                  [t for t in trials if t.state == State.FAILED][-1])
    index = next(r.index for r in partly.replicates if r.state == State.FAILED)
    store.retry(name, partly.number, index)
    r = store.claim(name, "w", trial=partly.number, index=index)
    assert r is not None
    store.finish(name, partly.number, index, r.attempt, State.COMPLETE, loss=0.75)
    if hasattr(State, "PRUNED"):  # a config stopped early by a pruner
        pruned = study.ask()
        first = pruned.waiting()[0]
        store.claim(name, "w", trial=pruned.number, index=first.index)
        store.finish(name, pruned.number, first.index, first.attempt, State.PRUNED, loss=3.0)
        for r in pruned.waiting()[1:]:
            store.finish(name, pruned.number, r.index, r.attempt, State.COMPLETE, loss=1.0)
    return study


def _plain(study: uqhpo.Study) -> list[Trial]:
    """The records as a plain list: every function computes instead of asking the cache."""
    return list(study.storage.get_trials(study.name))


def _assert_same_answers(study: uqhpo.Study) -> None:
    trials, plain = study.all_trials(), _plain(study)
    assert isinstance(trials, TrialList) and cached(trials, study.settings) is not None
    assert list(trials) == plain and cached(plain, study.settings) is None
    fast, slow = study.observations(trials), study.observations(plain)
    assert fast.configs == slow.configs and fast.failed == slow.failed
    assert np.array_equal(fast.values, slow.values) and np.array_equal(fast.variances, slow.variances)
    assert (fast.n_evaluations, fast.budget) == (slow.n_evaluations, slow.budget)
    assert trainings_spent(trials) == trainings_spent(plain) == sum(t.trainings_spent() for t in plain)
    assert cached_any(trials) is not None and cached_any(plain) is None
    assert slow.seen_keys is None and fast.seen_keys == taken_keys(study.space, slow.configs, slow.failed)
    assert std_prior(trials, study.settings) == std_prior(plain, study.settings)
    assert summarize_complete(trials, study.settings) == summarize_complete(plain, study.settings)
    assert best_summary(trials, study.settings) == best_of(summarize_complete(plain, study.settings), study.settings)
    assert incumbent(trials, study.settings) == incumbent(plain, study.settings)
    assert pending_configs(trials) == pending_configs(plain)
    assert with_waiting(trials) == with_waiting(plain)
    cache = cached(trials, study.settings)
    assert cache is not None
    for t, entry in zip(plain, cache.entries):
        assert (entry.state, entry.finished, entry.waiting) == (t.state, t.finished, bool(t.waiting()))


@pytest.mark.parametrize("adaptive, direction", [(False, "minimize"), (True, "minimize"), (False, "maximize"),
                                                 (True, "maximize")])
def test_cached_answers_equal_computed_ones(adaptive: bool, direction: str) -> None:
    study = _mixed_study(adaptive=adaptive, direction=direction)
    _assert_same_answers(study)
    states = {t.state for t in study.all_trials()}
    assert {State.COMPLETE, State.FAILED, State.WAITING} <= states
    # and after more changes, read incrementally
    for _ in range(3):
        trial = study.ask()
        study.tell(trial, [_loss(trial.config, r.seed) for r in trial.waiting()])
        _assert_same_answers(study)


def test_an_old_trial_list_is_not_answered_from_a_newer_cache() -> None:
    study = _mixed_study()
    old = study.all_trials()
    trial = study.ask()
    study.tell(trial, [0.0] * len(trial.waiting()))
    assert cached(old, study.settings) is None  # the cache moved on: functions compute from `old`
    assert pending_configs(old) == [t.config for t in old if not t.finished]
    assert summarize_complete(old, study.settings) == summarize_complete(list(old), study.settings)


def test_changed_settings_recompute_the_aggregates() -> None:
    study = _mixed_study()
    cache = TrialCache(study.storage, study.name, study.space, study.settings)
    before = cache.trials(study.settings)
    wider = study.settings.replace(kappa=3.0)
    trials = cache.trials(wider)
    assert cached(before, study.settings) is None and cached(trials, wider) is cache  # the old kappa: computed
    assert summarize_complete(trials, wider) == summarize_complete(list(trials), wider)
    assert best_summary(trials, wider) == best_of(summarize_complete(list(trials), wider), wider)


class _CountingStorage(InMemoryStorage):
    """An in-memory storage that counts the trial records it hands out."""

    def __init__(self) -> None:
        super().__init__()
        self.records_read = 0

    def changes_since(self, study: str, seq: int = 0) -> tuple[list[Trial], int]:
        trials, new = super().changes_since(study, seq)
        self.records_read += len(trials)
        return trials, new

    def get_trials(self, study: str) -> list[Trial]:
        trials = super().get_trials(study)
        self.records_read += len(trials)
        return trials

    def get_trial(self, study: str, number: int) -> Trial:
        self.records_read += 1
        return super().get_trial(study, number)


def _reads_per_ask_tell(n_stored: int) -> int:
    storage = _CountingStorage()
    study = uqhpo.create_study(_space(), strategy="random", seed=1, n_replicates=2, storage=storage)
    for _ in range(n_stored):
        trial = study.ask()
        study.tell(trial, [1.0, 2.0])
    storage.records_read = 0
    for _ in range(5):
        trial = study.ask()
        study.tell(trial, [_loss(trial.config, r.seed) for r in trial.waiting()])
        study.best_or_none()
    return storage.records_read


def test_ask_tell_reads_only_what_changed() -> None:
    few, many = _reads_per_ask_tell(5), _reads_per_ask_tell(120)
    assert many == few and many <= 5 * 4  # per cycle: the new trial (ask, tell, the cache) and nothing else


def test_same_proposals_as_without_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    def run() -> list[dict]:
        study = uqhpo.create_study(_space(), strategy="rbf", seed=4, n_replicates=2,
                                   strategy_options={"n_initial": 4}, adaptive_replicates=True)
        for _ in range(12):
            trial = study.ask()
            study.tell(trial, [_loss(trial.config, r.seed) for r in trial.waiting()])
        return [t.config for t in study.all_trials()] + [study.best.config]

    cached_run = run()
    monkeypatch.setattr(uqhpo.Study, "all_trials", lambda self: list(self.storage.get_trials(self.name)))
    assert run() == cached_run


def test_a_second_handle_sees_other_writers(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path}/s.db", f"journal:///{tmp_path}/s.jsonl"):
        ours = uqhpo.create_study(_space(), strategy="random", seed=2, n_replicates=2, storage=url)
        theirs = uqhpo.load_study(url)
        assert ours.all_trials() == []
        trial = theirs.ask()
        assert [t.number for t in ours.all_trials()] == [trial.number]
        theirs.tell(trial, [0.5, 0.7])
        assert ours.best.number == trial.number and ours.best.losses == (0.5, 0.7)
        mine = ours.ask()
        ours.tell(mine, [0.1, 0.2])
        assert theirs.best.number == mine.number
        _assert_same_answers(ours)
        _assert_same_answers(theirs)
        ours.storage.close()
        theirs.storage.close()


def _numbers(trials: Sequence[Trial]) -> list[int]:
    return [t.number for t in trials]


def test_with_waiting_and_pending_follow_claims() -> None:
    study = uqhpo.create_study(_space(), strategy="random", seed=0, n_replicates=2)
    a, b = study.ask(), study.ask()
    assert _numbers(with_waiting(study.all_trials())) == [a.number, b.number]
    study.storage.claim(study.name, "w", trial=a.number, index=0)
    study.storage.claim(study.name, "w", trial=a.number, index=1)
    trials = study.all_trials()
    assert _numbers(with_waiting(trials)) == [b.number] and len(pending_configs(trials)) == 2
    study.tell(b, [1.0, 1.0])
    assert pending_configs(study.all_trials()) == [a.config]


def test_the_incumbent_moves_when_it_gets_worse() -> None:
    study = uqhpo.create_study(_space(), strategy="random", seed=0, n_replicates=2)
    a, b = study.ask(), study.ask()
    study.tell(a, [0.1, 0.1])
    study.tell(b, [0.5, 0.5])
    assert study.best.number == a.number
    study.extend(a.number)
    assert study.best.number == b.number  # a is waiting for its new replicate
    study.tell(a.number, [9.0])
    assert study.best.number == b.number
    assert best_summary(study.all_trials(), study.settings) == best_of(summarize_complete(_plain(study),
                                                                                          study.settings),
                                                                       study.settings)


@pytest.mark.parametrize("adaptive", [False, True])
def test_the_incumbent_of_a_large_study_read_at_once(adaptive: bool) -> None:
    """Many trials read in one go: the incumbent is ranked on exact aggregates (ties, near
    ties below the rough estimate's resolution, overflowing and single-replicate trials)."""
    study = uqhpo.create_study(_space(), strategy="random", seed=0, n_replicates=3, adaptive_replicates=adaptive)
    store, rng = study.storage, np.random.default_rng(3)
    best = [0.2, 0.3, 0.25]
    for n in range(400):
        config = {"x": float(rng.uniform(-5, 5)), "n": int(rng.integers(0, 11))}
        losses = [float(v) for v in rng.uniform(0.5, 2.0, size=1 if n % 5 == 0 else 3)]
        if n in (150, 90):
            losses = list(best)                          # an exact tie: the lower number wins
        elif n == 60:
            losses = [best[0], best[1], best[2] * (1 + 1e-15)]  # a near tie, a hair worse
        elif n % 97 == 0:
            losses = [1e308, -1e308, 1e308]              # overflows: not ranked
        store.add_trial(study.name, config, list(range(len(losses))))
        for i, v in enumerate(losses):
            store.finish(study.name, n, i, 0, State.COMPLETE, loss=v)
    fresh = uqhpo.load_study(store, study.name)
    trials = fresh.all_trials()
    expected = best_of(summarize_complete(list(trials), fresh.settings), fresh.settings)
    assert expected is not None
    assert fresh.best_or_none() == expected
    if not adaptive:
        assert expected.number == 90
    _assert_same_answers(fresh)


def test_a_trial_list_pickles_and_copies_as_a_plain_list() -> None:
    import copy
    import pickle

    study = _mixed_study()
    trials = study.all_trials()
    for clone in (pickle.loads(pickle.dumps(trials)), copy.deepcopy(trials), copy.copy(trials)):
        assert type(clone) is list and clone == list(trials)


def test_key_overlay_adds_without_copying_the_base_and_removes_by_copying():
    from uqhpo.space import KeyOverlay

    base = {"a", "b"}
    keys = KeyOverlay(base, ["b", "c"])
    assert len(keys) == 3 and {"a", "b", "c"} == set(keys) and "c" in keys and "d" not in keys
    keys.add("a")
    keys.add("d")
    assert len(keys) == 4 and "d" in keys
    keys.discard("a")
    keys.discard("d")
    assert set(keys) == {"b", "c"} and base == {"a", "b"}   # the base itself is never changed
