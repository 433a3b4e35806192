"""Typed events: every change to the in-memory and journal storages is one of these.

A storage *plans* an event (checks it against the current state), then *commits* it:
the in-memory storage applies it at once, the journal appends ``event.to_json()`` as one
line and every process replays the lines (:mod:`uqhpo.storage._replay`). ``kind`` is
the ``"op"`` field of a journal line; the field names are the line's keys, so logs
written by earlier versions read back unchanged.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, TypeVar

from ..trial import State
from ._json import record_from_dict, record_to_dict
from .base import AttemptKey, JsonObject, StorageError, StudyRecord

__all__ = ["Event", "CreateStudy", "UpdateSettings", "AddTrial", "Claim", "Heartbeat", "Finish", "Report",
           "Extend", "Retry", "MarkStale", "decode", "EVENT_TYPES"]


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_E = TypeVar("_E", bound="Event")


def _field_names(cls: type) -> tuple[str, ...]:
    """``dataclasses.fields`` names of an event class, looked up once (replay decodes 10^5 lines)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


_new = object.__new__
_tuple = tuple.__new__  # a named tuple without its Python-level __new__


def _build(cls: type[_E], fields: dict[str, Any]) -> _E:
    """``cls(**fields)`` without the frozen dataclass's ``__init__`` (one ``object.__setattr__``
    per field: most of the time of decoding a line); ``fields`` must name every field."""
    event = _new(cls)
    event.__dict__.update(fields)
    return event


@dataclass(frozen=True)
class Event:
    """Base of all events. ``kind`` names the event in a journal line."""

    kind: ClassVar[str] = ""

    def to_json(self) -> JsonObject:
        """``{"op": kind, field: value, ...}``, ready for ``dumps``."""
        out: JsonObject = {"op": self.kind}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out

    @classmethod
    def from_json(cls, data: JsonObject) -> Event:
        """The event a journal line holds (the inverse of :meth:`to_json`)."""
        return _build(cls, {name: data[name] for name in _field_names(cls)})


@dataclass(frozen=True)
class CreateStudy(Event):
    kind: ClassVar[str] = "create_study"
    record: StudyRecord

    def to_json(self) -> JsonObject:
        return {"op": self.kind, "record": record_to_dict(self.record)}

    @classmethod
    def from_json(cls, data: JsonObject) -> CreateStudy:
        return cls(record_from_dict(data["record"]))


@dataclass(frozen=True)
class UpdateSettings(Event):
    kind: ClassVar[str] = "settings"
    study: str
    settings: JsonObject


@dataclass(frozen=True)
class AddTrial(Event):
    """Trial ``number`` (the next free one) with one WAITING replicate per seed."""

    kind: ClassVar[str] = "add_trial"
    study: str
    number: int
    config: JsonObject
    seeds: tuple[int, ...]
    user_attrs: JsonObject
    created: float

    @classmethod
    def from_json(cls, data: JsonObject) -> AddTrial:
        return _build(cls, {"study": data["study"], "number": data["number"], "config": data["config"],
                            "seeds": tuple(int(s) for s in data["seeds"]), "user_attrs": data["user_attrs"],
                            "created": data["created"]})


@dataclass(frozen=True)
class _OnAttempt(Event):
    """An event about one stored replicate attempt."""

    study: str
    trial: int
    index: int
    attempt: int

    @property
    def key(self) -> AttemptKey:
        return _tuple(AttemptKey, (self.trial, self.index, self.attempt))


@dataclass(frozen=True)
class Claim(_OnAttempt):
    kind: ClassVar[str] = "claim"
    worker: str
    now: float


@dataclass(frozen=True)
class Heartbeat(_OnAttempt):
    kind: ClassVar[str] = "heartbeat"
    now: float


@dataclass(frozen=True)
class Finish(_OnAttempt):
    kind: ClassVar[str] = "finish"
    state: State
    loss: Optional[float]
    metrics: JsonObject
    runtime: Optional[float]
    error: Optional[str]
    now: float

    def to_json(self) -> JsonObject:
        out = super().to_json()
        out["state"] = self.state.value
        return out

    @classmethod
    def from_json(cls, data: JsonObject) -> Finish:
        fields: dict[str, Any] = {name: data[name] for name in _field_names(cls)}
        fields["state"] = State(data["state"])
        return _build(cls, fields)


@dataclass(frozen=True)
class Report(_OnAttempt):
    kind: ClassVar[str] = "report"
    step: int
    metrics: JsonObject


@dataclass(frozen=True)
class Extend(Event):
    """One more replicate ``index`` (the trial's current ``n_replicates``) of a trial."""

    kind: ClassVar[str] = "extend"
    study: str
    trial: int
    index: int
    seed: int


@dataclass(frozen=True)
class Retry(Event):
    """A new WAITING ``attempt`` of a replicate whose previous attempt FAILED or went STALE."""

    kind: ClassVar[str] = "retry"
    study: str
    trial: int
    index: int
    attempt: int


@dataclass(frozen=True)
class MarkStale(Event):
    """RUNNING attempts whose heartbeat expired: each goes STALE and gets a retry."""

    kind: ClassVar[str] = "stale"
    study: str
    items: tuple[AttemptKey, ...]
    now: float

    def to_json(self) -> JsonObject:
        return {"op": self.kind, "study": self.study, "items": [list(k) for k in self.items], "now": self.now}

    @classmethod
    def from_json(cls, data: JsonObject) -> MarkStale:
        return cls(study=data["study"], items=tuple(AttemptKey(*map(int, k)) for k in data["items"]), now=data["now"])


EVENT_TYPES: dict[str, type[Event]] = {cls.kind: cls for cls in (
    CreateStudy, UpdateSettings, AddTrial, Claim, Heartbeat, Finish, Report, Extend, Retry, MarkStale)}


def decode(data: JsonObject) -> Event:
    """The event of one parsed journal line.

    Raises:
        StorageError: the line names no known event.
        KeyError, TypeError, ValueError: a field is missing or malformed.
    """
    cls = EVENT_TYPES.get(data.get("op", "")) if isinstance(data, dict) else None
    if cls is None:
        raise StorageError(f"unknown operation {data.get('op') if isinstance(data, dict) else data!r}")
    return cls.from_json(data)
