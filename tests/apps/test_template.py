"""The template app: generator, table reader, split, one real training (regression and
classification), MC dropout, a small study, and the shape of its configs and README."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

import uqhpo
from uqhpo.apps.template.data import GENERATOR_VERSION, generate, load_table, write_hdf5
from uqhpo.apps.template.task import DATA_DEFAULTS, TemplateTask
from uqhpo.space import Integer
from uqhpo.task import TrialContext

APP = Path(uqhpo.apps.template.__file__).parent
SMALL = {"layers": 2, "width": 32, "dropout": 0.05, "lr": 1e-2, "batch_size": 32, "epochs": 12}


@pytest.fixture
def small_file(tmp_path):
    return write_hdf5(tmp_path / "small.h5", n_rows=300, seed=5)


@pytest.fixture
def labels_csv(tmp_path):
    """400 rows, 3 features, text labels that the first two features decide (plus 5 % noise)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    label = np.where(X[:, 0] + X[:, 1] > 0.5, "high", np.where(X[:, 0] - X[:, 1] > 0, "mid", "low"))
    flip = rng.random(400) < 0.05
    label[flip] = rng.choice(["high", "mid", "low"], size=int(flip.sum()))
    path = tmp_path / "labels.csv"
    path.write_text("a,b,noise,label\n" + "".join(f"{x[0]:.5f},{x[1]:.5f},{x[2]:.5f},{lab}\n"
                                                  for x, lab in zip(X, label)))
    return path


def configured(path, **extra) -> TemplateTask:
    task = TemplateTask()
    task.configure({"path": str(path), **extra})
    return task


# -- generator ----------------------------------------------------------------------------------
def test_generator_is_byte_deterministic_and_records_its_parameters(tmp_path):
    a = write_hdf5(tmp_path / "a.h5", n_rows=200, seed=7)
    b = write_hdf5(tmp_path / "b" / "b.h5", n_rows=200, seed=7)
    c = write_hdf5(tmp_path / "c.h5", n_rows=200, seed=8)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    with h5py.File(a) as f:
        assert f["X"].shape == (200, 8) and f["y"].shape == (200,)
        assert f.attrs["generator_version"] == GENERATOR_VERSION and int(f.attrs["seed"]) == 7
        assert json.loads(f.attrs["parameters"])["n_rows"] == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b", "c.h5"]  # no temp files left


def test_target_is_noisy_but_learnable():
    X, y = generate(2000, seed=0)
    assert X.dtype == np.float32 and X.min() >= 0 and X.max() <= 1
    r = np.corrcoef(X[:, 3], y)[0, 1]  # the x3 term alone explains part of the variance
    assert 0.3 < r < 0.9


