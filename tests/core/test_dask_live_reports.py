"""Live reports and pruning on a real Dask LocalCluster (reports relayed through a Dask queue)."""
from __future__ import annotations

import pytest

pytest.importorskip("distributed", reason="needs dask.distributed (pip install 'uqhpo[dask]')")

import uqhpo  # noqa: E402
from uqhpo.trial import State  # noqa: E402

pytestmark = pytest.mark.dask

TASKS = '''
import time

def endless(config, ctx):
    """A good config (x < 1) trains 3 steps; a bad one keeps reporting until it is stopped."""
    steps = 3 if config["x"] < 1 else 3000
    for step in range(1, steps + 1):
        ctx.report(step, loss=config["x"])
        time.sleep(0.01)
    return config["x"]
'''


def test_dask_reports_live_and_a_pruned_job_stops(tmp_path, monkeypatch):
    (tmp_path / "dask_prune_tasks.py").write_text(TASKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))   # the cluster's worker processes import the task too
    url = f"sqlite:///{tmp_path / 'd.db'}"
    study = uqhpo.create_study({"x": uqhpo.Real(0.0, 10.0)}, strategy="random", seed=0, storage=url, n_replicates=2,
                               pruner={"name": "median", "warmup_steps": 0, "min_trials": 1})
    for x in (0.1, 0.1, 5.0):
        study.add_trial({"x": x})
    study.optimize("dask_prune_tasks:endless", n_trials=3, executor="dask", workers=2, replicates_parallel=False)
    trials = uqhpo.load_study(url).all_trials()
    assert [t.state for t in trials] == [State.COMPLETE, State.COMPLETE, State.PRUNED]
    first, second = sorted(trials[2].replicates, key=lambda r: r.index)
    assert first.state == State.PRUNED and 1 <= len(first.reports) < 3000
    assert (second.state, second.reports) == (State.PRUNED, [])
    # every report stored exactly once (live, not again with the result)
    assert all([s for s, _ in r.reports] == [1, 2, 3] for t in trials[:2] for r in t.replicates)
