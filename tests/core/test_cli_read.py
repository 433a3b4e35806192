"""The reading commands (export, list, --version) and storage sniffing, in-process."""
from __future__ import annotations

import csv
import json
import sqlite3
import sys

import pytest
from test_cli import CONFIG, write

from uqhpo.cli import main


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # `run` puts config folders on it
    return tmp_path


REPORTING = CONFIG.replace("uqhpo.testing.tasks:quadratic", "uqhpo.testing.tasks:reporting").replace(
    "trials: 4", "trials: 3")


def test_export_to_stdout_with_replicates_seeds_and_reports(workdir, capsys):
    cfg = write(workdir / "rep.yaml", REPORTING)
    assert main(["run", str(cfg), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["export", str(cfg), "--out", "-"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["number"] for r in rows] == ["0", "1", "2"] and not (workdir / "-").exists()

    assert main(["export", str(cfg), "--rows", "replicates"]) == 0        # stdout is the default
    reps = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert len(reps) == 6 and {r["replicate"] for r in reps} == {"0", "1"}
    assert all(r["seed"].isdigit() and float(r["loss"]) > 0 and r["state"] == "COMPLETE" for r in reps)
    assert len({r["seed"] for r in reps}) == 6 and "metric_steps" in reps[0]

    assert main(["export", str(cfg), "--rows", "reports"]) == 0
    steps = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert list(steps[0]) == ["number", "replicate", "attempt", "seed", "step", "val_loss"]
    assert len(steps) == sum(2 * int(r["steps"]) for r in rows)            # every epoch of every replicate

    assert main(["export", str(cfg), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["objective_formula"] == "mean + 1·std" and len(doc["trials"]) == 3
    first = doc["trials"][0]["replicates"][0]
    assert set(first) >= {"seed", "loss", "metrics", "reports"} and first["reports"][0]["step"] == 0
    assert first["loss"] == pytest.approx(first["reports"][-1]["val_loss"])


@pytest.mark.parametrize("command", ["best", "status", "export", "plot", "list", "resume"])
def test_a_file_that_is_not_a_storage_gives_one_line(workdir, capsys, command):
    (workdir / "some.csv").write_text("a,b\n1,2\n")
    (workdir / "notes.jsonl").write_text("not json\n")
    with sqlite3.connect(workdir / "other.db") as con:
        con.execute("CREATE TABLE things (x)")
    for name in ("some.csv", "notes.jsonl", "other.db"):
        assert main([command, name]) == 2
        err = capsys.readouterr().err
        assert err == f"error: '{name}' is not a uqhpo storage (SQLite or journal)\n"
    with sqlite3.connect(workdir / "other.db") as con:  # a foreign database got no uqhpo tables
        assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["things"]


def test_version_and_list(workdir, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == "uqhpo 0.1.0"
    for name, trials in (("alpha", 2), ("beta", 3)):
        write(workdir / f"{name}.yaml", CONFIG.replace("trials: 4", f"trials: {trials}") + "storage: shared.jsonl\n")
        assert main(["run", f"{name}.yaml", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["list", "shared.jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["study", "trials", "complete", "best", "objective"]
    assert [line.split()[:3] for line in lines[1:]] == [["alpha", "2", "2"], ["beta", "3", "3"]]
    assert all("(trial" in line for line in lines[1:])
