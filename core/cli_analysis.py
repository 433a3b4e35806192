"""The analysis commands of the ``uqhpo`` CLI: plot, compare, sweep, focus, prune-check.

:func:`add_parsers` registers them; :data:`COMMANDS` maps names to handlers.

* ``plot STUDY --kind K --out DIR``: figures of one stored study (PNG and PDF, or one
  self-contained HTML page); STUDY is a YAML config or a storage URL/path.
* ``compare STUDY STUDY ...``: best-so-far of several studies, median and IQR per strategy.
* ``sweep CONFIG --param NAME=v1,v2 [--param ...]``: a grid study (e.g. learning rate ×
  epochs) with replicates on the config's executor, then the "bowl" figure.
* ``focus STUDY [--around best --width 0.2 | --bounds NAME=lo:hi ...]``: a new study on a
  sub-box, seeded with the parent's results inside it and linked to the parent.
* ``prune-check STUDY``: in a study run without a pruner, would pruning have kept the best
  config? Early ranks of the learning curves against final ones.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Callable, Optional

from .cli_read import UserError, open_study, stored_user


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"--format: expected png, pdf and/or svg, got {text!r}")
    return formats


def _fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(f) for f in text.split(",") if f.strip())
    except ValueError:
        values = ()
    if not values or any(not (0 < f <= 1) for f in values):
        raise argparse.ArgumentTypeError(f"expected numbers in (0, 1] like 0.11,0.33,0.67, got {text!r}")
    return values


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 < value <= 1):
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1] like 0.33, got {text!r}")
    return value


def _steps(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--steps: expected integers like 20,100,200, got {text!r}") from None


# -- plot ---------------------------------------------------------------------------------------
def _out_dir(study: Any, cfg: Any, out: Optional[str]) -> tuple[Path, Optional[Path]]:
    """(folder, single file or None): ``--out x.png`` names one file (the former form)."""
    from .cli_read import _output_dir  # noqa: PLC0415

    if out and Path(out).suffix.lower() in (".png", ".pdf", ".svg", ".html"):
        return Path(out).parent, Path(out)
    return (Path(out) if out else _output_dir(study, cfg)), None


def cmd_plot(args: argparse.Namespace) -> int:
    from .plotting.kinds import PlotOptions, render  # noqa: PLC0415

    study, cfg = open_study(args.target, args.study)
    folder, single = _out_dir(study, cfg, args.out)
    options = PlotOptions(formats=args.format, color_by=args.color_by, surrogate=args.surrogate, target=args.target_,
                          x=args.x, group=args.group, steps=args.steps, metric=args.metric, top_k=args.top)
    if single is not None and args.kind != "all":
        written = _render_to_file(study, args.kind, single, options)
    else:
        written = render(study, args.kind, folder, options)
    for path in written:
        print(f"wrote {path}")
    return 0


def _render_to_file(study: Any, kind: str, path: Path, options: Any) -> list[Path]:
    """One kind written under the given file name (its suffix replaced per format)."""
    import dataclasses  # noqa: PLC0415

    from .plotting.kinds import render  # noqa: PLC0415

    if kind == "html":
        from .plotting.html import write_study_html  # noqa: PLC0415

        return [write_study_html(study, path.with_suffix(".html"))]
    if path.suffix.lower() != ".png" and path.suffix.lower() in (".pdf", ".svg"):
        options = dataclasses.replace(options, formats=(path.suffix[1:].lower(),))
    written = render(study, kind, path.parent / f".{path.stem}.tmpdir", options)
    out = []
    for w in written:  # move "<tmpdir>/<kind>.<fmt>" to "<stem>.<fmt>"
        target = path.with_suffix(w.suffix)
        w.replace(target)
        out.append(target)
    (path.parent / f".{path.stem}.tmpdir").rmdir()
    return out


# -- compare ------------------------------------------------------------------------------------
def _open_many(targets: list[str], study: Optional[str]) -> list[Any]:
    """Every study of every target (a storage may hold several, e.g. one per seed)."""
    from .cli_read import existing_storage, is_config  # noqa: PLC0415
    from .study import load_study  # noqa: PLC0415

    studies = []
    for target in targets:
        if is_config(target) or study:
            studies.append(open_study(target, study)[0])
            continue
        from .storage import get_storage  # noqa: PLC0415

        url = existing_storage(target)
        studies += [load_study(url, name) for name in get_storage(url).list_studies()]
    return studies


def cmd_compare(args: argparse.Namespace) -> int:
    from .analysis.compare import compare_studies  # noqa: PLC0415
    from .plotting.cost import plot_comparison  # noqa: PLC0415

    studies = _open_many(args.targets, args.study)
    if not studies:
        raise UserError("compare: no studies found in " + ", ".join(args.targets))
    label = (lambda s: s.name) if args.by == "study" else None
    comparison = compare_studies(studies, axis=args.axis, label=label)
    for line in comparison.table():
        print(line)
    out = Path(args.out)
    for path in plot_comparison(comparison, out, formats=args.format,
                                title=f"{len(studies)} studies: best so far, median and IQR"):
        print(f"wrote {path}")
    return 0


# -- sweep and focus ----------------------------------------------------------------------------
def _incumbent(storage: str, name: str) -> Optional[dict]:
    """The best config of a stored study, or None when there is none (yet)."""
    from .study import load_study  # noqa: PLC0415

    try:
        from .cli_read import existing_storage  # noqa: PLC0415

        best = load_study(existing_storage(storage), name).best_or_none()
    except (UserError, ValueError):
        return None
    return None if best is None else dict(best.config)


def _run_derived(raw: dict, source: Optional[Path], args: argparse.Namespace, where: str) -> tuple[Any, Any]:
    """Validate a derived config (sweep, focus) and create or reopen its study."""
    from .cli_run import _create_or_continue  # noqa: PLC0415 - the same create/continue rules as `run`
    from .config import apply_overrides, validate_config  # noqa: PLC0415

    raw = apply_overrides(raw, args.overrides)
    folder = source.parent if source else None
    cfg = validate_config(raw, source=where, import_dirs=[Path.cwd(), *([folder] if folder else [])],
                          overridden=[item.split("=", 1)[0].strip() for item in args.overrides])
    cfg._source = source  # stored as config_file: `resume` finds task modules next to it again
    return _create_or_continue(cfg), cfg


def cmd_sweep(args: argparse.Namespace) -> int:
    import math  # noqa: PLC0415

    from .analysis.focus import parse_values  # noqa: PLC0415
    from .cli_run import _optimize  # noqa: PLC0415
    from .config import load_config  # noqa: PLC0415
    from .plotting.kinds import PlotOptions, render  # noqa: PLC0415

    cfg = load_config(args.config, import_dirs=True)
    space = cfg.search_space
    swept = dict(parse_values(space, item) for item in args.param)
    base = _incumbent(cfg.storage or "", cfg.study or "")
    values: dict[str, list] = {}
    for name, p in space.params.items():
        if name in swept:
            values[name] = swept[name]
        elif p.width == 0:
            values[name] = [getattr(p, "value", None)]
        elif base is not None and name in base:
            values[name] = [base[name]]
        else:
            raise UserError(f"sweep: '{name}' is not swept and study '{cfg.study}' has no best config to take it "
                            f"from; give --param {name}=VALUE")
    name = args.name or f"{cfg.study}_sweep"
    n_points = math.prod(len(v) for v in values.values())
    raw = {**cfg.to_dict(), "strategy": {"name": "grid", "values": values}, "study": name,
           "output": str(cfg.output_dir.parent / name)}
    raw["budget"] = {**raw["budget"], "trials": int(args.trials or n_points)}
    study, sweep_cfg = _run_derived(raw, cfg.source, args, f"sweep of {args.config}")
    print(f"sweep study '{name}': {n_points} grid points x {sweep_cfg.uq.replicates} replicate(s), "
          f"storage {sweep_cfg.storage}")
    rc = _optimize(study, sweep_cfg, int(raw["budget"]["trials"]), args, f"{sweep_cfg.storage} --study {name}")
    if rc != 0:
        return rc
    varied = [k for k, v in swept.items() if len(v) > 1]
    x = args.x or (varied[0] if varied else None)
    group = args.group or (varied[1] if len(varied) > 1 else None)
    if x is not None:
        options = PlotOptions(formats=args.format, x=x, group=group)
        for path in render(study, "param", sweep_cfg.output_dir, options):
            print(f"wrote {path}")
    return 0


def cmd_focus(args: argparse.Namespace) -> int:
    from .analysis.focus import copy_trials, focus_space, parse_bounds  # noqa: PLC0415
    from .cli_read import existing_storage  # noqa: PLC0415
    from .cli_run import _optimize  # noqa: PLC0415

    parent, parent_cfg = open_study(args.target, args.study)
    user = stored_user(parent)
    stored = parent_cfg.to_dict() if parent_cfg is not None else user.get("config")
    if not stored:
        raise UserError(f"study '{parent.name}' has no stored config; give its YAML config instead")
    url = parent_cfg.storage if parent_cfg is not None else existing_storage(args.target)
    best = parent.best_or_none()
    bounds = parse_bounds(parent.space, args.bounds)
    sub = focus_space(parent.space, None if best is None else best.config, args.width, bounds)
    name = args.name or f"{parent.name}_focus"
    output = Path(stored.get("output") or f"runs/{parent.name}")
    raw = {**stored, "space": sub.to_dict(), "study": name, "storage": url, "output": str(output.parent / name)}
    source = parent_cfg.source if parent_cfg is not None else (
        Path(user["config_file"]) if user.get("config_file") else None)
    study, cfg = _run_derived(raw, source, args, f"focus of study '{parent.name}'")
    if not study.all_trials():
        copied = copy_trials(parent.all_trials(), study, parent.name)
        print(f"focus study '{name}': seeded with {len(copied)} of the parent's trials inside the sub-box")
    link = {"storage": url, "study": parent.name, "around": None if best is None else best.number,
            "width": args.width, "bounds": args.bounds}
    study.set_user_settings({**stored_user(study), "parent": link})
    for key, p in sub.params.items():
        print(f"  {key}: {p.to_dict()}")
    n_copied = sum(1 for t in study.all_trials() if (t.user_attrs or {}).get("copied_from"))
    n_trials = args.trials or (None if cfg.budget.trials is None else cfg.budget.trials + n_copied)
    if args.no_run:
        print(f"created study '{name}' in {url}; run it with: uqhpo resume {url} --study {name}"
              + (f" --trials {n_trials}" if n_trials else ""))
        return 0
    return _optimize(study, cfg, n_trials, args, f"{url} --study {name}")


# -- prune-check --------------------------------------------------------------------------------
def cmd_prune_check(args: argparse.Namespace) -> int:
    from .analysis.rank_agreement import early_rank_agreement, verdict  # noqa: PLC0415

    study, _ = open_study(args.target, args.study)
    trials = study.all_trials()
    try:
        rows = early_rank_agreement(trials, study.trials, args.metric, args.fractions, args.keep,
                                    study.settings.direction)
    except ValueError as e:
        raise UserError(f"prune-check of study '{study.name}': {e}") from None
    best = rows[0].best_number
    print(f"study '{study.name}': {rows[0].n_configs} completed configs; does the rank at a fraction of each "
          f"config's epochs predict the final objective?")
    header = ("fraction of epochs", "rank correlation", f"rank of the final best (trial {best})",
              f"within the best {args.keep:.0%}")
    table = [header] + [(f"{r.fraction:.2f}", "-" if math.isnan(r.spearman) else f"{r.spearman:+.2f}",
                         f"{r.best_rank} of {r.n_configs}", "yes" if r.kept else "no") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
    print(verdict(rows, args.keep))
    pruned = sum(t.state.value == "PRUNED" for t in trials)
    if pruned:
        print(f"note: {pruned} trial(s) of this study were pruned and take no part; the check is meant for a "
              f"study run without a pruner")
    return 0


# -- parsers ------------------------------------------------------------------------------------
def add_parsers(sub: Any) -> None:
    """Register the analysis sub-commands on the CLI's sub-parsers."""
    from .plotting.kinds import KINDS  # noqa: PLC0415 - light: no matplotlib import

    c = sub.add_parser("plot", help="figures of a study (PNG+PDF) or its interactive HTML page")
    c.add_argument("target", metavar="STORAGE_OR_CONFIG", help="storage URL, .db/.jsonl path or YAML config")
    c.add_argument("--study", help="study name (needed when the storage holds several)")
    c.add_argument("--kind", choices=KINDS, default="convergence", help="which figure (default: convergence)")
    c.add_argument("--out", help="output folder (default: the study's output folder); a file name ending "
                                 "in .png/.pdf/.html writes that one file")
    c.add_argument("--format", type=_formats, default=("png", "pdf"), help="png,pdf (default), svg")
    c.add_argument("--color-by", help="loss-variability: colour by this hyperparameter or metric")
    c.add_argument("--surrogate", choices=("auto", "rbf", "gp"), default="auto",
                   help="model for sensitivity and slices (auto: the study's own, else gp)")
    c.add_argument("--target", dest="target_", choices=("objective", "mean"), default="objective",
                   help="what the surrogate models: the objective (mean + κ·std) or the mean loss")
    c.add_argument("--x", help="param: the hyperparameter on the x axis")
    c.add_argument("--group", help="param: one line per value of this hyperparameter, or 'epoch' for the "
                                   "reported learning curves")
    c.add_argument("--steps", type=_steps, help="param with --group epoch: the epochs to draw, e.g. 20,100,200")
    c.add_argument("--metric", help="curves/param: the reported metric (default val_loss, loss, ...)")
    c.add_argument("--top", type=int, default=5, help="curves: the k best configs (default 5)")

    c = sub.add_parser("prune-check", help="in a study run without a pruner: would pruning have kept the best "
                                           "config? (early ranks of the learning curves against final ones)")
    c.add_argument("target", metavar="STORAGE_OR_CONFIG", help="storage URL, .db/.jsonl path or YAML config")
    c.add_argument("--study", help="study name (needed when the storage holds several)")
    c.add_argument("--metric", help="the reported metric (default val_loss, loss, ...)")
    c.add_argument("--fractions", type=_fractions, default=(1 / 9, 1 / 3, 2 / 3),
                   help="fractions of each config's epochs to compare at (default: ASHA's rungs with "
                        "reduction factor 3, 0.11,0.33,0.67)")
    c.add_argument("--keep", type=_share, default=1 / 3,
                   help="share of configs a pruner keeps at each fraction (default 0.33)")

    c = sub.add_parser("compare", help="best so far of several studies: median and IQR per strategy")
    c.add_argument("targets", nargs="+", metavar="STUDY", help="storages (every study in each) or YAML configs")
    c.add_argument("--study", help="only the study of this name in each storage")
    c.add_argument("--by", choices=("strategy", "study"), default="strategy", help="group studies by")
    c.add_argument("--axis", choices=("evaluations", "seconds"), default="evaluations", help="x axis")
    c.add_argument("--out", default="runs/compare/comparison", help="output path without suffix")
    c.add_argument("--format", type=_formats, default=("png", "pdf"))

    c = sub.add_parser("sweep", help="a grid study (e.g. lr x epochs) with replicates, then the bowl figure")
    c.add_argument("config", help="YAML config (task, uq, executor, storage)")
    c.add_argument("--param", action="append", default=[], metavar="NAME=v1,v2,...", required=True,
                   help="swept values of one hyperparameter (repeatable; one value fixes it)")
    c.add_argument("--name", help="study name (default: <study>_sweep)")
    c.add_argument("--x", help="x axis of the figure (default: the first --param with several values)")
    c.add_argument("--group", help="lines of the figure (default: the second such --param)")

    c = sub.add_parser("focus", help="a new study on a sub-box around the incumbent, seeded with the parent's "
                                     "results inside it")
    c.add_argument("target", metavar="STUDY", help="the parent: storage URL/path or YAML config")
    c.add_argument("--study", help="parent study name (needed when the storage holds several)")
    c.add_argument("--around", choices=("best",), default="best", help="centre of the sub-box")
    c.add_argument("--width", type=float, default=0.2, help="fraction of each numeric range (default 0.2)")
    c.add_argument("--bounds", action="append", default=[], metavar="NAME=lo:hi",
                   help="explicit bounds (categorical: NAME=a,b); repeatable")
    c.add_argument("--name", help="new study name (default: <parent>_focus)")
    c.add_argument("--no-run", action="store_true", help="create and seed the study, do not run it")
    for cmd in sub.choices["sweep"], c:
        cmd.add_argument("--trials", type=int, help="trial budget (sweep: the grid size)")
        cmd.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a config key, e.g. --set executor.workers=4")
        cmd.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
        cmd.add_argument("--format", type=_formats, default=("png", "pdf"))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "plot": cmd_plot, "compare": cmd_compare, "sweep": cmd_sweep, "focus": cmd_focus, "prune-check": cmd_prune_check}

__all__ = ["add_parsers", "COMMANDS", "cmd_plot", "cmd_compare", "cmd_sweep", "cmd_focus", "cmd_prune_check",
           "stored_user"]
