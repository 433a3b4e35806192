"""Write a new app package from the template app: the file work of ``uqhpo new-app``.

The generated code *is* the template's (``uqhpo.apps.template``, read from the installed
package), with names substituted and the data defaults set to the user's file; the
config, README and tests come from :mod:`uqhpo.scaffold.texts`. Everything is written to
a temporary folder next to the destination and renamed at the end, so a failure leaves
no half-written package behind. No torch import here.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Optional

from . import texts

SOURCES = {"template": "uqhpo.apps.template"}
CODE_FILES = ("__init__.py", "task.py", "model.py", "data.py", "columns.py")


@dataclass
class AppPlan:
    """What to write.

    Attributes:
        name: the package name; cls: its task class.
        data_path: the data file (absolute).
        target, kind: the target column and "regression" | "classification".
        features: feature columns to write into the config; None = every other column
            (the task's default). used: the feature columns in effect.
        skipped: columns left out of the features -> why.
        n_rows: rows in the file; n_features: input width after expanding 2-D datasets.
        n_train: training rows of the default split; classes: class labels (classification).
        space: ``{name: Parameter.to_dict()}`` of the task's own search space.
    """

    name: str
    cls: str
    data_path: Path
    target: str
    kind: str
    features: Optional[list[str]]
    n_rows: int
    n_features: int
    n_train: int
    used: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    classes: list = field(default_factory=list)
    space: dict[str, dict] = field(default_factory=dict)
    source: str = "template"

    @property
    def study(self) -> str:
        return f"{self.name}_quick"


def class_name(name: str) -> str:
    """``my_app`` -> ``MyAppTask``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) + "Task"


def _py(value: Any) -> str:
    """A Python literal for a str / list of str / None."""
    return "None" if value is None else json.dumps(value)


def code_files(plan: AppPlan, cwd: Path) -> dict[str, str]:
    """The template's modules with the names and data defaults substituted."""
    from uqhpo import __version__  # noqa: PLC0415

    package = SOURCES[plan.source]
    default_path = _relative(plan.data_path, cwd)
    replacements = [  # (old, new, file or None for all); each must match, so template drift fails loudly
        ('    "path": "datasets/template/regression.h5",', f'    "path": {_py(default_path)},', "task.py"),
        ('    "target": None,', f'    "target": {_py(plan.target)},', "task.py"),
        ('    "features": None,', f'    "features": {_py(plan.features)},', "task.py"),
        ('    "kind": "regression",', f'    "kind": {_py(plan.kind)},', "task.py"),
        ("The template task:", f"The {plan.name} task:", "task.py"),
        ("The template app:", f"The {plan.name} app:", "__init__.py"),
        ("for the template app:", f"for the {plan.name} app:", "data.py"),
        ("datasets/template/regression.h5", f"datasets/{plan.name}/synthetic.h5", "data.py"),
        (package, plan.name, None),
        ("TemplateTask", plan.cls, None),
    ]
    header = (f"# Written by `uqhpo new-app {plan.name}` (uqhpo {__version__}) from {package}; "
              "yours to edit.\n")
    out = {}
    for fname in CODE_FILES:
        text = resources.files(package).joinpath(fname).read_text(encoding="utf-8")
        for old, new, where in replacements:
            if where == fname and old not in text:
                raise RuntimeError(f"new-app: '{old}' not found in {package}/{fname} (the template changed)")
            if where in (fname, None):
                text = text.replace(old, new)
        compile(text, f"{plan.name}/{fname}", "exec")  # a bad substitution fails here, not at the user's
        out[fname] = header + text
    return out


def text_files(plan: AppPlan, base: Path) -> dict[str, str]:
    """``configs/quick.yaml``, ``README.md``, ``tests/__init__.py`` and ``tests/test_<name>.py``
    of the package written in the folder ``base``."""
    rel_path = _relative(plan.data_path, base / plan.name / "configs")
    batch_high = max(1, min(256, plan.n_train))
    features_line = (f"  features: {json.dumps(plan.features)}\n" if plan.features is not None
                     else "  # features: every column except the target (list names here to choose)\n")
    max_rows_line = ("  max_rows: 20000       # a random subset for a quick study; remove to use every row\n"
                     if plan.n_rows > 20000 else "")
    fields = {
        "name": plan.name, "cls": plan.cls, "data_name": plan.data_path.name,
        "data_path": _relative(plan.data_path, base),
        "rel_path": json.dumps(rel_path), "target": json.dumps(plan.target), "kind": plan.kind,
        "features_line": features_line, "max_rows_line": max_rows_line, "study": plan.study,
        "batch_low": min(16, batch_high), "batch_high": batch_high, "n_rows": plan.n_rows,
        "n_features": plan.n_features, "small_rows": 2000 if plan.n_rows > 2000 else "None",
    }
    readme = dict(
        fields, target=plan.target,
        data_summary=_wrap(
            f"`{fields['data_path']}`: {plan.n_rows} rows. Target: `{plan.target}` ({plan.kind}"
            + (f", {len(plan.classes)} classes: {_short(plan.classes)}" if plan.classes else "")
            + f"). Features: {_short([f'`{f}`' for f in plan.used])} ({plan.n_features} inputs)."
            + "".join(f" Left out: `{k}` ({why})." for k, why in plan.skipped.items())),
        layout=_wrap(texts.LAYOUT.get(plan.data_path.suffix.lower(), texts.LAYOUT[".h5"])) + "\n",
        target_scaling=("\nThe target is standardised too; predictions are scaled back, so losses are in "
                        "target units." if plan.kind == "regression" else ""),
        metric=_wrap(texts.METRIC[plan.kind].replace("$target", plan.target)),
        space_table="\n".join(_space_row(k, v) for k, v in plan.space.items()),
        files_table="\n".join(f"| `{Template(f).substitute(fields)}` | {Template(what).substitute(fields)} |"
                               for f, what in texts.FILES),
    )
    return {
        "configs/quick.yaml": texts.QUICK_YAML.substitute(fields),
        "README.md": texts.README_MD.substitute(readme),
        "tests/__init__.py": "",
        f"tests/test_{plan.name}.py": texts.TEST_PY.substitute(fields),
    }


def write_app(plan: AppPlan, dest: Path) -> list[str]:
    """Write the package to ``dest`` (which must not exist). Returns the files, relative."""
    files = {**code_files(plan, dest.parent), **text_files(plan, dest.parent)}
    tmp = Path(tempfile.mkdtemp(prefix=f".{plan.name}.", dir=dest.parent))
    try:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return list(files)


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` in POSIX form (absolute when there is no relative route)."""
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive (Windows)
        return path.as_posix()


def _wrap(text: str) -> str:
    import textwrap  # noqa: PLC0415

    return textwrap.fill(text, width=90, break_long_words=False, break_on_hyphens=False)


def _short(items: list, limit: int = 12) -> str:
    """Comma-separated, the middle elided when long."""
    items = [str(i) for i in items]
    if len(items) > limit:
        items = items[: limit - 2] + [f"... ({len(items) - limit + 1} more)", items[-1]]
    return ", ".join(items)


def _space_row(name: str, spec: dict) -> str:
    if spec.get("type") == "categorical":
        return f"| `{name}` | {', '.join(map(str, spec['choices']))} |"
    if spec.get("type") == "fixed":
        return f"| `{name}` | fixed at {spec['value']} |"
    return f"| `{name}` | {spec['type']} {spec['low']:g} - {spec['high']:g}{' (log)' if spec.get('log') else ''} |"
