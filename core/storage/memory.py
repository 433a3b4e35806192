"""In-memory storage: the default for a study without a ``storage`` URL.

It lives in one process (threads may share it; one lock guards every call) and is lost
when the process exits. Values pass through JSON on the way in, so what reads back is
what the file backends would give (tuples become lists, numpy numbers plain numbers).
"""
from __future__ import annotations

import threading
import time
from typing import Optional, Sequence

from ..trial import Replicate, State, Trial
from ._records import Book, copy_replicate
from .base import Storage, StudyRecord

__all__ = ["InMemoryStorage"]


def _now(now: Optional[float]) -> float:
    return time.time() if now is None else float(now)


class InMemoryStorage(Storage):
    """Thread-safe storage held in a :class:`~uqhpo.storage._records.Book`."""

    def __init__(self) -> None:
        self._book = Book()
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return "InMemoryStorage()"

    def __getstate__(self) -> dict:
        raise TypeError("an in-memory storage cannot be shared with other processes; "
                        "use storage='sqlite:///path.db' (or 'journal:///path.jsonl')")

    # -- studies ----------------------------------------------------------------------------
    def create_study(self, record: StudyRecord) -> None:
        with self._lock:
            self._book.apply(self._book.plan_create_study(record))

    def get_study(self, name: str) -> Optional[StudyRecord]:
        with self._lock:
            return self._book.get_study(name)

    def update_settings(self, name: str, settings: dict) -> None:
        with self._lock:
            self._book.apply(self._book.plan_settings(name, settings))

    def list_studies(self) -> list[str]:
        with self._lock:
            return list(self._book.studies)

    # -- trials -----------------------------------------------------------------------------
    def add_trial(self, study: str, config: dict, seeds: Sequence[int], user_attrs: Optional[dict] = None) -> int:
        with self._lock:
            op = self._book.plan_add_trial(study, config, seeds, user_attrs, time.time())
            self._book.apply(op)
            return op["number"]

    def claim(self, study: str, worker: str, trial: Optional[int] = None, index: Optional[int] = None,
              now: Optional[float] = None) -> Optional[Replicate]:
        with self._lock:
            op = self._book.plan_claim(study, worker, trial, index, _now(now))
            if op is None:
                return None
            self._book.apply(op)
            return self._copy(study, op)

    def heartbeat(self, study: str, trial: int, index: int, attempt: int, now: Optional[float] = None) -> None:
        with self._lock:
            op = self._book.plan_heartbeat(study, trial, index, attempt, _now(now))
            if op is not None:
                self._book.apply(op)

    def finish(self, study: str, trial: int, index: int, attempt: int, state: State, *,
               loss: Optional[float] = None, metrics: Optional[dict] = None, runtime: Optional[float] = None,
               error: Optional[str] = None, now: Optional[float] = None) -> None:
        with self._lock:
            self._book.apply(self._book.plan_finish(study, trial, index, attempt, state, loss, metrics, runtime,
                                                    error, _now(now)))

    def add_report(self, study: str, trial: int, index: int, attempt: int, step: int, metrics: dict) -> None:
        with self._lock:
            op = self._book.plan_report(study, trial, index, attempt, step, metrics)
            if op is not None:
                self._book.apply(op)

    def extend_trial(self, study: str, trial: int, seed: int) -> int:
        with self._lock:
            op = self._book.plan_extend(study, trial, seed)
            self._book.apply(op)
            return op["index"]

    def retry(self, study: str, trial: int, index: int) -> int:
        with self._lock:
            op = self._book.plan_retry(study, trial, index)
            self._book.apply(op)
            return op["attempt"]

    def requeue_stale(self, study: str, timeout: float, now: Optional[float] = None) -> list[tuple[int, int]]:
        with self._lock:
            op = self._book.plan_requeue_stale(study, timeout, _now(now))
            if op is not None:
                self._book.apply(op)
            return self._book.requeued_pairs(op)

    def get_trials(self, study: str) -> list[Trial]:
        with self._lock:
            return self._book.get_trials(study)

    def get_trial(self, study: str, number: int) -> Trial:
        with self._lock:
            return self._book.get_trial(study, number)

    def n_trials(self, study: str) -> int:
        with self._lock:
            return len(self._book.study(study).trials)

    def _copy(self, study: str, op: dict) -> Replicate:
        return copy_replicate(self._book.replicate(study, op["trial"], op["index"], op["attempt"]))
