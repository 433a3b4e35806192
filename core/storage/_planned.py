"""The shared base of the storages that keep their state as a replayed ``Book``.

Every change is planned, then committed: under the backend's write lock, a method reads
the current state, checks the request against it (raising ``StorageError``) and builds
one typed event (:mod:`uqhpo.storage._events`); the backend commits the event, which
applies it to the book. A backend implements two hooks:

* ``_locked(write)``: a context manager that yields the current :class:`Book`, caught up
  with every committed event and, when ``write`` is true, held exclusively against every
  other writer (threads and processes);
* ``_commit(event)``: make the event durable (if the backend is) and apply it to the book.

The in-memory storage locks a thread lock and applies at once; the journal locks its
file, appends one line and replays it.
"""
from __future__ import annotations

import time
from abc import abstractmethod
from typing import ContextManager, Iterable, Optional, Sequence

from ..trial import Replicate, State, Trial, counts_as_training
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
from ._json import as_json, record_from_dict, record_to_dict
from ._replay import Book, copy_replicate
from .base import (
    AttemptKey,
    JsonInput,
    ReplicateRef,
    Storage,
    StorageError,
    StudyExistsError,
    StudyRecord,
    final_loss,
    now_or,
)

__all__ = ["PlannedStorage"]


class PlannedStorage(Storage):
    """A :class:`Storage` whose state is a :class:`Book` changed only by committed events."""

    # -- the two hooks ----------------------------------------------------------------------
    @abstractmethod
    def _locked(self, write: bool) -> ContextManager[Book]:
        """The current state, held for the block (exclusively against all writers if ``write``)."""

    @abstractmethod
    def _commit(self, event: Event) -> None:
        """Persist ``event`` and apply it to the book; called inside ``_locked(write=True)``."""

    # -- studies ----------------------------------------------------------------------------
    def create_study(self, record: StudyRecord) -> None:
        with self._locked(write=True) as book:
            if record.name in book.studies:
                raise StudyExistsError(f"study '{record.name}' already exists in {self!r}")
            self._commit(CreateStudy(record_from_dict(record_to_dict(record))))

    def get_study(self, name: str) -> Optional[StudyRecord]:
        with self._locked(write=False) as book:
            return book.get_study(name)

    def update_settings(self, name: str, settings: JsonInput) -> None:
        with self._locked(write=True) as book:
            book.study(name)
            self._commit(UpdateSettings(name, as_json(settings)))

    def list_studies(self) -> list[str]:
        with self._locked(write=False) as book:
            return list(book.studies)

    # -- trials -----------------------------------------------------------------------------
    def add_trial(self, study: str, config: JsonInput, seeds: Sequence[int],
                  user_attrs: Optional[JsonInput] = None) -> int:
        config_json, attrs_json = as_json(config), as_json(user_attrs or {})
        with self._locked(write=True) as book:
            number = len(book.study(study).trials)
            self._commit(AddTrial(study, number, config_json, tuple(int(s) for s in seeds), attrs_json, time.time()))
        return number

    def reserve_trial(self, study: str, number: int, config: JsonInput, seeds: Sequence[int],
                      user_attrs: Optional[JsonInput] = None, unique: bool = True,
                      max_trainings: Optional[int] = None) -> bool:
        config_json, attrs_json = as_json(config), as_json(user_attrs or {})
        with self._locked(write=True) as book:
            data = book.study(study)
            trials = data.trials
            if int(number) != len(trials) or (unique and data.has_config(config_json)):
                return False
            if max_trainings is not None and _spent(data.reps.values()) + len(seeds) > int(max_trainings):
                return False
            self._commit(AddTrial(study, len(trials), config_json, tuple(int(s) for s in seeds), attrs_json,
                                  time.time()))
        return True

    def claim(self, study: str, worker: str, trial: Optional[int] = None, index: Optional[int] = None,
              now: Optional[float] = None) -> Optional[Replicate]:
        t = now_or(now)
        with self._locked(write=True) as book:
            data = book.study(study)
            key = data.find_waiting(None if trial is None else int(trial), None if index is None else int(index))
            if key is None:
                return None
            self._commit(Claim(study, *key, worker=str(worker), now=t))
            return copy_replicate(data.reps[key])

    def heartbeat(self, study: str, trial: int, index: int, attempt: int, now: Optional[float] = None) -> None:
        t = now_or(now)
        with self._locked(write=True) as book:
            r = book.replicate(study, trial, index, attempt)
            if r.state == State.RUNNING:
                self._commit(Heartbeat(study, r.trial, r.index, r.attempt, now=t))

    def finish(self, study: str, trial: int, index: int, attempt: int, state: State, *,
               loss: Optional[float] = None, metrics: Optional[JsonInput] = None, runtime: Optional[float] = None,
               error: Optional[str] = None, now: Optional[float] = None) -> None:
        state = State(state)
        value, metrics_json, t = final_loss(state, loss), as_json(metrics or {}), now_or(now)
        with self._locked(write=True) as book:
            r = book.replicate(study, trial, index, attempt)
            if r.state.finished:
                raise StorageError(f"study '{study}': replicate (trial={trial}, index={index}, attempt={attempt}) "
                                   f"is already {r.state.value}; finished records never change")
            self._commit(Finish(study, r.trial, r.index, r.attempt, state=state, loss=value, metrics=metrics_json,
                                runtime=None if runtime is None else float(runtime),
                                error=None if error is None else str(error), now=t))

    def add_report(self, study: str, trial: int, index: int, attempt: int, step: int, metrics: JsonInput) -> None:
        metrics_json = as_json(metrics)
        with self._locked(write=True) as book:
            r = book.replicate(study, trial, index, attempt)
            if not r.state.finished:  # a late report of a closed attempt is dropped: records stay as they are
                self._commit(Report(study, r.trial, r.index, r.attempt, step=int(step), metrics=metrics_json))

    def extend_trial(self, study: str, trial: int, seed: int, *,
                     expected_replicates: Optional[int] = None, max_trainings: Optional[int] = None) -> Optional[int]:
        with self._locked(write=True) as book:
            data = book.study(study)
            trials = data.trials
            if not 0 <= int(trial) < len(trials):
                raise StorageError(f"study '{study}' has no trial {trial}")
            index = trials[int(trial)].n_replicates
            if expected_replicates is not None and index != int(expected_replicates):
                return None  # another driver extended it meanwhile
            if max_trainings is not None and _spent(data.reps.values()) + 1 > int(max_trainings):
                return None  # other drivers spent the budget meanwhile
            self._commit(Extend(study, int(trial), index, int(seed)))
        return index

    def retry(self, study: str, trial: int, index: int) -> int:
        with self._locked(write=True) as book:
            data = book.study(study)
            attempt = data.latest.get(ReplicateRef(int(trial), int(index)))
            if attempt is None:
                raise StorageError(f"study '{study}' has no replicate (trial={trial}, index={index})")
            state = data.reps[AttemptKey(int(trial), int(index), attempt)].state
            if state not in (State.FAILED, State.STALE):
                raise StorageError(f"study '{study}': cannot retry (trial={trial}, index={index}): latest attempt "
                                   f"{attempt} is {state.value}, not FAILED or STALE")
            self._commit(Retry(study, int(trial), int(index), attempt + 1))
        return attempt + 1

    def requeue_stale(self, study: str, timeout: float, now: Optional[float] = None,
                      workers: Optional[Sequence[str]] = None) -> list[ReplicateRef]:
        t = now_or(now)
        only = None if workers is None else {str(w) for w in workers}
        with self._locked(write=True) as book:
            data = book.study(study)
            items = tuple(k for k in data.expired(t - float(timeout)) if only is None or data.reps[k].worker in only)
            if items:
                self._commit(MarkStale(study, items, t))
        return [ReplicateRef(k.trial, k.index) for k in items]

    # -- reads ------------------------------------------------------------------------------
    def get_trials(self, study: str) -> list[Trial]:
        with self._locked(write=False) as book:
            return book.get_trials(study)

    def get_trial(self, study: str, number: int) -> Trial:
        with self._locked(write=False) as book:
            return book.get_trial(study, number)

    def changes_since(self, study: str, seq: int = 0) -> tuple[list[Trial], int]:
        with self._locked(write=False) as book:
            return book.changes_since(study, int(seq))

    def n_trials(self, study: str) -> int:
        with self._locked(write=False) as book:
            return len(book.study(study).trials)


def _spent(attempts: Iterable[Replicate]) -> int:
    """Trainings spent over a study's attempts (O(attempts); asked only with a training cap)."""
    return sum(1 for r in attempts if counts_as_training(r))
