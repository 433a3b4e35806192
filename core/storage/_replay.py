"""The replay state machine: a ``Book`` of studies that events are applied to.

The in-memory storage and the journal keep their state in a :class:`Book`. ``apply``
looks an event's handler up in a table (event kind -> function); every handler checks
that the event fits the current state, which only fails for a log written by two
processes that both believed they held the lock. The book takes ownership of the JSON
values an event carries (plans build them fresh). Lookups the storages plan with
(``find_waiting``, ``expired``) and the copies they return live here too; the indices
behind them are built on first use, so a reader that replays a long log never builds them.
The journal applies its lines through :data:`REPLAYERS` (the same changes as ``apply``,
without building the event objects).
"""
from __future__ import annotations

import dataclasses
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
    decode,
)
from ._json import config_key, copy_json, no_gc, record_from_dict, record_to_dict
from .base import AttemptKey, JsonObject, ReplicateRef, StorageError, StudyExistsError, StudyRecord

__all__ = ["Book", "StudyData", "copy_replicate", "touched_trials", "HANDLERS", "REPLAYERS", "replay_fields"]


_new = object.__new__
_tuple = tuple.__new__  # a named tuple without its Python-level __new__


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
        # indices derived from ``reps``, built on first use (readers never need them): see the properties
        self._latest: Optional[dict[ReplicateRef, int]] = None
        self._waiting: Optional[list[AttemptKey]] = None
        self._running: Optional[set[AttemptKey]] = None
        self.seq = 0                                 # change counter of ``changes_since``
        self.changed: dict[int, int] = {}            # trial -> seq of its last change, oldest change first
        self.by_config: Optional[dict[str, list[int]]] = None  # config_key -> trials, built on first use

    @property
    def latest(self) -> dict[ReplicateRef, int]:
        """(trial, index) -> its latest attempt."""
        if self._latest is None:
            latest: dict[ReplicateRef, int] = {}
            for trial, index, attempt in self.reps:  # attempts of a replicate are added in order
                latest[_tuple(ReplicateRef, (trial, index))] = attempt
            self._latest = latest
        return self._latest

    @property
    def waiting(self) -> list[AttemptKey]:
        """A heap of the WAITING attempts (entries may be out of date: claimed since)."""
        if self._waiting is None:  # the trials' attempts (as ``add_replicate`` pushes them)
            self._waiting = [_tuple(AttemptKey, (r.trial, r.index, r.attempt))
                             for t in self.trials for r in t.replicates if r.state is State.WAITING]
            heapq.heapify(self._waiting)
        return self._waiting

    @property
    def running(self) -> set[AttemptKey]:
        """The RUNNING attempts."""
        if self._running is None:
            self._running = {k for k, r in self.reps.items() if r.state is State.RUNNING}
        return self._running

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
        if self._latest is not None:
            self._latest[ReplicateRef(r.trial, r.index)] = r.attempt
        trial = self.trials[r.trial]
        trial.replicates.append(r)
        trial.replicates.sort(key=lambda x: (x.index, x.attempt))
        if self._waiting is not None:
            heapq.heappush(self._waiting, key)

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
        if data._running is not None:
            data._running.discard(key)
        data.add_attempt(AttemptKey(key.trial, key.index, key.attempt + 1), State.STALE)


@_handles(Claim)
def _claim(book: Book, e: Claim) -> None:
    data = book.study(e.study)
    r = data.expect(e.key, State.WAITING)
    r.state, r.worker, r.heartbeat, r.started = State.RUNNING, e.worker, e.now, e.now
    if data._running is not None:
        data._running.add(e.key)


@_handles(Heartbeat)
def _heartbeat(book: Book, e: Heartbeat) -> None:
    book.study(e.study).expect(e.key, State.RUNNING).heartbeat = e.now


@_handles(Finish)
def _finish(book: Book, e: Finish) -> None:
    data = book.study(e.study)
    r = data.expect(e.key, State.WAITING, State.RUNNING)
    r.state, r.loss, r.metrics = e.state, e.loss, e.metrics
    r.runtime, r.error, r.finished = e.runtime, e.error, e.now
    if data._running is not None:
        data._running.discard(e.key)


@_handles(Report)
def _report(book: Book, e: Report) -> None:
    book.study(e.study).expect(e.key, State.WAITING, State.RUNNING).reports.append((e.step, e.metrics))


# -- replaying journal lines ----------------------------------------------------------------------
# ``REPLAYERS[op](book, fields)`` does what ``book.apply(decode(fields))`` does with the parsed
# journal line ``fields``, for the kinds that make up nearly every line, without building the
# event: the fields are read in the order ``from_json`` reads them (a missing one raises
# ``KeyError`` before anything changes), the state is checked and changed as the handler
# does, and the trial is touched as ``apply`` touches it. Opening a journal of 10^5
# replicates replays 2.3 * 10^5 lines: building the events and going through ``apply`` was
# about a third of the replay's CPU time.

Replayer = Callable[[Book, dict], None]
_WAITING, _RUNNING = State.WAITING, State.RUNNING
_STATES = {s.value: s for s in State}
_WAITING_OR_RUNNING = (State.WAITING, State.RUNNING)
_ONLY_WAITING, _ONLY_RUNNING = (State.WAITING,), (State.RUNNING,)
_MISSING = dataclasses.MISSING
#: new trials and replicates are built by setting their fields in order (as their ``__init__``
#: does, so they get the same compact layout, in 2/3 of the time) while they have exactly these
#: fields and defaults
_FAST = [(f.name, f.default, f.default_factory) for f in dataclasses.fields(Replicate)] == [
    ("trial", _MISSING, _MISSING), ("index", _MISSING, _MISSING), ("attempt", _MISSING, _MISSING),
    ("seed", _MISSING, _MISSING), ("state", State.WAITING, _MISSING), ("loss", None, _MISSING),
    ("metrics", _MISSING, dict), ("runtime", None, _MISSING), ("error", None, _MISSING),
    ("worker", None, _MISSING), ("heartbeat", None, _MISSING), ("started", None, _MISSING),
    ("finished", None, _MISSING), ("reports", _MISSING, list),
] and [f.name for f in dataclasses.fields(Trial)] == [
    "number", "config", "n_replicates", "replicates", "created", "user_attrs"]


