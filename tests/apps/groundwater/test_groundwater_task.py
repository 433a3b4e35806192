"""The groundwater task: data settings, errors, a run, a 3-trial study with replicates, the figure."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import uqhpo
from uqhpo.apps.groundwater import data, uq
from uqhpo.apps.groundwater.figures import plot_drought
from uqhpo.apps.groundwater.task import GroundwaterTask
from uqhpo.space import Fixed, Integer, Real, Space
from uqhpo.task import TrialContext

SMALL = dict(layers=1, units=12, lag=14, dropout=0.1, recurrent_dropout=0.0, lr=1e-2, batch_size=64, epochs=2)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    return data.generate_file(tmp_path_factory.mktemp("gw") / "basin.h5", seed=4, n_years=6, n_wells=2,
                              drought_start_year=4, drought_years=2)


def _task(path, **extra) -> GroundwaterTask:
    t = GroundwaterTask()
    t.configure({"path": str(path), "wells": ["W1"], "horizon": 7, "stride": 2, "framework": "torch", **extra})
    return t


def test_search_space_covers_the_issue():
    space = GroundwaterTask().search_space()
    assert (space["layers"].low, space["layers"].high) == (1, 3)
    assert (space["units"].low, space["units"].high) == (8, 128)
    assert (space["lag"].low, space["lag"].high) == (7, 365)
    assert (space["dropout"].low, space["dropout"].high) == (0.0, 0.5)
    assert (space["recurrent_dropout"].low, space["recurrent_dropout"].high) == (0.0, 0.3)
    assert space["lr"].log and space["batch_size"].choices == [16, 32, 64, 128, 256]
    for cfg in space.sample(np.random.default_rng(0), 20):
        assert space.contains(cfg)


def test_configure_rejects_bad_keys():
    t = GroundwaterTask()
    with pytest.raises(ValueError, match="unknown data key 'horizn' .*did you mean 'horizon'"):
        t.configure({"horizn": 10})
    with pytest.raises(ValueError, match="data.framework must be one of keras, torch, got 'jax'"):
        t.configure({"framework": "jax"})
    with pytest.raises(ValueError, match="data.horizon must be an integer >= 1"):
        t.configure({"horizon": 0})
    with pytest.raises(ValueError, match="data.val_start must be a date like 2010-01-01"):
        t.configure({"val_start": "spring"})
    with pytest.raises(ValueError, match="data.wells must be a non-empty list"):
        t.configure({"wells": "W1"})
    import datetime
    t.configure({"val_start": datetime.date(2010, 1, 1)})      # YAML's dates are taken
    assert t.settings()["val_start"] == "2010-01-01" and t.settings()["framework"] == "keras"


def test_default_file_is_generated_on_first_use(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    t = GroundwaterTask()
    t.configure({"n_years": 4, "n_wells": 1, "drought_start_year": 3, "drought_years": 1})
    p = t.dataset()
    assert (tmp_path / "datasets/groundwater/basin.h5").exists() and p.head.shape == (1461, 1)
    assert not list((tmp_path / "datasets/groundwater").glob("*.tmp"))
    assert t.dataset() is p                                 # cached until the settings change
    t.configure({"n_years": 4, "n_wells": 1, "drought_start_year": 3, "drought_years": 1, "horizon": 5})
    assert t.dataset().horizon == 5


def test_missing_and_too_small_data_are_named(tmp_path, small_file):
    with pytest.raises(FileNotFoundError, match="absent.h5"):
        _task(tmp_path / "absent.h5").check()
    with pytest.raises(ValueError, match="the val period holds 0 windows of horizon=400 days"):
        _task(small_file, horizon=400).check()
    with pytest.raises(ValueError, match="lag=14 leaves .* training windows before 2003-01-01, fewer than "
                                         "batch_size=4096"):
        _task(small_file).run({**SMALL, "batch_size": 4096}, TrialContext(seed=0, workdir=tmp_path))
    with pytest.raises(ValueError, match="data.wells: no well 'W7'"):
        _task(small_file, wells=["W7"]).check()


def test_run_returns_scores_and_saves_forecasts(tmp_path, small_file):
    ctx = TrialContext(seed=3, replicate=1, workdir=tmp_path / "trial0", mc_dropout=5)
    out = _task(small_file).run({**SMALL, "epochs": 3}, ctx)
    for key in ("loss", "mae", "nse", "test_loss", "test_mae", "test_nse", "baseline_loss", "persistence_loss",
                "climatology_loss", "baseline_test_loss", "drought_rmse", "drought_persistence_rmse",
                "deterministic_loss", "mc_pred_std", "mc_coverage95"):
        assert np.isfinite(out[key]), key
    assert out["baseline_loss"] == min(out["persistence_loss"], out["climatology_loss"])
    assert out["loss"] < out["baseline_loss"] and out["framework"] == "torch"
    assert out["deterministic_loss"] == pytest.approx(min(m["val_rmse"] for _, m in ctx.reports))
    assert [step for step, _ in ctx.reports] == [0, 1, 2, 3] and out["mc_pred_std"] > 0
    saved = np.load(out["forecast_path"])
    assert out["forecast_path"].endswith("trial0/replicate1_forecast.npz") and int(saved["lead"]) == 7
    assert float(saved["loss"]) == pytest.approx(out["loss"]) and saved["val_rmse_by_lead"].shape == (7,)
    assert np.all(saved["mc_std"] > 0) and len(saved["date"]) == len(saved["observed"])


def test_study_with_replicates_and_figure(tmp_path, small_file):
    space = Space({**{k: Fixed(v) for k, v in SMALL.items()},
                   "units": Integer(8, 16), "lr": Real(3e-3, 1e-2, log=True)})
    study = uqhpo.create_study(space, strategy="random", seed=0)
    study.optimize(GroundwaterTask(), n_trials=3, n_replicates=2, executor="serial", workdir=tmp_path / "trials",
                   data={"path": str(small_file), "wells": ["W1"], "horizon": 7, "stride": 2, "framework": "torch"})
    assert len(study.trials) == 3 and all(t.n == 2 for t in study.trials)
    assert all(len(set(t.losses)) == 2 for t in study.trials)    # replicates differ by seed
    best = study.best
    assert best.mean < best.metrics["baseline_loss"] and best.std > 0
    trials = {t.number: t for t in study.all_trials()}
    paths = [uq.forecast_paths(trials[t.number]) for t in (best, max(study.trials, key=lambda t: t.value))]
    assert all(len(p) == 2 for p in paths)
    agg = uq.aggregate_forecasts(paths[0])
    assert agg["forecast"].shape[0] == 2 and np.any(agg["replicate_std"] > 0)
    png = plot_drought(paths, tmp_path / "fig" / "drought.png", labels=["best", "poor"], title="test")
    assert png.stat().st_size > 20_000 and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.tf
def test_keras_run_through_the_task(tmp_path, small_file):
    ctx = TrialContext(seed=1, workdir=tmp_path / "trial0", mc_dropout=3)
    out = _task(small_file, framework="keras").run({**SMALL, "recurrent_dropout": 0.1}, ctx)
    assert out["framework"] == "keras" and out["loss"] < out["baseline_loss"] and out["mc_pred_std"] > 0


def test_import_is_light():
    code = ("import sys, uqhpo.apps.groundwater as g; g.task.search_space(); g.task.configure({'framework': 'torch'}); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'h5py', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_torch_runs_never_import_tensorflow(tmp_path, small_file):
    code = ("import sys; from uqhpo.apps.groundwater.task import GroundwaterTask; from uqhpo.task import TrialContext; "
            f"t = GroundwaterTask(); t.configure({{'path': {str(small_file)!r}, 'wells': ['W1'], 'horizon': 7, "
            "'stride': 4, 'framework': 'torch'}); "
            f"t.run({SMALL!r}, TrialContext(seed=0, workdir={str(tmp_path)!r})); "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
