"""The local executor: spawned workers, streaming slots, dead-worker recovery."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from uqhpo.executors import Job, ReplicateSlot, make_executor
from uqhpo.executors.local import LocalExecutor


def _job(job_id, trial, config, n=1, task="uqhpo.testing.tasks:sleep"):
    slots = [ReplicateSlot(index=i, attempt=0, seed=10 * trial + i) for i in range(n)]
    return Job(job_id=job_id, trial=trial, config=config, slots=slots, task=task)


def _drain(ex, limit=60.0):
    out, t0 = [], time.monotonic()
    while ex.n_running():
        assert time.monotonic() - t0 < limit, "local executor stopped making progress"
        out += ex.poll(1.0)
    return out


def test_two_workers_one_gpu_each_and_streamed_slots(tmp_path):
    ex = make_executor("local", workers=2, gpus=["7", "9"])
    assert isinstance(ex, LocalExecutor)
    with ex:
        ex.submit(_job("ctx0", 0, {"x": 0.1}, task="uqhpo.testing.tasks:inspect_context"))
        ex.submit(_job("ctx1", 1, {"x": 0.2}, task="uqhpo.testing.tasks:inspect_context"))
        first = _drain(ex)
        assert {r.status for r in first} == {"ok"}
        assert {r.metrics["pid"] for r in first} == set(ex.worker_pids) and os.getpid() not in ex.worker_pids
        assert {r.metrics["cuda_visible_devices"] for r in first} == {"7", "9"}
        assert {r.metrics["device"] for r in first} == {"cuda"}
        assert all(re.fullmatch(rf"local-[01]:{r.metrics['pid']}", r.worker) for r in first)

        # three sequential slots of 0.3 s: the first result arrives while the job still runs
        ex.submit(_job("seq", 2, {"x": 0.5, "duration": 0.3}, n=3))
        streamed = []
        while not streamed:
            streamed = ex.poll(5.0)
        assert [r.index for r in streamed] == [0] and ex.n_running() == 1
        rest = _drain(ex)
        assert [r.index for r in rest] == [1, 2]
        assert len({r.worker for r in streamed + rest}) == 1
        assert streamed[0].finished <= rest[0].started


def test_killed_worker_reports_lost_slots_and_is_replaced():
    with LocalExecutor(workers=2, gpus=[]) as ex:
        before = set(ex.worker_pids)
        kill = {"x": 0.3, "kill": True, "kill_replicate": 1}
        ex.submit(_job("kill", 0, kill, n=3, task="uqhpo.testing.tasks:self_kill"))
        ex.submit(_job("ok", 1, {"x": 0.4, "duration": 0.2}, n=1))
        results = {(r.job_id, r.index): r for r in _drain(ex)}
        assert results[("kill", 0)].status == "ok"
        for i in (1, 2):
            assert results[("kill", i)].status == "lost"
            assert "exit code -9" in results[("kill", i)].error
        assert results[("ok", 0)].status == "ok" and results[("ok", 0)].loss == 0.4

        after = set(ex.worker_pids)
        assert len(after) == 2 and len(after - before) == 1   # one replacement, capacity kept
        assert ex.free_slots() == 2
        for t in range(2, 4):
            ex.submit(_job(f"later{t}", t, {"x": 0.1 * t, "duration": 0.05}))
        later = _drain(ex)
        assert sorted(r.trial for r in later) == [2, 3] and {r.status for r in later} == {"ok"}


def test_lambda_task_is_refused_with_a_clear_message():
    ex = LocalExecutor(workers=1)
    with pytest.raises(ValueError, match="needs a task importable by path"):
        ex.submit(_job("l", 0, {"x": 1.0}, task=lambda config, seed: 0.0))
    assert ex.n_running() == 0


def test_shutdown_cancel_stops_running_jobs_promptly():
    ex = LocalExecutor(workers=2, gpus=[])
    ex.start()
    procs = [w.process for w in ex._workers]
    ex.submit(_job("long", 0, {"x": 0.0, "duration": 30.0}))
    t0 = time.monotonic()
    ex.shutdown(cancel=True)
    assert time.monotonic() - t0 < 5.0
    assert not any(p.is_alive() for p in procs)
    assert ex.n_running() == 0


def test_shutdown_without_cancel_waits_and_keeps_results():
    ex = LocalExecutor(workers=1, gpus=[])
    ex.submit(_job("wait", 0, {"x": 0.7, "duration": 0.2}))
    ex.shutdown(cancel=False)
    (r,) = ex.poll()
    assert r.status == "ok" and r.loss == 0.7 and ex.n_running() == 0


_PARENT = textwrap.dedent("""
    import os, signal, sys
    from uqhpo.executors.local import LocalExecutor
    from uqhpo.executors import Job, ReplicateSlot
    if __name__ == "__main__":
        ex = LocalExecutor(workers=2, gpus=[])
        ex.start()
        ex.submit(Job("long", 0, {"duration": 30.0}, [ReplicateSlot(0, 0, 1)], "uqhpo.testing.tasks:sleep"))
        print(" ".join(map(str, ex.worker_pids)), flush=True)
        if sys.argv[1] == "interrupt":
            raise KeyboardInterrupt      # no shutdown(): the exit hook must clean up
        os.kill(os.getpid(), signal.SIGKILL)
""")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose; reaped zombies raise above
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", ["interrupt", "sigkill"])
def test_no_orphan_workers_when_the_parent_dies(tmp_path, how):
    script = tmp_path / "parent.py"
    script.write_text(_PARENT)
    # read only the first line: orphans would keep the pipe open, so never wait for EOF
    proc = subprocess.Popen([sys.executable, str(script), how], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    proc.wait(timeout=60)
    proc.stdout.close()
    assert len(pids) == 2
    deadline = time.monotonic() + 10.0
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)
