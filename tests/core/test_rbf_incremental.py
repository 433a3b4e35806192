"""The RBF fit reuses the factorisation of its previous fit (issue 8, overhead): the model
and the proposals must be bitwise the same as from scratch, since after a resume from
storage no earlier fit exists."""
from __future__ import annotations

import numpy as np
import pytest

from uqhpo.seeding import proposal_rng
from uqhpo.space import Categorical, Integer, Real, Space
from uqhpo.strategies.rbf import RBFStrategy
from uqhpo.surrogates import rbf as rbf_module
from uqhpo.surrogates.rbf import BLOCK, RBFSurrogate, _merge_duplicates
from uqhpo.trial import Observations


def wavy(X: np.ndarray) -> np.ndarray:
    return np.sin(3.0 * X.sum(axis=1)) + (X[:, 0] - 0.3) ** 2


def same_model(a: RBFSurrogate, b: RBFSurrogate, probe: np.ndarray) -> bool:
    return (np.array_equal(a._coef, b._coef) and np.array_equal(a._poly, b._poly)
            and np.array_equal(a.predict(probe)[0], b.predict(probe)[0]))


@pytest.mark.parametrize("kernel", ["cubic", "linear"])
@pytest.mark.parametrize("noisy", [False, True])
def test_warm_started_fits_are_bitwise_the_fits_from_scratch(kernel, noisy):
    rng = np.random.default_rng(0)
    X = rng.random((3 * BLOCK + 20, 5))
    y = wavy(X)
    var = np.full(len(y), 0.01) if noisy else None
    probe = rng.random((50, 5))
    previous = None
    for n in [3, 6, 7, 20, BLOCK + 6, BLOCK + 7, 2 * BLOCK + 5, 2 * BLOCK + 6, 2 * BLOCK + 7, 3 * BLOCK + 9,
              3 * BLOCK + 20]:
        cold = RBFSurrogate(kernel=kernel, smoothing_scale=0.1).fit(X[:n], y[:n], None if var is None else var[:n])
        warm = RBFSurrogate(kernel=kernel, smoothing_scale=0.1, warm_start=previous).fit(
            X[:n], y[:n], None if var is None else var[:n])
        assert same_model(cold, warm, probe), n
        previous = warm


def test_a_tail_that_gains_rank_later_still_gives_the_model_from_scratch():
    # a column constant over the first points (an unexplored choice): the spanning points change
    rng = np.random.default_rng(8)
    X = rng.random((3 * BLOCK, 4))
    X[: 2 * BLOCK + 3, 3] = 0.25
    probe = rng.random((30, 4))
    previous = None
    for n in (BLOCK + 3, 2 * BLOCK + 3, 2 * BLOCK + 4, 3 * BLOCK):
        warm = RBFSurrogate(warm_start=previous).fit(X[:n], wavy(X[:n]))
        assert same_model(warm, RBFSurrogate().fit(X[:n], wavy(X[:n])), probe), n
        previous = warm
    assert len(previous._factor.S) == 5


def test_a_warm_start_reuses_the_blocks_it_holds():
    rng = np.random.default_rng(1)
    X = rng.random((3 * BLOCK + 10, 4))
    first = RBFSurrogate().fit(X[:-1], wavy(X[:-1]))
    assert first._factor is not None and len(first._factor.L) == 3 * BLOCK
    second = RBFSurrogate(warm_start=first).fit(X, wavy(X))
    assert second._factor.L is first._factor.L  # one more point: the whole blocks are taken as they are
    # a changed point in the second block: only the first block is kept, the rest is rebuilt
    X2 = X.copy()
    X2[BLOCK + 12] = rng.random(4)
    third = RBFSurrogate(warm_start=second).fit(X2, wavy(X2))
    assert np.array_equal(third._factor.L[:BLOCK, :BLOCK], second._factor.L[:BLOCK, :BLOCK])
    assert not np.array_equal(third._factor.L[BLOCK:2 * BLOCK], second._factor.L[BLOCK:2 * BLOCK])
    assert same_model(third, RBFSurrogate().fit(X2, wavy(X2)), rng.random((20, 4)))


def test_changed_values_variances_or_kernel_still_give_the_model_from_scratch():
    rng = np.random.default_rng(2)
    X = rng.random((2 * BLOCK + 5, 3))
    probe = rng.random((30, 3))
    base = RBFSurrogate().fit(X, wavy(X))
    # other values, same points: the factor does not depend on them and is reused
    other = RBFSurrogate(warm_start=base).fit(X, wavy(X) ** 2)
    assert other._factor.L is base._factor.L
    assert same_model(other, RBFSurrogate().fit(X, wavy(X) ** 2), probe)
    # variances change the diagonal: nothing can be reused, the result is still the same
    var = rng.random(len(X)) * 0.01
    smoothed = RBFSurrogate(warm_start=base).fit(X, wavy(X), var)
    assert same_model(smoothed, RBFSurrogate().fit(X, wavy(X), var), probe)
    linear = RBFSurrogate(kernel="linear", warm_start=base).fit(X, wavy(X))
    assert same_model(linear, RBFSurrogate(kernel="linear").fit(X, wavy(X)), probe)


