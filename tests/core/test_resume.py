"""Kill the driver mid-study (SIGKILL), resume from the SQLite file, check exact counts."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import uqhpo
from uqhpo.trial import State

SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import numpy as np
    import uqhpo

    url, log, n_trials = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def train(config, seed):
        time.sleep(0.15)
        value = (config["x"] - 0.3) ** 2 + np.random.default_rng(seed).normal(0, 0.01)
        with open(log, "a") as f:          # one line per training that ran to the end
            f.write(json.dumps({"seed": seed, "x": config["x"]}) + "\\n")
        return value

    space = uqhpo.Space({"x": uqhpo.Real(0.0, 1.0)})
    study = uqhpo.create_study(space, strategy="random", seed=5, storage=url, name="kill",
                               n_replicates=2, load_if_exists=True)
    study.optimize(train, n_trials=n_trials, heartbeat_timeout=1.0, heartbeat_interval=0.2)
""")


def _completed(url):
    study = uqhpo.load_study(url)
    return study, [(t.number, r.index, r.seed) for t in study.all_trials() for r in t.replicates
                   if r.state == State.COMPLETE]


def test_driver_killed_then_resumed_runs_exactly_what_is_missing(tmp_path):
    url = f"sqlite:///{tmp_path}/study.db"
    log = tmp_path / "runs.jsonl"
    script = tmp_path / "drive.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), url, str(log), "8"], env=env)
    # wait until a few replicates are stored, then kill the driver without warning
    deadline = time.time() + 120
    while time.time() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, before = _completed(url)
    assert 0 < len(before) < 16

    time.sleep(1.2)  # let the dead driver's heartbeat expire
    subprocess.run([sys.executable, str(script), url, str(log), "8"], env=env, check=True, timeout=300)
    study, after = _completed(url)
    trials = study.all_trials()
    assert len(trials) == 8
    assert all(t.state == State.COMPLETE for t in trials)
    pairs = [(n, i) for n, i, _ in after]
    assert len(after) == 16 and len(set(pairs)) == 16            # each replicate complete exactly once
    assert set(before) <= set(after)                              # finished records unchanged
    # no replicate that had completed before the kill was trained again
    ran = [json.loads(line)["seed"] for line in log.read_text().splitlines()]
    done_before = {seed for _, _, seed in before}
    assert all(ran.count(seed) == 1 for seed in done_before)
