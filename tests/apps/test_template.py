"""The template app: data generator and loader, one real training, a small study."""
from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

import uqhpo
from uqhpo.apps.template.data import GENERATOR_VERSION, generate, load_table, write_hdf5
from uqhpo.apps.template.task import TemplateTask
from uqhpo.config import TASK_DATA_ENV
from uqhpo.space import Integer
from uqhpo.task import TrialContext

SMALL = {"layers": 2, "width": 32, "dropout": 0.05, "lr": 1e-2, "batch_size": 32, "epochs": 12}


@pytest.fixture
def small_file(tmp_path):
    return write_hdf5(tmp_path / "small.h5", n_rows=300, seed=5)


def configured(path, **extra) -> TemplateTask:
    task = TemplateTask()
    task.configure({"path": str(path), **extra})
    return task


# -- data ---------------------------------------------------------------------------------------
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
    # the x3 term alone explains part of the variance; the noise keeps it far from all
    r = np.corrcoef(X[:, 3], y)[0, 1]
    assert 0.3 < r < 0.9


def test_module_entry_point_writes_the_file(tmp_path):
    out = tmp_path / "d" / "r.h5"
    proc = subprocess.run([sys.executable, "-m", "uqhpo.apps.template.data", "--out", str(out), "--rows", "50"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr
    assert load_table(out)[0].shape == (50, 8)


def test_csv_with_header_loads(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,target\n" + "\n".join(f"{i},{2 * i},{3 * i}" for i in range(10)) + "\n")
    X, y = load_table(path)
    assert X.shape == (10, 2) and y[4] == 12


def _h5(path, **arrays):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "none.h5", "data file '{p}' not found"),
    (lambda d: _h5(d / "x1d.h5", X=np.zeros(10), y=np.zeros(10)), "X must be 2-D"),
    (lambda d: _h5(d / "ylen.h5", X=np.zeros((10, 3)), y=np.zeros(9)), "y must be 1-D with 10 rows"),
    (lambda d: _h5(d / "noy.h5", X=np.zeros((10, 3))), "missing dataset(s) ['y']"),
    (lambda d: _h5(d / "nan.h5", X=np.r_[np.zeros((9, 3)), [[np.nan, 0, 0]]], y=np.zeros(10)), "1 row(s) contain NaN"),
    (lambda d: _h5(d / "few.h5", X=np.zeros((1, 3)), y=np.zeros(1)), "only 1 rows, need at least 2"),
    (lambda d: (d / "t.txt").write_text("1,2") and d / "t.txt", "unsupported format '.txt'"),
    (lambda d: (d / "bad.csv").write_text("1,2\n3,x\n") and d / "bad.csv", "not a numeric CSV"),
    (lambda d: (d / "notreally.h5").write_text("hello") and d / "notreally.h5", "not a readable HDF5 file"),
])
def test_loader_errors_are_one_line_and_name_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        load_table(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text and message.format(p=path) in text


def test_too_few_rows_for_the_batch_size(tmp_path):
    task = configured(write_hdf5(tmp_path / "t.h5", n_rows=40, seed=0))
    with pytest.raises(ValueError, match=r"32 training rows is fewer than batch_size=64"):
        task.run({**SMALL, "batch_size": 64}, TrialContext(seed=0))


def test_configure_rejects_unknown_keys_and_bad_values(small_file):
    with pytest.raises(ValueError, match="unknown data key 'pth'"):
        TemplateTask().configure({"pth": str(small_file)})
    with pytest.raises(ValueError, match="data.val_fraction"):
        TemplateTask().configure({"path": str(small_file), "val_fraction": 1.5})


def test_workers_get_the_data_from_the_environment(small_file, monkeypatch):
    monkeypatch.setenv(TASK_DATA_ENV, json.dumps({"path": str(small_file), "max_rows": 100}))
    task = TemplateTask()  # as a spawned worker sees it: imported by path, never configured
    assert task.data_path == small_file
    assert len(task.dataset()["y_train"]) == 80


def test_import_is_cheap():
    code = "import sys, uqhpo.apps.template as t; t.task.search_space(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# -- training -----------------------------------------------------------------------------------
def test_one_training_beats_the_baseline_and_is_seeded(small_file):
    task = configured(small_file)
    ctx = TrialContext(seed=11)
    out = task.run(SMALL, ctx)
    assert out["loss"] < 0.5 * out["baseline_mse"]
    assert [step for step, _ in ctx.reports] == list(range(SMALL["epochs"]))
    assert min(m["val_mse"] for _, m in ctx.reports) == pytest.approx(out["loss"], rel=1e-4)
    assert task.run(SMALL, TrialContext(seed=11))["loss"] == out["loss"]
    assert task.run(SMALL, TrialContext(seed=12))["loss"] != out["loss"]


def test_mc_dropout_reports_predictive_spread(small_file):
    out = configured(small_file).run({**SMALL, "dropout": 0.3, "epochs": 3}, TrialContext(seed=3, mc_dropout=4))
    assert out["mc_pred_std"] > 0
    assert np.isfinite(out["deterministic_mse"]) and out["loss"] != out["deterministic_mse"]


def test_three_trial_study_with_two_replicates(small_file, monkeypatch, tmp_path):
    import uqhpo.apps.template as app

    monkeypatch.setattr(app.task, "_data", None)
    app.task.configure({"path": str(small_file), "max_rows": 160})
    space = app.task.search_space()
    space = uqhpo.Space({**space.params, "epochs": Integer(2, 3), "width": Integer(8, 16),
                         "batch_size": Integer(16, 32)})
    study = uqhpo.create_study(space, strategy="random", seed=4, n_replicates=2,
                               storage=f"sqlite:///{tmp_path}/s.db", name="template")
    study.optimize("uqhpo.apps.template:task", n_trials=3, executor="serial", progress=False,
                   workdir=tmp_path / "w")
    assert len(study.trials) == 3
    for t in study.trials:
        assert t.n == 2 and len(set(t.losses)) == 2        # two seeds, two different trainings
        assert t.metrics["baseline_mse"] > 0
    assert all(r.reports for t in study.all_trials() for r in t.replicates)
