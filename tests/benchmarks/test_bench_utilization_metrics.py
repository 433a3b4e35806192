"""The utilization figures of benchmarks/bench_utilization.py, on intervals known by hand."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_utilization import stored_utilization  # noqa: E402


def test_steady_window_starts_when_every_worker_runs_and_ends_at_the_last_start():
    # worker b starts 1 s late; a idles 0.5 s between its jobs; the last start is at 4 s
    intervals = [("a", 0.0, 2.0), ("b", 1.0, 4.0), ("a", 2.5, 4.0), ("a", 4.0, 6.0)]
    u = stored_utilization(intervals, workers=2)
    assert u["makespan"] == 6.0 and u["n"] == 4 and u["workers_seen"] == 2
    assert u["overall"] == pytest.approx((2 + 3 + 1.5 + 2) / (2 * 6.0))
    # window [1, 4]: busy a 1 + 1.5, b 3 -> 5.5 of 6 worker-seconds; starts in (1, 4]: 2.5 and 4.0
    assert u["steady"] == pytest.approx(5.5 / 6.0)
    assert u["idle_per_start"] == pytest.approx(0.5 / 2)
    assert u["throughput"] == pytest.approx(4 / 6.0)


def test_no_steady_window_when_the_workers_never_all_ran():
    u = stored_utilization([("a", 0.0, 1.0), ("a", 1.0, 2.0)], workers=2)
    assert u["overall"] == pytest.approx(0.5) and math.isnan(u["steady"]) and math.isnan(u["idle_per_start"])
