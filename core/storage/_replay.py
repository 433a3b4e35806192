"""The replay state machine: a ``Book`` of studies that events are applied to.

The in-memory storage and the journal keep their state in a :class:`Book`. ``apply``
looks an event's handler up in a table (event kind -> function); every handler checks
that the event fits the current state, which only fails for a log written by two
processes that both believed they held the lock. The book takes ownership of the JSON
values an event carries (plans build them fresh). Lookups the storages plan with
(``find_waiting``, ``expired``) and the copies they return live here too.
"""
from __future__ import annotations

import heapq
from typing import Any, Callable, Iterable, Optional, TypeVar, cast

from ..trial import Replicate, State, Trial
from ._events import (
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
from ._json import config_key, copy_json, no_gc, record_from_dict, record_to_dict
from .base import AttemptKey, JsonObject, ReplicateRef, StorageError, StudyExistsError, StudyRecord

__all__ = ["Book", "StudyData", "copy_replicate", "touched_trials", "HANDLERS"]


_new = object.__new__


def copy_replicate(r: Replicate) -> Replicate:
    """A copy the caller may change freely (``dataclasses.replace`` is several times slower)."""
    c = _new(Replicate)
    fields = r.__dict__.copy()
    fields["metrics"] = copy_json(r.metrics) if r.metrics else {}
    fields["reports"] = [(s, copy_json(m)) for s, m in r.reports] if r.reports else []
    c.__dict__ = fields
    return c


def copy_trial(trial: Trial) -> Trial:
    """A copy the caller may change freely (fields copied as for ``copy_replicate``)."""
    c = _new(Trial)
    fields = trial.__dict__.copy()
    fields["config"] = copy_json(trial.config)
    fields["user_attrs"] = copy_json(trial.user_attrs) if trial.user_attrs else {}
    fields["replicates"] = [copy_replicate(r) for r in trial.replicates]
    c.__dict__ = fields
    return c


class StudyData:
    """One study's trials plus the indices that keep claim and lookups cheap."""

    def __init__(self, record: StudyRecord):
        self.record = record
        self.trials: list[Trial] = []
        self.reps: dict[AttemptKey, Replicate] = {}
        self.latest: dict[ReplicateRef, int] = {}   # (trial, index) -> latest attempt
        self.waiting: list[AttemptKey] = []          # heap; entries may be out of date
        self.running: set[AttemptKey] = set()
        self.seq = 0                                 # change counter of ``changes_since``
        self.changed: dict[int, int] = {}            # trial -> seq of its last change, oldest change first
        self.by_config: Optional[dict[str, list[int]]] = None  # config_key -> trials, built on first use

    def touch(self, numbers: Iterable[int]) -> None:
        """Give trials ``numbers`` the next sequence number (one event: one number)."""
        self.seq += 1
        changed = self.changed
        for n in numbers:
            changed.pop(n, None)  # re-inserted last: ``changed`` stays ordered by seq
            changed[n] = self.seq

    def changed_since(self, seq: int) -> list[int]:
        """Numbers of the trials changed after ``seq``, ascending."""
        out = []
        for n, s in reversed(self.changed.items()):
            if s <= seq:
                break
            out.append(n)
        return sorted(out)

    def has_config(self, config: JsonObject) -> bool:
        """True when a trial has a config equal to ``config`` (``==`` on the parsed JSON)."""
        if self.by_config is None:  # readers never need it: built on the first reservation
            self.by_config = {}
            for t in self.trials:
                self.by_config.setdefault(config_key(t.config), []).append(t.number)
        return any(self.trials[n].config == config for n in self.by_config.get(config_key(config), ()))

    def add_replicate(self, r: Replicate) -> None:
        key = AttemptKey(r.trial, r.index, r.attempt)
        self.reps[key] = r
        self.latest[ReplicateRef(r.trial, r.index)] = r.attempt
        trial = self.trials[r.trial]
        trial.replicates.append(r)
        trial.replicates.sort(key=lambda x: (x.index, x.attempt))
        heapq.heappush(self.waiting, key)

    def expect(self, key: AttemptKey, *states: State) -> Replicate:
        """The replicate ``key``, which must be in one of ``states``."""
        r = self.reps.get(key)
        if r is None or r.state not in states:
            found = "missing" if r is None else r.state.value
            raise StorageError(f"replicate {tuple(key)} is {found}, expected {'/'.join(s.value for s in states)}")
        return r

    def add_attempt(self, key: AttemptKey, *after: State) -> None:
        """Queue attempt ``key.attempt``, the next one after an attempt in one of ``after``."""
        if self.latest.get(ReplicateRef(key.trial, key.index)) != key.attempt - 1:
            raise StorageError(f"attempt {key.attempt} of (trial={key.trial}, index={key.index}) is not the next one")
        prev = self.expect(AttemptKey(key.trial, key.index, key.attempt - 1), *after)
        self.add_replicate(Replicate(trial=key.trial, index=key.index, attempt=key.attempt, seed=prev.seed))

    def is_waiting(self, key: AttemptKey) -> bool:
        return self.latest.get(ReplicateRef(key.trial, key.index)) == key.attempt and \
            self.reps[key].state == State.WAITING

    def find_waiting(self, trial: Optional[int], index: Optional[int]) -> Optional[AttemptKey]:
        """The WAITING latest attempt ``claim`` takes: the lowest (trial, index), optionally restricted."""
        if trial is None and index is None:
            while self.waiting and not self.is_waiting(self.waiting[0]):
                heapq.heappop(self.waiting)  # drop entries claimed since they were queued
            return self.waiting[0] if self.waiting else None
        if trial is not None:
            if not 0 <= trial < len(self.trials):
                return None
            indices = [index] if index is not None else range(self.trials[trial].n_replicates)
            for i in indices:
                a = self.latest.get(ReplicateRef(trial, i))
                if a is not None and self.is_waiting(AttemptKey(trial, i, a)):
                    return AttemptKey(trial, i, a)
            return None
        candidates = [k for k in self.waiting if k.index == index and self.is_waiting(k)]
        return min(candidates) if candidates else None

    def expired(self, limit: float) -> tuple[AttemptKey, ...]:
        """RUNNING attempts whose heartbeat is older than ``limit`` (or missing), sorted."""
        def expired(key: AttemptKey) -> bool:
            beat = self.reps[key].heartbeat
            return beat is None or beat < limit
        return tuple(sorted(filter(expired, self.running)))


class Book:
    """All studies of one storage, in memory. Not thread-safe: callers lock."""

    def __init__(self) -> None:
        self.studies: dict[str, StudyData] = {}

    def study(self, name: str) -> StudyData:
        data = self.studies.get(name)
        if data is None:
            raise StorageError(f"unknown study '{name}'")
        return data

    def replicate(self, study: str, trial: int, index: int, attempt: int) -> Replicate:
        r = self.study(study).reps.get(AttemptKey(int(trial), int(index), int(attempt)))
        if r is None:
            raise StorageError(f"study '{study}' has no replicate (trial={trial}, index={index}, attempt={attempt})")
        return r

    def apply(self, event: Event) -> None:
        """Carry out an event (a planned one, or one replayed from a log).

        Raises:
            StorageError: the event contradicts the current state.
        """
        handler = HANDLERS.get(event.kind)
        if handler is None:
            raise StorageError(f"unknown operation '{event.kind}'")
        handler(self, event)
        touched = touched_trials(event)
        if touched:
            self.study(cast(Any, event).study).touch(touched)

    # -- reads (copies: callers may not change the book) ---------------------------------------
    def get_trials(self, study: str) -> list[Trial]:
        trials = self.study(study).trials
        with no_gc(len(trials)):
            return [copy_trial(t) for t in trials]

    def changes_since(self, study: str, seq: int) -> tuple[list[Trial], int]:
        """Copies of the trials changed after ``seq``, by number, and the current seq."""
        data = self.study(study)
        if seq <= 0:
            return self.get_trials(study), data.seq
        numbers = data.changed_since(int(seq))
        with no_gc(len(numbers)):
            return [copy_trial(data.trials[n]) for n in numbers], data.seq

    def get_trial(self, study: str, number: int) -> Trial:
        trials = self.study(study).trials
        if not 0 <= int(number) < len(trials):
            raise StorageError(f"study '{study}' has no trial {number}")
        return copy_trial(trials[int(number)])

    def get_study(self, name: str) -> Optional[StudyRecord]:
        data = self.studies.get(name)
        return None if data is None else record_from_dict(record_to_dict(data.record))


def touched_trials(event: Event) -> tuple[int, ...]:
    """The trials an event changes: ``number`` of a new trial, ``trial`` of an event about
    one trial or attempt, the trials of ``items`` (attempt keys); none for study events."""
    if isinstance(event, AddTrial):
        return (event.number,)
    items = getattr(event, "items", None)
    if items is not None:
        return tuple(sorted({int(k[0]) for k in items}))
    trial = getattr(event, "trial", None)
    return () if trial is None else (int(trial),)


# -- the dispatch table -------------------------------------------------------------------------
Handler = Callable[[Book, Event], None]
HANDLERS: dict[str, Handler] = {}
E = TypeVar("E", bound=Event)


def _handles(event_type: type[E]) -> Callable[[Callable[[Book, E], None]], Callable[[Book, E], None]]:
    def register(fn: Callable[[Book, E], None]) -> Callable[[Book, E], None]:
        HANDLERS[event_type.kind] = cast(Handler, fn)
        return fn
    return register


@_handles(CreateStudy)
def _create_study(book: Book, e: CreateStudy) -> None:
    if e.record.name in book.studies:
        raise StudyExistsError(f"study '{e.record.name}' already exists")
    book.studies[e.record.name] = StudyData(e.record)


@_handles(UpdateSettings)
def _update_settings(book: Book, e: UpdateSettings) -> None:
    book.study(e.study).record.settings = e.settings


@_handles(AddTrial)
def _add_trial(book: Book, e: AddTrial) -> None:
    data = book.study(e.study)
    if e.number != len(data.trials):
        raise StorageError(f"trial number {e.number} conflicts with the next free number {len(data.trials)}")
    data.trials.append(Trial(number=e.number, config=e.config, n_replicates=len(e.seeds), created=e.created,
                             user_attrs=e.user_attrs))
    if data.by_config is not None:
        data.by_config.setdefault(config_key(e.config), []).append(e.number)
    for i, seed in enumerate(e.seeds):
        data.add_replicate(Replicate(trial=e.number, index=i, attempt=0, seed=int(seed)))


@_handles(Extend)
def _extend(book: Book, e: Extend) -> None:
    data = book.study(e.study)
    if not 0 <= e.trial < len(data.trials):
        raise StorageError(f"study '{e.study}' has no trial {e.trial}")
    trial = data.trials[e.trial]
    if e.index != trial.n_replicates:
        raise StorageError(f"replicate index {e.index} conflicts with the next free index {trial.n_replicates}")
    trial.n_replicates += 1
    data.add_replicate(Replicate(trial=e.trial, index=e.index, attempt=0, seed=int(e.seed)))


@_handles(Retry)
def _retry(book: Book, e: Retry) -> None:
    book.study(e.study).add_attempt(AttemptKey(e.trial, e.index, e.attempt), State.FAILED, State.STALE)


@_handles(MarkStale)
def _mark_stale(book: Book, e: MarkStale) -> None:
    data = book.study(e.study)
    for key in e.items:
        data.expect(key, State.RUNNING)  # check all before changing any: an event applies whole or not at all
    for key in e.items:
        r = data.reps[key]
        r.state, r.finished = State.STALE, e.now
        data.running.discard(key)
        data.add_attempt(AttemptKey(key.trial, key.index, key.attempt + 1), State.STALE)


@_handles(Claim)
def _claim(book: Book, e: Claim) -> None:
    data = book.study(e.study)
    r = data.expect(e.key, State.WAITING)
    r.state, r.worker, r.heartbeat, r.started = State.RUNNING, e.worker, e.now, e.now
    data.running.add(e.key)


@_handles(Heartbeat)
def _heartbeat(book: Book, e: Heartbeat) -> None:
    book.study(e.study).expect(e.key, State.RUNNING).heartbeat = e.now


@_handles(Finish)
def _finish(book: Book, e: Finish) -> None:
    data = book.study(e.study)
    r = data.expect(e.key, State.WAITING, State.RUNNING)
    r.state, r.loss, r.metrics = e.state, e.loss, e.metrics
    r.runtime, r.error, r.finished = e.runtime, e.error, e.now
    data.running.discard(e.key)


@_handles(Report)
def _report(book: Book, e: Report) -> None:
    book.study(e.study).expect(e.key, State.WAITING, State.RUNNING).reports.append((e.step, e.metrics))
