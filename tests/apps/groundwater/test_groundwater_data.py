"""Physics, file formats and preprocessing of the synthetic groundwater basin."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from uqhpo.apps.groundwater import data, prep, records, scores
from uqhpo.apps.groundwater import hydrology as hy


@pytest.fixture(scope="module")
def basin() -> records.Basin:
    return data.generate(seed=3)


def _months(basin) -> np.ndarray:
    return basin.dates.astype("datetime64[M]").astype(int) % 12 + 1


def _years(basin) -> np.ndarray:
    return basin.dates.astype("datetime64[Y]").astype(int) + 1970


def test_shapes_dates_and_drought_span(basin):
    assert basin.forcing.shape == (7305, 4) and basin.head.shape == (7305, 5)
    assert str(basin.dates[0]) == "2000-01-01" and str(basin.dates[-1]) == "2019-12-31"
    assert np.all(np.diff(basin.dates.astype(np.int64)) == 1)
    assert [str(d) for d in basin.drought] == ["2011-01-01", "2015-12-31"]   # years 12-16 of the record
    assert basin.wells == ["W1", "W2", "W3", "W4", "W5"]
    assert basin.well_params["recharge_scale"][0] == 60.0 and basin.well_params["pumping_amplitude"][0] == 4.0


def test_mediterranean_precipitation_and_drought(basin):
    p, month, years = basin.forcing[:, 0], _months(basin), _years(basin)
    assert np.all(p >= 0)
    winter, summer = np.isin(month, (12, 1, 2)), np.isin(month, (6, 7, 8))
    assert np.mean(p[winter] > 0) > 0.35 and np.mean(p[summer] > 0) < 0.08
    assert p[summer].mean() < 0.1 * p[winter].mean()
    drought = (years >= 2011) & (years <= 2015)
    assert p[drought].mean() < 0.6 * p[~drought].mean()


def test_temperature_streamflow_and_pumping(basin):
    t, q, pump = basin.forcing[:, 1], basin.forcing[:, 2], basin.forcing[:, 3]
    month, years = _months(basin), _years(basin)
    assert t[month == 7].mean() - t[month == 1].mean() == pytest.approx(2 * 8 * 0.96, abs=1.5)
    anomaly = t - np.array([t[month == m].mean() for m in range(1, 13)])[month - 1]
    assert np.corrcoef(anomaly[:-1], anomaly[1:])[0, 1] == pytest.approx(0.8, abs=0.05)
    assert np.all(q > 0)
    monthly_q = np.array([q[month == m].mean() for m in range(1, 13)])
    assert int(np.argmax(monthly_q)) + 1 in (4, 5, 6)           # snowmelt peak in spring
    assert np.all(pump[np.isin(month, (12, 1, 2, 3))] == 0) and pump[month == 7].min() > 0
    drought = (years >= 2011) & (years <= 2015)
    assert pump[drought].mean() / pump[~drought].mean() == pytest.approx(2.0, abs=0.35)


def test_impulse_response_and_steady_state_gain():
    g = hy.impulse_response(1.0, 1.5, 60.0)
    assert g.sum() == pytest.approx(1.0) and int(np.argmax(g)) in (29, 30)    # mode (k - 1) * theta
    quiet = hy.Well(noise_sd=0.0)
    step = np.r_[np.zeros(1000), np.ones(2000)]
    rng = np.random.default_rng(0)
    rise = hy.head(step, np.zeros(3000), quiet, rng)
    assert rise[-1] - rise[999] == pytest.approx(1.0, abs=1e-3)      # 1 m per mm/day of recharge
    drop = hy.head(np.zeros(3000), step, quiet, rng)
    assert drop[999] - drop[-1] == pytest.approx(4.0, abs=1e-3)      # 4 m per mm/day of pumping
    assert rise[1000] == rise[999]                                     # a day's forcing acts the next day


def test_drought_lowers_every_well_and_lies_in_validation_and_test(basin):
    years = _years(basin)
    drought = (years >= 2011) & (years <= 2015)
    assert np.all(basin.head[~drought].mean(axis=0) - basin.head[drought].mean(axis=0) > 1.0)
    p = prep.prepare(basin)
    assert str(p.dates[p.bounds["val"][0]]) == "2010-01-01" and str(p.dates[p.bounds["test"][0]]) == "2014-01-01"
    first = int((basin.drought[0] - basin.dates[0]).astype(int))
    last = int((basin.drought[1] - basin.dates[0]).astype(int))
    assert p.bounds["val"][0] < first < p.bounds["val"][1] and p.bounds["test"][0] < last


def test_h5_attributes_roundtrip_and_reproducible(tmp_path):
    import h5py

    opts = dict(n_years=4, n_wells=2, drought_start_year=3, drought_years=1)
    a = data.generate_file(tmp_path / "a.h5", seed=5, **opts)
    b = data.generate_file(tmp_path / "b.h5", seed=5, **opts)
    c = data.generate_file(tmp_path / "c.h5", seed=6, **opts)
    assert a.read_bytes() == b.read_bytes() and a.read_bytes() != c.read_bytes()
    with h5py.File(a) as f:
        assert f.attrs["seed"] == 5 and f.attrs["generator_version"] == data.GENERATOR_VERSION
        assert '"n_wells": 2' in f.attrs["parameters"] and f.attrs["drought_start"] == "2002-01-01"
        assert list(f["forcing"].attrs["names"]) == list(hy.FORCING_NAMES)
    back, fresh = data.load_basin(a), data.generate(seed=5, **opts)
    assert np.array_equal(back.head, fresh.head) and np.array_equal(back.forcing, fresh.forcing)
    assert np.array_equal(back.dates, fresh.dates) and back.drought == fresh.drought
    assert not list(tmp_path.glob("*.tmp"))


def test_cli_writes_h5_and_csv(tmp_path):
    out = tmp_path / "sub" / "basin.h5"
    proc = subprocess.run([sys.executable, "-m", "uqhpo.apps.groundwater.data", "--out", str(out), "--years", "3",
                           "--wells", "2", "--csv", str(tmp_path / "csv")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    from_h5, from_csv = data.load_basin(out), data.load_basin(tmp_path / "csv")
    assert from_csv.wells == ["W1", "W2"] and from_h5.head.shape == (1096, 2)
    assert np.allclose(from_csv.head, from_h5.head, atol=1e-6) and np.allclose(from_csv.forcing, from_h5.forcing,
                                                                                atol=1e-6)
    one = data.load_basin(tmp_path / "csv" / "W2.csv")
    assert one.wells == ["W2"] and np.allclose(one.head[:, 0], from_h5.head[:, 1], atol=1e-6)


def test_bad_inputs_name_the_problem(tmp_path):
    import h5py

    with pytest.raises(FileNotFoundError, match="nope.h5"):
        data.load_basin(tmp_path / "nope.h5")
    b = data.generate(n_years=2, n_wells=2, seed=0)
    with h5py.File(tmp_path / "missing.h5", "w") as f:
        f["time"], f["forcing"] = b.dates.astype(np.int64), b.forcing
    with pytest.raises(ValueError, match="missing.h5: missing dataset '/head'"):
        data.load_basin(tmp_path / "missing.h5")
    data.write_h5(tmp_path / "shape.h5", records.Basin(b.dates, b.forcing[:, :3], b.head, b.wells), {})
    with pytest.raises(ValueError, match=r"'/forcing' has shape \(731, 3\), expected \(731, 4\)"):
        data.load_basin(tmp_path / "shape.h5")
    nan = b.head.copy()
    nan[10, 1] = np.nan
    data.write_h5(tmp_path / "nan.h5", records.Basin(b.dates, b.forcing, nan, b.wells), {})
    with pytest.raises(ValueError, match=r"'/head' contains NaN or inf \(first at row 10, column 1\)"):
        data.load_basin(tmp_path / "nan.h5")
    gap = records.Basin(np.delete(b.dates, 100), np.delete(b.forcing, 100, 0), np.delete(b.head, 100, 0), b.wells)
    data.write_h5(tmp_path / "gap.h5", gap, {})
    with pytest.raises(ValueError, match="'/time' is not consecutive daily dates"):
        data.load_basin(tmp_path / "gap.h5")
    (tmp_path / "cols.csv").write_text("date,head,precipitation,temperature,pumping\n2000-01-01,1,0,10,0\n")
    with pytest.raises(ValueError, match="cols.csv: missing column 'streamflow'"):
        data.load_basin(tmp_path / "cols.csv")
    (tmp_path / "text.csv").write_text("date,head,precipitation,temperature,streamflow,pumping\n"
                                       "2000-01-01,1,0,10,5,0\n2000-01-02,abc,0,10,5,0\n")
    with pytest.raises(ValueError, match=r"text.csv:3: column 'head' value 'abc' is not a number"):
        data.load_basin(tmp_path / "text.csv")
    (tmp_path / "empty.csv").write_text("date,head,precipitation,temperature,streamflow,pumping\n"
                                        "2000-01-01,1,0,10,5,0\n2000-01-02,2,,10,5,0\n")
    with pytest.raises(ValueError, match="column 'precipitation' contains NaN or an empty value"):
        data.load_basin(tmp_path / "empty.csv")


def test_preprocessing_scales_on_train_only_and_aligns_windows(basin):
    p = prep.prepare(basin, wells=["W1", "W3"], horizon=10)
    i_val = p.bounds["val"][0]
    assert p.inputs.shape == (2, 7305, 9)                         # 7 inputs + 2-well one-hot
    assert np.allclose(p.inputs[:, :i_val, 0].mean(axis=1), 0, atol=1e-5)
    assert np.allclose(p.inputs[:, :i_val, 0].std(axis=1), 1, atol=1e-4)
    changed = records.Basin(basin.dates, basin.forcing.copy(), basin.head.copy(), basin.wells)
    changed.head[i_val:] += 5.0
    changed.forcing[i_val:] *= 3.0
    assert np.array_equal(prep.prepare(changed, wells=["W1", "W3"], horizon=10).inputs[:, :i_val], p.inputs[:, :i_val])
    well, origin = prep.origins(p, "val", lag=30)
    assert origin.min() + 1 == i_val and origin.max() + 10 == p.bounds["val"][1]
    x, y = prep.windows(p, well, origin, 30), prep.targets(p, well, origin)
    assert x.shape == (len(well), 30, 9) and y.shape == (len(well), 10)
    assert np.array_equal(x[:, -1], p.inputs[well, origin])
    assert np.allclose(prep.to_metres(p, well, origin, y), prep.observed(p, well, origin), atol=1e-4)
    assert np.allclose(prep.to_metres(p, well, origin, np.zeros_like(y)), scores.persistence(p, well, origin))
    w_tr, o_tr = prep.origins(p, "train", lag=30)
    assert o_tr.min() == 29 and o_tr.max() + 10 < i_val           # no training target in validation
    with pytest.raises(ValueError, match="data.wells: no well 'W9'"):
        prep.prepare(basin, wells=["W9"])
    with pytest.raises(ValueError, match="data.val_start .* must come before data.test_start"):
        prep.prepare(basin, val_start="2015-01-01", test_start="2012-01-01")


def test_baselines_and_scores(basin):
    p = prep.prepare(basin, wells=["W1"], horizon=30)
    base = scores.baselines(p, "val", lag=30)
    assert base["best"] == min(base["persistence"], base["climatology"]) and base["persistence"] > 0.3
    table = scores.climatology_table(p)
    i_val = p.bounds["val"][0]
    july = (p.doy[:i_val] >= 190) & (p.doy[:i_val] <= 210)
    assert table[0, 200] == pytest.approx(p.head[:i_val, 0][july].mean(), abs=0.15)
    obs = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert scores.nse(obs, obs) == 1.0 and scores.nse(np.full_like(obs, obs.mean()), obs) == pytest.approx(0.0)
    assert scores.rmse(obs + 0.5, obs) == pytest.approx(0.5) and scores.mae(obs - 1.0, obs) == pytest.approx(1.0)
