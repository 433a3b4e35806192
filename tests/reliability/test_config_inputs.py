"""Cases 7, 8 and 9 (config and data): hostile inputs end in one line naming the key or
file, or are accepted as they are meant."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from reliability_helpers import n_complete, one_line_error

QUICK = Path(__file__).resolve().parents[2] / "apps" / "template" / "configs" / "quick.yaml"


def test_function_task_with_a_multi_parameter_yaml_space(ws):
    space = {"x": {"type": "real", "low": 0.0, "high": 1.0}, "y": {"type": "real", "low": 0.0, "high": 1.0}}
    ws.cli("run", ws.config(task="hostile_tasks:plain_function", space=space), "--quiet", check_rc=0)
    assert n_complete(ws.root / "study.db") == 2


def test_malformed_configs_are_one_line(ws):
    good = ws.config()
    text = good.read_text()
    (ws.root / "dup.yaml").write_text(text + "budget: {trials: 50}\n")
    one_line_error(ws.cli("run", ws.root / "dup.yaml"), "duplicate key 'budget'")
    (ws.root / "binary.yaml").write_bytes(b"\xff\xfe\x00task: \x80\x81")
    one_line_error(ws.cli("run", ws.root / "binary.yaml"), "binary.yaml")
    (ws.root / "dir.yaml").mkdir()
    one_line_error(ws.cli("run", ws.root / "dir.yaml"), "dir.yaml", "directory")
    one_line_error(ws.cli("run", ws.config(space={"x": {"type": "fixed"}})), "space.x.value")
    one_line_error(ws.cli("run", ws.config(seed=2 ** 63)), "seed")
    one_line_error(ws.cli("run", ws.config(strategy={"name": "rbf", "n_initial": 1e9})), "n_initial")
    one_line_error(ws.cli("run", ws.config(uq={"kappa": float("inf")})), "uq.kappa")
    assert not (ws.root / "study.db").exists()


def test_yaml_numbers_memory_storage_and_worker_cap(ws):
    """``timeout: 3.6e3`` is a number; ``storage: memory`` writes no file; ``workers: 10000``
    is capped with a warning and the study completes."""
    cfg = ws.config(storage="memory", executor={"name": "local", "workers": 10000},
                    task="hostile_tasks:diverges")
    cfg.write_text(cfg.read_text().replace("trials: 2", "trials: 2\n  timeout: 3.6e3"))
    proc = ws.cli("run", cfg, "--quiet", check_rc=0)
    assert "capped at" in proc.stderr
    assert not (ws.root / "memory").exists()


def test_a_study_that_completes_nothing_exits_non_zero(ws):
    proc = ws.cli("run", ws.config(task="hostile_tasks:always_fails"), "--quiet")
    one_line_error(proc, "no trial completed", "data loader exploded", rc=1)


def test_template_data_errors(ws):
    import h5py

    with h5py.File(ws.root / "group.h5", "w") as f:
        f.create_group("X")["a"] = np.zeros(50)
        f["y"] = np.zeros(50)
    one_line_error(ws.cli("run", QUICK, "--set", f"data.path={ws.root / 'group.h5'}", "--set", "data.features=[X]",
                          "--set", "storage=t.db"), "group.h5", "'X'")
    rows = "\n".join(f"{i},{1e39 if i == 3 else i},{i % 7}" for i in range(60))
    (ws.root / "huge.csv").write_text("a,b,y\n" + rows + "\n")
    one_line_error(ws.cli("run", QUICK, "--set", f"data.path={ws.root / 'huge.csv'}", "--set", "data.target=y",
                          "--set", "storage=t.db"), "huge.csv", "float32")
    (ws.root / "a_dir.csv").mkdir()
    one_line_error(ws.cli("run", QUICK, "--set", f"data.path={ws.root / 'a_dir.csv'}", "--set", "storage=t.db"),
                   "a_dir.csv", "directory")


def test_corrupt_hadronization_hdf5_is_one_line(ws):
    """Owned by the hadronization app: a truncated HDF5 file must be one line naming it."""
    config = Path(__file__).resolve().parents[2] / "apps" / "hadronization" / "configs" / "quick.yaml"
    bad = ws.root / "broken.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    one_line_error(ws.cli("run", config, "--set", f"data.path={bad}", "--set", "storage=h.db"), "broken.h5")
