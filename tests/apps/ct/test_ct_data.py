"""CT data: phantoms, noisy sinograms, masks, the HDF5 file and its one-line errors."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from uqhpo.apps.ct import data, phantoms
from uqhpo.apps.ct.recon import project

TINY = data.Generation(image_size=32, n_angles=32, n_train=6, n_valid=3, n_test=3, k=4, seed=3)


def test_phantoms_are_densities_inside_the_scanned_circle():
    rng = np.random.default_rng(0)
    images, kinds = phantoms.make_phantoms(9, 48, phantoms.KINDS, rng)
    assert images.shape == (9, 48, 48) and images.dtype == np.float32
    assert sorted(np.bincount(kinds, minlength=3)) == [3, 3, 3]        # kinds in equal shares
    assert images.min() >= 0 and images.max() <= 1
    assert np.all(images[:, ~phantoms.scanned_circle(48)] == 0)
    x, y = phantoms.pixel_grid(48)
    assert x[24, 24] == 0 and y[24, 24] == 0                        # the rotation axis is pixel (24, 24)
    assert all(img.std() > 0.05 for img in images)                     # not empty


def test_modified_shepp_logan_has_the_standard_densities():
    sl = phantoms.shepp_logan(128)
    assert sl[64, 64] == pytest.approx(0.2)          # brain: 1 - 0.8
    assert sl[64, 5] == pytest.approx(0.0)           # outside the skull
    assert sl[:, 64].max() == pytest.approx(1.0)     # skull
    assert sl[64 - 13, 64] == pytest.approx(0.3)     # y = 0.2: inside the ellipse at y = 0.35 (b = 0.25), +0.1


def test_foam_porosity_and_non_overlapping_pores():
    rng = np.random.default_rng(1)
    for _ in range(4):
        img = phantoms.foam(96, rng)
        solid = img > 0.5
        disc = phantoms.rasterize(np.array([[1.0, 0.8, 0.8, 0, 0, 0]]), 96) > 0.5
        porosity = 1 - solid[disc].mean()
        assert 0.08 < porosity < 0.55                  # target 0.15-0.45, area-weighted pixels
        assert set(np.unique(np.round(img, 6))) >= {0.0, 1.0}


def test_generation_is_seeded_and_byte_identical(tmp_path):
    a = data.generate_file(tmp_path / "a.h5", TINY)
    b = data.generate_file(tmp_path / "b.h5", TINY)
    assert a.read_bytes() == b.read_bytes()
    c = data.generate_file(tmp_path / "c.h5", data.Generation(**{**TINY.__dict__, "seed": 4}))
    assert c.read_bytes() != a.read_bytes()
    assert not list(tmp_path.glob("*.tmp"))


def test_file_layout_and_attributes(tmp_path):
    path = data.generate_file(tmp_path / "ct.h5", TINY)
    with h5py.File(path, "r") as f:
        assert f["theta"].shape == (32,) and f["theta"][-1] < np.pi
        for split, n in (("train", 6), ("valid", 3), ("test", 3)):
            assert f[f"{split}/phantom"].shape == (n, 32, 32)
            assert f[f"{split}/sino_full"].shape == (n, 32, 32)
            assert f[f"{split}/mask"].shape == (n, 32)
            assert f[f"{split}/sino_sparse"].shape == (n, 32, 32)
        for key in ("generator", "generator_version", "seed", "parameters", "geometry", "pixel_size", "i0_low",
                    "ring_std", "sampling", "k"):
            assert key in f.attrs, key
        assert '"n_angles": 32' in f.attrs["parameters"] and f.attrs["pixel_size"] == pytest.approx(2 / 32)
    loaded = data.read_h5(path)
    tr = loaded["train"]
    assert np.array_equal(tr["mask"][:, ::4], np.ones((6, 8), bool)) and tr["mask"].sum() == 6 * 8
    assert np.all(tr["sino_sparse"][~tr["mask"]] == 0)
    assert np.array_equal(tr["sino_sparse"][tr["mask"]], tr["sino_full"][tr["mask"]])


def test_random_masks_keep_n_angles_over_k():
    mask = data.angle_masks(50, 40, 8, "random", np.random.default_rng(0))
    assert np.all(mask.sum(axis=1) == 5)
    assert len({tuple(np.flatnonzero(m)) for m in mask}) > 40          # subsets differ per sample


def test_poisson_noise_has_the_right_mean_and_variance():
    p = np.full((1, 2000, 16), 1.2)
    rng = np.random.default_rng(0)
    for i0 in (1e3, 1e4):
        noisy = data.measure(p, np.array([i0]), 0.0, rng)
        assert noisy.mean() == pytest.approx(1.2, abs=0.01)
        assert noisy.var() == pytest.approx(np.exp(1.2) / i0, rel=0.1)     # delta method: var = e^p / I0


def test_ring_gains_give_per_detector_offsets_constant_over_angles():
    p = np.zeros((1, 500, 32))
    noisy = data.measure(p, np.array([1e9]), 0.05, np.random.default_rng(0))
    per_detector = noisy[0].mean(axis=0)
    assert per_detector.std() > 0.02                                 # rings
    assert np.abs(noisy[0] - per_detector).max() < 1e-3              # the same offset at every angle


def test_noiseless_limit_matches_the_projection():
    gen = data.Generation(**{**TINY.__dict__, "i0_low": 1e12, "i0_high": 1e12})
    split = data.generate_split(gen, 2, np.random.SeedSequence(0))
    clean = project(split["phantom"], gen.theta()) * gen.pixel_size
    assert np.abs(split["sino_full"] - clean).max() < 2e-4


@pytest.mark.parametrize("bad, message", [
    ({"k": 1}, "data.k must be between 2"), ({"sampling": "spiral"}, "data.sampling must be one of"),
    ({"n_train": 0}, "data.n_train must be a positive integer"), ({"i0_low": -1.0}, "data.i0"),
    ({"kinds": ("shepp_logan", "brain")}, "unknown phantom kind 'brain'"),
])
def test_bad_generation_parameters_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        data.Generation(**{**TINY.__dict__, **bad}).validate()


def _rewrite(path, split, key, value):
    with h5py.File(path, "a") as f:
        del f[f"{split}/{key}"]
        if value is not None:
            f[f"{split}/{key}"] = value


def test_bad_files_give_one_line_errors_naming_file_and_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="ct data file not found: .*absent.h5"):
        data.read_h5(tmp_path / "absent.h5")
    good = data.generate(TINY)
    cases = [("valid", "mask", None, r"missing dataset '/valid/mask'"),
             ("train", "sino_full", np.zeros((6, 31, 32), np.float32), r"/train/sino_full has shape \(6, 31, 32\)"),
             ("test", "phantom", np.full((3, 32, 32), np.nan, np.float32), r"/test/phantom contains NaN"),
             ("train", "mask", np.zeros((6, 32), np.uint8), "at least 2 measured and 1 missing angle")]
    for i, (split, key, value, message) in enumerate(cases):
        path = data.write_h5(tmp_path / f"bad{i}.h5", TINY.theta(), good, data.attributes(TINY))
        _rewrite(path, split, key, value)
        with pytest.raises(ValueError, match=message) as info:
            data.read_h5(path)
        assert f"bad{i}.h5" in str(info.value) and "\n" not in str(info.value)


def test_cli_writes_a_file(tmp_path, capsys):
    data.main(["--out", str(tmp_path / "cli.h5"), "--image-size", "16", "--n-angles", "16", "--n-train", "2",
               "--n-valid", "1", "--n-test", "1", "--k", "2"])
    assert "wrote" in capsys.readouterr().out
    assert data.read_h5(tmp_path / "cli.h5")["train"]["sino_full"].shape == (2, 16, 16)
