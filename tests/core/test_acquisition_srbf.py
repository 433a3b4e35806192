"""SRBF / DYCORS candidate search: schedules, perturbations, batch selection."""
from __future__ import annotations

import numpy as np
import pytest

from uqhpo.acquisition.srbf import (
    dycors_probability,
    generate_candidates,
    param_blocks,
    polish,
    select_batch,
    step_size_from_history,
)
from uqhpo.space import Categorical, Fixed, Integer, Real, Space, select_new, taken_keys


def mixed_space() -> Space:
    return Space({
        "lr": Real(1e-4, 1e-1, log=True),
        "layers": Integer(1, 6),
        "width": Integer(8, 512, log=True),
        "act": Categorical(["relu", "tanh", "gelu"]),
        "size": Categorical(["s", "m", "l", "xl"], ordered=True),
        "dropout": Real(0.0, 0.5),
        "opt": Fixed("adam"),
    })


def test_param_blocks_cover_every_column_once():
    space = mixed_space()
    blocks = param_blocks(space)
    assert len(blocks) == 6  # the fixed parameter has no column
    cols = np.concatenate([b.cols for b in blocks])
    assert sorted(cols.tolist()) == list(range(space.dim))
    kinds = {space.columns[b.cols[0]].param: b.kind for b in blocks}
    assert kinds == {"lr": "real", "layers": "integer", "width": "integer", "act": "onehot", "size": "ordinal",
                     "dropout": "real"}


def test_dycors_probability_schedule():
    p = [dycors_probability(10, n, 22, 100) for n in range(22, 120)]
    assert p[0] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(p, p[1:]))
    assert min(p) == pytest.approx(0.1)  # floor 1/d
    assert dycors_probability(40, 22, 22, 100) == pytest.approx(0.5)  # min(20/d, 1)
    assert dycors_probability(3, 5, 8, 8) == 1.0  # degenerate budget: no decay


def test_step_size_replays_history():
    # initial design of 4, then 5 failures in 3 dims: one halving
    values = np.array([3.0, 2.0, 4.0, 5.0] + [2.5] * 5)
    assert step_size_from_history(values, 4, 3) == pytest.approx(0.1)
    assert step_size_from_history(values[:8], 4, 3) == pytest.approx(0.2)
    # three successes double the step again (capped at sigma_init)
    improving = np.concatenate([values, [1.0, 0.5, 0.2]])
    assert step_size_from_history(improving, 4, 3) == pytest.approx(0.2)
    # many failures halve down to the floor, then the step resets
    stuck = np.array([1.0] + [2.0] * 30)  # 6 halvings of 5 failures each
    floor = 0.2 * 0.5 ** 6
    assert step_size_from_history(stuck, 1, 2, sigma_init=0.2, sigma_min=floor) == pytest.approx(floor)
    assert step_size_from_history(np.array([1.0] + [2.0] * 35), 1, 2) == pytest.approx(0.2)
    assert step_size_from_history(np.array([1.0] + [2.0] * 40), 1, 2) == pytest.approx(0.1)
    # non-finite values are ignored
    assert step_size_from_history(np.array([1.0, np.nan, np.inf]), 1, 2) == pytest.approx(0.2)


def test_perturbations_move_whole_steps_and_stay_in_the_cube():
    space = Space({"a": Integer(0, 9), "b": Real(0, 1), "c": Categorical(["x", "y", "z"])})
    blocks = param_blocks(space)
    center = space.encode({"a": 4, "b": 0.95, "c": "y"})[0]
    X = generate_candidates(blocks, center, 500, 0.2, 0.3, np.random.default_rng(0))
    assert X.shape == (500, space.dim)
    assert np.all((X >= 0) & (X <= 1))
    moved = ~np.isclose(X, center)
    per_param = np.stack([moved[:, b.cols].any(axis=1) for b in blocks], axis=1)
    assert per_param.any(axis=1).all()  # at least one parameter moves in every candidate
    steps = (X[:, 0] - center[0]) / 0.1
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)  # integer column: whole steps
    onehot = X[:, 2:]
    assert np.all(onehot.sum(axis=1) == 1) and set(np.unique(onehot)) <= {0.0, 1.0}


