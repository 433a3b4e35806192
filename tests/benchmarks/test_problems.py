"""Benchmark problems: known optima, bounds, recorded ranges, noise; plus a harness smoke run."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

import problems as P  # noqa: E402

from uqhpo.space import Integer, Real  # noqa: E402

SYNTHETIC = ["branin-int", "hartmann6", "ackley5-mixed"]
UNTUNED = ["styblinski-tang4", "levy6-mixed"]


def _grid_values(problem: P.Problem, n: int, seed: int) -> np.ndarray:
    configs = problem.space.sample(np.random.default_rng(seed), n)
    return problem.true_batch(np.array([problem.to_array(c) for c in configs]))


def test_branin_reference_minimum_of_the_real_function():
    # the classic Branin minimum 0.397887 at (pi, 2.275), (-pi, 12.275), (9.42478, 2.475)
    X = np.array([[math.pi, 2.275], [-math.pi, 12.275], [9.42478, 2.475]])
    np.testing.assert_allclose(P.branin(X), 0.397887, atol=1e-5)


def test_branin_int_optimum_is_attained_and_is_the_minimum_over_integer_x1():
    p = P.get_problem("branin-int")
    b, c = 5.1 / (4 * math.pi ** 2), 5 / math.pi
    for x1 in (3, -3):
        x2 = b * x1 ** 2 - c * x1 + 6
        assert 0 <= x2 <= 15
        assert p.true_value({"x1": x1, "x2": x2}) == pytest.approx(p.optimum, abs=1e-12)
    # every integer x1 with a fine x2 grid: nothing below the recorded optimum
    x1 = np.repeat(np.arange(-5, 11), 3001)
    x2 = np.tile(np.linspace(0, 15, 3001), 16)
    assert P.branin(np.column_stack([x1, x2])).min() >= p.optimum - 1e-9
    assert p.optimum > 0.397887  # integer x1 cannot reach the real minimum


def test_hartmann6_known_minimum():
    p = P.get_problem("hartmann6")
    x_star = {f"x{i + 1}": v for i, v in enumerate([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])}
    assert p.true_value(x_star) == pytest.approx(p.optimum, abs=1e-5)
    assert _grid_values(p, 20000, 0).min() > p.optimum


def test_ackley_mixed_minimum_at_origin_and_positive_elsewhere():
    p = P.get_problem("ackley5-mixed")
    origin = {f"x{i}": 0 for i in range(1, 6)}
    assert p.true_value(origin) == pytest.approx(0.0, abs=1e-12)
    assert p.true_value({**origin, "x1": 1}) > 1.0
    assert _grid_values(p, 20000, 1).min() > 0.0


def test_styblinski_tang_known_minimum_and_bounds():
    p = P.get_problem("styblinski-tang4")
    assert p.space.dim == 4 and all(isinstance(p.space[n], Real) and (p.space[n].low, p.space[n].high) == (-5, 5)
                                    for n in p.space)
    x_star = {f"x{i}": -2.903534027771178 for i in range(1, 5)}
    assert p.true_value(x_star) == pytest.approx(p.optimum, abs=1e-9)
    assert p.optimum == pytest.approx(-156.66466, abs=1e-4)
    # separable: the 1-d minimum on a fine grid over [-5, 5] is the same per coordinate
    t = np.linspace(-5, 5, 200001)
    assert 0.5 * (t ** 4 - 16 * t ** 2 + 5 * t).min() * 4 >= p.optimum - 1e-9
    assert _grid_values(p, 20000, 2).min() > p.optimum


def test_levy_mixed_minimum_at_ones_and_integer_coordinates():
    p = P.get_problem("levy6-mixed")
    kinds = [type(p.space[n]) for n in p.space]
    assert kinds == [Integer] * 3 + [Real] * 3
    assert all((p.space[n].low, p.space[n].high) == (-10, 10) for n in p.space)
    ones = {f"x{i}": 1 for i in range(1, 7)}
    assert p.true_value(ones) == pytest.approx(0.0, abs=1e-12) and p.optimum == 0.0
    assert p.true_value({**ones, "x1": 2}) > 0.1
    assert _grid_values(p, 20000, 3).min() > 0.0
    # the reference value of the Levy function at the origin (d = 6): sin^2(pi/4*3)... computed directly
    w = 0.75
    ref = math.sin(math.pi * w) ** 2 + 5 * (w - 1) ** 2 * (1 + 10 * math.sin(math.pi * w + 1) ** 2) \
        + (w - 1) ** 2 * (1 + math.sin(2 * math.pi * w) ** 2)
    assert p.true_value({f"x{i}": 0 for i in range(1, 7)}) == pytest.approx(ref, rel=1e-12)


def test_clean_problem_list_holds_the_exact_closed_form_problems():
    assert P.CLEAN_PROBLEMS == SYNTHETIC + UNTUNED
    assert all(f"{n}-noisy" not in P.PROBLEMS for n in UNTUNED)


def test_spaces_have_the_specified_bounds_and_types():
    br = P.get_problem("branin-int").space
    assert br["x1"] == Integer(-5, 10) and isinstance(br["x1"], Integer)
    assert isinstance(br["x2"], Real) and (br["x2"].low, br["x2"].high) == (0.0, 15.0)
    h6 = P.get_problem("hartmann6").space
    assert h6.dim == 6 and all(isinstance(h6[n], Real) and (h6[n].low, h6[n].high) == (0, 1) for n in h6)
    ack = P.get_problem("ackley5-mixed").space
    kinds = [type(ack[n]) for n in ack]
    assert kinds == [Integer, Integer, Integer, Real, Real]
    assert all((ack[n].low, ack[n].high) == (-5, 10) for n in ack)
    dg = P.get_problem("digits-mlp").space
    assert dg["hidden_units"] == Integer(8, 128, log=True) and dg["layers"] == Integer(1, 3)
    assert dg["alpha"].log and dg["learning_rate_init"].log


def test_sampled_configs_stay_in_bounds_and_integer_where_required():
    p = P.get_problem("ackley5-mixed")
    for c in p.space.sample(np.random.default_rng(3), 500):
        assert all(isinstance(c[f"x{i}"], int) and -5 <= c[f"x{i}"] <= 10 for i in (1, 2, 3))
        assert all(-5.0 <= c[f"x{i}"] <= 10.0 for i in (4, 5))


@pytest.mark.parametrize("name", SYNTHETIC + UNTUNED)
def test_recorded_range_is_reproduced_by_the_sobol_estimate(name):
    p = P.get_problem(name)
    estimate = P.estimate_range(p.true_batch, p.space)
    assert estimate == pytest.approx(P.RECORDED_RANGES[name], rel=1e-4)
    assert p.f_range == P.RECORDED_RANGES[name]


@pytest.mark.parametrize("name", SYNTHETIC)
def test_noisy_variant_noise_is_five_percent_of_range_and_seeded(name):
    exact, noisy = P.get_problem(name), P.get_problem(f"{name}-noisy")
    assert noisy.noise_sd == pytest.approx(0.05 * exact.f_range)
    assert exact.noise_sd == 0 and not exact.noisy and noisy.noisy
    config = exact.space.sample(np.random.default_rng(7), 1)[0]
    truth = exact.true_value(config)
    assert exact.observe(config, 1) == truth
    assert noisy.observe(config, 11) == noisy.observe(config, 11)
    draws = np.array([noisy.observe(config, s) for s in range(400)])
    assert abs(draws.mean() - truth) < 4 * noisy.noise_sd / math.sqrt(400)
    assert draws.std() == pytest.approx(noisy.noise_sd, rel=0.15)


def test_one_percent_target_and_unknown_problem():
    p = P.get_problem("hartmann6")
    assert p.target == pytest.approx(p.optimum + 0.01 * p.f_range)
    with pytest.raises(ValueError, match="unknown problem 'nope'"):
        P.get_problem("nope")


def test_digits_cv_error_is_seeded_and_noisy_across_seeds():
    cfg = {"hidden_units": 8, "layers": 1, "alpha": 1e-4, "learning_rate_init": 1e-2}
    a, b = P.digits_cv_error(cfg, 1), P.digits_cv_error(cfg, 2)
    assert a == P.digits_cv_error(cfg, 1)
    assert 0.0 <= a < 0.5 and a != b


def test_harness_runs_record_monotone_true_value_curves():
    import optimizer_bench as B

    for opt in ("uqhpo-random", "optuna-tpe"):
        rec = B.run_task({"kind": "run", "problem": "branin-int", "optimizer": opt, "seed": 0, "budget": 8})
        assert "error" not in rec, rec.get("error")
        curve = np.array(rec["curve"])
        assert len(curve) == 8 and np.all(np.diff(curve) <= 0)  # exact problem: incumbent only improves
        assert rec["best_true"] == curve[-1] >= P.get_problem("branin-int").optimum
    uq = B.run_task({"kind": "run", "problem": "branin-int-noisy", "optimizer": "uqhpo-rbf-uq", "seed": 0,
                     "budget": 9})
    assert "error" not in uq, uq.get("error")
    curve = np.array(uq["curve"])
    assert len(curve) == 9  # 3 configs x 3 replicates
    assert np.isnan(curve[:2]).all() and np.isfinite(curve[2:]).all()  # no incumbent before the 3rd replicate
    assert curve[3] == curve[2] and curve[4] == curve[2]  # the 2nd config counts only when complete


def test_harness_seed_parsing_and_evals_to_target():
    import optimizer_bench as B

    assert B.parse_seeds("3") == [0, 1, 2] and B.parse_seeds("2-4,9") == [2, 3, 4, 9]
    p = P.get_problem("branin-int")
    runs = [{"optimizer": "x", "curve": [50.0, 2.0, 1.0], "best_true": 1.0, "ask_ms": 1.0},
            {"optimizer": "x", "curve": [50.0, 40.0, 30.0], "best_true": 30.0, "ask_ms": 1.0}]
    s = B.summarize(p, runs, ["x"])["x"]
    assert s["reached"] == 1 and s["median"] == pytest.approx(15.5)
    assert s["evals"] == np.inf  # median of (2, never) is "never"


def test_mean_rank_orders_by_median_and_shares_ties():
    import optimizer_bench as B

    probs = [P.get_problem("hartmann6"), P.get_problem("branin-int")]
    stats = {"hartmann6": {"a": {"median": -3.3}, "b": {"median": -3.0}, "c": {"median": -2.0}},
             # a and b tied within 0.1 % of branin's range (0.3): they share rank 1.5
             "branin-int": {"a": {"median": 0.6}, "b": {"median": 0.5}, "c": {"median": 9.0}}}
    r = B.mean_ranks(stats, probs, ["a", "b", "c"])
    assert r == {"a": pytest.approx(1.25), "b": pytest.approx(1.75), "c": pytest.approx(3.0)}
    # a problem where a member has no result does not count
    stats["branin-int"].pop("c")
    assert B.mean_ranks(stats, probs, ["a", "b", "c"]) == {"a": 1.0, "b": 2.0, "c": 3.0}
