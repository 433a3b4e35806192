"""Shared pieces of the storages: JSON helpers and the in-memory ``Book`` of studies.

The in-memory storage and the journal keep their state in a ``Book``. Every change is
an *operation*: a JSON-able dict built by a ``plan_*`` method, which checks it against
the current state (raising ``StorageError``), and carried out by ``apply``. The memory
storage plans and applies under a thread lock; the journal plans under its file lock,
appends the operation to the log, and every process replays the log through ``apply``.
"""
from __future__ import annotations

import dataclasses
import enum
import gc
import heapq
import json
import math
import os
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

from ..trial import Replicate, State, Trial
from .base import StorageError, StudyExistsError, StudyRecord


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects at once.

    Reading 10 000 trials makes ~10^5 objects; the collections that triggers scan the
    whole heap again and again and made ``get_trials`` about 5x slower.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- JSON -------------------------------------------------------------------------------------
def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"value of type {type(obj).__name__} cannot be stored as JSON")


def dumps(obj: Any) -> str:
    """Compact JSON (numpy values become plain numbers; NaN/inf are kept)."""
    return json.dumps(obj, default=_json_default, separators=(",", ":"))


def as_json(obj: Any) -> Any:
    """``obj`` as it reads back after a JSON round trip (tuples become lists, ...)."""
    return json.loads(dumps(obj))


_CONTAINERS = (dict, list)


def copy_json(obj: Any) -> Any:
    """Deep copy of plain JSON data (many times faster than ``copy.deepcopy``)."""
    if type(obj) is dict:
        return {k: copy_json(v) if type(v) in _CONTAINERS else v for k, v in obj.items()}
    if type(obj) is list:
        return [copy_json(v) if type(v) in _CONTAINERS else v for v in obj]
    return obj


def record_to_dict(record: StudyRecord) -> dict:
    return as_json(dataclasses.asdict(record))


def record_from_dict(d: dict) -> StudyRecord:
    return StudyRecord(**copy_json(d))


def check_loss(state: State, loss: Optional[float]) -> Optional[float]:
    """Validate a final loss: COMPLETE needs a finite one; NaN is stored as None."""
    if state not in (State.COMPLETE, State.FAILED):
        raise StorageError(f"finish: state must be COMPLETE or FAILED, got {state.value}")
    value = None if loss is None else float(loss)
    if state == State.COMPLETE and (value is None or not math.isfinite(value)):
        raise StorageError(f"finish: a COMPLETE replicate needs a finite loss, got {loss!r}")
    return None if value is None or math.isnan(value) else value


def copy_replicate(r: Replicate) -> Replicate:
    """A copy the caller may change freely (``dataclasses.replace`` is several times slower)."""
    c = object.__new__(Replicate)
    c.__dict__.update(r.__dict__)
    c.metrics = copy_json(r.metrics) if r.metrics else {}
    c.reports = [(s, copy_json(m)) for s, m in r.reports]
    return c


# -- the book ---------------------------------------------------------------------------------
Key = tuple  # (trial, index, attempt)


class _StudyData:
    """One study's trials plus the indices that keep claim and lookups cheap."""

    def __init__(self, record: StudyRecord):
        self.record = record
        self.trials: list[Trial] = []
        self.reps: dict[Key, Replicate] = {}
        self.latest: dict[tuple[int, int], int] = {}   # (trial, index) -> latest attempt
        self.waiting: list[Key] = []                    # heap; entries may be out of date
        self.running: set[Key] = set()

    def add_replicate(self, r: Replicate) -> None:
        key = (r.trial, r.index, r.attempt)
        self.reps[key] = r
        self.latest[(r.trial, r.index)] = r.attempt
        trial = self.trials[r.trial]
        trial.replicates.append(r)
        trial.replicates.sort(key=lambda x: (x.index, x.attempt))
        heapq.heappush(self.waiting, key)


