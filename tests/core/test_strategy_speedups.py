"""The overhead work of issue 8 on the surrogate strategies: column-wise encoding (same bits
as ``Space.encode``), keys of the history built only on demand, distance-based
de-duplication in the ``rbf`` search, the design-size defaults, and the RBF fast path for
histories without duplicate points."""
from __future__ import annotations

import math

import numpy as np
import pytest

from uqhpo.space import Categorical, Fixed, Integer, Real, Space, taken_keys
from uqhpo.strategies import make_strategy
from uqhpo.strategies.gp import GPStrategy
from uqhpo.strategies.model_based import LazyKeys, encode_configs
from uqhpo.strategies.rbf import RBFStrategy
from uqhpo.surrogates.rbf import RBFSurrogate, _merge_duplicates
from uqhpo.trial import Observations


def mixed_space() -> Space:
    return Space({
        "lr": Real(1e-4, 1e-1, log=True),
        "layers": Integer(1, 6),
        "width": Integer(8, 512, log=True),
        "act": Categorical(["relu", "tanh", "gelu"]),
        "dropout": Real(-0.5, 0.5),
        "opt": Fixed("adam"),
    })


def test_encode_configs_is_bitwise_space_encode_for_every_parameter_kind():
    space = mixed_space()
    configs = space.sample(np.random.default_rng(0), 500) + [
        {"lr": 1e-4, "layers": 1, "width": 8, "act": "relu", "dropout": -0.5, "opt": "adam"},
        {"lr": 0.1, "layers": 6, "width": 512, "act": "gelu", "dropout": 0.5, "opt": "adam"}]
    fast, slow = encode_configs(space, configs), space.encode(configs)
    assert fast.shape == slow.shape == (502, space.dim)
    assert np.array_equal(fast, slow)  # the same bits, not just close
    assert encode_configs(space, []).shape == (0, space.dim)


def test_encode_configs_reports_a_missing_parameter_like_space_encode():
    space = mixed_space()
    config = space.sample(np.random.default_rng(1), 1)[0]
    del config["layers"]
    with pytest.raises(ValueError, match="layers"):
        encode_configs(space, [config])


def test_lazy_keys_builds_once_on_first_lookup_and_keeps_earlier_adds():
    calls = []

    def build():
        calls.append(1)
        return {"a", "b"}

    keys = LazyKeys(build)
    keys.add("c")
    keys.discard("a")
    assert not keys.built and calls == []
    assert "c" in keys and "a" not in keys and "b" in keys
    assert len(keys) == 2 and sorted(keys) == ["b", "c"] and calls == [1]
    keys.add("d")
    assert "d" in keys and calls == [1]


def _history(space: Space, n: int, seed: int = 0) -> Observations:
    configs = space.sample(np.random.default_rng(seed), n)
    values = np.array([(math.log10(c["lr"]) + 2.5) ** 2 + c["dropout"] ** 2 for c in configs])
    return Observations(configs, values, np.zeros(n))


def test_rbf_search_never_repeats_a_seen_config_without_keying_the_history():
    space = Space({"x": Integer(0, 3), "y": Integer(0, 3), "z": Real(0.0, 1.0)})
    configs = space.sample(np.random.default_rng(2), 40)
    values = np.array([c["x"] + c["y"] + c["z"] for c in configs])
    values[::5] = np.nan  # evaluated but no finite value: still seen
    obs = Observations(configs, values, np.zeros(len(configs)))
    pending = space.sample(np.random.default_rng(3), 3)
    strategy = RBFStrategy(space, seed=0)
    seen = taken_keys(space, configs, pending)
    for seed in range(5):
        out = strategy.propose(obs, pending, 4, np.random.default_rng(seed))
        keys = [space.key(c) for c in out]
        assert len(out) == 4 and len(set(keys)) == 4 and not set(keys) & seen


def test_rbf_search_adds_its_picks_to_the_taken_keys():
    space = Space({"a": Real(0.0, 1.0), "b": Real(0.0, 1.0)})
    configs = space.sample(np.random.default_rng(4), 12)
    obs = Observations(configs, np.array([c["a"] + c["b"] for c in configs]), np.zeros(12))
    strategy = RBFStrategy(space, seed=0)
    keys = LazyKeys(lambda: taken_keys(space, configs))
    out = strategy._search(obs, [], 2, np.random.default_rng(0), keys)
    assert len(out) == 2 and not keys.built  # no lookup of the history's keys was needed
    assert all(space.key(c) in keys for c in out)


def test_infinite_space_is_never_exhausted_and_finite_one_is():
    real = Space({"a": Real(0.0, 1.0)})
    assert not RBFStrategy(real).is_exhausted(_history(Space({"lr": Real(1e-4, 1e-1, log=True),
                                                               "dropout": Real(-0.5, 0.5)}), 3), [])
    tiny = Space({"k": Integer(0, 1)})
    obs = Observations([{"k": 0}, {"k": 1}], np.array([1.0, 2.0]), np.zeros(2))
    assert RBFStrategy(tiny).is_exhausted(obs, [])
    assert not RBFStrategy(tiny).is_exhausted(Observations([{"k": 0}], np.array([1.0]), np.zeros(1)), [])


def test_design_size_defaults_one_and_a_half_d_plus_one_for_rbf_and_gp():
    space = mixed_space()
    assert space.dim == 7 and RBFStrategy(space).n_initial == 12
    for d, n in ((1, 3), (2, 5), (5, 9), (6, 11)):
        assert RBFStrategy(Space({f"x{i}": Real(0.0, 1.0) for i in range(d)})).n_initial == n
    assert GPStrategy(space).n_initial == 12
    assert make_strategy("rbf", space, seed=0, n_initial=4).n_initial == 4


def test_rbf_duplicate_fast_path_changes_nothing():
    rng = np.random.default_rng(5)
    X = rng.random((60, 3))
    y = rng.random(60)
    same = _merge_duplicates(X, y, np.zeros(60))
    assert same[0] is X  # distinct rows: returned as they are
    Xd = np.vstack([X, X[:5]])
    yd = np.concatenate([y, y[:5] + 1.0])
    U, m, v = _merge_duplicates(Xd, yd, np.zeros(65))
    assert len(U) == 60 and np.isclose(m.sum(), y.sum() + 2.5)
    assert np.all(v[np.isin(m, y[:5] + 0.5)] > 0)
    # without smoothing, the fit through the merged points interpolates their means
    model = RBFSurrogate(smoothing_scale=0.0).fit(Xd, yd)
    np.testing.assert_allclose(model.predict(X[:5])[0], y[:5] + 0.5, atol=1e-6)
