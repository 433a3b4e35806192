"""Peak memory of each replicate: measured per replicate in reused worker processes, stored
under reserved metric keys, summarised per configuration kind by `uqhpo pilot`."""
from __future__ import annotations

import sys
import textwrap
import time
import types

import pytest

import uqhpo
from uqhpo.cli import main
from uqhpo.executors import Job, ReplicateSlot, peak_memory
from uqhpo.executors.local import LocalExecutor
from uqhpo.executors.peak_memory import PEAK_CUDA_KEY, PEAK_RSS_KEY, PeakMemory
from uqhpo.executors.worker import resolve_task, run_slot
from uqhpo.pilot import kind_stats, summarise_pilot
from uqhpo.trial import Replicate, State, Trial

MB = 200   # what a "big" replicate must peak above a light one (it allocates 210 MiB: pages of
           # the baseline may be freed between replicates, so the margin is not exactly the array)

TASK_MODULE = textwrap.dedent("""
    import time
    import numpy as np
    from uqhpo.space import Categorical, Space
    from uqhpo.task import Task

    class Allocate(Task):
        '''size "big": a 210 MiB float64 array, written (so resident) and held ``hold`` s.'''

        def search_space(self):
            return Space({"size": Categorical(["none", "big"])})

        def run(self, config, ctx):
            n = 210 * 131072 if config["size"] == "big" else 0     # 131072 float64 = 1 MiB
            block = np.ones(n)
            time.sleep(float(config.get("hold", 0.0)))
            return float(block.sum()) * 0.0 + (1.0 if n else 2.0)

    allocate = Allocate()
""")


