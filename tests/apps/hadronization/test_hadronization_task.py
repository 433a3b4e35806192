"""The hadronization task: space, data settings, one run, reference points, a 3-trial study, figures."""
from __future__ import annotations

import numpy as np
import pytest

import uqhpo
from uqhpo.apps.hadronization import data, scores, uq
from uqhpo.apps.hadronization.figures import plot_loss_vs_spread, plot_theta_per_class, trial_histogram_paths
from uqhpo.apps.hadronization.task import HadronizationTask
from uqhpo.space import Categorical, Fixed, Integer, Real, Space
from uqhpo.task import TrialContext

SMALL = dict(noise_dim=4, g_width=32, g_depth=2, d_width=32, d_depth=2, g_lr=1e-3, d_lr=1e-3,
             batch_size=128, r1_weight=1.0, activation="leaky_relu", g_norm="none", d_norm="none", epochs=2)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    return data.generate_file(tmp_path_factory.mktemp("had") / "clusters.h5", n=3_000, seed=4)


def _task(path, **extra) -> HadronizationTask:
    t = HadronizationTask()
    t.configure({"path": str(path), "n_train": 2_000, "n_val": 500, "n_test": 500, **extra})
    return t


def test_search_space_covers_the_issue():
    space = HadronizationTask().search_space()
    assert space["noise_dim"].low == 2 and space["noise_dim"].high == 32
    for name in ("g_width", "d_width"):
        assert (space[name].low, space[name].high) == (32, 512)
    for name in ("g_depth", "d_depth"):
        assert (space[name].low, space[name].high) == (1, 10)
    assert space["g_lr"].log and (space["g_lr"].low, space["g_lr"].high) == (1e-6, 1e-3)
    assert space["d_lr"].log and (space["d_lr"].low, space["d_lr"].high) == (1e-5, 1e-3)
    assert space["batch_size"].choices == [128, 256, 512, 1024, 2048, 4096, 8192]
    assert (space["r1_weight"].low, space["r1_weight"].high) == (0.0, 10.0)
    for cfg in space.sample(np.random.default_rng(0), 20):
        assert space.contains(cfg)


def test_configure_rejects_bad_keys():
    t = HadronizationTask()
    with pytest.raises(ValueError, match="unknown data key 'n_cluster' .*did you mean 'n_clusters'"):
        t.configure({"n_cluster": 10})
    with pytest.raises(ValueError, match="data.frame must be one of 'quark', 'helicity', 'lab'"):
        t.configure({"frame": "cms"})
    with pytest.raises(ValueError, match="data.n_train must be a positive integer"):
        t.configure({"n_train": -5})
    with pytest.raises(ValueError, match="data.c2st must be true or false"):
        t.configure({"c2st": "yes"})


def test_settings_are_defaults_overridden_by_the_data_section(small_file):
    t = HadronizationTask()
    assert t.settings()["path"] == "datasets/hadronization/clusters.h5" and t.settings()["n_train"] is None
    t.configure({"path": str(small_file), "n_train": 1000})
    s = t.settings()
    assert s["path"] == str(small_file) and s["n_train"] == 1000 and s["frame"] == "quark"


