"""Fixtures of the fault-injection suite (helpers: ``reliability_helpers``)."""
from __future__ import annotations

from pathlib import Path

import pytest
from reliability_helpers import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)
