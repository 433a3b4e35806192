"""The replay state machine: one handler per event kind, and refusals of events that
contradict the state (what a log written by two lock holders could contain)."""
from __future__ import annotations

import pytest

from uqhpo.storage._events import (
    EVENT_TYPES,
    AddTrial,
    Claim,
    CreateStudy,
    Event,
    Extend,
    Finish,
    Heartbeat,
    MarkStale,
    Report,
    Retry,
    UpdateSettings,
)
from uqhpo.storage._replay import HANDLERS, Book
from uqhpo.storage.base import AttemptKey, StorageError, StudyExistsError, StudyRecord
from uqhpo.trial import State


def _finish(trial: int, index: int, attempt: int, state: State = State.COMPLETE) -> Finish:
    return Finish("s", trial, index, attempt, state=state, loss=1.0 if state == State.COMPLETE else None,
                  metrics={}, runtime=None, error=None, now=2.0)


@pytest.fixture
def book() -> Book:
    b = Book()
    b.apply(CreateStudy(StudyRecord("s", "minimize", 0, {}, "fp")))
    b.apply(AddTrial("s", 0, {"x": 1}, (10, 11), {}, 0.0))
    return b


def test_the_dispatch_table_covers_every_event_kind():
    assert set(HANDLERS) == set(EVENT_TYPES)


def test_an_unknown_kind_is_refused(book):
    class Mystery(Event):
        kind = "mystery"

    with pytest.raises(StorageError, match="unknown operation 'mystery'"):
        book.apply(Mystery())


def test_a_replayed_history(book):
    for event in [Claim("s", 0, 0, 0, worker="w", now=1.0), Heartbeat("s", 0, 0, 0, now=1.5),
                  Report("s", 0, 0, 0, step=0, metrics={"v": 1}), _finish(0, 0, 0, State.FAILED),
                  Retry("s", 0, 0, 1), Claim("s", 0, 1, 0, worker="w", now=3.0),
                  MarkStale("s", (AttemptKey(0, 1, 0),), now=9.0), Extend("s", 0, 2, 12),
                  UpdateSettings("s", {"budget": 5})]:
        book.apply(event)
    t = book.get_trial("s", 0)
    assert [(r.index, r.attempt, r.seed, r.state) for r in t.replicates] == [
        (0, 0, 10, State.FAILED), (0, 1, 10, State.WAITING), (1, 0, 11, State.STALE), (1, 1, 11, State.WAITING),
        (2, 0, 12, State.WAITING)]
    assert t.replicates[0].reports == [(0, {"v": 1})] and t.replicates[0].heartbeat == 1.5
    assert book.get_study("s").settings == {"budget": 5}
    assert book.study("s").find_waiting(None, None) == AttemptKey(0, 0, 1)
    assert book.study("s").running == set()


@pytest.mark.parametrize("event, message", [
    (CreateStudy(StudyRecord("s", "minimize", 0, {}, "fp")), "already exists"),
    (AddTrial("s", 0, {}, (1,), {}, 0.0), "conflicts with the next free number 1"),
    (AddTrial("other", 0, {}, (1,), {}, 0.0), "unknown study 'other'"),
    (Claim("s", 0, 0, 1, worker="w", now=1.0), "missing"),
    (Heartbeat("s", 0, 0, 0, now=1.0), "is WAITING, expected RUNNING"),
    (Retry("s", 0, 0, 1), "is WAITING, expected FAILED/STALE"),
    (Retry("s", 0, 0, 2), "not the next one"),
    (Extend("s", 0, 5, 1), "conflicts with the next free index 2"),
    (Extend("s", 3, 2, 1), "no trial 3"),
    (MarkStale("s", (AttemptKey(0, 0, 0),), now=1.0), "expected RUNNING"),
])
def test_contradicting_events_are_refused_and_change_nothing(book, event, message):
    before = (book.get_trials("s"), book.get_study("s"))
    with pytest.raises(StorageError, match=message):
        book.apply(event)
    assert (book.get_trials("s"), book.get_study("s")) == before


def test_a_second_claim_or_finish_is_refused(book):
    book.apply(Claim("s", 0, 0, 0, worker="first", now=1.0))
    with pytest.raises(StorageError, match="RUNNING, expected WAITING"):
        book.apply(Claim("s", 0, 0, 0, worker="second", now=2.0))
    book.apply(_finish(0, 0, 0))
    for event in (_finish(0, 0, 0), Report("s", 0, 0, 0, step=1, metrics={})):
        with pytest.raises(StorageError, match="COMPLETE, expected WAITING/RUNNING"):
            book.apply(event)
    r = book.get_trial("s", 0).replicates[0]
    assert (r.worker, r.state, r.reports) == ("first", State.COMPLETE, [])


def test_a_stale_event_applies_whole_or_not_at_all(book):
    book.apply(Claim("s", 0, 0, 0, worker="w", now=1.0))
    with pytest.raises(StorageError):
        book.apply(MarkStale("s", (AttemptKey(0, 0, 0), AttemptKey(0, 1, 0)), now=5.0))  # (0, 1) is WAITING
    assert book.get_trial("s", 0).replicates[0].state == State.RUNNING


def test_duplicate_study_error_type(book):
    with pytest.raises(StudyExistsError):
        book.apply(CreateStudy(StudyRecord("s", "minimize", 0, {}, "fp")))