def test_default_file_is_generated_on_first_use(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    t = HadronizationTask()
    t.configure({"n_clusters": 1_000})
    d = t.dataset()
    assert (tmp_path / "datasets/hadronization/clusters.h5").exists()
    assert len(d.cond["train"]) == 700 and not list((tmp_path / "datasets/hadronization").glob("*.tmp"))
    assert t.dataset() is d                                 # cached until the settings change
    t.configure({"n_clusters": 1_000, "n_train": 500})
    assert len(t.dataset().cond["train"]) == 500


def test_missing_and_too_small_data_are_named(tmp_path, small_file):
    with pytest.raises(FileNotFoundError, match="absent.h5"):
        _task(tmp_path / "absent.h5").check()
    with pytest.raises(ValueError, match="exceeds the 3000 usable clusters"):
        _task(small_file, n_train=5000).dataset()
    with pytest.raises(ValueError, match="fewer than batch_size=4096"):
        _task(small_file).run({**SMALL, "batch_size": 4096}, TrialContext(seed=0, workdir=tmp_path))


def test_default_file_of_an_older_generator_is_regenerated_a_user_file_never(monkeypatch, tmp_path):
    import h5py

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "datasets/hadronization/clusters.h5"
    data.write_h5(path, data.generate(100, seed=0), {"generator": data.GENERATOR_NAME, "generator_version": "1"})
    t = HadronizationTask()
    t.configure({"n_clusters": 1_000})
    assert len(t.dataset().cond["train"]) == 700
    with h5py.File(path) as f:
        assert f.attrs["generator_version"] == data.GENERATOR_VERSION
    data.write_h5(path, data.generate(200, seed=0), {"generator": "my own simulation"})
    t.configure({"n_clusters": 1_000, "n_train": 100, "n_val": 50, "n_test": 50})
    t.dataset()
    assert data.file_attrs(path)["generator"] == "my own simulation"


def test_reference_points_are_honest(tmp_path):
    """A condition-blind sampler and the isotropic decay stay far above the floor; a perfect
    generator (re-decay) sits at the floor and a classifier cannot tell it from the truth."""
    t = HadronizationTask()
    t.configure({"path": str(data.generate_file(tmp_path / "c.h5", n=16_000, seed=1)),
                 "n_train": 8_000, "n_val": 4_000, "n_test": 4_000})
    refs = t.references(t.dataset())
    assert refs["floor_method"] == "redecay"
    assert refs["baseline_loss"] == min(refs["blind_loss"], refs["isotropic_loss"])
    assert refs["baseline_loss"] > 2.5 * refs["floor_loss"]
    assert refs["baseline_test_loss"] > 2.5 * refs["floor_test_loss"]
    assert refs["baseline_c2st_auc"] > refs["floor_c2st_auc"] and abs(refs["floor_c2st_auc"] - 0.5) < 0.06
    d = t.dataset()
    blind = scores.blind_angles(d, len(d.angles["val"]), seed=5)
    assert scores.loss_on(d, blind, "val") > 2.5 * refs["floor_loss"]   # any condition-blind draw loses
    assert scores.loss_on(d, d.angles["val"], "val") == 0.0


def test_run_returns_scores_and_saves_histograms(tmp_path, small_file):
    ctx = TrialContext(seed=3, replicate=1, workdir=tmp_path / "trial0")
    out = _task(small_file).run(SMALL, ctx)
    for key in ("loss", "test_loss", "baseline_loss", "baseline_test_loss", "floor_loss", "floor_test_loss",
                "blind_loss", "isotropic_loss", "c2st_auc", "w1_phi", "w1_theta_isotropic", "w1_theta_q1_aligned",
                "variation_loss", "variation_gap", "best_epoch"):
        assert np.isfinite(out[key]), key
    assert [step for step, _ in ctx.reports] == [0, 1, 2]
    assert out["loss"] == pytest.approx(min(m["val_loss"] for _, m in ctx.reports))
    assert 0.3 < out["c2st_auc"] <= 1.0
    saved = np.load(out["hist_path"])
    assert saved["generated"].shape == (4, 40) and float(saved["test_loss"]) == pytest.approx(out["test_loss"])
    assert out["hist_path"].endswith("trial0/replicate1_hist.npz")


def test_helicity_frame_run(tmp_path, small_file):
    out = _task(small_file, frame="helicity", c2st=False, variation_smearing=None).run(
        {**SMALL, "epochs": 1}, TrialContext(seed=1, workdir=tmp_path))
    assert np.isfinite(out["test_loss"]) and out["baseline_loss"] > out["floor_loss"] and "c2st_auc" not in out


def test_study_with_replicates_and_figures(tmp_path, small_file):
    space = Space({**{k: Fixed(v) for k, v in SMALL.items()},
                   "noise_dim": Integer(2, 8), "g_lr": Real(3e-4, 1e-3, log=True),
                   "activation": Categorical(["leaky_relu", "elu"])})
    study = uqhpo.create_study(space, strategy="random", seed=0)
    study.optimize(HadronizationTask(), n_trials=3, n_replicates=2, executor="serial", workdir=tmp_path / "trials",
                   data={"path": str(small_file), "n_train": 2000, "n_val": 500, "n_test": 500})
    assert len(study.trials) == 3 and all(t.n == 2 for t in study.trials)
    assert all(len(set(t.losses)) == 2 for t in study.trials)    # replicates differ by seed
    best = study.best
    assert {"baseline_loss", "floor_loss", "test_loss"} <= set(best.metrics) and best.std > 0
    trial = next(t for t in study.all_trials() if t.number == best.number)
    paths = trial_histogram_paths(trial)
    assert len(paths) == 2
    agg = uq.aggregate_histograms(paths)
    assert agg["generated_std"].shape == (4, 40) and np.any(agg["generated_std"] > 0)
    png = plot_theta_per_class(paths, tmp_path / "fig" / "theta.png", title="test")
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "paper_figures/hadronization_spread.py"
    spec = importlib.util.spec_from_file_location("hadronization_spread", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.trial_rows(study)
    assert len(rows) == 3 and all(np.isfinite(r["test_mean"]) for r in rows)
    png = plot_loss_vs_spread(rows, tmp_path / "fig" / "spread.png", baseline=best.metrics["baseline_test_loss"],
                              floor=best.metrics["floor_test_loss"], best=best.number)
    assert png.stat().st_size > 10_000


@pytest.mark.slow
def test_short_training_beats_the_baseline(tmp_path):
    path = data.generate_file(tmp_path / "clusters.h5", n=36_000, seed=0)
    task = HadronizationTask()
    task.configure({"path": str(path), "n_train": 20_000, "n_val": 8_000, "n_test": 8_000})
    config = dict(noise_dim=8, g_width=64, g_depth=3, d_width=64, d_depth=3, g_lr=1e-3, d_lr=1e-3,
                  batch_size=256, r1_weight=5.0, activation="leaky_relu", g_norm="none", d_norm="none", epochs=12)
    out = task.run(config, TrialContext(seed=1, workdir=tmp_path / "trial0"))
    assert out["loss"] < 0.5 * out["baseline_loss"]
    assert out["test_loss"] < 0.5 * out["baseline_test_loss"]  # holds on data not used to pick the epoch
    assert out["c2st_auc"] < out["baseline_c2st_auc"]


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, uqhpo.apps.hadronization as h; h.task.search_space(); "
            "print(sorted(m for m in ('torch', 'ot', 'h5py', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
