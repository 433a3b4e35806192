"""The seed summary of benchmarks/bench_pruning.py: the chance level of "best ok" between
unpruned seeds and the paired difference to the same seed's unpruned study."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_pruning as BP  # noqa: E402


def _row(pruner: str, seed: int, mean: float, std: float = 0.01, epochs: int = 100, test: float = 0.0) -> dict:
    return {"app": "a", "pruner": pruner, "seed": seed, "mean": mean, "std": std, "epochs": epochs, "test": test,
            "train_s": 1.0, "train_s_after0": 1.0, "cpu": 1.0}


def test_chance_level_counts_ordered_pairs_of_unpruned_seeds():
    rows = [_row("none", 0, 1.0), _row("none", 1, 1.005), _row("none", 2, 2.0), _row("asha", 0, 0.5)]
    # ok(j against i): j.mean <= i.mean + 0.01. Pairs (i, j): (0,1) yes, (0,2) no, (1,0) yes,
    # (1,2) no, (2,0) yes, (2,1) yes; the pruned row takes no part
    assert BP.chance_level(rows, "a") == (4, 6)


def test_seed_summary_gives_the_paired_median_difference_and_the_chance_level():
    rows = [_row("none", s, 1.0 + s, test=2.0 + s) for s in range(4)] + \
           [_row("asha", s, 1.0 + s + 0.5, epochs=40, test=2.0 + s - 0.25) for s in range(4)]
    text = BP.seed_summary(BP._with_ratios(rows))
    line = next(li for li in text.splitlines() if "| asha |" in li)
    assert "+0.5 [+0.5, +0.5] | -0.25 [-0.25, -0.25] |" in line   # the same shifts in every seed: best mean, test
    assert "median replicate std of the unpruned best configs 0.01 (4 seeds)" in text
    assert "0 of 4 (0%)" in line                # never within 0.01 of its own baseline
    assert "6 of 12 (50%)" in line              # unpruned seeds 1 apart: ok only against a worse one
    assert line.rstrip().endswith("| 0.40 |")   # epoch ratio


def test_labels_may_carry_their_own_trials_and_unknown_ones_are_named():
    assert BP.unknown_labels(["none", "asha", "asha@24", "adaptive"]) == []
    assert BP.unknown_labels(["asha@x", "hyperband", "asha@0", "asha@"]) == ["asha@x", "hyperband", "asha@0", "asha@"]
