"""Physics and file-format checks of the synthetic cluster-decay generator."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from uqhpo.apps.hadronization import data, prep
from uqhpo.apps.hadronization import physics as ph

N = 40_000


@pytest.fixture(scope="module")
def sample() -> dict:
    return data.generate(N, seed=3)


def _rest(arrays: dict, key: str) -> np.ndarray:
    return ph.boost(arrays[key][:, 1:], -ph.velocity(arrays["cluster"]))


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_shapes_and_conservation(sample):
    for key, width in data.KEYS.items():
        assert sample[key].shape == (N, width)
    scale = sample["cluster"][:, :1]
    assert np.allclose((sample["h1"][:, 1:] + sample["h2"][:, 1:]) / scale, sample["cluster"] / scale, atol=1e-10)
    assert np.allclose((sample["q1"][:, 1:] + sample["q2"][:, 1:]) / scale, sample["cluster"] / scale, atol=1e-10)


def test_masses_and_p_star(sample):
    M = ph.mass(sample["cluster"])
    m1, m2 = ph.mass(sample["h1"][:, 1:]), ph.mass(sample["h2"][:, 1:])
    assert np.all(M > m1 + m2)
    assert M.min() >= data.DEFAULTS["cluster_mass_min"] and M.max() <= data.DEFAULTS["cluster_mass_max"]
    # both constituents stay on shell at 0.325 GeV: no mass shrinking near threshold
    for q in ("q1", "q2"):
        assert np.allclose(ph.mass(sample[q][:, 1:]), ph.M_CONSTITUENT, atol=1e-6)
    for pid, m in ph.PION_MASS.items():
        sel = sample["h1"][:, 0] == pid
        assert np.allclose(m1[sel], m, atol=1e-5)
    p_rest = np.linalg.norm(_rest(sample, "h1")[:, 1:], axis=1)
    assert np.allclose(p_rest, ph.two_body_momentum(M, m1, m2), rtol=1e-6, atol=1e-9)
    # the formula itself: massless daughters share M/2; at threshold nothing is left
    assert ph.two_body_momentum(np.array([2.0]), np.array([0.0]), np.array([0.0]))[0] == pytest.approx(1.0)
    assert ph.two_body_momentum(np.array([1.0]), np.array([0.5]), np.array([0.5]))[0] == pytest.approx(0.0)
    assert ph.two_body_momentum(np.array([1.0]), np.array([0.3]), np.array([0.2]))[0] == pytest.approx(
        np.sqrt((1 - 0.25) * (1 - 0.01)) / 2)


def test_non_perturbative_decays_are_isotropic(sample):
    sel = sample["pert"].sum(axis=1) == 0
    phi, theta = ph.angles(_rest(sample, "h1")[sel, 1:])
    assert stats.kstest(np.cos(theta), "uniform", args=(-1, 2)).pvalue > 1e-3
    assert stats.kstest(phi, "uniform", args=(-np.pi, 2 * np.pi)).pvalue > 1e-3
    assert abs(np.mean(_cos(_rest(sample, "h1")[sel, 1:], _rest(sample, "q1")[sel, 1:]))) < 0.03


def test_perturbative_hadron_follows_its_quark(sample):
    # E[cos] of 1 + s ln U redrawn below -1: 1 - s (1 - a e^-a / (1 - e^-a)), a = 2/s
    s = 0.78
    a = 2 / s
    expected = 1 - s * (1 - a * np.exp(-a) / (1 - np.exp(-a)))
    sel = sample["pert"][:, 0] == 1
    c = _cos(_rest(sample, "h1")[sel, 1:], _rest(sample, "q1")[sel, 1:])
    assert c.mean() == pytest.approx(expected, abs=0.015)
    only_q2 = (sample["pert"][:, 0] == 0) & (sample["pert"][:, 1] == 1)
    c2 = _cos(_rest(sample, "h2")[only_q2, 1:], _rest(sample, "q2")[only_q2, 1:])
    assert c2.mean() == pytest.approx(expected, abs=0.02)
    assert np.mean(sample["pert"].any(axis=1)) == pytest.approx(0.35, abs=0.01)   # aligned fraction (Herwig)
    assert np.mean(sample["pert"]) == pytest.approx(data.p_perturbative(0.35), abs=0.01)


def test_variation_sample_is_more_collimated(sample):
    varied = data.redecay(sample, smearing=0.3, seed=1)
    sel = sample["pert"][:, 0] == 1
    c = _cos(_rest(varied, "h1")[sel, 1:], _rest(varied, "q1")[sel, 1:])
    assert c.mean() == pytest.approx(0.7, abs=0.015)
    assert np.array_equal(varied["cluster"], sample["cluster"])


def test_cluster_kinematics(sample):
    p = np.linalg.norm(sample["cluster"][:, 1:], axis=1)
    assert p.min() >= 0.5 - 1e-9 and p.max() <= 45.5 + 1e-9
    soft_above_30 = stats.norm.sf((np.log(30) - np.log(data.DEFAULTS["p_soft_median"])) / 0.8)
    assert np.mean(p > 30) == pytest.approx(0.23 + 0.77 * soft_above_30, abs=0.012)
    assert np.median(p) == pytest.approx(7.5, rel=0.03)                  # Herwig: median |p| 7.5 GeV
    cos_theta = sample["cluster"][:, 3] / p
    # density 3/8 (1 + c^2): <c^2> = 0.4 (isotropic would give 1/3)
    assert np.mean(cos_theta ** 2) == pytest.approx(0.4, abs=0.006)
    counts, _ = np.histogram(cos_theta, bins=[-1, -0.5, 0.5, 1])
    assert counts[0] / counts[1] == pytest.approx((0.5 + 7 / 24) / (1 + 1 / 12), rel=0.05)


def test_quark_direction_follows_the_flight_direction(sample):
    c = _cos(_rest(sample, "q1")[:, 1:], sample["cluster"][:, 1:])
    assert np.mean(np.abs(c)) == pytest.approx(0.595, abs=0.01)          # Herwig: 0.595 (isotropic: 0.5)
    counts, _ = np.histogram(c, bins=5, range=(-1, 1))
    assert counts[0] > 1.5 * counts[2] and counts[4] > 1.5 * counts[2]   # U-shaped
    assert abs(np.mean(c)) < 0.02


def test_one_plus_a_cos2_sampler():
    rng = np.random.default_rng(0)
    for a in (0.0, 1.0, 1.84, 5.0):
        c = ph.sample_one_plus_a_cos2(rng, 200_000, a)
        assert np.all(np.abs(c) <= 1)
        assert np.mean(c ** 2) == pytest.approx((1 / 3 + a / 5) / (1 + a / 3), abs=0.004)


def test_species_fractions(sample):
    q3 = np.where(sample["q1"][:, 0] == 2, 2, -1) + np.where(sample["q2"][:, 0] == -2, -2, 1)
    cluster_charge = q3 // 3
    h = np.stack([sample["h1"][:, 0], sample["h2"][:, 0]], axis=1)
    h_charge = np.where(h == ph.PI_ZERO, 0, np.sign(h)).sum(axis=1)
    assert np.array_equal(h_charge, cluster_charge)       # charge is conserved
    charged = cluster_charge != 0
    assert np.mean(charged) == pytest.approx(0.5, abs=0.01)
    n_pi0 = (h == ph.PI_ZERO).sum(axis=1)
    assert np.all(n_pi0[charged] == 1)                    # pi+- pi0
    assert np.mean(n_pi0[~charged] == 0) == pytest.approx(0.79, abs=0.012)   # pi+ pi- vs pi0 pi0
    assert set(np.unique(n_pi0[~charged])) == {0, 2}


def test_h5_attributes_roundtrip_and_reproducible(tmp_path):
    import h5py

    a = data.generate_file(tmp_path / "a.h5", n=500, seed=5)
    b = data.generate_file(tmp_path / "b.h5", n=500, seed=5)   # same seed -> byte-identical file
    c = data.generate_file(tmp_path / "c.h5", n=500, seed=6)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    with h5py.File(a) as f:
        assert f.attrs["seed"] == 5 and f.attrs["n_clusters"] == 500
        assert f.attrs["generator_version"] == data.GENERATOR_VERSION
        assert f.attrs["smearing"] == pytest.approx(0.78)
        assert f.attrs["aligned_fraction"] == pytest.approx(0.35)
        assert f.attrs["cluster_mass_min"] == pytest.approx(0.657)
    assert data.is_synthetic(data.file_attrs(a))
    loaded = data.read_h5(a)
    fresh = data.generate(500, seed=5)
    for key in data.KEYS:
        assert np.array_equal(loaded[key], fresh[key])
    assert not list(tmp_path.glob("*.tmp"))


def test_cli_writes_file(tmp_path):
    out = tmp_path / "sub" / "cl.h5"
    proc = subprocess.run([sys.executable, "-m", "uqhpo.apps.hadronization.data", "--out", str(out),
                           "--n", "300", "--seed", "2", "--smearing", "0.3"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(data.read_h5(out)["cluster"]) == 300


def test_preprocessing_scales_on_train_only(sample):
    p = prep.prepare(sample, n_train=20_000, n_val=5_000, n_test=5_000, seed=0)
    assert p.cond["train"].shape == (20_000, 9) and p.target["val"].shape == (5_000, 2)
    assert np.allclose(p.target["train"].min(axis=0), -1) and np.allclose(p.target["train"].max(axis=0), 1)
    assert np.allclose(p.target_scaler.inverse(p.target["test"].astype(float)), p.angles["test"], atol=1e-5)
    # quark frame: theta* measures the angle to the quark, so it is not isotropic
    assert np.mean(np.cos(p.angles["train"][:, 1])) > 0.1
    lab = prep.prepare(sample, n_train=20_000, n_val=5_000, n_test=5_000, seed=0, frame="lab")
    assert abs(np.mean(np.cos(lab.angles["train"][:, 1]))) < 0.03
    with pytest.raises(ValueError, match="exceeds"):
        prep.prepare(sample, n_train=N, n_val=10, n_test=10)


def test_helicity_frame_axes(sample):
    """z along the flight direction: theta_h of q1 is the quark-flight angle; phi uniform."""
    part = {k: v[:5000] for k, v in sample.items()}
    hel = prep.conditions(part)
    c = _cos(_rest(part, "q1")[:, 1:], part["cluster"][:, 1:])
    assert np.allclose(hel[:, 4], c, atol=1e-9)
    phi = prep.decay_angles(part, "helicity")[:, 0]
    assert stats.kstest(phi, "uniform", args=(-np.pi, 2 * np.pi)).pvalue > 1e-3


def test_strata_and_weights(sample):
    p = prep.prepare(sample, n_train=20_000, n_val=5_000, n_test=5_000, seed=0, frame="helicity")
    w, st = p.strata_fit.weights, p.strata_fit
    assert sum(w.values()) == pytest.approx(1.0) and st.n_bins == 8      # 2 hemispheres x 2 masses x 2 momenta
    per_class = {}
    for stratum, weight in w.items():
        per_class[st.class_of(stratum)] = per_class.get(st.class_of(stratum), 0) + weight
    assert sorted(per_class) == [0, 1, 2] and all(v == pytest.approx(1 / 3) for v in per_class.values())
    assert set(np.unique(p.classes["val"])) == {0, 1, 2}
    assert np.array_equal(p.classes["val"], [st.class_of(s) for s in p.strata["val"]])
