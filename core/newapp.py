"""``uqhpo new-app``: write a working app package for the user's own data file.

``uqhpo new-app NAME --data FILE [--target COLUMN] [--kind regression|classification]``
reads the file's columns (CSV header, HDF5 datasets or NPZ arrays), takes ``--target``
(default: the last column) as what to predict and the other numeric, complete columns as
features, guesses the kind when not given, checks the result with the template task
itself and writes ``NAME/`` in the current folder (see :mod:`uqhpo.scaffold`). Every
refusal is one line naming the file, folder or column at fault.
"""
from __future__ import annotations

import argparse
import importlib.util
import keyword
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

if TYPE_CHECKING:
    from .scaffold import AppPlan

KINDS = ("regression", "classification")
#: a numeric target with at most this many distinct integer values is guessed to be class labels
MAX_GUESSED_CLASSES = 10


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``new-app`` sub-command on the CLI's sub-parsers."""
    p = sub.add_parser("new-app", help="write a working app package for your own data file",
                       description="Write NAME/ (task, model, data reader, configs/quick.yaml, README, tests) "
                                   "in the current folder for a CSV, HDF5 or NPZ table.")
    p.add_argument("name", help="package name of the new app (a Python identifier)")
    p.add_argument("--data", required=True, help="CSV (with a header row), HDF5 or NPZ data file")
    p.add_argument("--target", help="column / dataset key to predict (default: the last one)")
    p.add_argument("--kind", choices=KINDS, help="default: classification for text labels or a few integer "
                                                 f"values (<= {MAX_GUESSED_CLASSES}), else regression")
    p.add_argument("--from", dest="source", default="template", choices=("template",),
                   help="the app to copy (default: %(default)s)")
    return p


def cmd_new_app(args: argparse.Namespace) -> int:
    """Run ``uqhpo new-app``; errors are raised as one-line ``ValueError``/``FileNotFoundError``."""
    create_app(args.name, args.data, target=args.target, kind=args.kind, source=args.source, echo=print)
    return 0


def create_app(name: str, data: str | Path, *, target: Optional[str] = None, kind: Optional[str] = None,
               source: str = "template", folder: Optional[Path] = None,
               echo: Callable[[str], None] = lambda line: None) -> Path:
    """Write the package ``folder/name`` for the table in ``data``.

    Args:
        name: the package name; data: the data file; target: the column to predict
            (None: the last); kind: None guesses; source: the app to copy.
        folder: where to write (default: the current folder); echo: prints the choices made.

    Returns:
        The package folder.

    Raises:
        ValueError / FileNotFoundError: one line naming the name, file or column at fault.
    """
    from . import scaffold  # noqa: PLC0415

    folder = Path.cwd() if folder is None else Path(folder)
    dest = folder / name
    check_name(name, dest)
    plan = plan_app(name, Path(data), target=target, kind=kind, source=source, echo=echo)
    files = scaffold.write_app(plan, dest)
    echo(f"wrote {name}/: {', '.join(files)}")
    echo("next, from this folder:")
    echo(f"  python -m pytest {name}/tests              # your data loads, a short training runs")
    echo(f"  uqhpo run {name}/configs/quick.yaml         # the study (a few minutes on 2 cores)")
    echo(f"  uqhpo best runs/{plan.study}/study.db        # best hyperparameters, loss mean ± std")
    return dest


