"""The traffic task: space, data settings, one run with MC dropout, a 3-trial study, the figure."""
from __future__ import annotations

import numpy as np
import pytest

import uqhpo
from uqhpo.apps.traffic import data, uq
from uqhpo.apps.traffic.figures import plot_forecast, trial_forecast_paths
from uqhpo.apps.traffic.task import TrafficTask
from uqhpo.space import Categorical, Fixed, Integer, Real, Space
from uqhpo.task import TrialContext

SMALL = dict(conv="gcn", K=1, hidden=8, layers=1, window=6, lr=1e-2, batch_size=16, dropout=0.1,
             epochs=2, adjacency="static")
SPLIT = {"train_days": 14, "val_days": 7, "test_days": 9, "horizon": 3, "train_stride": 4, "eval_stride": 6}


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    return data.generate_file(tmp_path_factory.mktemp("traffic") / "traffic.h5", days=30, seed=6)


def _task(path, **extra) -> TrafficTask:
    t = TrafficTask()
    t.configure({"path": str(path), **SPLIT, **extra})
    return t


def test_search_space_covers_the_issue():
    space = TrafficTask().search_space()
    assert (space["K"].low, space["K"].high) == (1, 4)
    assert (space["layers"].low, space["layers"].high) == (1, 3)
    assert (space["hidden"].low, space["hidden"].high) == (16, 128)
    assert (space["window"].low, space["window"].high) == (6, 48)
    assert space["lr"].log and set(space["conv"].choices) == {"gcn", "cheb", "diffusion"}
    assert space["adjacency"].choices == ["static", "dynamic"] and space["batch_size"].choices == [16, 32, 64, 128]
    for cfg in space.sample(np.random.default_rng(0), 20):
        assert space.contains(cfg)


def test_configure_rejects_bad_keys():
    t = TrafficTask()
    with pytest.raises(ValueError, match="unknown data key 'train_day' .*did you mean 'train_days'"):
        t.configure({"train_day": 10})
    with pytest.raises(ValueError, match="data.horizon must be a positive integer"):
        t.configure({"horizon": 0})
    with pytest.raises(ValueError, match="data.adjacency_file must be a file path"):
        t.configure({"adjacency_file": 3})
    t.configure({"horizon": 12})
    assert t.settings()["horizon"] == 12 and t.settings()["path"] == "datasets/traffic/traffic.h5"


def test_default_file_is_generated_on_first_use(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    t = TrafficTask()
    t.configure({"days": 16, "train_days": 9, "val_days": 4, "test_days": 3})
    d = t.dataset()
    assert (tmp_path / "datasets/traffic/traffic.h5").exists() and d.raw.shape == (16 * 24, 102)
    assert not list((tmp_path / "datasets/traffic").glob("*.tmp"))
    assert t.dataset() is d


def test_missing_and_too_small_data_are_named(tmp_path, small_file):
    with pytest.raises(FileNotFoundError, match="absent.h5"):
        _task(tmp_path / "absent.h5").check()
    with pytest.raises(ValueError, match="exceeds the 30.0 days in"):
        _task(small_file, train_days=30).dataset()
    with pytest.raises(ValueError, match="fewer than batch_size=128"):
        _task(small_file, train_stride=20).run({**SMALL, "batch_size": 128}, TrialContext(seed=0, workdir=tmp_path))
    with pytest.raises(ValueError, match="window must be between 1 and 48"):
        _task(small_file).run({**SMALL, "window": 60}, TrialContext(seed=0, workdir=tmp_path))


def test_run_returns_scores_baselines_and_intervals(tmp_path, small_file):
    ctx = TrialContext(seed=2, replicate=1, workdir=tmp_path / "trial0", mc_dropout=3)
    task = _task(small_file)
    out = task.run(SMALL, ctx)
    for key in ("loss", "test_loss", "baseline_loss", "baseline_test_loss", "persistence_loss",
                "same_hour_last_week_loss", "mae", "test_mae", "interval_coverage", "deterministic_loss", "mc_std"):
        assert np.isfinite(out[key]), key
    assert out["baseline_loss"] == min(out["persistence_loss"], out["same_hour_last_week_loss"])
    assert len(out["mae_per_link"]) == len(out["mape_per_link"]) == 102 and len(out["step_mse"]) == 3
    assert out["mae"] == pytest.approx(np.mean(out["mae_per_link"]), rel=1e-4)
    assert 0.5 < out["interval_coverage"] <= 1 and out["interval_width_gbps"] > 0
    assert out["loss"] == pytest.approx(np.mean(out["step_mse"]), rel=1e-5)   # per-link MSE summed over links
    assert len(task.dataset().origins["val"]) == 28                              # 7 days, every 6th window
    saved = np.load(out["forecast_path"])
    assert saved["week_mean"].shape == (int(saved["hours"]) + 3, 3, 102) and int(saved["hours"]) == 168
    assert saved["test_mae"].shape == (102,) and "persistence_test_mae" in saved
    assert out["forecast_path"].endswith("trial0/replicate1_forecast.npz")


def test_study_with_replicates_and_figure(tmp_path, small_file):
    space = Space({**{k: Fixed(v) for k, v in SMALL.items()}, "hidden": Integer(6, 12),
                   "lr": Real(3e-3, 1e-2, log=True), "conv": Categorical(["gcn", "diffusion"])})
    study = uqhpo.create_study(space, strategy="random", seed=0)
    study.optimize(TrafficTask(), n_trials=3, n_replicates=2, executor="serial", workdir=tmp_path / "trials",
                   data={"path": str(small_file), **SPLIT})
    assert len(study.trials) == 3 and all(t.n == 2 for t in study.trials)
    assert all(len(set(t.losses)) == 2 for t in study.trials)
    best = study.best
    assert {"baseline_loss", "test_loss", "mae"} <= set(best.metrics) and best.std > 0
    trial = next(t for t in study.all_trials() if t.number == best.number)
    assert all(len(rep.metrics["mae_per_link"]) == 102 for rep in trial.latest().values())
    paths = trial_forecast_paths(trial)
    assert len(paths) == 2
    agg = uq.aggregate(paths)
    assert agg["k"] == 2 and agg["std"].shape == agg["mean"].shape and np.all(agg["std"] > 0)
    png = plot_forecast(paths, tmp_path / "fig" / "forecast.png", title="test", lead=1)
    assert png.stat().st_size > 20_000 and png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="links not in the data: X->Y"):
        plot_forecast(paths, tmp_path / "fig" / "bad.png", links=["X->Y"])


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, uqhpo.apps.traffic as t; t.task.search_space(); "
            "print(sorted(m for m in ('torch', 'torch_geometric', 'h5py', 'matplotlib', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
