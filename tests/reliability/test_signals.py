"""Case 11: SIGTERM behaves like Ctrl-C; a resume after a SIGKILLed driver does not wait
for the heartbeat to expire."""
from __future__ import annotations

import os
import signal
import sqlite3
import time

from reliability_helpers import replicate_states


def _wait_running(db, proc, limit_s: float = 120.0) -> None:
    """Poll the storage until a replicate is RUNNING (the driver and a worker are busy)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if any(r[3] == "RUNNING" for r in replicate_states(db)):
                return
        except sqlite3.Error:
            pass
        time.sleep(0.2)
    raise AssertionError("no replicate started")


def test_sigterm_requeues_running_work_and_prints_the_resume_hint(ws):
    cfg = ws.config(task="hostile_tasks:always_slow", executor={"name": "local", "workers": 2})
    proc = ws.popen("run", cfg, "--quiet")
    _wait_running(ws.root / "study.db", proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "resume with: uqhpo resume" in err
    rows = replicate_states(ws.root / "study.db")
    assert not [r for r in rows if r[3] == "RUNNING"]
    assert all("SIGTERM" in r[4] for r in rows if r[3] == "FAILED")
    (ws.root / "fast").write_text("")
    ws.cli("resume", cfg, "--quiet", check_rc=0)
    assert sum(1 for r in replicate_states(ws.root / "study.db") if r[3] == "COMPLETE") == 2


def test_resume_after_sigkill_of_the_driver_requeues_at_once(ws):
    cfg = ws.config(task="hostile_tasks:always_slow", executor={"name": "local", "workers": 2})
    proc = ws.popen("run", cfg, "--quiet")
    _wait_running(ws.root / "study.db", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    (ws.root / "fast").write_text("")
    resumed = ws.cli("resume", cfg, check_rc=0)
    assert "of stopped driver(s)" in resumed.stderr
    rows = replicate_states(ws.root / "study.db")
    assert any(r[3] == "STALE" for r in rows) and not [r for r in rows if r[3] == "RUNNING"]
    assert sum(1 for r in rows if r[3] == "COMPLETE") == 2
