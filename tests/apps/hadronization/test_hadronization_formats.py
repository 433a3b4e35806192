"""Readers of the public text formats and one-line errors for bad data files."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from uqhpo.apps.hadronization import data, prep
from uqhpo.apps.hadronization.formats import read_text, write_text

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def arrays() -> dict:
    return data.generate(60, seed=1)


def _same(back: dict, arrays: dict, rows, keys=("cluster", "h1", "h2")) -> None:
    for key in keys:
        assert np.allclose(back[key][rows], arrays[key][rows], rtol=1e-9, atol=1e-12), key


@pytest.mark.parametrize("with_pert", [False, True])
def test_flat_format_keeps_placeholder_quarks(tmp_path, arrays, with_pert):
    path = write_text(tmp_path / "ev.txt", arrays, clusters_per_event=4, placeholder_quarks_every=3,
                      with_pert=with_pert)
    assert path.read_text().count("88,0,0,0,0") == 2 * (60 // 3)
    back = data.load_clusters(path)
    assert len(back["cluster"]) == 60                     # placeholder-quark clusters are kept
    _same(back, arrays, slice(None))
    quarks = prep.has_quarks(back)
    assert quarks.sum() == 40 and not quarks[2::3].any()
    _same(back, arrays, quarks, keys=("q1", "q2"))
    expected_pert = arrays["pert"][quarks] if with_pert else np.zeros((40, 2))
    assert np.array_equal(back["pert"][quarks], expected_pert)
    assert np.all(back["pert"][~quarks] == 0)
    assert np.array_equal(prep.perturbative_class(back)[~quarks], np.full(20, 3))


@pytest.mark.parametrize("with_pert", [False, True])
def test_allclusters_format_with_heavy_clusters(tmp_path, arrays, with_pert):
    path = write_text(tmp_path / "all.dat", arrays, clusters_per_event=3, placeholder_quarks_every=4,
                      with_pert=with_pert, layout="allclusters")
    text = path.read_text()
    assert text.startswith("(") and "[ 10 11 ]" in text   # heavy cluster entries are present
    back = read_text(path)
    assert len(back["cluster"]) == 60                     # heavy and one-hadron clusters are no decays
    _same(back, arrays, slice(None))
    quarks = prep.has_quarks(back)
    assert quarks.sum() == 45 and not quarks[3::4].any()  # fission products have no quark record
    _same(back, arrays, quarks, keys=("q1", "q2"))
    if with_pert:
        assert np.array_equal(back["pert"][quarks], arrays["pert"][quarks])


def test_a_real_allclusters_line():
    line = ("(6),-1,[ 12 ], 45.5,-17.9,-33.3,25.3;(10),1,[ 12 ], 14.6,6.8,10.2,-7.8;"
            "(12),81,[ 14 30 ], 60.1,-11.1,-23.1,17.5;(14),81,[ 31 32 ], 51.1,-13.9,-27.2,20.7;"
            "(30),111,[ ],9.0,2.9,4.1,-3.2;(31),-211,[ ],3.0,1.7,2.5,0.2;(32),211,[ ],2.6,0.4,0.6,-2.5;|")
    from uqhpo.apps.hadronization.formats import _tree_clusters

    decays = _tree_clusters(line.strip("|"), "x:1")
    assert len(decays) == 1                               # 12 is heavy (a cluster child), 14 decays to 2 pions
    rows, _ = decays[0]
    assert rows[0, 0] == 88 and rows[2, 1] == pytest.approx(51.1) and rows[3, 0] == -211


def test_quark_frame_needs_quarks_helicity_does_not(tmp_path, arrays):
    only_placeholders = write_text(tmp_path / "p.txt", arrays, placeholder_quarks_every=1)
    back = data.load_clusters(only_placeholders)
    with pytest.raises(ValueError, match="placeholder quarks .*data.frame: helicity"):
        prep.prepare(back, n_train=40, n_val=10, n_test=10)
    p = prep.prepare(back, n_train=40, n_val=10, n_test=10, frame="helicity")
    assert np.all(p.classes["train"] == 3) and p.cond["train"].shape == (40, 9)


def _corrupt_files(tmp_path: Path) -> dict:
    import h5py

    good = data.generate_file(tmp_path / "good.h5", n=50, seed=0)
    raw = good.read_bytes()
    (tmp_path / "truncated.h5").write_bytes(raw[: len(raw) // 3])
    (tmp_path / "garbage.h5").write_bytes(b"\x00\x01not an hdf5 file" * 50)
    (tmp_path / "folder.h5").mkdir()
    arrays = data.generate(20, seed=0)
    with h5py.File(tmp_path / "missing.h5", "w") as f:
        for key in ("cluster", "q1", "q2", "pert", "h1"):
            f[key] = arrays[key]
    nan = dict(arrays, cluster=arrays["cluster"].copy())
    nan["cluster"][3, 1] = np.nan
    data.write_h5(tmp_path / "nan.h5", nan, {})
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)))
    (tmp_path / "broken.txt").write_text("1,2,3;4\n")
    return {"truncated.h5": r"truncated.h5: not a readable HDF5 file|truncated.h5: dataset '/\w+' cannot be read",
            "garbage.h5": "garbage.h5: not a readable HDF5 file", "folder.h5": "'.*folder.h5' is a directory",
            "missing.h5": "missing.h5: missing dataset '/h2'", "nan.h5": "nan.h5: dataset '/cluster' contains NaN",
            "binary.txt": "binary.txt: not a text data file", "broken.txt": r"broken.txt:1: a cluster needs 5 objects"}


def test_bad_files_give_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        data.load_clusters(tmp_path / "nope.h5")
    for name, pattern in _corrupt_files(tmp_path).items():
        with pytest.raises(ValueError, match=pattern) as info:
            data.load_clusters(tmp_path / name)
        assert "\n" not in str(info.value), name


def test_cli_run_on_a_corrupt_file_exits_2_with_one_line(tmp_path):
    _corrupt_files(tmp_path)
    for name in ("truncated.h5", "folder.h5"):
        config = str(ROOT / "apps/hadronization/configs/quick.yaml")
        command = [sys.executable, "-m", "uqhpo.cli", "run", config, "--set", f"data.path={tmp_path / name}"]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error") or "Traceback" in ln]
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert len(lines) == 1 and name in lines[0] and "Traceback" not in proc.stderr
