"""The CT task: space, data settings, one run, a 3-trial study with replicates, the figure."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import uqhpo
from uqhpo.apps.ct import data, uq
from uqhpo.apps.ct.figures import plot_reconstructions, trial_example_paths
from uqhpo.apps.ct.task import DATA_DEFAULTS, CTTask, default_path
from uqhpo.space import Categorical, Fixed, Integer, Space
from uqhpo.task import TrialContext

TINY = {"image_size": 32, "n_angles": 32, "n_train": 24, "n_valid": 8, "n_test": 6, "k": 4, "seed": 2}
SMALL = dict(depth=2, base_channels=6, kernel_size=3, dropout=0.2, lr=3e-3, batch_size=8, epochs=2, residual=True)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    gen = data.Generation(**{k: v for k, v in TINY.items()})
    return data.generate_file(tmp_path_factory.mktemp("ct") / "tiny.h5", gen)


def _task(path, **extra) -> CTTask:
    t = CTTask()
    t.configure({"path": str(path), "recon_backend": "skimage", **extra})
    return t


def test_search_space_covers_the_issue():
    space = CTTask().search_space()
    assert (space["depth"].low, space["depth"].high) == (2, 5)
    assert (space["base_channels"].low, space["base_channels"].high) == (8, 64)
    assert space["kernel_size"].choices == [3, 5, 7]
    assert (space["dropout"].low, space["dropout"].high) == (0.0, 0.5)
    assert space["lr"].log and (space["lr"].low, space["lr"].high) == (1e-4, 1e-2)
    assert set(space["residual"].choices) == {True, False}
    for cfg in space.sample(np.random.default_rng(0), 20):
        assert space.contains(cfg)


def test_configure_rejects_bad_keys_and_values():
    t = CTTask()
    with pytest.raises(ValueError, match="unknown data key 'n_angle' .*did you mean 'n_angles'"):
        t.configure({"n_angle": 10})
    with pytest.raises(ValueError, match="data.recon_backend must be one of"):
        t.configure({"recon_backend": "fft"})
    with pytest.raises(ValueError, match=r"data.i0 must be a number or \[low, high\]"):
        t.configure({"i0": [1, 2, 3]})
    with pytest.raises(ValueError, match="data.k must be between 2"):
        t.configure({"k": 200})
    t.configure({"i0": 5000})
    assert t.settings()["i0"] == 5000


def test_default_file_is_named_by_its_parameters_and_generated_on_first_use(monkeypatch, tmp_path):
    assert str(default_path(DATA_DEFAULTS)) == "datasets/ct/sinograms.h5"
    small = {**DATA_DEFAULTS, **TINY}
    assert str(default_path(small)).startswith("datasets/ct/sinograms_32px_32a_")
    assert default_path(small) != default_path({**small, "seed": 3})
    monkeypatch.chdir(tmp_path)
    t = CTTask()
    t.configure({**TINY, "recon_backend": "skimage"})
    d = t.dataset()
    assert (tmp_path / default_path(small)).exists() and not list((tmp_path / "datasets/ct").glob("*.tmp"))
    assert len(d.splits["train"].full) == 24 and t.dataset() is d          # cached
    assert d.splits["valid"].scores["full"]["psnr"] > d.splits["valid"].scores["sparse"]["psnr"]


def test_missing_file_and_small_batch_are_named(tmp_path, tiny_file):
    with pytest.raises(FileNotFoundError, match="absent.h5"):
        _task(tmp_path / "absent.h5").check()
    with pytest.raises(ValueError, match="tiny.h5': 24 training sinograms is fewer than batch_size=32"):
        _task(tiny_file).run({**SMALL, "batch_size": 32}, TrialContext(seed=0, workdir=tmp_path))


def test_run_returns_losses_baseline_reconstruction_scores_and_examples(tmp_path, tiny_file):
    ctx = TrialContext(seed=3, replicate=1, workdir=tmp_path / "trial0", mc_dropout=3)
    out = _task(tiny_file, examples=2).run(SMALL, ctx)
    for key in ("loss", "test_loss", "baseline_loss", "baseline_test_loss", "deterministic_loss", "mc_sino_std",
                "mc_recon_std", "loss_ratio", *(f"{p}{m}_{r}" for p in ("", "test_") for m in ("psnr", "ssim")
                                                for r in ("inpainted", "sparse", "interp", "full"))):
        assert np.isfinite(out[key]), key
    assert [step for step, _ in ctx.reports] == [1, 2]
    assert out["psnr_full"] > out["psnr_sparse"] and out["psnr_interp"] > out["psnr_sparse"]
    assert out["mc_sino_std"] > 0 and out["mc_recon_std"] > 0
    saved = np.load(out["examples_path"])
    assert saved["recon_inpainted"].shape == (2, 32, 32) and saved["recon_std"].max() > 0
    assert float(saved["test_loss"]) == pytest.approx(out["test_loss"])
    assert out["examples_path"].endswith("trial0/replicate1_examples.npz")


def test_study_with_replicates_and_figure(tmp_path, tiny_file):
    space = Space({**{k: Fixed(v) for k, v in SMALL.items()}, "depth": Integer(2, 3),
                   "residual": Categorical([True, False])})
    study = uqhpo.create_study(space, strategy="random", seed=0, mc_dropout=2)
    study.optimize(CTTask(), n_trials=3, n_replicates=2, executor="serial", workdir=tmp_path / "trials",
                   data={"path": str(tiny_file), "recon_backend": "skimage", "examples": 2})
    assert len(study.trials) == 3 and all(t.n == 2 for t in study.trials)
    assert all(len(set(t.losses)) == 2 for t in study.trials)         # replicates differ by seed
    best = study.best
    assert "baseline_loss" in best.metrics and "test_loss" in best.metrics and best.std > 0
    trial = next(t for t in study.all_trials() if t.number == best.number)
    paths = trial_example_paths(trial)
    assert len(paths) == 2
    agg = uq.aggregate_examples(paths)
    assert agg["std_total"].shape == (2, 32, 32) and agg["std_replicates"].max() > 0
    assert np.all(agg["std_total"] >= agg["std_mc"] - 1e-7)
    png = plot_reconstructions(paths, tmp_path / "fig" / "ct.png", title="test")
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_import_is_light():
    code = ("import sys, uqhpo.apps.ct as c; c.task.search_space(); c.task.configure({'image_size': 64}); "
            "print(sorted(m for m in ('torch', 'h5py', 'skimage', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