class Book:
    """All studies of one storage, in memory. Not thread-safe: callers lock."""

    def __init__(self) -> None:
        self.studies: dict[str, _StudyData] = {}

    def study(self, name: str) -> _StudyData:
        data = self.studies.get(name)
        if data is None:
            raise StorageError(f"unknown study '{name}'")
        return data

    def replicate(self, study: str, trial: int, index: int, attempt: int) -> Replicate:
        r = self.study(study).reps.get((int(trial), int(index), int(attempt)))
        if r is None:
            raise StorageError(f"study '{study}' has no replicate (trial={trial}, index={index}, attempt={attempt})")
        return r

    # -- plans (validate, build the operation) -------------------------------------------------
    def plan_create_study(self, record: StudyRecord) -> dict:
        if record.name in self.studies:
            raise StudyExistsError(f"study '{record.name}' already exists")
        return {"op": "create_study", "record": record_to_dict(record)}

    def plan_settings(self, name: str, settings: dict) -> dict:
        self.study(name)
        return {"op": "settings", "study": name, "settings": as_json(settings)}

    def plan_add_trial(self, study: str, config: dict, seeds: Sequence[int], user_attrs: Optional[dict],
                       now: float) -> dict:
        data = self.study(study)
        return {"op": "add_trial", "study": study, "number": len(data.trials), "config": as_json(config),
                "seeds": [int(s) for s in seeds], "user_attrs": as_json(user_attrs or {}), "created": now}

    def plan_claim(self, study: str, worker: str, trial: Optional[int], index: Optional[int],
                   now: float) -> Optional[dict]:
        data = self.study(study)
        key = self._find_waiting(data, trial, index)
        if key is None:
            return None
        return {"op": "claim", "study": study, "trial": key[0], "index": key[1], "attempt": key[2],
                "worker": str(worker), "now": now}

    def _find_waiting(self, data: _StudyData, trial: Optional[int], index: Optional[int]) -> Optional[Key]:
        def is_waiting(key: Key) -> bool:
            return data.latest.get(key[:2]) == key[2] and data.reps[key].state == State.WAITING
        if trial is None and index is None:
            while data.waiting and not is_waiting(data.waiting[0]):
                heapq.heappop(data.waiting)  # drop entries claimed since they were queued
            return data.waiting[0] if data.waiting else None
        if trial is not None:
            if not 0 <= int(trial) < len(data.trials):
                return None
            indices = [int(index)] if index is not None else range(data.trials[int(trial)].n_replicates)
            for i in indices:
                a = data.latest.get((int(trial), i))
                if a is not None and is_waiting((int(trial), i, a)):
                    return (int(trial), i, a)
            return None
        candidates = [k for k in data.waiting if k[1] == int(index) and is_waiting(k)]
        return min(candidates) if candidates else None

    def plan_heartbeat(self, study: str, trial: int, index: int, attempt: int, now: float) -> Optional[dict]:
        r = self.replicate(study, trial, index, attempt)
        if r.state != State.RUNNING:
            return None
        return {"op": "heartbeat", "study": study, "trial": r.trial, "index": r.index, "attempt": r.attempt,
                "now": now}

    def plan_finish(self, study: str, trial: int, index: int, attempt: int, state: State, loss: Optional[float],
                    metrics: Optional[dict], runtime: Optional[float], error: Optional[str], now: float) -> dict:
        r = self.replicate(study, trial, index, attempt)
        state = State(state)
        value = check_loss(state, loss)
        if r.state.finished:
            raise StorageError(f"study '{study}': replicate (trial={trial}, index={index}, attempt={attempt}) "
                               f"is already {r.state.value}; finished records never change")
        return {"op": "finish", "study": study, "trial": r.trial, "index": r.index, "attempt": r.attempt,
                "state": state.value, "loss": value, "metrics": as_json(metrics or {}),
                "runtime": None if runtime is None else float(runtime),
                "error": None if error is None else str(error), "now": now}

    def plan_report(self, study: str, trial: int, index: int, attempt: int, step: int, metrics: dict) -> Optional[dict]:
        r = self.replicate(study, trial, index, attempt)
        if r.state.finished:
            return None  # a late report from a worker whose attempt was closed: records stay as they are
        return {"op": "report", "study": study, "trial": r.trial, "index": r.index, "attempt": r.attempt,
                "step": int(step), "metrics": as_json(metrics)}

    def plan_extend(self, study: str, trial: int, seed: int) -> dict:
        data = self.study(study)
        if not 0 <= int(trial) < len(data.trials):
            raise StorageError(f"study '{study}' has no trial {trial}")
        return {"op": "extend", "study": study, "trial": int(trial),
                "index": data.trials[int(trial)].n_replicates, "seed": int(seed)}

    def plan_retry(self, study: str, trial: int, index: int) -> dict:
        data = self.study(study)
        attempt = data.latest.get((int(trial), int(index)))
        if attempt is None:
            raise StorageError(f"study '{study}' has no replicate (trial={trial}, index={index})")
        state = data.reps[(int(trial), int(index), attempt)].state
        if state not in (State.FAILED, State.STALE):
            raise StorageError(f"study '{study}': cannot retry (trial={trial}, index={index}): latest attempt "
                               f"{attempt} is {state.value}, not FAILED or STALE")
        return {"op": "retry", "study": study, "trial": int(trial), "index": int(index), "attempt": attempt + 1}

    def plan_requeue_stale(self, study: str, timeout: float, now: float) -> Optional[dict]:
        data = self.study(study)
        limit = now - float(timeout)
        items = sorted(k for k in data.running
                       if data.reps[k].heartbeat is None or data.reps[k].heartbeat < limit)
        if not items:
            return None
        return {"op": "stale", "study": study, "items": [list(k) for k in items], "now": now}

    # -- apply ------------------------------------------------------------------------------------
    def apply(self, op: dict) -> None:
        """Carry out an operation made by a ``plan_*`` method (also when replaying a log).

        Raises:
            StorageError: the operation contradicts the current state (only possible in a
                log written by two processes that both believed they held the lock).
        """
        kind = op["op"]
        if kind == "create_study":
            record = record_from_dict(op["record"])
            if record.name in self.studies:
                raise StudyExistsError(f"study '{record.name}' already exists")
            self.studies[record.name] = _StudyData(record)
            return
        data = self.study(op["study"])
        if kind == "settings":
            data.record.settings = copy_json(op["settings"])
        elif kind == "add_trial":
            number = len(data.trials)
            if op["number"] != number:
                raise StorageError(f"trial number {op['number']} conflicts with the next free number {number}")
            data.trials.append(Trial(number=number, config=op["config"], n_replicates=len(op["seeds"]),
                                     created=op["created"], user_attrs=op["user_attrs"]))
            for i, seed in enumerate(op["seeds"]):
                data.add_replicate(Replicate(trial=number, index=i, attempt=0, seed=int(seed)))
        elif kind == "extend":
            t = data.trials[op["trial"]]
            if op["index"] != t.n_replicates:
                raise StorageError(f"replicate index {op['index']} conflicts with the next free index {t.n_replicates}")
            t.n_replicates += 1
            data.add_replicate(Replicate(trial=t.number, index=op["index"], attempt=0, seed=op["seed"]))
        elif kind == "retry":
            self._add_attempt(data, op["trial"], op["index"], op["attempt"], (State.FAILED, State.STALE))
        elif kind == "stale":
            for t, i, a in op["items"]:
                r = self._expect(data, (t, i, a), (State.RUNNING,))
                r.state, r.finished = State.STALE, op["now"]
                data.running.discard((t, i, a))
                self._add_attempt(data, t, i, a + 1, (State.STALE,))
        else:
            key = (op["trial"], op["index"], op["attempt"])
            if kind == "claim":
                r = self._expect(data, key, (State.WAITING,))
                r.state, r.worker, r.heartbeat, r.started = State.RUNNING, op["worker"], op["now"], op["now"]
                data.running.add(key)
            elif kind == "heartbeat":
                self._expect(data, key, (State.RUNNING,)).heartbeat = op["now"]
            elif kind == "finish":
                r = self._expect(data, key, (State.WAITING, State.RUNNING))
                r.state, r.loss, r.metrics = State(op["state"]), op["loss"], op["metrics"]
                r.runtime, r.error, r.finished = op["runtime"], op["error"], op["now"]
                data.running.discard(key)
            elif kind == "report":
                self._expect(data, key, (State.WAITING, State.RUNNING)).reports.append((op["step"], op["metrics"]))
            else:
                raise StorageError(f"unknown operation '{kind}'")

    @staticmethod
    def _expect(data: _StudyData, key: Key, states: tuple) -> Replicate:
        r = data.reps.get(tuple(key))
        if r is None or r.state not in states:
            found = "missing" if r is None else r.state.value
            raise StorageError(f"replicate {tuple(key)} is {found}, expected {'/'.join(s.value for s in states)}")
        return r

    def _add_attempt(self, data: _StudyData, trial: int, index: int, attempt: int, after: tuple) -> None:
        if data.latest.get((trial, index)) != attempt - 1:
            raise StorageError(f"attempt {attempt} of (trial={trial}, index={index}) is not the next one")
        prev = self._expect(data, (trial, index, attempt - 1), after)
        data.add_replicate(Replicate(trial=trial, index=index, attempt=attempt, seed=prev.seed))

    # -- reads (copies: callers may not change the book) ---------------------------------------
    def trial_copy(self, trial: Trial) -> Trial:
        return Trial(number=trial.number, config=copy_json(trial.config), n_replicates=trial.n_replicates,
                     replicates=[copy_replicate(r) for r in trial.replicates], created=trial.created,
                     user_attrs=copy_json(trial.user_attrs))

    def get_trials(self, study: str) -> list[Trial]:
        with no_gc():
            return [self.trial_copy(t) for t in self.study(study).trials]

    def get_trial(self, study: str, number: int) -> Trial:
        trials = self.study(study).trials
        if not 0 <= int(number) < len(trials):
            raise StorageError(f"study '{study}' has no trial {number}")
        return self.trial_copy(trials[int(number)])

    def get_study(self, name: str) -> Optional[StudyRecord]:
        data = self.studies.get(name)
        return None if data is None else record_from_dict(record_to_dict(data.record))

    def requeued_pairs(self, op: Optional[dict]) -> list[tuple[int, int]]:
        return [] if op is None else [(t, i) for t, i, _ in op["items"]]