def _unknown(name: Any) -> StudyData:
    raise StorageError(f"unknown study '{name}'")


def _replay_add_trial(book: Book, d: dict) -> None:
    study, number, config = d["study"], d["number"], d["config"]
    seeds = tuple(map(int, d["seeds"]))
    user_attrs, created = d["user_attrs"], d["created"]
    data = book.studies.get(study) or _unknown(study)
    trials = data.trials
    if number != len(trials):
        raise StorageError(f"trial number {number} conflicts with the next free number {len(trials)}")
    if type(number) is not int or not _FAST or data._latest is not None or data._waiting is not None:
        # what the handler does (another spelling of the number, or indices to keep up to date)
        _add_trial(book, AddTrial(study, number, config, seeds, user_attrs, created))
        data.touch((number,))
        return
    replicates: list[Replicate] = []
    t = _new(Trial)
    t.number = number
    t.config = config
    t.n_replicates = len(seeds)
    t.replicates = replicates
    t.created = created
    t.user_attrs = user_attrs
    trials.append(t)
    if data.by_config is not None:
        data.by_config.setdefault(config_key(config), []).append(number)
    reps = data.reps
    for index, seed in enumerate(seeds):  # in (index, attempt) order: ``add_replicate`` without its sort
        r = _new(Replicate)
        r.trial = number
        r.index = index
        r.attempt = 0
        r.seed = seed
        r.state = _WAITING
        r.loss = None
        r.metrics = {}
        r.runtime = None
        r.error = None
        r.worker = None
        r.heartbeat = None
        r.started = None
        r.finished = None
        r.reports = []
        reps[_tuple(AttemptKey, (number, index, 0))] = r
        replicates.append(r)
    _touch_one(data, number)


def _touch_one(data: StudyData, number: int) -> None:
    """``data.touch((number,))`` for one trial, as the replayers call it (no tuple to build)."""
    seq = data.seq = data.seq + 1
    changed = data.changed
    changed.pop(number, None)
    changed[number] = seq


def _attempt(book: Book, study: Any, key: tuple, states: tuple[State, ...]) -> tuple[StudyData, Replicate]:
    """The study's data and its attempt ``key`` = (trial, index, attempt), which must be in one
    of ``states`` (else ``StudyData.expect`` raises with the handlers' message)."""
    data = book.studies.get(study) or _unknown(study)
    r = data.reps.get(key)  # type: ignore[call-overload]
    if r is None or r.state not in states:
        r = data.expect(AttemptKey(*key), *states)
    return data, r


def _replay_claim(book: Book, d: dict) -> None:
    study, trial, index, attempt, worker, now = d["study"], d["trial"], d["index"], d["attempt"], d["worker"], d["now"]
    key = (trial, index, attempt)
    data, r = _attempt(book, study, key, _ONLY_WAITING)
    r.state = _RUNNING
    r.worker = worker
    r.heartbeat = now
    r.started = now
    if data._running is not None:
        data._running.add(_tuple(AttemptKey, key))
    _touch_one(data, trial if type(trial) is int else int(trial))


def _replay_heartbeat(book: Book, d: dict) -> None:
    study, trial, index, attempt, now = d["study"], d["trial"], d["index"], d["attempt"], d["now"]
    data, r = _attempt(book, study, (trial, index, attempt), _ONLY_RUNNING)
    r.heartbeat = now
    _touch_one(data, int(trial))


def _replay_finish(book: Book, d: dict) -> None:
    study, trial, index, attempt, value = d["study"], d["trial"], d["index"], d["attempt"], d["state"]
    state = _STATES.get(value) if type(value) is str else None
    if state is None:
        state = State(value)
    loss, metrics, runtime, error, now = d["loss"], d["metrics"], d["runtime"], d["error"], d["now"]
    key = (trial, index, attempt)
    data, r = _attempt(book, study, key, _WAITING_OR_RUNNING)
    r.state = state
    r.loss = loss
    r.metrics = metrics
    r.runtime = runtime
    r.error = error
    r.finished = now
    if data._running is not None:
        data._running.discard(key)  # type: ignore[arg-type]
    _touch_one(data, trial if type(trial) is int else int(trial))


def _replay_report(book: Book, d: dict) -> None:
    study, trial, index, attempt, step, metrics = (d["study"], d["trial"], d["index"], d["attempt"], d["step"],
                                                   d["metrics"])
    data, r = _attempt(book, study, (trial, index, attempt), _WAITING_OR_RUNNING)
    r.reports.append((step, metrics))
    _touch_one(data, int(trial))


def _replay_other(book: Book, d: dict) -> None:
    book.apply(decode(d))


REPLAYERS: dict[Any, Replayer] = {
    AddTrial.kind: _replay_add_trial, Claim.kind: _replay_claim, Heartbeat.kind: _replay_heartbeat,
    Finish.kind: _replay_finish, Report.kind: _replay_report}


def replay_fields(book: Book, fields: dict) -> None:
    """Apply the event of one parsed journal line: ``book.apply(decode(fields))``, faster.

    Raises:
        StorageError: the line names no known event, or its event contradicts the state.
        KeyError, TypeError, ValueError: a field is missing or malformed.
    """
    REPLAYERS.get(fields.get("op"), _replay_other)(book, fields)