def test_select_batch_rules():
    rng = np.random.default_rng(2)
    cands = rng.random((200, 2))
    pred = cands.sum(axis=1)
    taken = cands[:3].copy()
    # pure prediction: the lowest predictions not already taken, all distinct
    chosen = select_batch(cands, pred, taken, 5, lambda k: 1.0, radius=1e-6)
    assert len(set(chosen)) == 5 and not set(chosen) & {0, 1, 2}
    ranked = [i for i in np.argsort(pred) if i not in (0, 1, 2)]
    assert chosen == ranked[:5]
    # pure distance: each pick is far from everything taken and from earlier picks
    far = select_batch(cands, pred, taken, 4, lambda k: 0.0, radius=1e-6)
    pts = np.vstack([taken, cands[far]])
    gaps = np.linalg.norm(pts[:, None] - pts[None], axis=-1)[np.triu_indices(len(pts), 1)]
    assert gaps.min() > 0.1
    # the radius rejects candidates too close to taken points
    assert select_batch(cands[:3], pred[:3], taken, 2, lambda k: 0.5, radius=1e-6) == []
    # eligibility masks restrict single picks
    only_last = np.zeros(200, bool)
    only_last[-1] = True
    assert select_batch(cands, pred, taken, 1, lambda k: 1.0, 1e-6, eligible=lambda k: only_last) == [199]


def test_full_pipeline_never_returns_taken_configs_and_is_integer_valid():
    space = Space({"a": Integer(0, 5), "b": Integer(-3, 3), "c": Categorical(["x", "y"])})
    blocks = param_blocks(space)
    rng = np.random.default_rng(3)
    evaluated = space.sample(rng, 30)
    pending = space.sample(rng, 10)
    taken_X = space.encode(evaluated + pending)
    center = taken_X[0]
    X = space.round(generate_candidates(blocks, center, 400, 0.1, 1.0, rng))
    order = select_batch(X, rng.random(len(X)), taken_X, 8, lambda k: 0.5, radius=1e-6)
    configs = space.decode(X[order])
    taken = taken_keys(space, evaluated, pending)
    assert not {space.key(c) for c in configs} & taken
    assert len({space.key(c) for c in configs}) == len(configs)
    assert all(space.contains(c) for c in configs)
    assert select_new(space, configs, set(taken), 8) == configs


def test_polish_moves_only_real_columns_within_the_trust_region():
    space = Space({"x": Real(0, 1), "k": Integer(0, 4), "y": Real(0, 1)})
    blocks = param_blocks(space)
    target = np.array([0.7, 0.0, 0.2])

    def value_and_grad(z):
        diff = z - target
        return float(diff @ diff), 2 * diff

    starts = space.encode([{"x": 0.1, "k": 3, "y": 0.25}, {"x": 0.65, "k": 1, "y": 0.9}])
    out = polish(value_and_grad, starts, blocks, radius=0.3)
    np.testing.assert_allclose(out[:, 1], starts[:, 1])  # the integer column is untouched
    assert np.all(np.abs(out - starts) <= 0.3 + 1e-9)
    np.testing.assert_allclose(out[0, [0, 2]], [0.4, 0.2], atol=1e-5)  # x capped by the region, y optimal
    np.testing.assert_allclose(out[1, [0, 2]], [0.7, 0.6], atol=1e-5)
    assert all(value_and_grad(o)[0] < value_and_grad(s)[0] for o, s in zip(out, starts))
    # nothing to polish in a purely discrete space
    discrete = Space({"k": Integer(0, 4)})
    same = polish(value_and_grad, discrete.encode([{"k": 2}]), param_blocks(discrete), radius=0.3)
    np.testing.assert_allclose(same, discrete.encode([{"k": 2}]))