@pytest.fixture()
def task_module(tmp_path, monkeypatch):
    """``alloc_task:allocate`` importable here and in spawned workers (they inherit sys.path)."""
    (tmp_path / "alloc_task.py").write_text(TASK_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "alloc_task:allocate"
    sys.modules.pop("alloc_task", None)


def _job(i: int, size: str, task: str, hold: float = 0.0) -> Job:
    return Job(job_id=f"j{i}", trial=i, config={"size": size, "hold": hold},
               slots=[ReplicateSlot(0, 0, i)], task=task)


def test_a_heavy_replicate_peaks_200_mb_above_a_light_one_run_after_it(task_module, tmp_path):
    task = resolve_task(task_module)
    heavy = run_slot(_job(0, "big", task_module), ReplicateSlot(0, 0, 0), task)
    light = run_slot(_job(1, "none", task_module), ReplicateSlot(0, 0, 1), task)
    assert heavy.status == light.status == "ok"
    # the light one ran after the heavy one in the same process: a lifetime peak would hide it
    assert heavy.metrics[PEAK_RSS_KEY] >= light.metrics[PEAK_RSS_KEY] + MB
    assert PEAK_CUDA_KEY not in light.metrics or "torch" in sys.modules


def test_a_reused_local_worker_process_measures_each_replicate_alone(task_module):
    ex = LocalExecutor(workers=1, gpus=[])
    with ex:
        results = []
        for i, size in enumerate(["big", "none", "big"]):       # one at a time, in one process
            ex.submit(_job(i, size, task_module))
            while ex.n_running():
                results += ex.poll(1.0)
    assert [r.status for r in results] == ["ok"] * 3
    assert len({r.worker for r in results}) == 1                 # the same worker process ran all three
    big1, none, big2 = (r.metrics[PEAK_RSS_KEY] for r in results)
    assert big1 >= none + MB and big2 >= none + MB


def test_without_the_kernel_high_water_mark_a_sampling_thread_measures(task_module, monkeypatch):
    """Where /proc/self/clear_refs is refused the sampler (20 ms) sees a block held 0.2 s."""
    monkeypatch.setattr(peak_memory, "_reset_hwm", lambda: False)
    task = resolve_task(task_module)
    heavy = run_slot(_job(0, "big", task_module, hold=0.2), ReplicateSlot(0, 0, 0), task)
    light = run_slot(_job(1, "none", task_module), ReplicateSlot(0, 0, 1), task)
    assert heavy.metrics[PEAK_RSS_KEY] >= light.metrics[PEAK_RSS_KEY] + 0.9 * MB   # a sample may miss a page


def test_concurrent_measurements_in_one_process_never_lose_a_peak():
    """A second block starting while the first runs does not reset the mark under it."""
    import numpy as np

    outer = PeakMemory()
    with outer:
        block = np.ones(210 * 131072)
        del block
        with PeakMemory() as inner:        # would reset VmHWM if it did not know of `outer`
            time.sleep(0.01)
    assert outer.rss_mb is not None and inner.rss_mb is not None
    assert outer.rss_mb >= inner.rss_mb - 1.0
    with PeakMemory() as alone:
        pass
    assert alone.rss_mb is not None and outer.rss_mb >= alone.rss_mb + MB


class _FakeCuda:
    """torch.cuda as far as PeakMemory uses it (a unit test of the wrapper, no GPU here)."""

    def __init__(self, peaks: list[int]):
        self.peaks, self.resets = peaks, []

    def is_initialized(self) -> bool:
        return True

    def device_count(self) -> int:
        return len(self.peaks)

    def reset_peak_memory_stats(self, device: int) -> None:
        self.resets.append(device)

    def max_memory_allocated(self, device: int) -> int:
        return self.peaks[device]


def test_peak_cuda_memory_is_summed_over_devices_when_torch_uses_cuda(monkeypatch):
    cuda = _FakeCuda([300 * 2**20, 100 * 2**20])
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    with PeakMemory() as mem:
        pass
    assert cuda.resets == [0, 1] and mem.metrics()[PEAK_CUDA_KEY] == 400.0
    cuda.is_initialized = lambda: False                               # CUDA never used: no figure
    with PeakMemory() as mem:
        pass
    assert PEAK_CUDA_KEY not in mem.metrics() and PEAK_RSS_KEY in mem.metrics()


def _rep(trial: int, i: int, runtime: float, rss: float | None, state: State = State.COMPLETE) -> Replicate:
    metrics = {} if rss is None else {PEAK_RSS_KEY: rss}
    return Replicate(trial=trial, index=i, attempt=0, seed=i, state=state, loss=1.0, runtime=runtime,
                     metrics=metrics)


def test_kind_stats_group_by_the_categorical_values():
    trials = [Trial(0, {"model": "cnn", "lr": 0.1}, 2, [_rep(0, 0, 10.0, 100.0), _rep(0, 1, 20.0, 300.0)]),
              Trial(1, {"model": "mlp", "lr": 0.2}, 2, [_rep(1, 0, 1.0, 50.0), _rep(1, 1, 5.0, None, State.FAILED)]),
              Trial(2, {"model": "cnn", "lr": 0.3}, 2, [_rep(2, 0, 30.0, 200.0)])]
    cnn, mlp = kind_stats(trials)
    assert (cnn.kind, cnn.n, mlp.kind, mlp.n) == ("model=cnn", 3, "model=mlp", 1)
    assert cnn.time_mean == 20.0 and cnn.time_sd == 10.0 and cnn.rss_mean == 200.0 and cnn.rss_sd == 100.0
    assert cnn.rss_max == 300.0 and mlp.time_sd == 0.0 and mlp.rss_mean == 50.0
    (only,) = kind_stats(trials, kind_keys=[])
    assert only.kind == "all" and only.n == 4
    text = "\n".join(summarise_pilot(trials, 10, 2, 1).lines(10, 1))
    assert "model=cnn     3 x  time mean 20 s, sd 10 s; peak RSS mean 200 MB, sd 100 MB, max 300 MB" in text


def test_pilot_prints_time_and_memory_per_kind(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alloc_task.py").write_text(TASK_MODULE)   # next to the config: the CLI imports it
    (tmp_path / "s.yaml").write_text(
        "task: alloc_task:allocate\nstrategy: {name: grid}\nbudget: {trials: 20}\n"
        "uq: {replicates: 2}\nexecutor: {name: local, workers: 1}\nstorage: study.db\nstudy: main\nseed: 1\n")
    try:
        assert main(["pilot", "s.yaml", "--fraction", "0.1", "--quiet"]) == 0
    finally:
        sys.modules.pop("alloc_task", None)
    out = capsys.readouterr().out
    assert "by configuration kind" in out and "size=big" in out and "size=none" in out
    trials = uqhpo.load_study("sqlite:///study.db", "main-pilot").all_trials()
    stats = {k.kind: k for k in kind_stats(trials)}
    assert stats["size=big"].n == stats["size=none"].n == 2
    assert stats["size=big"].rss_mean >= stats["size=none"].rss_mean + MB
