"""seed_everything makes trainings repeatable; random states survive a save/load round trip."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from uqhpo.task import TrialContext
from uqhpo.torch import capture_rng_state, restore_rng_state, seed_everything


def test_same_seed_same_training_other_seed_differs(make_trainer, tmp_path):
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        t = make_trainer(seed=seed)
        runs[name] = (t.fit(TrialContext(seed=seed, workdir=tmp_path / name)).history,
                      [p.detach().clone() for p in t.model.parameters()])
    assert runs["a"][0] == runs["b"][0]
    assert all(torch.equal(p, q) for p, q in zip(runs["a"][1], runs["b"][1]))
    assert runs["a"][0] != runs["c"][0]


def test_seeds_every_global_generator_and_sets_determinism_flags():
    draws = []
    for _ in range(2):
        seed_everything(2**40 + 5)                 # large seeds are folded, not refused
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(()))))
    assert draws[0] == draws[1]
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    seed_everything(1, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
    seed_everything(1)
    assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark


def _draw(gens: dict) -> tuple:
    return (random.random(), float(np.random.rand()), float(torch.rand(())),
            float(torch.rand((), generator=gens["t"])), float(gens["np"].random()),
            float(gens["rs"].rand()), gens["py"].random(), float(gens["mt"].random()))


def test_capture_restore_round_trip_through_a_checkpoint_file(tmp_path):
    gens = {"t": torch.Generator().manual_seed(1), "np": np.random.default_rng(2), "rs": np.random.RandomState(3),
            "py": random.Random(4), "mt": np.random.Generator(np.random.MT19937(5))}
    seed_everything(0)
    _draw(gens)
    torch.save(capture_rng_state(gens), tmp_path / "rng.pt")
    expected = _draw(gens)
    _draw(gens)                                    # move every stream on
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True), gens)
    assert _draw(gens) == expected


def test_unsupported_or_missing_generators_are_named():
    with pytest.raises(TypeError, match=r"generators\['bad'\]: cannot checkpoint a list"):
        capture_rng_state({"bad": []})
    state = capture_rng_state({})
    with pytest.raises(KeyError, match="no state for generator 'extra'"):
        restore_rng_state(state, {"extra": torch.Generator()})
