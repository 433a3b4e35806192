"""`uqhpo sweep`, `uqhpo focus` and `uqhpo compare` end to end on the quadratic test task."""
from __future__ import annotations

import pytest

import uqhpo
from uqhpo.cli import main

CONFIG = """\
task: uqhpo.testing.tasks:quadratic
strategy: {name: rbf, n_initial: 4}
budget: {trials: 8}
uq: {replicates: 2}
executor: {name: serial}
seed: 2
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.yaml").write_text(CONFIG)
    return tmp_path


def test_sweep_runs_a_grid_with_replicates_and_draws_the_bowl(workdir, capsys):
    argv = ["sweep", "q.yaml", "--param", "x=0,1,2", "--param", "act=relu,tanh", "--param", "y=-2",
            "--param", "n=3", "--quiet", "--format", "png"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "6 grid points x 2 replicate(s)" in out
    study = uqhpo.load_study("sqlite:///runs/q/study.db", "q_sweep")
    configs = sorted((t.config["x"], t.config["act"]) for t in study.all_trials())
    assert configs == sorted((x, a) for x in (0.0, 1.0, 2.0) for a in ("relu", "tanh"))
    assert all(t.n == 2 and t.config["y"] == -2.0 and t.config["n"] == 3 for t in study.trials)
    assert study.settings.strategy == "grid"
    assert (workdir / "runs" / "q_sweep" / "param_x_by_act.png").stat().st_size > 5000
    assert main(["sweep", "q.yaml", "--param", "x=0,1"]) == 2              # y, n, act have no value
    assert "'y' is not swept and study 'q' has no best config" in capsys.readouterr().err


def test_focus_seeds_a_child_study_linked_to_its_parent(workdir, capsys):
    assert main(["run", "q.yaml", "--quiet"]) == 0
    parent = uqhpo.load_study("sqlite:///runs/q/study.db", "q")
    best = parent.best.config
    assert main(["focus", "runs/q/study.db", "--study", "q", "--width", "0.5", "--trials", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    child = uqhpo.load_study("sqlite:///runs/q/study.db", "q_focus")
    assert child.settings.user["parent"]["study"] == "q" and child.settings.user["parent"]["around"] is not None
    assert child.space["x"].low <= best["x"] <= child.space["x"].high
    assert child.space["x"].high - child.space["x"].low == pytest.approx(5.0)
    copied = [t for t in child.all_trials() if t.user_attrs.get("copied_from")]
    assert copied and f"seeded with {len(copied)}" in out
    assert any(t.config == best for t in copied)                         # the incumbent lies in its own box
    assert len(child.all_trials()) == 3 or len(copied) >= 3
    # compare: both studies of the storage, grouped by name
    assert main(["compare", "runs/q/study.db", "--by", "study", "--out", "cmp/c", "--format", "png"]) == 0
    out = capsys.readouterr().out
    assert "q_focus" in out and (workdir / "cmp" / "c.png").stat().st_size > 5000
