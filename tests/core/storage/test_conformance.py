"""The conformance suite (:mod:`uqhpo.testing.storage`) over the three storages, and proof
that the suite fails a backend that breaks the rules."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import pytest

from uqhpo.storage import InMemoryStorage, JournalStorage, SQLiteStorage, Storage
from uqhpo.testing.storage import MultiProcessConformance, StorageConformance, study_record
from uqhpo.trial import Replicate, State, Trial


class TestInMemory(StorageConformance):
    def make_storage(self, tmp_path: Path) -> Storage:
        return InMemoryStorage()


class TestSQLite(MultiProcessConformance):
    def make_storage(self, tmp_path: Path) -> Storage:
        return SQLiteStorage(tmp_path / "db" / "study.db")


class TestJournal(MultiProcessConformance):
    def make_storage(self, tmp_path: Path) -> Storage:
        return JournalStorage(tmp_path / "log" / "study.jsonl")


# -- the suite catches broken backends ------------------------------------------------------------
class _ClaimsTwice(InMemoryStorage):
    """Hands out a WAITING attempt without marking it RUNNING."""

    def claim(self, study: str, worker: str, trial: Optional[int] = None, index: Optional[int] = None,
              now: Optional[float] = None) -> Optional[Replicate]:
        with self._locked(write=False) as book:
            key = book.study(study).find_waiting(trial, index)
            return None if key is None else book.study(study).reps[key]


class _RewritesFinished(InMemoryStorage):
    """Lets ``finish`` overwrite a finished record."""

    def finish(self, study: str, trial: int, index: int, attempt: int, state: State, **kw: object) -> None:
        with self._locked(write=True) as book:
            book.replicate(study, trial, index, attempt).state = State.RUNNING
        super().finish(study, trial, index, attempt, state, **kw)  # type: ignore[arg-type]


class _SharesItsRecords(InMemoryStorage):
    """Returns its own objects instead of copies."""

    def get_trials(self, study: str) -> list[Trial]:
        with self._locked(write=False) as book:
            return list(book.study(study).trials)

    def get_trial(self, study: str, number: int) -> Trial:
        return self.get_trials(study)[number]


@pytest.mark.parametrize("backend, check", [
    (_ClaimsTwice, "test_claim_hands_out_each_attempt_once"),
    (_RewritesFinished, "test_finished_records_never_change"),
    (_SharesItsRecords, "test_records_are_copies_both_ways"),
])
def test_suite_fails_a_broken_backend(backend: Callable[[], Storage], check: str) -> None:
    storage = backend()
    storage.create_study(study_record())
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        getattr(TestInMemory(), check)(storage)


def test_suite_passes_the_same_checks_on_the_real_backend() -> None:
    for check in ["test_claim_hands_out_each_attempt_once", "test_finished_records_never_change",
                  "test_records_are_copies_both_ways"]:
        storage = InMemoryStorage()
        storage.create_study(study_record())
        getattr(TestInMemory(), check)(storage)

