"""Property tests of uqhpo.space: encode/decode round trips, validity, identity, errors."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uqhpo.space import Categorical, Fixed, Integer, Real, Space, select_new, taken_keys

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)


@st.composite
def real_params(draw):
    log = draw(st.booleans())
    if log:
        low = draw(st.floats(1e-6, 1e3))
        high = low * draw(st.floats(1.001, 1e6))
    else:
        low = draw(st.floats(-1e6, 1e6))
        high = low + draw(st.floats(1e-3, 1e6))
    return Real(low, high, log=log)


@st.composite
def integer_params(draw):
    log = draw(st.booleans())
    low = draw(st.integers(1, 1000) if log else st.integers(-1000, 1000))
    return Integer(low, low + draw(st.integers(0, 5000)), log=log)


@st.composite
def categorical_params(draw):
    kind = draw(st.sampled_from(["text", "int"]))
    elems = st.text(min_size=0, max_size=4) if kind == "text" else st.integers(-50, 50)
    choices = draw(st.lists(elems, min_size=1, max_size=6, unique=True))
    return Categorical(choices, ordered=draw(st.booleans()))


PARAMS = st.one_of(real_params(), integer_params(), categorical_params(),
                   st.builds(Fixed, st.one_of(st.integers(), st.text(max_size=3), st.floats(allow_nan=False))))


@st.composite
def spaces(draw, min_size=1):
    names = draw(st.lists(NAMES, min_size=min_size, max_size=5, unique=True))
    return Space({n: draw(PARAMS) for n in names})


@st.composite
def space_and_config(draw):
    """A space and a valid config drawn value by value (not through decode)."""
    space = draw(spaces())
    config = {}
    for name, p in space.params.items():
        if isinstance(p, Real):
            if p.log:
                config[name] = math.exp(draw(st.floats(math.log(p.low), math.log(p.high))))
                config[name] = min(max(config[name], p.low), p.high)
            else:
                config[name] = draw(st.floats(p.low, p.high))
        elif isinstance(p, Integer):
            config[name] = draw(st.integers(p.low, p.high))
        elif isinstance(p, Categorical):
            config[name] = draw(st.sampled_from(p.choices))
        else:
            config[name] = p.value
    return space, config


def _same(space: Space, a: dict, b: dict) -> bool:
    for name, p in space.params.items():
        if isinstance(p, Real):
            if not math.isclose(a[name], b[name], rel_tol=1e-9, abs_tol=1e-9 * (p.high - p.low)):
                return False
        elif a[name] != b[name] or type(a[name]) is not type(b[name]):
            return False
    return True


@SETTINGS
@given(space_and_config())
def test_encode_decode_round_trip(sc):
    space, config = sc
    X = space.encode(config)
    assert X.shape == (1, space.dim)
    assert np.all((X >= 0) & (X <= 1))
    back = space.decode(X)[0]
    assert space.contains(back)
    assert _same(space, config, back), (config, back)


@SETTINGS
@given(integer_params(), st.data())
def test_integer_round_trip_every_value_near_bounds(p, data):
    space = Space({"i": p})
    values = sorted({p.low, p.high, min(p.low + 1, p.high), max(p.high - 1, p.low),
                     data.draw(st.integers(p.low, p.high))})
    back = [c["i"] for c in space.decode(space.encode([{"i": v} for v in values]))]
    assert back == values


@SETTINGS
@given(spaces(), st.data())
def test_decode_any_real_point_is_valid(space, data):
    n = data.draw(st.integers(1, 4))
    flat = data.draw(st.lists(st.floats(-1e12, 1e12, allow_nan=False), min_size=n * space.dim,
                              max_size=n * space.dim))
    X = np.array(flat, dtype=float).reshape(n, space.dim)
    configs = space.decode(X)
    assert len(configs) == n
    assert all(space.contains(c) for c in configs)
    # rounding is idempotent: a rounded point is the encoding of a valid config
    R = space.round(X)
    np.testing.assert_allclose(space.round(R), R, atol=1e-12)


@SETTINGS
@given(spaces(), st.data())
def test_round_is_a_vectorised_encode_of_decode(space, data):
    n = data.draw(st.integers(1, 6))
    flat = data.draw(st.lists(st.one_of(st.floats(-0.5, 1.5), st.just(float("nan"))), min_size=n * space.dim,
                              max_size=n * space.dim))
    X = np.array(flat, dtype=float).reshape(n, space.dim)
    R = space.round(X)
    assert R.shape == (n, space.dim) and np.all((R >= 0) & (R <= 1))
    assert space.decode(R) == space.decode(X)
    # real columns are only clipped (decode + encode would add cancellation error in a narrow
    # range); every discrete column is the encoding of the decoded value
    real = np.array([c.kind == "real" for c in space.columns], dtype=bool)
    np.testing.assert_array_equal(R[:, real], np.clip(np.nan_to_num(X[:, real], nan=0.5), 0, 1))
    np.testing.assert_allclose(R[:, ~real], space.encode(space.decode(X))[:, ~real], atol=1e-12)


def test_round_snaps_each_kind_of_column():
    space = Space({"r": Real(0, 1), "i": Integer(1, 4), "m": Integer(1, 64, log=True), "c": Categorical("abc"),
                   "o": Categorical([1, 2, 4, 8], ordered=True), "f": Fixed(7)})
    X = np.array([[1.2, 0.30, 0.5, 0.2, 1.3, -0.1, 0.99],
                  [-0.1, 0.99, 0.0, 0.0, 0.0, 0.0, np.nan]])
    R = space.round(X)
    np.testing.assert_array_equal(R[:, 0], [1.0, 0.0])                  # reals: clipped only
    np.testing.assert_array_equal(R[:, 1], [0.375, 0.875])              # bin centres of 2 and 4
    np.testing.assert_allclose(R[:, 2], [space["m"].encode(v)[0] for v in (space.decode(X)[0]["m"], 1)])
    np.testing.assert_array_equal(R[:, 3:6], [[0, 1, 0], [1, 0, 0]])  # argmax (first on ties)
    np.testing.assert_array_equal(R[:, 6], [0.875, 0.625])              # NaN decodes as 0.5
    assert [c["o"] for c in space.decode(R)] == [8, 4]


def test_cardinality_counts_distinct_configs():
    assert Space({"i": Integer(1, 4), "c": Categorical("abc"), "o": Categorical([1, 2], ordered=True),
                  "f": Fixed(0)}).cardinality() == 4 * 3 * 2
    assert Space({"i": Integer(3, 3), "f": Fixed("x")}).cardinality() == 1
    assert Space({"m": Integer(1, 1000, log=True)}).cardinality() == 1000
    assert Space({"i": Integer(1, 4), "x": Real(0, 1)}).cardinality() == math.inf


@SETTINGS
@given(spaces(), st.integers(0, 2**32 - 1), st.integers(1, 20))
def test_sample_is_valid_and_seeded(space, seed, n):
    a = space.sample(np.random.default_rng(seed), n)
    b = space.sample(np.random.default_rng(seed), n)
    assert len(a) == n and all(space.contains(c) for c in a)
    assert [space.key(c) for c in a] == [space.key(c) for c in b]


@SETTINGS
@given(spaces())
def test_dict_round_trip_keeps_fingerprint_and_columns(space):
    again = Space.from_dict(space.to_dict())
    assert again == space
    assert again.fingerprint() == space.fingerprint()
    assert again.columns == space.columns


def test_columns_metadata_and_integer_steps():
    space = Space({"r": Real(0, 1), "i": Integer(2, 6), "c": Categorical(["a", "b", "c"]),
                   "o": Categorical([1, 2, 4, 8], ordered=True), "f": Fixed("x")})
    assert space.dim == 1 + 1 + 3 + 1
    assert [c.kind for c in space.columns] == ["real", "integer", "onehot", "onehot", "onehot", "ordinal"]
    assert space.columns[1].step == pytest.approx(1 / 5)
    assert space.columns[5].step == pytest.approx(1 / 4)
    enc = space.encode([{"r": 0.5, "i": v, "c": "a", "o": 1} for v in range(2, 7)])[:, 1]
    np.testing.assert_allclose(np.diff(enc), 1 / 5)
    assert space.slice_of("c") == slice(2, 5)


def test_uniform_cube_sampling_is_uniform_over_integers():
    space = Space({"i": Integer(1, 4), "c": Categorical(["a", "b", "c"])})
    configs = space.sample(np.random.default_rng(0), 6000)
    counts_i = np.bincount([c["i"] for c in configs], minlength=5)[1:]
    counts_c = np.array([sum(c["c"] == k for c in configs) for k in "abc"])
    np.testing.assert_allclose(counts_i / 6000, 1 / 4, atol=0.03)
    np.testing.assert_allclose(counts_c / 6000, 1 / 3, atol=0.03)


def test_fingerprint_sensitive_to_definition_and_order():
    base = {"lr": Real(1e-4, 1e-1, log=True), "n": Integer(1, 4)}
    fp = Space(dict(base)).fingerprint()
    assert Space({"lr": Real(1e-4, 1e-1, log=True), "n": Integer(1, 4)}).fingerprint() == fp
    variants = [
        {"lr": Real(1e-4, 1e-1, log=False), "n": Integer(1, 4)},
        {"lr": Real(1e-4, 2e-1, log=True), "n": Integer(1, 4)},
        {"lr": Real(1e-4, 1e-1, log=True), "n": Integer(1, 5)},
        {"lr": Real(1e-4, 1e-1, log=True), "m": Integer(1, 4)},
        {"lr": Real(1e-4, 1e-1, log=True), "n": Categorical([1, 2, 3, 4])},
    ]
    assert len({Space(v).fingerprint() for v in variants} | {fp}) == len(variants) + 1


def test_fingerprint_sensitive_to_parameter_order():
    a = Space({"lr": Real(1e-4, 1e-1, log=True), "n": Integer(1, 4)})
    b = Space({"n": Integer(1, 4), "lr": Real(1e-4, 1e-1, log=True)})
    assert a.fingerprint() != b.fingerprint()


def test_fingerprint_stable_across_processes():
    code = ("from uqhpo.space import *; print(Space({'lr': Real(1e-4, 0.1, log=True), "
            "'c': Categorical(['a', 'b']), 'f': Fixed({'k': 1})}).fingerprint())")
    env = dict(os.environ, PYTHONHASHSEED="123")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    here = Space({"lr": Real(1e-4, 0.1, log=True), "c": Categorical(["a", "b"]), "f": Fixed({"k": 1})})
    assert out.stdout.strip() == here.fingerprint()


@pytest.mark.parametrize("make, name", [
    (lambda: Space({"lr": Real(1.0, 0.5)}), "lr"),
    (lambda: Space({"lr": Real(1.0, 1.0)}), "lr"),
    (lambda: Space({"lr": Real(0.0, 1.0, log=True)}), "lr"),
    (lambda: Space({"lr": Real(-1.0, math.inf)}), "lr"),
    (lambda: Space({"units": Integer(8, 4)}), "units"),
    (lambda: Space({"units": Integer(0, 4, log=True)}), "units"),
    (lambda: Space({"units": Integer(1.5, 4)}), "units"),
    (lambda: Space({"act": Categorical([])}), "act"),
    (lambda: Space({"act": Categorical(["relu", "relu"])}), "act"),
    (lambda: Space.from_dict({"opt": {"type": "choice", "choices": [1]}}), "opt"),
    (lambda: Space.from_dict({"opt": {"type": "real", "low": 0}}), "opt"),
])
def test_bad_definitions_name_the_parameter(make, name):
    with pytest.raises(ValueError, match=f"'{name}'") as info:
        make()
    assert "\n" not in str(info.value)


class _PairsMapping(Mapping):
    """A mapping whose items() can repeat a name (as a naive config loader might produce)."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __getitem__(self, key):
        return dict(self.pairs)[key]

    def __iter__(self):
        return (k for k, _ in self.pairs)

    def __len__(self):
        return len(self.pairs)


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="'depth'"):
        Space(_PairsMapping([("depth", Integer(1, 3)), ("depth", Integer(1, 5))]))


