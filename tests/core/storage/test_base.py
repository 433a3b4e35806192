"""The storage interface's own pieces: records, keys, loss validation."""
from __future__ import annotations

import math

import pytest

from uqhpo.storage import AttemptKey, ReplicateRef, StorageError, StudyRecord
from uqhpo.storage.base import final_loss
from uqhpo.trial import State


def test_study_record_refuses_an_unknown_direction():
    with pytest.raises(ValueError, match="study 's': direction must be 'minimize' or 'maximize', got 'down'"):
        StudyRecord("s", "down", 0, {}, "fp")  # type: ignore[arg-type]
    assert StudyRecord("s", "maximize", 0, {}, "fp").settings == {}


def test_keys_are_named_tuples():
    ref, key = ReplicateRef(2, 1), AttemptKey(2, 1, 0)
    assert ref == (2, 1) and key == (2, 1, 0) and hash(key) == hash((2, 1, 0))
    assert (ref.trial, ref.index, key.attempt) == (2, 1, 0)


def test_final_loss():
    assert final_loss(State.COMPLETE, 0.5) == 0.5
    assert final_loss(State.FAILED, None) is None and final_loss(State.FAILED, math.nan) is None
    assert final_loss(State.FAILED, math.inf) == math.inf
    for state, loss in [(State.COMPLETE, None), (State.COMPLETE, math.nan), (State.RUNNING, 1.0)]:
        with pytest.raises(StorageError):
            final_loss(state, loss)
