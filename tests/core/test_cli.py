"""The uqhpo command line, run in-process on small configs with the serial executor."""
from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from uqhpo.cli import main
from uqhpo.space import Real, Space
from uqhpo.task import Task

CONFIG = """\
task: uqhpo.testing.tasks:quadratic
strategy: {name: random}
budget: {trials: 4}
uq: {replicates: 2}
executor: {name: serial}
seed: 1
"""


class InterruptAfter(Task):
    """Finishes trials 0 and 1, then behaves like Ctrl-C."""

    def search_space(self) -> Space:
        return Space({"x": Real(0.0, 1.0)})

    def run(self, config, ctx):
        if ctx.trial >= 2:
            raise KeyboardInterrupt
        return float(config["x"])


interrupt_after = InterruptAfter()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_run_writes_sqlite_plot_and_exports(workdir, capsys):
    cfg = write(workdir / "tiny.yaml", CONFIG)
    assert main(["run", str(cfg), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "best of study 'tiny'" in out and "±" in out
    db = workdir / "runs" / "tiny" / "study.db"
    assert db.is_file() and (workdir / "runs" / "tiny" / "convergence.png").stat().st_size > 1000
    with sqlite3.connect(db) as con:  # a real database a user can open
        assert con.execute("select count(*) from sqlite_master").fetchone()[0] > 0

    assert main(["export", str(db), "--format", "csv", "--out", "t.csv"]) == 0
    with open(workdir / "t.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    assert list(rows[0]) == ["number", "state", "x", "y", "param_n", "act", "objective", "mean", "std", "n",
                             "metric_clean"]
    assert {r["state"] for r in rows} == {"COMPLETE"} and {r["n"] for r in rows} == {"2"}
    for r in rows:  # objective = mean + kappa * std with the default kappa 1
        assert float(r["objective"]) == pytest.approx(float(r["mean"]) + float(r["std"]))

    assert main(["export", str(cfg), "--format", "json", "--out", "t.json"]) == 0
    data = json.loads((workdir / "t.json").read_text())
    assert data["study"] == "tiny" and len(data["trials"]) == 4 and data["columns"][0] == "number"


def test_status_best_and_plot(workdir, capsys):
    cfg = write(workdir / "tiny.yaml", CONFIG)
    assert main(["run", str(cfg), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["status", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "trials: 4 of 4 | COMPLETE 4  RUNNING 0  WAITING 0  FAILED 0" in out
    assert "replicates (all attempts): 8 | COMPLETE 8" in out
    assert "finished replicates/hour" in out and "stale RUNNING trials" in out and "none" in out

    assert main(["best", "sqlite:///runs/tiny/study.db"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert set(best["config"]) == {"x", "y", "n", "act"} and best["n"] == 2
    assert best["objective"] == pytest.approx(best["mean"] + best["std"])

    assert main(["plot", str(cfg), "--out", "p/c.png"]) == 0
    assert (workdir / "p" / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_run_again_continues_and_trials_extends(workdir, capsys):
    cfg = write(workdir / "tiny.yaml", CONFIG)
    assert main(["run", str(cfg), "--quiet"]) == 0
    assert main(["run", str(cfg), "--quiet", "--trials", "6"]) == 0
    assert main(["resume", "runs/tiny/study.db", "--quiet", "--trials", "7"]) == 0
    capsys.readouterr()
    assert main(["status", "runs/tiny/study.db"]) == 0
    assert "trials: 7 of 7 | COMPLETE 7" in capsys.readouterr().out


def test_run_refuses_a_changed_objective(workdir, capsys):
    cfg = write(workdir / "tiny.yaml", CONFIG)
    assert main(["run", str(cfg), "--quiet"]) == 0
    capsys.readouterr()
    write(cfg, CONFIG.replace("uq: {replicates: 2}", "uq: {replicates: 2, kappa: 2.0}"))
    assert main(["run", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "new study name" in err and "\n" not in err


@pytest.mark.parametrize("argv, expected", [
    (["run", "missing.yaml"], "config file 'missing.yaml' not found"),
    (["status", "nothere.db"], "storage file 'nothere.db' not found"),
    (["resume", "tiny.yaml"], "no study 'tiny'"),
])
def test_user_errors_exit_2_with_one_line(workdir, capsys, argv, expected):
    write(workdir / "tiny.yaml", CONFIG)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1


def test_bad_config_from_console_script_has_no_traceback(workdir):
    write(workdir / "bad.yaml", CONFIG.replace("replicates: 2", "replicates: 0"))
    proc = subprocess.run([sys.executable, "-m", "uqhpo.cli", "run", "bad.yaml"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: bad.yaml: uq.replicates: input should be greater than or equal to 1, got 0"]


def test_ctrl_c_stores_finished_trials_and_prints_resume_hint(workdir, capsys):
    text = CONFIG.replace("uqhpo.testing.tasks:quadratic", "test_cli:interrupt_after").replace("trials: 4", "trials: 5")
    cfg = write(workdir / "intr.yaml", text)
    assert main(["run", str(cfg), "--quiet"]) == 130
    assert f"resume with: uqhpo resume {cfg}" in capsys.readouterr().err
    assert main(["status", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "COMPLETE 2" in out and "RUNNING 0" in out


def test_convergence_history_running_best_and_band():
    from uqhpo.analysis.history import convergence_history
    from uqhpo.trial import FrozenTrial, State

    def ft(number, mean, std, state=State.COMPLETE):
        return FrozenTrial(number=number, config={}, value=mean + std, mean=mean, std=std, n=3, state=state)

    trials = [ft(2, 1.0, 0.5), ft(0, 3.0, 0.1), ft(1, 2.0, 0.1), ft(3, 0.5, 2.0), ft(4, 0.1, 0.1, State.FAILED)]
    h = convergence_history(trials)
    assert h.numbers.tolist() == [0, 1, 2, 3]                 # sorted, the failed one dropped
    assert h.best_values.tolist() == pytest.approx([3.1, 2.1, 1.5, 1.5])
    assert h.best_numbers.tolist() == [0, 1, 2, 2]             # trial 3 has the lower mean but a worse objective
    low, high = h.band
    assert low.tolist() == pytest.approx([3.0, 2.0, 1.0, 1.0]) and high.tolist() == pytest.approx([3.2, 2.2, 2.0, 2.0])
    assert convergence_history(trials, "maximize").best_numbers.tolist() == [0, 0, 0, 0]
    assert len(convergence_history([])) == 0


def test_run_with_adaptive_replicates(workdir, capsys):
    cfg = write(workdir / "adaptive.yaml", CONFIG.replace("uq: {replicates: 2}", "uq: {replicates: 3, adaptive: true}")
                .replace("trials: 4", "trials: 6"))
    assert main(["run", str(cfg), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["status", str(workdir / "runs" / "adaptive" / "study.db")]) == 0
    assert "up to 3 replicate(s) per trial (adaptive)" in capsys.readouterr().out
    rows = sqlite3.connect(workdir / "runs" / "adaptive" / "study.db").execute(
        "SELECT n_replicates FROM trials ORDER BY number").fetchall()
    counts = [k for (k,) in rows]
    assert len(counts) == 6 and 1 in counts and 3 in counts