def test_module_entry_point_writes_the_file(tmp_path):
    out = tmp_path / "d" / "r.h5"
    proc = subprocess.run([sys.executable, "-m", "uqhpo.apps.template.data", "--out", str(out), "--rows", "50"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr
    table = load_table(out)
    assert table.X.shape == (50, 8) and table.target == "y" and table.feature_names[3] == "X[3]"


# -- reading your table ---------------------------------------------------------------------------
def test_csv_columns_by_name(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a;b;price;c\n" + "\n".join(f"{i};{2 * i};{3 * i};{i % 2}" for i in range(10)) + "\n\n")
    table = load_table(path, target="price")
    assert table.feature_names == ["a", "b", "c"] and table.y[4] == 12 and table.X[4].tolist() == [4, 8, 0]
    assert load_table(path, target="price", features=["c", "a"]).X[3].tolist() == [1, 3]
    assert load_table(path).target == "c"                    # default: the last column


def test_csv_without_header_names_columns_by_position(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("1,2,3\n4,5,6\n7,8,9\n")
    table = load_table(path)
    assert table.target == "col2" and table.feature_names == ["col0", "col1"] and table.y.tolist() == [3, 6, 9]


def test_hdf5_groups_and_npz_keys(tmp_path):
    with h5py.File(tmp_path / "g.h5", "w") as f:
        f.create_dataset("inputs/coords", data=np.arange(20.0).reshape(10, 2))
        f.create_dataset("inputs/mass", data=np.arange(10.0))
        f.create_dataset("target", data=np.arange(10.0) * 2)
    table = load_table(tmp_path / "g.h5", target="target")
    assert table.feature_names == ["inputs/coords[0]", "inputs/coords[1]", "inputs/mass"]
    np.savez(tmp_path / "n.npz", x=np.ones((6, 3)), label=np.array(["u", "v"] * 3))
    table = load_table(tmp_path / "n.npz", target="label", kind="classification")
    assert table.classes == ["u", "v"] and table.y.tolist() == [0, 1] * 3 and table.X.shape == (6, 3)


def _h5(path, **arrays):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
    return path


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


CSV = "a,b,y\n" + "".join(f"{i},{i % 3},{i * 0.5}\n" for i in range(20))
BAD_INPUTS = {
    "missing file": (lambda d: d / "none.csv", {}, "data file '{p}' not found"),
    "unknown suffix": (lambda d: _text(d / "t.txt", "1,2"), {}, "unsupported format '.txt'"),
    "unknown target": (lambda d: _text(d / "t.csv", CSV), {"target": "Y"}, "no target column 'Y' (did you mean 'y'?)"),
    "unknown feature": (lambda d: _text(d / "t.csv", CSV), {"features": ["a", "q"]}, "no feature column 'q'"),
    "text feature": (lambda d: _text(d / "t.csv", "a,b,y\n1,x,2\n3,4,5\n"), {},
                     "feature column 'b' is not numeric (e.g. 'x')"),
    "text target": (lambda d: _text(d / "t.csv", "a,y\n1,x\n3,z\n"), {}, "use data.kind: classification"),
    "missing value": (lambda d: _text(d / "t.csv", "a,b,y\n1,,2\n3,NA,5\n4,5,6\n"), {},
                      "feature column 'b' has 2 missing or non-finite value(s)"),
    "ragged line": (lambda d: _text(d / "t.csv", "a,b,y\n1,2,3\n4,5\n"), {}, "line 3 has 2 fields, expected 3"),
    "duplicate name": (lambda d: _text(d / "t.csv", "a,a,y\n1,2,3\n"), {}, "column name 'a' appears more than once"),
    "target is a feature": (lambda d: _text(d / "t.csv", CSV), {"features": ["a", "y"]},
                            "both the target and a feature"),
    "too few rows": (lambda d: _h5(d / "few.h5", X=np.zeros((1, 3)), y=np.zeros(1)), {},
                     "only 1 rows, need at least 2"),
    "row counts differ": (lambda d: _h5(d / "len.h5", X=np.zeros((9, 3)), y=np.zeros(10)), {"features": ["X"]},
                          "feature 'X' has 9 rows, target 'y' has 10"),
    "2-D target": (lambda d: _h5(d / "y2.h5", X=np.zeros((10, 3)), y=np.zeros((10, 2))), {}, "one value per row"),
    "not HDF5": (lambda d: _text(d / "fake.h5", "hello"), {}, "not a readable HDF5 file"),
    "not NPZ": (lambda d: _text(d / "fake.npz", "hello"), {}, "not a readable NPZ file"),
    "one class": (lambda d: _text(d / "t.csv", "a,y\n1,u\n2,u\n"), {"kind": "classification"}, "only one class ('u')"),
    "regression target as classes": (lambda d: _text(d / "t.csv", CSV), {"kind": "classification"},
                                     "20 distinct values in 20 rows"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_reader_errors_are_one_line_naming_file_and_column(tmp_path, name):
    make, kwargs, message = BAD_INPUTS[name]
    path = make(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        load_table(path, **kwargs)
    text = str(info.value)
    assert "\n" not in text and str(path) in text and message.format(p=path) in text


# -- the task's data ------------------------------------------------------------------------------
def test_configure_rejects_unknown_keys_and_bad_values(small_file):
    with pytest.raises(ValueError, match="unknown data key 'pth'.*did you mean 'path'"):
        TemplateTask().configure({"pth": str(small_file)})
    for bad, key in [({"val_fraction": 1.5}, "data.val_fraction"), ({"kind": "regresion"}, "data.kind"),
                     ({"features": "a,b"}, "data.features"), ({"max_rows": 3}, "data.max_rows"),
                     ({"val_fraction": 0.5, "test_fraction": 0.45}, "at least 10 %")]:
        with pytest.raises(ValueError, match=re.escape(key)):
            TemplateTask().configure({"path": str(small_file), **bad})


def test_split_is_disjoint_seeded_and_scaled_on_training_rows(small_file):
    d = configured(small_file).dataset()
    assert [len(d.y[s]) for s in ("train", "val", "test")] == [180, 60, 60]
    assert np.allclose(d.X["train"].mean(axis=0), 0, atol=1e-5) and np.allclose(d.y["train"].mean(), 0, atol=1e-5)
    rows = {s: {tuple(r) for r in d.X[s]} for s in d.X}
    assert not (rows["train"] & rows["val"]) and not (rows["val"] & rows["test"])
    same, other = configured(small_file).dataset(), configured(small_file, split_seed=1).dataset()
    assert np.array_equal(same.y_raw["val"], d.y_raw["val"]) and not np.array_equal(other.y_raw["val"], d.y_raw["val"])
    sub = configured(small_file, max_rows=100).dataset()
    assert sum(len(v) for v in sub.y.values()) == 100


def test_too_few_training_rows_fail_the_check_or_the_trial(tmp_path):
    path = write_hdf5(tmp_path / "t.h5", n_rows=40, seed=0)
    with pytest.raises(ValueError, match=r"t.h5': only 8 training rows, need at least 16"):
        configured(path, val_fraction=0.4, test_fraction=0.4).check()
    with pytest.raises(ValueError, match=r"24 training rows is fewer than batch_size=64"):
        configured(path).run({**SMALL, "batch_size": 64}, TrialContext(seed=0, workdir=tmp_path))


def test_default_data_missing_says_how_to_generate_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"python -m uqhpo.apps.template.data --out"):
        TemplateTask().check()


def test_import_is_cheap():
    code = "import sys, uqhpo.apps.template as t; t.task.search_space(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# -- training -------------------------------------------------------------------------------------
def test_regression_beats_the_baseline_reports_every_epoch_and_is_seeded(small_file, tmp_path):
    task = configured(small_file)
    ctx = TrialContext(seed=11, workdir=tmp_path / "a")
    out = task.run(SMALL, ctx)
    assert out["loss"] < 0.5 * out["baseline_loss"] and out["test_loss"] < 0.5 * out["baseline_loss"]
    assert [step for step, _ in ctx.reports] == list(range(1, SMALL["epochs"] + 1))
    assert min(m["val_loss"] for _, m in ctx.reports) == pytest.approx(out["loss"], rel=1e-4)
    assert task.run(SMALL, TrialContext(seed=11, workdir=tmp_path / "b"))["loss"] == out["loss"]
    assert task.run(SMALL, TrialContext(seed=12, workdir=tmp_path / "c"))["loss"] != out["loss"]


def test_classification_reports_cross_entropy_and_accuracy(labels_csv, tmp_path):
    task = configured(labels_csv, kind="classification")
    ctx = TrialContext(seed=2, workdir=tmp_path)
    out = task.run(SMALL, ctx)
    assert task.dataset().classes == ["high", "low", "mid"]
    assert out["loss"] < 0.5 * out["baseline_loss"]           # baseline: the class frequencies
    assert out["accuracy"] > 0.8 and out["test_accuracy"] > 0.8
    assert min(m["val_loss"] for _, m in ctx.reports) == pytest.approx(out["loss"], rel=1e-4)


def test_mc_dropout_reports_predictive_spread(small_file, tmp_path):
    out = configured(small_file).run({**SMALL, "dropout": 0.3, "epochs": 3},
                                     TrialContext(seed=3, mc_dropout=4, workdir=tmp_path))
    assert out["mc_pred_std"] > 0
    assert np.isfinite(out["deterministic_loss"]) and out["loss"] != out["deterministic_loss"]


def test_three_trial_study_with_two_replicates_gets_its_data_with_the_jobs(small_file, tmp_path):
    space = uqhpo.Space({**TemplateTask().search_space().params, "epochs": Integer(2, 3), "width": Integer(8, 16),
                         "batch_size": Integer(16, 32)})
    study = uqhpo.create_study(space, strategy="random", seed=4, n_replicates=2,
                               storage=f"sqlite:///{tmp_path}/s.db", name="template")
    study.optimize("uqhpo.apps.template:task", n_trials=3, executor="serial", workdir=tmp_path / "w",
                   data={"path": str(small_file), "max_rows": 160})
    assert len(study.trials) == 3
    for t in study.trials:
        assert t.n == 2 and len(set(t.losses)) == 2        # two seeds, two different trainings
        assert t.metrics["baseline_loss"] > 0 and "test_loss" in t.metrics
    assert all(r.reports for t in study.all_trials() for r in t.replicates)


# -- the app's shape ------------------------------------------------------------------------------
@pytest.mark.parametrize("config", ["demo.yaml", "quick.yaml"])
def test_configs_follow_the_config_rules_and_load(config, tmp_path, monkeypatch):
    raw = yaml.safe_load((APP / "configs" / config).read_text())
    assert isinstance(raw["study"], str) and "storage" not in raw and "output" not in raw
    assert "path" not in (raw.get("data") or {}) and raw["task"] == "uqhpo.apps.template:task"
    from uqhpo.config import load_config

    monkeypatch.chdir(tmp_path)                             # the default data, read from the current folder
    write_hdf5(tmp_path / DATA_DEFAULTS["path"], n_rows=200, seed=0)
    cfg = load_config(APP / "configs" / config)
    assert cfg.storage.endswith(f"runs/{raw['study']}/study.db")


def test_readme_files_table_lists_every_module():
    readme = (APP / "README.md").read_text()
    table = set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.M))
    modules = {p.name for p in APP.glob("*.py")} | {f"configs/{p.name}" for p in (APP / "configs").glob("*.yaml")}
    assert modules <= table, modules - table
