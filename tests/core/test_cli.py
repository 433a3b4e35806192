"""The uqhpo command line, run in-process on small configs with the serial executor."""
from __future__ import annotations

import csv
import io
import json
import os
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
    monkeypatch.setattr(sys, "path", list(sys.path))  # `run` puts config folders on it
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
    assert err.startswith("error: uq.kappa changed from 1.0 to 2.0 since study 'tiny' was created; "
                          "use a new study name") and "\n" not in err


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
    replicates_line = next(line for line in out.splitlines() if line.startswith("replicates"))
    assert "FAILED 0" in replicates_line and "INTERRUPTED 1" in replicates_line   # Ctrl-C is no failure


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


# -- new-user fixes ------------------------------------------------------------------------------
def test_set_overrides_on_run_and_resume(workdir, capsys):
    cfg = write(workdir / "tiny.yaml", CONFIG)
    assert main(["run", str(cfg), "--quiet", "--set", "uq.replicates=1", "--set", "budget.trials=2",
                 "--set", "strategy={name: random}"]) == 0
    out = capsys.readouterr().out
    assert "(n=1)" in out and "±" not in out and "objective (mean + 1·std)" in out   # one replicate: no spread
    assert main(["resume", "runs/tiny/study.db", "--quiet", "--set", "budget.trials=3",
                 "--set", "executor.workers=1"]) == 0
    capsys.readouterr()
    assert main(["status", "runs/tiny/study.db"]) == 0
    assert "trials: 3 of 3 | COMPLETE 3" in capsys.readouterr().out
    assert main(["run", str(cfg), "--set", "uq.replicatse=2"]) == 2
    assert capsys.readouterr().err == "error: --set uq.replicatse: unknown key (did you mean 'replicates'?)\n"
    assert main(["resume", str(cfg), "--set", "uq.replicates=2"]) == 2          # changes the objective
    assert capsys.readouterr().err.startswith("error: uq.replicates changed from 1 to 2 since study 'tiny'")


DATA_TASK = '''\
import os
import sys
import uqhpo


class FileTask(uqhpo.Task):
    """Reads a number from data.path; says where it ran and whether pydantic was loaded."""

    def configure(self, data):
        self.path = data.get("path")
        self.scale = data.get("scale", 1.0)

    def check(self):
        if self.path and not os.path.exists(self.path):
            raise FileNotFoundError(f"data file '{self.path}' not found")

    def search_space(self):
        return uqhpo.Space({"x": uqhpo.Real(0.0, 1.0)})

    def run(self, config, ctx):
        with open(self.path) as fh:
            offset = float(fh.read())
        return {"loss": self.scale * config["x"] + offset, "offset": offset, "scale": self.scale,
                "pydantic": int("pydantic" in sys.modules), "pid": os.getpid()}


task = FileTask()
'''


def _project(root: Path, module: str, extra: str = "") -> Path:
    """proj/<module>.py, proj/input.txt and proj/study.yaml with paths relative to proj/."""
    proj = root / "proj"
    proj.mkdir(exist_ok=True)
    (proj / f"{module}.py").write_text(DATA_TASK)
    (proj / "input.txt").write_text("5.0\n")
    return write(proj / "study.yaml", f"""\
        task: {module}:task
        strategy: {{name: random}}
        budget: {{trials: 2}}
        uq: {{replicates: 1}}
        data: {{path: input.txt, scale: 2.0}}
        storage: out/s.db
        output: out
        {extra}""")


