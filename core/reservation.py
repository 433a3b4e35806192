"""Registering trials and replicates on a storage that several drivers may share.

A replicate's seed is keyed by its trial's number and its index
(:func:`uqhpo.seeding.replicate_seed`), so a driver registers a config only under the
number it read as the next free one, and adds a replicate only at the index it read as
the next one. The storage checks both under its write lock (``reserve_trial``,
``extend_trial``); a driver that lost the race reads again. An optional cap on the
trainings spent is checked under the same lock, so drivers sharing a budget in
trainings never pass it together.
"""
from __future__ import annotations

from typing import Optional

from .seeding import replicate_seed
from .storage.base import Storage

__all__ = ["reserve_trial_number", "add_at_next_number", "extend_by_one"]


def _cap(max_trainings: Optional[int]) -> dict:
    return {} if max_trainings is None else {"max_trainings": int(max_trainings)}


def reserve_trial_number(storage: Storage, study: str, seed: int, config: dict, number: int, n_replicates: int,
                         user_attrs: Optional[dict] = None, max_trainings: Optional[int] = None) -> Optional[int]:
    """``config`` as trial ``number`` with ``n_replicates`` WAITING replicates, if that number
    is still free and no trial has the config. When only an earlier trial has the same config
    (the strategy chose to repeat it; no other driver raced) it is added anyway.

    Returns:
        ``number``, or None when another driver took the number (or, with
        ``max_trainings``, the trainings spent leave no room for ``n_replicates`` more).
    """
    seeds = [replicate_seed(seed, number, i) for i in range(int(n_replicates))]
    cap = _cap(max_trainings)
    if storage.reserve_trial(study, number, config, seeds, user_attrs=user_attrs, unique=True, **cap):
        return number
    if storage.n_trials(study) == number and \
            storage.reserve_trial(study, number, config, seeds, user_attrs=user_attrs, unique=False, **cap):
        return number
    return None


def add_at_next_number(storage: Storage, study: str, seed: int, config: dict, n_replicates: int,
                       user_attrs: Optional[dict] = None) -> int:
    """``config`` under the next free number, also when another trial has the same config.
    Returns the trial's number."""
    while True:  # another driver may take the number between the read and the reservation
        number = storage.n_trials(study)
        seeds = [replicate_seed(seed, number, i) for i in range(int(n_replicates))]
        if storage.reserve_trial(study, number, config, seeds, user_attrs=user_attrs, unique=False):
            return number


def extend_by_one(storage: Storage, study: str, seed: int, trial: int, expected_replicates: Optional[int] = None,
                  max_trainings: Optional[int] = None) -> Optional[int]:
    """One more WAITING replicate of trial ``trial``. Returns its index; None when the trial
    no longer has ``expected_replicates`` replicates (another driver extended it first) or,
    with ``max_trainings``, the study has spent that many trainings."""
    while True:  # the seed is keyed by the new index: extend only if the count read is still current
        count = storage.get_trial(study, trial).n_replicates
        if expected_replicates is not None and count != int(expected_replicates):
            return None
        index = storage.extend_trial(study, trial, replicate_seed(seed, trial, count), expected_replicates=count,
                                     **_cap(max_trainings))
        if index is not None or expected_replicates is not None or max_trainings is not None:
            return index
