"""``uqhpo new-app``: "bring your data in 10 minutes", tried end to end as a user would.

A CSV written here -> ``uqhpo new-app`` -> the generated tests pass -> ``uqhpo run
NAME/configs/quick.yaml --trials 4`` from the same folder stores 4 finished trials.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

import uqhpo
from uqhpo.cli import main
from uqhpo.newapp import create_app, guess_kind

BIN = Path(sys.executable).parent
README = Path(__file__).resolve().parents[2] / "README.md"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def write_regression_csv(path: Path, n: int = 240) -> Path:
    """Features x1..x3, a text column the app must leave out, the target 'yield' last."""
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(n, 3))
    y = 3 * X[:, 0] + np.sin(4 * X[:, 1]) + 0.1 * rng.normal(size=n)
    site = rng.choice(["north", "south"], size=n)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x1,x2,site,x3,yield\n" + "".join(
        f"{a:.4f},{b:.4f},{s},{c:.4f},{t:.4f}\n" for (a, b, c), s, t in zip(X, site, y)))
    return path


def write_classification_csv(path: Path, n: int = 240) -> Path:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(n, 2))
    species = np.where(X[:, 0] > 0.3, "setosa", np.where(X[:, 1] > 0, "virginica", "versicolor"))
    path.write_text("species,sepal,petal\n" + "".join(f"{s},{a:.4f},{b:.4f}\n" for s, (a, b) in zip(species, X)))
    return path


def uqhpo_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "uqhpo"), *args], cwd=cwd, env=ENV, capture_output=True, text=True)


def run_generated_app(tmp_path: Path, name: str, *run_args: str) -> uqhpo.Study:
    """The generated tests pass, and the quick study runs from the folder that holds the app
    (as the config says: 2 local worker processes, which must import the app too)."""
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{name}/tests"],
                           cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "3 passed" in tests.stdout
    run = uqhpo_cli("run", f"{name}/configs/quick.yaml", "--trials", "4", "--quiet", *run_args, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    study = uqhpo.load_study(f"sqlite:///{tmp_path}/runs/{name}_quick/study.db")
    assert len(study.trials) == 4                            # the COMPLETE trials
    assert all(t.state == uqhpo.State.COMPLETE and t.n == 3 and np.isfinite(t.losses).all() for t in study.trials)
    assert len(study.all_trials()) == 4
    return study


def readme_commands() -> list[list[str]]:
    """The command lines of the top-level README's "Bring your data in 10 minutes" block."""
    section = README.read_text().split("## Bring your data in 10 minutes", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.strip()]