def check_name(name: str, dest: Path) -> None:
    """Refuse a name that is no identifier, shadows an importable module, or exists."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"app name '{name}' is not a Python identifier (letters, digits, _; not starting "
                         "with a digit), e.g. 'my_app'")
    if dest.exists():
        raise ValueError(f"'{dest}' already exists; choose another name or remove it")
    if name in sys.stdlib_module_names or importlib.util.find_spec(name) is not None:
        raise ValueError(f"app name '{name}' is already an importable module; choose another name")


def plan_app(name: str, data: Path, *, target: Optional[str], kind: Optional[str], source: str,
             echo: Callable[[str], None]) -> AppPlan:
    """Read the columns, choose target, kind and features, and check them with the template task."""
    # the template's own reader and task: what new-app accepts is exactly what the app will read
    from uqhpo.apps.template.columns import SUFFIXES, read_columns  # noqa: PLC0415
    from uqhpo.apps.template.data import default_target  # noqa: PLC0415
    from uqhpo.apps.template.task import TemplateTask  # noqa: PLC0415

    from . import scaffold  # noqa: PLC0415

    if data.suffix.lower() not in SUFFIXES:
        raise ValueError(f"data file '{data}': unsupported format '{data.suffix}' (use {', '.join(SUFFIXES)})")
    columns = read_columns(data)
    names = list(columns)
    n_rows = len(next(iter(columns.values())))
    echo(f"read {data}: {n_rows} rows, {len(names)} columns: {scaffold._short(names, 20)}")
    if target is None:
        target = default_target(names)
        echo(f"target: '{target}' (the last column; choose another with --target)")
    elif target not in names:
        raise ValueError(f"data file '{data}': no column '{target}' (--target); columns: {scaffold._short(names, 20)}")
    else:
        echo(f"target: '{target}'")
    y = columns[target]
    n_rows = len(y)
    if kind is None:
        kind, why = guess_kind(y)
        other = "regression" if kind == "classification" else "classification"
        echo(f"kind: {kind} ({why}; --kind {other} to change)")
    features, skipped = choose_features(columns, target, n_rows)
    for col, why in skipped.items():
        echo(f"left out column '{col}': {why}")
    if not features:
        raise ValueError(f"data file '{data}': no numeric, complete feature columns besides the target '{target}'")
    chosen = None if not skipped else features
    task = TemplateTask()
    task.configure({"path": str(data.resolve()), "target": target, "features": chosen, "kind": kind})
    task.check()
    d = task.dataset()
    echo(f"features: {scaffold._short(features, 20)} ({d.X['train'].shape[1]} inputs)")
    if d.classes:
        echo(f"classes: {scaffold._short(d.classes, 20)}")
    return scaffold.AppPlan(
        name=name, cls=scaffold.class_name(name), data_path=data.resolve(), target=target, kind=kind,
        features=chosen, used=features, n_rows=n_rows, n_features=int(d.X["train"].shape[1]), n_train=len(d.y["train"]),
        skipped=skipped, classes=list(d.classes), source=source,
        space={k: p.to_dict() for k, p in task.search_space().params.items()})


def guess_kind(y: np.ndarray) -> tuple[str, str]:
    """``("regression" | "classification", reason)`` for a target column ``(n,)``."""
    if y.dtype.kind not in "biuf":
        return "classification", "the target holds text labels"
    values = y[np.isfinite(y)] if y.dtype.kind == "f" else y
    distinct = np.unique(values)
    if len(distinct) <= MAX_GUESSED_CLASSES and np.all(distinct == np.round(distinct)):
        return "classification", f"the target holds {len(distinct)} distinct integers"
    return "regression", f"the target holds {len(distinct)} distinct numbers"


def choose_features(columns: dict[str, np.ndarray], target: str, n_rows: int) -> tuple[list[str], dict[str, str]]:
    """Every other column that has ``n_rows`` rows, numbers only and no missing value;
    the others -> the reason they were left out."""
    features, skipped = [], {}
    for col, values in columns.items():
        if col == target:
            continue
        if len(values) != n_rows:
            skipped[col] = f"{len(values)} rows, the target has {n_rows}"
        elif values.dtype.kind not in "biuf":
            skipped[col] = "not numeric"
        elif values.dtype.kind == "f" and not np.isfinite(values).all():
            rows = int((~np.isfinite(values.reshape(n_rows, -1))).any(axis=1).sum())
            skipped[col] = f"{rows} missing or non-finite value(s)"
        else:
            features.append(col)
    return features, skipped
