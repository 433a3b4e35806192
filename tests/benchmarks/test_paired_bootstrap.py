"""benchmarks/paired_bootstrap.py: stored runs read by problem, optimizer and seed; the
interval of a median difference with seeds resampled in pairs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

import paired_bootstrap as PB  # noqa: E402


def test_paired_interval_of_a_constant_shift_is_that_shift():
    rng = np.random.default_rng(0)
    y = rng.normal(size=30)
    assert np.allclose(PB.paired_interval(y - 1.0, y, rng), (-1.0, -1.0))  # paired: seed noise cancels
    lo, hi = PB.paired_interval(rng.normal(size=30), y, rng)
    assert lo < 0 < hi                                              # unrelated draws: no sign


def test_final_values_keep_finished_runs_of_the_asked_seeds(tmp_path):
    rows = [{"problem": "p", "optimizer": "a", "seed": 0, "best_true": 1.5},
            {"problem": "p", "optimizer": "a", "seed": 1, "error": "boom"},
            {"problem": "p", "optimizer": "a", "seed": 7, "best_true": 9.0},
            {"problem": "p", "optimizer": "b", "seed": 0, "best_true": 2.0},
            {"kind": "overhead", "optimizer": "a", "n_obs": 300}]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert PB.final_values(path, "p", "a", PB.parse_seeds("0-5")) == {0: 1.5}
    assert PB.parse_seeds("1,4") == {1, 4}