def test_key_ignores_order_and_numpy_types_and_is_hashable():
    space = Space({"a": Integer(1, 5), "b": Real(0, 1)})
    assert space.key({"a": 3, "b": 0.5}) == space.key({"b": 0.5, "a": np.int64(3)})
    assert space.key({"a": 3, "b": 0.5}) != space.key({"a": 3, "b": 0.25})
    assert len({space.key({"a": 3, "b": 0.5}), space.key({"b": 0.5, "a": 3})}) == 1
    assert space.config_key({"a": 3, "b": 0.5}) == space.key({"a": 3, "b": 0.5})  # the former name


def test_select_new_skips_taken_and_repeated_in_order():
    space = Space({"a": Integer(1, 5)})
    taken = taken_keys(space, [{"a": 1}], [{"a": 3}])
    assert taken == {space.key({"a": 1}), space.key({"a": 3})}
    candidates = [{"a": 2}, {"a": 1}, {"a": 2}, {"a": 5}, {"a": 4}]
    assert select_new(space, candidates, taken, 2) == [{"a": 2}, {"a": 5}]
    assert space.key({"a": 5}) in taken  # the chosen keys join the taken set
    assert select_new(space, candidates, taken, 10) == [{"a": 4}]
    assert select_new(space, candidates, taken, 10) == []


def test_fingerprint_same_for_int_and_float_real_bounds():
    assert Space({"x": Real(1, 2)}).fingerprint() == Space({"x": Real(1.0, 2.0)}).fingerprint()


def test_categorical_round_trip_with_equal_comparing_choices():
    space = Space({"c": Categorical([1, 1.0])})
    back = space.decode(space.encode({"c": 1.0}))[0]["c"]
    assert type(back) is float
