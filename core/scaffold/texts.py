"""The files ``uqhpo new-app`` writes besides the copied code: config, README, tests.

Each is a :class:`string.Template` filled by :func:`uqhpo.scaffold.write_app`
(``$name``: the package, ``$cls``: its task class, ...). Kept as Python strings so they
ship inside the package without package-data rules.
"""
from __future__ import annotations

from string import Template

QUICK_YAML = Template("""\
# Quick study of the $name app on $data_name: a real study, a few minutes on 2 CPU cores.
# Run it from the folder that holds $name/:
#   uqhpo run $name/configs/quick.yaml
# Results go to runs/$study/ (study.db; see `uqhpo best runs/$study/study.db`).
task: $name:task
data:
  path: $rel_path        # relative to this file's folder
  target: $target
  kind: $kind
${features_line}${max_rows_line}space:                       # narrows the task's own space (see task.py / README.md)
  layers: {type: integer, low: 1, high: 3}
  width: {type: integer, low: 8, high: 128, log: true}
  dropout: {type: real, low: 0.0, high: 0.3}
  lr: {type: real, low: 1.0e-3, high: 3.0e-2, log: true}
  batch_size: {type: integer, low: $batch_low, high: $batch_high, log: true}
  epochs: {type: integer, low: 5, high: 25}
strategy: {name: rbf, n_initial: 6}
budget: {trials: 16}
uq: {replicates: 3, kappa: 1.0, mc_dropout: 0, replicates_parallel: true}
executor: {name: local, workers: 2}
study: $study
seed: 0
""")

README_MD = Template("""\
# $name: an MLP that predicts `$target` from `$data_name`

Written by `uqhpo new-app` from the uqhpo template app; edit everything. It tunes a
PyTorch MLP ($kind) on your table and treats every hyperparameter set as a random
variable: each set is trained `uq.replicates` times with different seeds, and the search
minimises `mean + kappa * std` of the validation loss, so the winner is good *and* stable.

## Files

| file | what it holds |
|---|---|
$files_table

## Your data

$data_summary

$layout
The `data:` section of a config chooses the file and columns: `path`, `target`,
`features` (a list; default every other column), `kind` (`regression` or
`classification`), `val_fraction` / `test_fraction` (default 0.2 each), `max_rows` (a
random subset, for quick runs on big files) and `split_seed` (default 0). Features are
standardised with the training rows' mean and std.$target_scaling

## Hyperparameters

| name | range |
|---|---|
$space_table

`configs/quick.yaml` narrows these; a config's `space:` section may change any of them.

## Metric

$metric

## How to run

```bash
python -m pytest $name/tests          # your data loads, a short training runs
uqhpo run $name/configs/quick.yaml     # the study; after Ctrl-C: uqhpo resume $name/configs/quick.yaml
uqhpo status runs/$study/study.db      # counts, best so far
uqhpo best runs/$study/study.db        # best hyperparameters, loss mean ± std
uqhpo plot runs/$study/study.db        # convergence plot (PNG and PDF)
```

Run these from the folder that holds `$name/`: uqhpo imports the task `$name:task` from there.
""")

FILES = [  # (file, what it holds) rows of the README's Files table
    ("__init__.py", "exposes `task`, the object configs name as `$name:task`"),
    ("task.py", "`$cls`: the data settings and their defaults (`DATA_DEFAULTS`), the train/validation/test "
                "split, the search space, `run(config, ctx)`"),
    ("model.py", "the MLP, its training through `uqhpo.torch.fit` (seeding, best epoch, reports, checkpoints), "
                 "prediction and MC dropout"),
    ("data.py", "picks the target and feature columns, with one-line errors; also the template's synthetic "
                "generator (`python -m $name.data --out demo.h5`) to try the app on known data"),
    ("columns.py", "the CSV / HDF5 / NPZ readers"),
    ("configs/quick.yaml", "a quick real study on your file"),
    ("tests/test_$name.py", "your data loads, one short training runs and is seeded: `python -m pytest $name/tests`"),
]

