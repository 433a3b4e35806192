"""``get_storage``: the storage URL forms (``uqhpo.storage.__init__``)."""
from __future__ import annotations

import pytest

from uqhpo.storage import InMemoryStorage, JournalStorage, SQLiteStorage, get_storage


def test_get_storage_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert isinstance(get_storage(None), InMemoryStorage)
    assert isinstance(get_storage(":memory:"), InMemoryStorage) and isinstance(get_storage("memory"), InMemoryStorage)
    rel = get_storage("sqlite:///runs/a/x.db")
    assert isinstance(rel, SQLiteStorage) and (tmp_path / "runs/a/x.db").exists()
    absolute = get_storage(f"sqlite:///{tmp_path}/abs/y.db")
    assert isinstance(absolute, SQLiteStorage) and absolute.path == str(tmp_path / "abs/y.db")
    journal = get_storage("journal:///j/z.jsonl")
    assert isinstance(journal, JournalStorage) and journal.path == str(tmp_path / "j/z.jsonl")
    assert (tmp_path / "j/z.jsonl").exists()
    assert isinstance(get_storage(str(tmp_path / "plain.jsonl")), JournalStorage)
    assert isinstance(get_storage(tmp_path / "path.jsonl"), JournalStorage)
    assert get_storage(rel) is rel


@pytest.mark.parametrize("bad", ["postgres://host/db", "study.db", "sqlite:///", "journal:///", 42])
def test_bad_urls_name_the_accepted_forms(bad):
    with pytest.raises(ValueError, match="storage.*sqlite:///path.db"):
        get_storage(bad)


def test_file_backends_load_lazily():
    import uqhpo.storage as storage
    assert storage.SQLiteStorage is SQLiteStorage and storage.JournalStorage is JournalStorage
    with pytest.raises(AttributeError, match="nothing"):
        storage.nothing  # noqa: B018


def test_memory_has_no_path_and_files_have_one(tmp_path):
    assert InMemoryStorage().path is None
    assert get_storage(f"sqlite:///{tmp_path}/x.db").path == str(tmp_path / "x.db")
