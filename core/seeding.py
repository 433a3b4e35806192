"""Every random number in a study derives from one study seed.

Streams are keyed with ``numpy.random.SeedSequence(seed, spawn_key=...)`` so that a
value depends only on (study seed, purpose, trial number, ...), never on the order in
which workers happened to finish.
"""
from __future__ import annotations

import numpy as np

# purposes (first element of the spawn key)
_REPLICATE = 0
_PROPOSE = 1
_EXTRA = 2


def replicate_seed(study_seed: int, trial_number: int, replicate: int, attempt: int = 0) -> int:
    """Seed for one training (a 31-bit int, safe for torch/numpy/tf)."""
    key = (_REPLICATE, int(trial_number), int(replicate), int(attempt))
    ss = np.random.SeedSequence(int(study_seed), spawn_key=key)
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


def proposal_rng(study_seed: int, trial_number: int) -> np.random.Generator:
    """Generator the strategy uses when proposing the config of ``trial_number``."""
    return np.random.default_rng(np.random.SeedSequence(int(study_seed), spawn_key=(_PROPOSE, int(trial_number))))


def derived_rng(study_seed: int, *key: int) -> np.random.Generator:
    """Any other stream (simulated durations, failure injection...): keyed by ints."""
    return np.random.default_rng(np.random.SeedSequence(int(study_seed), spawn_key=(_EXTRA, *map(int, key))))