def test_readme_bring_your_data_end_to_end_on_a_regression_csv(tmp_path):
    """The README's commands, with its names swapped for this CSV's, as a user would type them."""
    data = write_regression_csv(tmp_path / "data" / "field.csv")
    commands = [[{"measurements.csv": "data/field.csv"}.get(t, t.replace("yields", "crops")) for t in cmd]
                for cmd in readme_commands()]
    assert [c[:2] for c in commands] == [["uqhpo", "new-app"], ["python", "-m"], ["uqhpo", "run"],
                                         ["uqhpo", "best"], ["uqhpo", "plot"]]
    made = uqhpo_cli(*commands[0][1:], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    out = made.stdout
    assert "240 rows, 5 columns: x1, x2, site, x3, yield" in out
    assert "target: 'yield'" in out and "kind: regression" in out
    assert "left out column 'site': not numeric" in out
    app = tmp_path / "crops"
    assert {p.name for p in app.iterdir()} >= {"__init__.py", "task.py", "model.py", "data.py", "configs",
                                               "README.md", "tests"}
    config = yaml.safe_load((app / "configs" / "quick.yaml").read_text())
    assert config["task"] == "crops:task" and config["study"] == "crops_quick"
    assert config["data"] == {"path": "../../data/field.csv", "target": "yield", "kind": "regression",
                              "features": ["x1", "x2", "x3"]}
    assert (app / "configs" / config["data"]["path"]).resolve() == data.resolve()
    assert "storage" not in config and "output" not in config
    readme = (app / "README.md").read_text()
    assert "| `task.py` |" in readme and "`yield`" in readme and "Left out: `site` (not numeric)" in readme
    assert commands[1] == ["python", "-m", "pytest", "crops/tests"] and commands[2][2] == "crops/configs/quick.yaml"
    study = run_generated_app(tmp_path, "crops")
    assert {"test_loss", "baseline_loss", "best_epoch"} <= set(study.best.metrics)
    best = uqhpo_cli(*commands[3][1:], cwd=tmp_path)
    assert best.returncode == 0 and "loss" in best.stdout, best.stderr
    plot = uqhpo_cli(*commands[4][1:], cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    assert list((tmp_path / "runs" / "crops_quick").glob("*.png"))


def test_classification_csv_end_to_end(tmp_path):
    write_classification_csv(tmp_path / "iris.csv")
    made = uqhpo_cli("new-app", "flowers", "--data", "iris.csv", "--target", "species", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "kind: classification (the target holds text labels" in made.stdout
    assert "classes: setosa, versicolor, virginica" in made.stdout
    config = yaml.safe_load((tmp_path / "flowers" / "configs" / "quick.yaml").read_text())
    assert config["data"] == {"path": "../../iris.csv", "target": "species", "kind": "classification"}
    study = run_generated_app(tmp_path, "flowers", "--set", "executor.name=serial")   # the regression test runs workers
    for t in study.trials:
        assert 0 <= t.metrics["accuracy"] <= 1 and "test_accuracy" in t.metrics
        assert t.metrics["baseline_loss"] > 0


@pytest.mark.parametrize("args, message", [
    (["9lives", "--data", "d.csv"], "app name '9lives' is not a Python identifier"),
    (["class", "--data", "d.csv"], "app name 'class' is not a Python identifier"),
    (["json", "--data", "d.csv"], "app name 'json' is already an importable module"),
    (["taken", "--data", "d.csv"], "taken' already exists"),
    (["fresh", "--data", "nope.csv"], "data file 'nope.csv' not found"),
    (["fresh", "--data", "d.txt"], "data file 'd.txt': unsupported format '.txt'"),
    (["fresh", "--data", "broken.h5"], "data file 'broken.h5': not a readable HDF5 file"),
    (["fresh", "--data", "d.csv", "--target", "yeild"],
     "no column 'yeild' (--target); columns: x1, x2, site, x3, yield"),
    (["fresh", "--data", "d.csv", "--target", "site", "--kind", "regression"], "target column 'site' is not numeric"),
])
def test_refusals_are_one_line_and_write_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    write_regression_csv(tmp_path / "d.csv", n=60)
    (tmp_path / "d.txt").write_text("1,2\n")
    (tmp_path / "broken.h5").write_text("not hdf5")
    (tmp_path / "taken").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["new-app", *args]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _forget(name: str) -> None:
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


def test_hdf5_and_npz_tables_give_apps_that_load(tmp_path, monkeypatch):
    from uqhpo.config import load_config

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with h5py.File(tmp_path / "runs.h5", "w") as f:
        f.create_dataset("inputs", data=np.random.default_rng(0).normal(size=(100, 4)))
        f.create_dataset("energy", data=np.arange(100.0))
    create_app("h5app", "runs.h5", target="energy")
    cfg = load_config(tmp_path / "h5app" / "configs" / "quick.yaml")
    assert cfg.task_object.dataset().X["train"].shape == (60, 4)
    _forget("h5app")

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "big.npz", grade=rng.integers(0, 3, size=20_001), x=rng.normal(size=(20_001, 2)))
    with pytest.raises(ValueError, match=r"target 'x' must be one value per row, got shape \(20001, 2\)"):
        create_app("npzapp", "big.npz")                    # npz keeps insertion order: the last key is x
    assert not (tmp_path / "npzapp").exists()
    lines: list[str] = []
    create_app("npzapp", "big.npz", target="grade", echo=lines.append)
    assert "kind: classification (the target holds 3 distinct integers; --kind regression to change)" in lines
    config = yaml.safe_load((tmp_path / "npzapp" / "configs" / "quick.yaml").read_text())
    assert config["data"]["max_rows"] == 20_000                               # big file: a quick subset
    task = load_config(tmp_path / "npzapp" / "configs" / "quick.yaml").task_object
    assert sum(len(v) for v in task.dataset().y.values()) == 20_000
    _forget("npzapp")


def test_generated_code_is_the_template_with_names_substituted(tmp_path):
    write_regression_csv(tmp_path / "d.csv", n=60)
    app = create_app("my_lab", tmp_path / "d.csv", folder=tmp_path)
    task_py = (app / "task.py").read_text()
    assert "class MyLabTask(DataTask)" in task_py and '"target": "yield",' in task_py
    assert '"features": ["x1", "x2", "x3"],' in task_py
    for path in app.rglob("*.py"):
        text = path.read_text().partition("\n")[2]        # below the "Written by ... from" header
        assert "uqhpo.apps.template" not in text and "TemplateTask" not in text, path
    template = Path(uqhpo.apps.template.__file__).parent
    assert (app / "model.py").read_text().splitlines()[1:] == (template / "model.py").read_text().splitlines()


def test_kind_guess():
    assert guess_kind(np.array(["a", "b"]))[0] == "classification"
    assert guess_kind(np.array([0.0, 1.0, 1.0, 2.0]))[0] == "classification"
    assert guess_kind(np.arange(11.0))[0] == "regression"
    assert guess_kind(np.array([0.5, 1.0]))[0] == "regression"