LAYOUT = {
    ".csv": "The CSV has a header row with the column names, then one row per sample "
            "(comma, semicolon or tab separated; empty cells and `NA` count as missing).",
    ".h5": "The HDF5 file holds one dataset per column (`(n,)`) or block of columns (`(n, k)`), "
           "all with the same number of rows `n`; datasets in groups are named by their path.",
    ".npz": "The NPZ file holds one array per column (`(n,)`) or block of columns (`(n, k)`), "
            "all with the same number of rows `n`.",
}

METRIC = {
    "regression": "`loss`: mean squared error on the validation split, in the units of `$target` "
                  "squared, at the best epoch (reported every epoch as `val_loss`). Also returned: "
                  "`test_loss` (a split that neither training, epoch selection nor the search sees: "
                  "the number to quote), `baseline_loss` (predicting the training mean: a useful "
                  "model is well below it), `best_epoch`; with `uq.mc_dropout: m` the losses are "
                  "those of the mean of `m` dropout passes, plus `mc_pred_std` and `deterministic_loss`.",
    "classification": "`loss`: cross-entropy on the validation split at the best epoch (reported "
                      "every epoch as `val_loss`); `accuracy` on the same rows. Also returned: "
                      "`test_loss` and `test_accuracy` (a split that neither training, epoch selection "
                      "nor the search sees: the numbers to quote), `baseline_loss` (cross-entropy of "
                      "predicting the training class frequencies), `best_epoch`; with "
                      "`uq.mc_dropout: m` the losses use the mean of `m` dropout passes, plus "
                      "`mc_pred_std` and `deterministic_loss`.",
}

TEST_PY = Template('''\
"""Tests of the $name app: the data of configs/quick.yaml loads, one short training runs
and is seeded. Run from the folder that holds ``$name/``: ``python -m pytest $name/tests``.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from uqhpo.task import TrialContext

from $name.task import $cls

APP = Path(__file__).resolve().parents[1]
CONFIG = APP / "configs" / "quick.yaml"
SMALL = {"layers": 1, "width": 16, "dropout": 0.1, "lr": 1e-2, "epochs": 3}


def configured(**extra) -> $cls:
    """The task with the quick config's data (its path read from the config's folder, as uqhpo does)."""
    data = dict(yaml.safe_load(CONFIG.read_text())["data"])
    data["path"] = str((CONFIG.parent / data["path"]).resolve())
    task = $cls()
    task.configure({**data, **extra})
    return task


def test_the_data_of_the_quick_config_loads():
    task = configured()
    task.check()
    d = task.dataset()
    assert d.kind == "$kind"
    assert d.X["train"].shape[1] == $n_features
    assert all(np.isfinite(d.X[split]).all() for split in ("train", "val", "test"))


def test_import_is_cheap():
    code = "import sys, $name; $name.task.search_space(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=APP.parent, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_one_short_training_reports_every_epoch_and_is_seeded(tmp_path):
    task = configured(max_rows=$small_rows)
    config = {**SMALL, "batch_size": min(32, len(task.dataset().y["train"]))}
    ctx = TrialContext(seed=3, workdir=tmp_path / "a")
    out = task.run(config, ctx)
    assert np.isfinite([out["loss"], out["test_loss"], out["baseline_loss"]]).all()
    assert [step for step, _ in ctx.reports] == [1, 2, 3]
    assert min(m["val_loss"] for _, m in ctx.reports) == pytest.approx(out["loss"], rel=1e-3)
    if task.settings()["kind"] == "classification":
        assert 0 <= out["accuracy"] <= 1 and 0 <= out["test_accuracy"] <= 1
    assert task.run(config, TrialContext(seed=3, workdir=tmp_path / "b"))["loss"] == out["loss"]
''')
