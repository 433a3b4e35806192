"""In-memory specifics: it stays in its process."""
from __future__ import annotations

import pickle

import pytest

from uqhpo.storage import InMemoryStorage


def test_memory_storage_is_not_shipped_to_processes():
    with pytest.raises(TypeError, match="sqlite:///"):
        pickle.dumps(InMemoryStorage())