def test_paths_resolve_against_the_config_and_readers_need_no_data(workdir, capsys, monkeypatch):
    cfg = _project(workdir, "cli_paths_task")
    (workdir / "elsewhere").mkdir()
    monkeypatch.chdir(workdir / "elsewhere")
    assert main(["run", str(cfg), "--quiet"]) == 0
    out = capsys.readouterr().out
    proj = workdir / "proj"
    assert (proj / "out" / "s.db").is_file() and (proj / "out" / "convergence.png").is_file()
    assert not (workdir / "elsewhere" / "runs").exists() and f"{proj / 'out' / 'convergence.png'}" in out

    (proj / "input.txt").unlink()                   # readers only read the storage
    for argv in (["status", str(cfg)], ["best", str(cfg)], ["export", str(cfg), "--out", "t.csv"],
                 ["plot", str(cfg)], ["list", str(cfg)]):
        assert main(argv) == 0, argv
    capsys.readouterr()
    assert main(["best", str(cfg)]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["metrics"]["offset"] == 5.0 and best["metrics"]["scale"] == 2.0 and best["std"] is None
    assert main(["run", str(cfg), "--quiet"]) == 2   # a run does need it
    assert "data.path: file" in capsys.readouterr().err


def test_missing_task_module_names_the_folders_searched(workdir, capsys):
    proj = workdir / "p"
    proj.mkdir()
    cfg = write(proj / "x.yaml", CONFIG.replace("uqhpo.testing.tasks:quadratic", "no_such_module_here:task"))
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot import module 'no_such_module_here'" in err
    assert f"'{workdir}'" in err and f"'{proj}'" in err


def test_console_run_with_workers_redirected_output(workdir, capsys):
    """The real console path: `python -m uqhpo.cli run` from another folder, a task module
    next to the config, two worker processes, output to pipes (no terminal)."""
    cfg = _project(workdir, "cli_worker_task", "executor: {name: local, workers: 2}\n")
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, "-m", "uqhpo.cli", "run", str(cfg.relative_to(workdir))],
                          capture_output=True, cwd=workdir, env=env)
    stderr = proc.stderr.decode()  # bytes: text mode would turn "\r" into "\n"
    assert proc.returncode == 0, stderr
    assert "\r" not in stderr and "trial/s" not in stderr  # no progress-bar frames in a log
    assert stderr.count(": loss ") == 2                    # one plain line per finished trial
    assert main(["export", str(cfg), "--rows", "replicates", "--out", "r.csv"]) == 0
    with open(workdir / "r.csv") as fh:
        reps = list(csv.DictReader(fh))
    assert len(reps) == 2
    for r in reps:
        assert float(r["metric_offset"]) == 5.0 and float(r["metric_scale"]) == 2.0   # data came with the job
        assert r["metric_pydantic"] == "0"                 # a worker never imports the config module
        assert r["worker"] and int(r["metric_pid"]) != os.getpid()

    # resuming from the storage alone, elsewhere: the stored config's folder goes on the path again
    (workdir / "elsewhere").mkdir()
    proc = subprocess.run([sys.executable, "-m", "uqhpo.cli", "resume", str(workdir / "proj" / "out" / "s.db"),
                           "--trials", "3", "--set", "executor.workers=1"],
                          capture_output=True, cwd=workdir / "elsewhere", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    capsys.readouterr()
    assert main(["status", str(cfg)]) == 0
    assert "trials: 3 of 3 | COMPLETE 3" in capsys.readouterr().out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_plain_lines_otherwise(workdir, capsys, monkeypatch):
    write(workdir / "a.yaml", CONFIG)
    assert main(["run", "a.yaml"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and err.count(": loss ") == 4 and "best objective" in err

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    write(workdir / "b.yaml", CONFIG)
    assert main(["run", "b.yaml"]) == 0
    shown = terminal.getvalue()
    assert "\r" in shown and "4/4" in shown and shown.count(": loss ") == 4

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    write(workdir / "c.yaml", CONFIG)
    assert main(["run", "c.yaml", "--quiet"]) == 0
    assert terminal.getvalue() == ""


def test_best_follows_the_recommendation_rule_which_may_change_on_resume(workdir, capsys):
    import uqhpo
    from uqhpo.recommendation import recommend_trial

    cfg = write(workdir / "tiny.yaml", CONFIG.replace("budget: {trials: 4}", "budget: {trials: 8}")
                .replace("uq: {replicates: 2}", "uq: {replicates: 2, recommend: surrogate}"))
    assert main(["run", str(cfg), "--quiet"]) == 0
    study = uqhpo.load_study("sqlite:///runs/tiny/study.db")
    trials = study.all_trials()
    expected = {rule: recommend_trial(trials, study.space, study.settings, rule) for rule in ("best", "surrogate")}
    assert expected["best"] == study.best.number
    capsys.readouterr()
    assert main(["best", str(cfg)]) == 0                                  # the study's rule
    out = json.loads(capsys.readouterr().out)
    assert (out["rule"], out["trial"]) == ("surrogate", expected["surrogate"])
    assert main(["best", str(cfg), "--rule", "best"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["rule"], out["trial"]) == ("best", expected["best"])
    # the rule reads the result, it does not define the search: a resume may change it
    assert main(["resume", str(cfg), "--quiet", "--set", "uq.recommend=best"]) == 0
    capsys.readouterr()
    assert main(["best", "runs/tiny/study.db"]) == 0
    assert json.loads(capsys.readouterr().out)["rule"] == "best"
