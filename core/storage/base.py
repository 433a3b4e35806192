"""The storage plug point: the single source of truth of a study.

Every backend (in-memory, SQLite, JSON-lines journal) implements this interface and
passes the conformance suite :mod:`uqhpo.testing.storage`. Rules every backend keeps:

* trial numbers are 0, 1, 2, ... per study, assigned atomically by ``add_trial``;
* ``claim`` moves exactly one WAITING replicate attempt to RUNNING, atomically: two
  processes claiming at once never get the same one;
* a finished record (COMPLETE, FAILED, STALE) never changes; a retry is a new attempt
  row (same trial and index, ``attempt + 1``, same seed);
* all methods are safe to call from several processes on the same file at once.
"""
from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, NamedTuple, Optional, Sequence, get_args

from ..trial import Replicate, State, Trial

__all__ = ["Storage", "StudyRecord", "StorageError", "StudyExistsError", "ReplicateRef", "AttemptKey",
           "Direction", "JsonObject", "JsonInput", "final_loss", "check_file_path"]

#: A JSON object as it reads back from a storage (values: what ``json`` writes).
JsonObject = dict[str, Any]
#: A JSON-able mapping handed to a storage (numpy numbers, tuples, enums and paths allowed).
JsonInput = Mapping[str, Any]
#: The direction of a study's objective.
Direction = Literal["minimize", "maximize"]


class StorageError(RuntimeError):
    """A storage operation was refused (unknown study, finished record changed, ...)."""


class StudyExistsError(StorageError):
    """``create_study`` with a name the storage already holds."""


class ReplicateRef(NamedTuple):
    """One replicate of a trial, whatever its attempt (a plain ``(trial, index)`` tuple too)."""

    trial: int
    index: int  # type: ignore[assignment]  # shadows tuple.index(): "index" is the replicate's name everywhere


class AttemptKey(NamedTuple):
    """One attempt of one replicate: the identity of a stored replicate record."""

    trial: int
    index: int  # type: ignore[assignment]
    attempt: int


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
    direction: Direction
    seed: int
    space: JsonObject
    space_fingerprint: str
    config_hash: str = ""
    settings: JsonObject = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.direction not in get_args(Direction):
            raise ValueError(f"study '{self.name}': direction must be 'minimize' or 'maximize', "
                             f"got {self.direction!r}")


def final_loss(state: State, loss: Optional[float]) -> Optional[float]:
    """Validate the loss ``finish`` stores: COMPLETE needs a finite one; NaN is stored as None
    (a PRUNED replicate may carry its last reported value, or none).

    Raises:
        StorageError: ``state`` is not COMPLETE/FAILED/PRUNED, or a COMPLETE loss is missing or not finite.
    """
    if state not in (State.COMPLETE, State.FAILED, State.PRUNED):
        raise StorageError(f"finish: state must be COMPLETE or FAILED (or PRUNED), got {State(state).value}")
    value = None if loss is None else float(loss)
    if state == State.COMPLETE and (value is None or not math.isfinite(value)):
        raise StorageError(f"finish: a COMPLETE replicate needs a finite loss, got {loss!r}")
    return None if value is None or math.isnan(value) else value


def check_file_path(path: str, create: bool) -> None:
    """Refuse a storage path that cannot be a file, with one line naming it; with
    ``create``, make its missing parent folders.

    Raises:
        StorageError: the path is a directory, a parent is not a folder, a folder cannot be
            created, or (without ``create``) the file does not exist.
    """
    if os.path.isdir(path):
        raise StorageError(f"storage '{path}' is a directory, not a file")
    if not create:
        if not os.path.exists(path):
            raise StorageError(f"storage file '{path}' not found")
        if not os.path.isfile(path):
            raise StorageError(f"storage '{path}' is not a regular file")
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as e:
        raise StorageError(f"cannot create the folder of storage '{path}': {e.strerror or e}") from None
    if os.path.exists(path) and not os.path.isfile(path):
        raise StorageError(f"storage '{path}' is not a regular file")
    if not os.access(os.path.dirname(path), os.W_OK | os.X_OK):
        raise StorageError(f"cannot write storage '{path}': its folder is not writable")


def now_or(now: Optional[float]) -> float:
    """``now`` as a float, or the current unix time when it is None."""
    return time.time() if now is None else float(now)


