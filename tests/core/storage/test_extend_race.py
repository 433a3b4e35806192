"""Two drivers that both decide to top up the same trial add one replicate, not two:
``Storage.extend_trial(..., expected_replicates=n)`` is checked under the write lock."""
from __future__ import annotations

import multiprocessing as mp

import pytest

import uqhpo
from uqhpo.storage import get_storage
from uqhpo.storage.base import StudyRecord
from uqhpo.trial import State

URLS = {"sqlite": "sqlite:///{}/s.db", "journal": "journal:///{}/s.jsonl"}


def _record() -> StudyRecord:
    space = uqhpo.Space({"x": uqhpo.Real(0.0, 1.0)})
    return StudyRecord(name="s", direction="minimize", seed=0, space=space.to_dict(),
                       space_fingerprint=space.fingerprint())


@pytest.mark.parametrize("backend", sorted(URLS))
def test_second_connection_with_a_stale_count_is_refused(tmp_path, backend):
    url = URLS[backend].format(tmp_path)
    one, two = get_storage(url), get_storage(url)     # two connections on one file
    one.create_study(_record())
    one.add_trial("s", {"x": 0.5}, seeds=[1])
    seen_by_one = one.get_trial("s", 0).n_replicates
    seen_by_two = two.get_trial("s", 0).n_replicates    # both read 1 and decide to top up
    assert one.extend_trial("s", 0, seed=11, expected_replicates=seen_by_one) == 1
    assert two.extend_trial("s", 0, seed=12, expected_replicates=seen_by_two) is None
    trial = two.get_trial("s", 0)
    assert trial.n_replicates == 2 and [r.seed for r in trial.replicates] == [1, 11]
    assert two.extend_trial("s", 0, seed=12) == 2       # unconditional: as before


def test_in_memory_storage_refuses_too(tmp_path):
    store = get_storage(None)
    store.create_study(_record())
    store.add_trial("s", {"x": 0.5}, seeds=[1, 2])
    assert store.extend_trial("s", 0, seed=3, expected_replicates=1) is None
    assert store.extend_trial("s", 0, seed=3, expected_replicates=2) == 2


def _top_up(url: str, barrier, out) -> None:
    """One driver: load the study, read the incumbent's count, wait for the other, extend."""
    study = uqhpo.load_study(url)
    seen = study.all_trials()[0].n_replicates
    barrier.wait()
    out.put(study.extend(0, expected_replicates=seen))


@pytest.mark.parametrize("backend", sorted(URLS))
def test_two_processes_topping_up_the_same_trial_add_one_replicate(tmp_path, backend):
    url = URLS[backend].format(tmp_path)
    study = uqhpo.create_study(uqhpo.Space({"x": uqhpo.Real(0.0, 1.0)}), strategy="random", seed=0,
                               storage=url, n_replicates=3, adaptive_replicates=True, kappa=0.0)
    trial = study.ask()
    study.tell(trial, [0.5])
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_top_up, args=(url, barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = sorted((out.get(timeout=120) for _ in procs), key=lambda v: (v is not None, v))
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert results == [None, 1]                          # one extended, the other was refused
    record = uqhpo.load_study(url).all_trials()[0]
    assert record.n_replicates == 2
    assert [r.state for r in record.replicates] == [State.COMPLETE, State.WAITING]
