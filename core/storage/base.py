"""The storage plug point: the single source of truth of a study.

Every backend (in-memory, SQLite, JSON-lines journal) implements this interface and
passes ``tests/core/storage/test_conformance.py``. Rules every backend keeps:

* trial numbers are 0, 1, 2, ... per study, assigned atomically by ``add_trial``;
* ``claim`` moves exactly one WAITING replicate attempt to RUNNING, atomically: two
  processes claiming at once never get the same one;
* a finished record (COMPLETE, FAILED, STALE) never changes; a retry is a new attempt
  row (same trial and index, ``attempt + 1``, same seed);
* all methods are safe to call from several processes on the same file at once.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..trial import Replicate, State, Trial


class StorageError(RuntimeError):
    """A storage operation was refused (unknown study, finished record changed, ...)."""


class StudyExistsError(StorageError):
    pass


@dataclass
class StudyRecord:
    """Identity and settings of a study.

    Attributes:
        name: study name (unique within a storage).
        direction: "minimize" or "maximize".
        seed: the study seed everything derives from.
        space: ``Space.to_dict()``.
        space_fingerprint: ``Space.fingerprint()``; resume refuses a different one.
        config_hash: hash of what defines the objective (task path, uq settings, data);
            resume refuses a different one.
        settings: free JSON (strategy and options, budget, executor, ...). The budget may
            be extended on resume, so settings can be updated.
        created: unix time.
    """

    name: str
    direction: str
    seed: int
    space: dict
    space_fingerprint: str
    config_hash: str = ""
    settings: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)


class Storage(ABC):
    """Abstract storage. ``study`` arguments are study names."""

    # -- studies ----------------------------------------------------------------------------
    @abstractmethod
    def create_study(self, record: StudyRecord) -> None:
        """Store a new study; raise ``StudyExistsError`` if the name is taken."""

    @abstractmethod
    def get_study(self, name: str) -> Optional[StudyRecord]:
        """The study record, or None."""

    @abstractmethod
    def update_settings(self, name: str, settings: dict) -> None:
        """Replace the study's ``settings`` (e.g. an extended budget on resume)."""

    @abstractmethod
    def list_studies(self) -> list[str]:
        """Names of all studies, in creation order."""

    # -- trials -----------------------------------------------------------------------------
    @abstractmethod
    def add_trial(self, study: str, config: dict, seeds: Sequence[int], user_attrs: Optional[dict] = None) -> int:
        """Create the next trial with ``len(seeds)`` WAITING replicates (attempt 0, seed
        ``seeds[i]`` for index i). Returns the new trial number."""

    @abstractmethod
    def claim(self, study: str, worker: str, trial: Optional[int] = None, index: Optional[int] = None,
              now: Optional[float] = None) -> Optional[Replicate]:
        """Atomically move one WAITING replicate attempt to RUNNING (worker, heartbeat and
        started set to ``now``). Restrict to ``trial``/``index`` when given; otherwise the
        lowest (trial, index). Returns the claimed record, or None if there is none."""

    @abstractmethod
    def heartbeat(self, study: str, trial: int, index: int, attempt: int, now: Optional[float] = None) -> None:
        """Refresh the heartbeat of a RUNNING attempt (ignored if it is no longer RUNNING)."""

    @abstractmethod
    def finish(self, study: str, trial: int, index: int, attempt: int, state: State, *,
               loss: Optional[float] = None, metrics: Optional[dict] = None, runtime: Optional[float] = None,
               error: Optional[str] = None, now: Optional[float] = None) -> None:
        """Close a RUNNING attempt as COMPLETE or FAILED. Raise ``StorageError`` if the
        attempt is already finished (finished records never change)."""

    @abstractmethod
    def add_report(self, study: str, trial: int, index: int, attempt: int, step: int, metrics: dict) -> None:
        """Store an intermediate value reported during training (``ctx.report``)."""

    @abstractmethod
    def extend_trial(self, study: str, trial: int, seed: int) -> int:
        """Add one more replicate to an existing trial (adaptive replication): a WAITING
        attempt 0 with index ``n_replicates`` and the given seed; the trial's
        ``n_replicates`` grows by one. Returns the new index."""

    @abstractmethod
    def retry(self, study: str, trial: int, index: int) -> int:
        """Queue a new WAITING attempt of replicate ``index`` (same seed) after its latest
        attempt FAILED or went STALE. Returns the new attempt number."""

    @abstractmethod
    def requeue_stale(self, study: str, timeout: float, now: Optional[float] = None) -> list[tuple[int, int]]:
        """Mark RUNNING attempts whose heartbeat is older than ``now - timeout`` STALE and
        queue a retry of each. Returns the (trial, index) pairs re-queued."""

    @abstractmethod
    def get_trials(self, study: str) -> list[Trial]:
        """All trials with all replicate attempts (and their reports), by number."""

    def get_trial(self, study: str, number: int) -> Trial:
        for t in self.get_trials(study):
            if t.number == number:
                return t
        raise StorageError(f"study '{study}' has no trial {number}")

    def n_trials(self, study: str) -> int:
        return len(self.get_trials(study))

    def close(self) -> None:
        """Release file handles (optional)."""