def test_duplicates_keep_their_first_place_so_later_fits_can_reuse_the_prefix():
    rng = np.random.default_rng(3)
    X = rng.random((2 * BLOCK + 8, 3))
    Xd = np.vstack([X, X[5], X[40]])
    yd = np.concatenate([wavy(X), [0.0, 1.0]])
    merged, y, var = _merge_duplicates(Xd, yd, np.zeros(len(yd)))
    assert np.array_equal(merged, X)  # first-occurrence order, not sorted
    assert y[5] == pytest.approx((wavy(X[5:6])[0] + 0.0) / 2) and var[5] > 0 and var[6] == 0
    before = RBFSurrogate(smoothing_scale=0.0).fit(X, wavy(X))
    after = RBFSurrogate(smoothing_scale=0.0, warm_start=before).fit(Xd, yd)
    assert same_model(after, RBFSurrogate(smoothing_scale=0.0).fit(Xd, yd), rng.random((20, 3)))


def test_projected_solve_agrees_with_the_saddle_point_system(monkeypatch):
    rng = np.random.default_rng(4)
    idx = rng.integers(0, 3, 90)
    layouts = {
        "plain": rng.random((90, 6)),
        # one-hot block (sums to the constant) and a constant column: a rank-deficient tail
        "degenerate": np.hstack([rng.random((90, 2)), np.eye(3)[idx], np.full((90, 1), 0.5)]),
    }
    for name, X in layouts.items():
        y = wavy(X)
        probe = rng.random((40, X.shape[1]))
        fast = RBFSurrogate(smoothing_scale=0.1).fit(X, y, np.full(90, 1e-3))
        assert fast._factor is not None, name  # the projected path was taken
        with monkeypatch.context() as m:
            m.setattr(rbf_module, "_solve_projected", lambda *args: None)
            slow = RBFSurrogate(smoothing_scale=0.1).fit(X, y, np.full(90, 1e-3))
        np.testing.assert_allclose(fast.predict(probe)[0], slow.predict(probe)[0], rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(fast.predict(X)[0], slow.predict(X)[0], rtol=1e-8, atol=1e-8)


def test_large_factors_are_not_kept(monkeypatch):
    monkeypatch.setattr(rbf_module, "MAX_WARM_POINTS", BLOCK)
    X = np.random.default_rng(5).random((3 * BLOCK, 3))
    assert RBFSurrogate().fit(X, wavy(X))._factor is None
    assert RBFSurrogate().fit(X[: BLOCK + 5], wavy(X[: BLOCK + 5]))._factor is not None


def test_nearest_matches_the_distances_to_the_centres():
    rng = np.random.default_rng(6)
    X, C = rng.random((70, 4)), rng.random((500, 4))
    model = RBFSurrogate().fit(X, wavy(X))
    expected = np.sqrt(((C[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    np.testing.assert_allclose(model.nearest(C), expected, rtol=1e-12)  # computed
    model.predict(C)
    np.testing.assert_allclose(model.nearest(C), expected, rtol=1e-12)  # kept from predict


def spaces() -> dict[str, Space]:
    return {
        "real6": Space({f"x{i}": Real(0.0, 1.0) for i in range(6)}),
        "mixed": Space({"lr": Real(1e-4, 1e-1, log=True), "layers": Integer(1, 6),
                        "act": Categorical(["relu", "tanh", "gelu"]), "dropout": Real(0.0, 0.5)}),
    }


def objective(space: Space, config: dict) -> float:
    x = space.encode([config])[0]
    return float(np.sin(5.0 * x).sum() + ((x - 0.4) ** 2).sum())


@pytest.mark.parametrize("name", ["real6", "mixed"])
def test_a_running_strategy_proposes_what_a_resumed_one_does(name):
    """One strategy object through a whole study (warm fits) against a fresh one at every
    step (a resume: no earlier fit): the same seed gives the same configs, bit for bit."""
    space = spaces()[name]
    running = RBFStrategy(space, seed=7)
    configs: list[dict] = []
    pending: list[dict] = []
    for step in range(3 * BLOCK + 10):
        obs = Observations(list(configs), np.array([objective(space, c) for c in configs]), np.zeros(len(configs)),
                           budget=150)
        n = 1 + step % 3
        a = running.propose(obs, pending, n, proposal_rng(7, step))
        b = RBFStrategy(space, seed=7).propose(obs, pending, n, proposal_rng(7, step))
        assert a == b, step
        # one proposal stays pending for a step, the others are evaluated
        configs += [c for c in pending] + a[1:]
        pending = a[:1]
    assert running._last_model is not None and running._last_model._factor is not None
    assert len(running._last_model._factor.L) >= 2 * BLOCK  # the warm path was exercised
