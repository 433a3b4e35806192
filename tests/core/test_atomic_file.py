"""atomic_path: the old file or the whole new one, never a part or a leftover temporary."""
from __future__ import annotations

import stat

import pytest

from uqhpo.atomic_file import atomic_path


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "data.h5"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("generator crashed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["data.h5"]


def test_a_clean_write_replaces_the_file_readable_by_others(tmp_path):
    target = tmp_path / "new" / "data.h5"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["data.h5"]
