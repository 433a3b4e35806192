"""Dask resources on a real LocalCluster: workers that declare GPU=1 run at most one
GPU-asking job each at a time, although each has two threads; without the resource
request the same cluster runs more at once (so the limit comes from the request)."""
from __future__ import annotations

import pytest

pytest.importorskip("distributed", reason="needs dask.distributed (pip install 'uqhpo[dask]')")

import uqhpo  # noqa: E402
from uqhpo.executors.dask import DaskExecutor  # noqa: E402

pytestmark = pytest.mark.dask


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant ((start, end) pairs)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda ev: (ev[0], ev[1]))
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


TIMED = """
import time


def timed(config, seed):
    start = time.time()
    time.sleep(0.6)
    return {"loss": config["x"], "start": start, "end": time.time()}
"""


@pytest.fixture
def timed_task(tmp_path, monkeypatch):
    """A task that reports when it ran in its worker (the stored start and finish are the
    driver's), importable by the spawned Dask workers, which inherit ``sys.path``."""
    (tmp_path / "timedtask.py").write_text(TIMED)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "timedtask:timed"


def _study(tmp_path, task: str, name: str, executor: DaskExecutor) -> list:
    study = uqhpo.create_study(space={"x": uqhpo.Real(0.0, 1.0)}, strategy="random", seed=3, n_replicates=2,
                               storage=f"sqlite:///{tmp_path / (name + '.db')}", name=name)
    study.optimize(task, n_trials=6, executor=executor)
    trials = study.all_trials()
    assert len(trials) == 6 and all(t.state.value == "COMPLETE" for t in trials)
    return [(r.metrics["start"], r.metrics["end"]) for t in trials for r in t.replicates]


def test_declared_gpus_cap_the_jobs_running_at_once(tmp_path, timed_task):
    gpus = DaskExecutor(workers=2, threads_per_worker=2, resources={"GPU": 1})   # 4 threads, 2 "GPUs"
    assert gpus.n_workers == 4 and gpus.job_resources() == {"GPU": 1}            # asks by default
    limited = _max_overlap(_study(tmp_path, timed_task, "gpus", gpus))
    free = DaskExecutor(workers=2, threads_per_worker=2, resources={"GPU": 1}, gpus_per_replicate=0)
    assert free.job_resources() == {}
    unlimited = _max_overlap(_study(tmp_path, timed_task, "free", free))
    assert limited == 2, f"{limited} jobs ran at once on 2 declared GPUs"
    assert unlimited > 2, "the cluster never ran more than 2 at once even without the GPU request"


def test_two_gpus_per_replicate_need_a_worker_with_two():
    ex = DaskExecutor(workers=1, resources={"GPU": 2}, gpus_per_replicate=2)
    assert ex.job_resources() == {"GPU": 2}
    assert DaskExecutor(workers=1).job_resources() == {}               # no GPUs declared, none asked
    with pytest.raises(ValueError, match="cluster 'slurm' needs a profile"):
        DaskExecutor(cluster="slurm")