class Storage(ABC):
    """Abstract storage. ``study`` arguments are study names.

    Attributes:
        path: the file of a file backend (absolute), None for one held in memory.
    """

    path: Optional[str] = None  # file backends set it per instance

    # -- studies ----------------------------------------------------------------------------
    @abstractmethod
    def create_study(self, record: StudyRecord) -> None:
        """Store a new study; raise ``StudyExistsError`` if the name is taken."""

    @abstractmethod
    def get_study(self, name: str) -> Optional[StudyRecord]:
        """The study record (a copy), or None."""

    @abstractmethod
    def update_settings(self, name: str, settings: JsonInput) -> None:
        """Replace the study's ``settings`` (e.g. an extended budget on resume)."""

    @abstractmethod
    def list_studies(self) -> list[str]:
        """Names of all studies, in creation order."""

    # -- trials -----------------------------------------------------------------------------
    @abstractmethod
    def add_trial(self, study: str, config: JsonInput, seeds: Sequence[int],
                  user_attrs: Optional[JsonInput] = None) -> int:
        """Create the next trial with ``len(seeds)`` WAITING replicates (attempt 0, seed
        ``seeds[i]`` for index i). Returns the new trial number."""

    @abstractmethod
    def reserve_trial(self, study: str, number: int, config: JsonInput, seeds: Sequence[int],
                      user_attrs: Optional[JsonInput] = None, unique: bool = True,
                      max_trainings: Optional[int] = None) -> bool:
        """Atomically add trial ``number`` like :meth:`add_trial`, but only if it is the next
        free number, (with ``unique``) no trial of the study has an equal config and (with
        ``max_trainings``) the study's trainings spent (``Trial.trainings_spent`` summed)
        plus ``len(seeds)`` stay within ``max_trainings``: the hard cap of a budget in
        trainings that several drivers share.

        Concurrent drivers propose with a random stream keyed by the trial number they
        expect; a reservation that fails (another driver took the number or the config)
        tells the caller to re-read and propose again, so proposals stay unique and each
        trial's config comes from the stream keyed by its own number.

        Returns:
            True when the trial was added, False when the number or the config was taken
            or the training cap would be passed.
        """

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
               loss: Optional[float] = None, metrics: Optional[JsonInput] = None, runtime: Optional[float] = None,
               error: Optional[str] = None, now: Optional[float] = None) -> None:
        """Close a WAITING or RUNNING attempt as COMPLETE or FAILED. Raise ``StorageError``
        if the attempt is already finished (finished records never change)."""

    @abstractmethod
    def add_report(self, study: str, trial: int, index: int, attempt: int, step: int, metrics: JsonInput) -> None:
        """Store an intermediate value reported during training (``ctx.report``); a late
        report for a finished attempt is ignored."""

    @abstractmethod
    def extend_trial(self, study: str, trial: int, seed: int, *,
                     expected_replicates: Optional[int] = None, max_trainings: Optional[int] = None) -> Optional[int]:
        """Add one more replicate to an existing trial (adaptive replication): a WAITING
        attempt 0 with index ``n_replicates`` and the given seed; the trial's
        ``n_replicates`` grows by one. Returns the new index.

        With ``expected_replicates`` the extension is conditional, checked under the write
        lock: when the trial no longer has exactly that many replicates (another driver
        extended it since this one read it), nothing is added and None is returned. So also
        with ``max_trainings`` when the study has spent that many trainings already."""

    @abstractmethod
    def retry(self, study: str, trial: int, index: int) -> int:
        """Queue a new WAITING attempt of replicate ``index`` (same seed) after its latest
        attempt FAILED or went STALE. Returns the new attempt number."""

    @abstractmethod
    def requeue_stale(self, study: str, timeout: float, now: Optional[float] = None,
                      workers: Optional[Sequence[str]] = None) -> list[ReplicateRef]:
        """Mark RUNNING attempts whose heartbeat is older than ``now - timeout`` STALE and
        queue a retry of each; with ``workers``, only attempts claimed by one of them (a
        driver known to be dead can be re-queued at once with ``timeout=0``). Returns the
        replicates re-queued, by (trial, index)."""

    @abstractmethod
    def get_trials(self, study: str) -> list[Trial]:
        """All trials with all replicate attempts (and their reports), by number (copies)."""

    def get_trial(self, study: str, number: int) -> Trial:
        """One trial (a copy); raise ``StorageError`` if there is no such trial."""
        for t in self.get_trials(study):
            if t.number == number:
                return t
        raise StorageError(f"study '{study}' has no trial {number}")

    def changes_since(self, study: str, seq: int = 0) -> tuple[list[Trial], int]:
        """The trials changed after sequence number ``seq``, and the sequence number to pass
        next time: what a reader that keeps the trials (a study's cache) needs to catch up.

        Every change to a trial (added, claimed, heartbeat, report, finished, extended,
        retried, gone stale) gives it a sequence number larger than any before in its
        study, so ``changes_since(study, seq)`` followed by ``changes_since(study, new_seq)``
        misses no change, also of other processes writing the same file. ``seq=0`` returns
        every trial. Sequence numbers belong to one study and one storage file; they are
        opaque (not a count of changes).

        This default, for backends without a change counter, returns every trial each
        time (correct, not incremental); the shipped backends return only changed ones.

        Returns:
            ``(trials, new_seq)``: copies of the changed trials (all attempts and reports),
            by number.
        """
        return self.get_trials(study), int(seq) + 1

    def n_trials(self, study: str) -> int:
        """How many trials the study has."""
        return len(self.get_trials(study))

    def close(self) -> None:
        """Release file handles (optional: a backend without any keeps this no-op)."""
        return None
