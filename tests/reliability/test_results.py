"""Cases 3 and 5: results that overflow the aggregates, results the storage cannot hold."""
from __future__ import annotations

import json
import math
import sqlite3

from reliability_helpers import n_complete, replicate_states

from uqhpo.uq import aggregate


def test_huge_finite_loss_is_no_crash_now_or_later(ws):
    """A diverged training (1.7e308) with 2 replicates: the run, status, best and export all
    work; the trial with the overflowing aggregate is never the best."""
    cfg = ws.config(task="hostile_tasks:diverges", budget={"trials": 3}, uq={"replicates": 2})
    proc = ws.cli("run", cfg, "--quiet", check_rc=0)
    assert "Traceback" not in proc.stderr
    db = ws.root / "study.db"
    assert n_complete(db) == 6
    for command in (["status", db], ["best", db], ["export", db], ["export", db, "--format", "json"]):
        out = ws.cli(*command, check_rc=0)
        assert "Traceback" not in out.stderr
    best = json.loads(ws.cli("best", db, check_rc=0).stdout)
    assert best["trial"] != 0
    agg = aggregate([1.7e308, 1.7e308, -1.7e308])
    assert math.isfinite(agg.mean) and not math.isfinite(agg.objective_var)


def test_unstorable_metrics_and_non_number_losses(ws):
    """Metrics JSON cannot hold are dropped with a warning naming them; numpy scalars and 0-d
    arrays are converted; a loss that is a string or a boolean FAILs its replicate."""
    cfg = ws.config(task="hostile_tasks:odd_results", executor={"name": "local", "workers": 2},
                    budget={"trials": 4})
    proc = ws.cli("run", cfg, check_rc=0)
    assert "dropping metric 'opaque'" in proc.stderr and "dropping metric 'lock'" in proc.stderr
    rows = {r[0]: r for r in replicate_states(ws.root / "study.db") if r[2] == 0}
    assert rows[0][3] == "COMPLETE" and rows[3][3] == "COMPLETE"
    assert rows[1][3] == "FAILED" and "not a number: '0.5'" in rows[1][4]
    assert rows[2][3] == "FAILED" and "not a number: True" in rows[2][4]
    con = sqlite3.connect(ws.root / "study.db")
    metrics = json.loads(con.execute("SELECT metrics FROM replicates WHERE trial = 0 AND state = 'COMPLETE'")
                         .fetchone()[0])
    con.close()
    task_metrics = {k: v for k, v in metrics.items() if not k.startswith("_")}  # _peak_rss_mb: the worker
    assert task_metrics == {"zero_d": 2.5, "count": 3, "curve": [0.0, 1.0, 2.0]}
    assert metrics["_peak_rss_mb"] > 0
