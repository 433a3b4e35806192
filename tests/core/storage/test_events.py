"""Typed storage events: JSON round trips and decoding of journal lines."""
from __future__ import annotations

import json

import pytest

from uqhpo.storage._events import (
    EVENT_TYPES,
    AddTrial,
    Claim,
    CreateStudy,
    Extend,
    Finish,
    Heartbeat,
    MarkStale,
    Report,
    Retry,
    UpdateSettings,
    decode,
)
from uqhpo.storage._json import dumps
from uqhpo.storage.base import AttemptKey, StorageError, StudyRecord
from uqhpo.trial import State

EXAMPLES = [
    CreateStudy(StudyRecord("s", "maximize", 3, {"x": {"type": "real"}}, "fp", "h", {"b": [1, 2]}, created=1.5)),
    UpdateSettings("s", {"budget": {"trials": 3}}),
    AddTrial("s", 4, {"lr": 0.1, "act": "relu"}, (7, 8), {"note": "x"}, 2.0),
    Claim("s", 4, 1, 0, worker="w", now=3.0),
    Heartbeat("s", 4, 1, 0, now=4.0),
    Finish("s", 4, 1, 0, state=State.COMPLETE, loss=0.5, metrics={"m": [1]}, runtime=1.0, error=None, now=5.0),
    Finish("s", 4, 0, 0, state=State.FAILED, loss=None, metrics={}, runtime=None, error="boom", now=5.0),
    Report("s", 4, 1, 0, step=2, metrics={"val": 0.3}),
    Extend("s", 4, 2, 9),
    Retry("s", 4, 0, 1),
    MarkStale("s", (AttemptKey(4, 1, 0), AttemptKey(5, 0, 2)), now=6.0),
]


def test_every_kind_has_an_example_and_a_unique_name():
    assert {type(e) for e in EXAMPLES} == set(EVENT_TYPES.values())
    assert len(EVENT_TYPES) == 10 and all(kind for kind in EVENT_TYPES)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
def test_json_line_round_trip(event):
    line = dumps(event.to_json())
    data = json.loads(line)
    assert data["op"] == event.kind
    back = decode(data)
    assert back == event and type(back) is type(event)


def test_decoded_fields_have_their_types():
    finish = decode(json.loads(dumps(EXAMPLES[5].to_json())))
    assert finish.state is State.COMPLETE and finish.key == AttemptKey(4, 1, 0)
    stale = decode(json.loads(dumps(EXAMPLES[-1].to_json())))
    assert all(type(k) is AttemptKey for k in stale.items)
    trial = decode(json.loads(dumps(EXAMPLES[2].to_json())))
    assert trial.seeds == (7, 8)


@pytest.mark.parametrize("data, error", [
    ({"op": "drop_table", "study": "s"}, StorageError),
    ({"study": "s"}, StorageError),
    ([1, 2], StorageError),
    ({"op": "claim", "study": "s", "trial": 0}, KeyError),
    ({"op": "finish", "study": "s", "trial": 0, "index": 0, "attempt": 0, "state": "DONE", "loss": None,
      "metrics": {}, "runtime": None, "error": None, "now": 1.0}, ValueError),
])
def test_bad_lines_are_refused(data, error):
    with pytest.raises(error):
        decode(data)


def test_events_are_immutable():
    with pytest.raises(AttributeError):
        EXAMPLES[3].worker = "other"  # type: ignore[misc]
