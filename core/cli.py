"""The ``uqhpo`` command line: run, resume, status, best, export, plot, list, new-app.

User errors (a bad config, a missing file, a study that does not match) print one line
``error: <message>`` on stderr and exit with status 2; set ``UQHPO_DEBUG=1`` to see the
traceback instead. Ctrl-C during a run stores what finished, prints how to resume and
exits with 130. On a terminal a run shows a progress bar; redirected to a file it
writes one plain log line per finished trial.

``run``/``resume`` take ``--set dotted.key=value`` overrides (values parsed as YAML) and
put the current folder and the config file's folder on the import path, so a task
module next to the config imports. A setting that defines the objective (task, space,
uq, data, seed, direction, strategy) cannot change under an existing study name: the
error names the setting.

This module imports neither pydantic nor the config module at import time: a spawned
worker re-imports the main module (``uqhpo.cli`` under the console script), and a worker
must stay light.
"""
from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from . import __version__
from .cli_read import (
    UserError,
    cmd_best,
    cmd_export,
    cmd_list,
    cmd_status,
    existing_storage,
    is_config,
    stored_user,
)
from .cli_run import EXIT_INTERRUPTED, _create_or_continue, _optimize, _show_bar
from .executors.base import WorkerStartError
from .storage.base import StorageError

logger = logging.getLogger("uqhpo")

EXIT_USAGE = 2


def cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config  # noqa: PLC0415

    cfg = load_config(args.config, overrides=args.overrides, import_dirs=True)
    study = _create_or_continue(cfg)
    return _optimize(study, cfg, args.trials or cfg.budget.trials, args, str(args.config))


def cmd_resume(args: argparse.Namespace) -> int:
    from .config import apply_overrides, load_config, validate_config  # noqa: PLC0415

    overridden = [item.split("=", 1)[0].strip() for item in args.overrides]
    if is_config(args.target):
        overrides = [*args.overrides, *([f"study={args.study}"] if args.study else [])]
        cfg = load_config(args.target, overrides=overrides, import_dirs=True)
        hint = str(args.target)
    else:
        from .study import load_study  # noqa: PLC0415

        url = existing_storage(args.target)
        study = load_study(url, args.study)
        user = stored_user(study)
        if not user.get("config"):
            raise UserError(f"study '{study.name}' in {url} has no stored config; resume it with its YAML file")
        folder = Path(user["config_file"]).parent if user.get("config_file") else None
        raw = apply_overrides({**user["config"], "storage": url}, args.overrides)
        cfg = validate_config(raw, source=f"stored config of study '{study.name}'", overridden=overridden,
                              import_dirs=[Path.cwd(), *([folder] if folder else [])])
        hint = f"{args.target} --study {study.name}"
    study = _create_or_continue(cfg, must_exist=True)
    budget_set = any(k in ("budget", "budget.trials") for k in overridden)
    stored_trials = None if budget_set else study.settings.n_trials
    n_trials = args.trials or stored_trials or cfg.budget.trials  # None: the training budget alone binds
    return _optimize(study, cfg, n_trials, args, hint)


# -- output -------------------------------------------------------------------------------------
class _StderrHandler(logging.Handler):
    """Log lines to the current ``sys.stderr``; through ``tqdm.write`` while a bar is shown
    so that lines do not tear it."""

    def __init__(self, bar: bool):
        super().__init__()
        self.bar = bar

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if self.bar:
                from tqdm import tqdm  # noqa: PLC0415

                tqdm.write(text, file=sys.stderr)
            else:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()
        except Exception:  # pragma: no cover - never let logging kill a run
            self.handleError(record)


def _configure_logging(quiet: bool, bar: bool) -> None:
    log = logging.getLogger("uqhpo")
    for old in [h for h in log.handlers if isinstance(h, _StderrHandler)]:
        log.removeHandler(old)
    handler = _StderrHandler(bar)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)


# -- parser -------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uqhpo", description="Hyperparameter optimization with uncertainty.")
    p.add_argument("--version", action="version", version=f"uqhpo {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run (or continue) the study a YAML config describes")
    run.add_argument("config", help="YAML config file")
    resume = sub.add_parser("resume", help="continue a stopped study")
    resume.add_argument("target", metavar="CONFIG_OR_STORAGE", help="YAML config, storage URL or .db/.jsonl path")
    for cmd in (run, resume):
        cmd.add_argument("--trials", type=_positive_int, help="total trials (extends the budget)")
        cmd.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a config key, e.g. --set uq.replicates=2 (repeatable; values are YAML)")
        cmd.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    resume.add_argument("--study", help="study name (needed when the storage holds several)")
    readers = {"status": "trial and replicate counts, best so far, throughput, stale trials",
               "best": "the best config with loss mean ± std and metrics",
               "export": "trials, replicates or per-step reports as CSV or JSON"}
    cmds = {}
    for name, text in readers.items():
        c = sub.add_parser(name, help=text)
        c.add_argument("target", metavar="STORAGE_OR_CONFIG", help="storage URL, .db/.jsonl path or YAML config")
        c.add_argument("--study", help="study name (needed when the storage holds several)")
        cmds[name] = c
    cmds["status"].add_argument("--stale-after", type=float, default=120.0,
                                help="seconds without heartbeat after which a RUNNING trial counts as stale")
    cmds["best"].add_argument("--format", choices=("json", "yaml"), default="json")
    cmds["best"].add_argument("--rule", choices=("best", "surrogate"), default=None,
                              help="lowest aggregate, or best GP-smoothed value among the observed configs "
                                   "(default: the study's uq.recommend, else best)")
    cmds["export"].add_argument("--format", choices=("csv", "json"), default="csv")
    cmds["export"].add_argument("--rows", choices=("trials", "replicates", "reports"), default="trials",
                                help="one row per trial (JSON: with nested replicates and reports), per "
                                     "replicate attempt (seed, loss, metrics), or per reported step")
    cmds["export"].add_argument("--out", default="-", help="output file ('-', the default: standard output)")
    lister = sub.add_parser("list", help="the studies in a storage: trials, complete, best objective")
    lister.add_argument("target", metavar="STORAGE_OR_CONFIG", help="storage URL, .db/.jsonl path or YAML config")
    from .cli_analysis import add_parsers as add_analysis_parsers  # noqa: PLC0415
    from .newapp import add_parser as add_new_app_parser  # noqa: PLC0415

    add_analysis_parsers(sub)
    from .cli_cluster import add_parsers as add_cluster_parsers  # noqa: PLC0415

    add_cluster_parsers(sub)
    add_new_app_parser(sub)
    return p


def cmd_new_app(args: argparse.Namespace) -> int:
    from .newapp import cmd_new_app as run_new_app  # noqa: PLC0415

    return run_new_app(args)


def _commands() -> dict[str, Callable[[argparse.Namespace], int]]:
    from .cli_analysis import COMMANDS as analysis_commands  # noqa: PLC0415
    from .cli_cluster import COMMANDS as cluster_commands  # noqa: PLC0415

    return {"run": cmd_run, "resume": cmd_resume, "status": cmd_status, "best": cmd_best, "export": cmd_export,
            "list": cmd_list, "new-app": cmd_new_app, **analysis_commands,
            **cluster_commands}


def _os_error(e: OSError) -> str:
    """``cannot write '/x/y.csv': Not a directory`` from an OSError."""
    if e.filename is None:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return f"'{e.filename}': {e.strerror or type(e).__name__}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``uqhpo`` console script. Returns the exit status."""
    args = build_parser().parse_args(argv)
    _configure_logging(getattr(args, "quiet", False), bar=args.command in ("run", "resume") and _show_bar(args))
    try:
        return _commands()[args.command](args)
    except (UserError, StorageError, ValueError, ImportError, sqlite3.DatabaseError, WorkerStartError) as e:
        if os.environ.get("UQHPO_DEBUG"):
            raise
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        print(f"error: {lines[0] if lines else type(e).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:  # a file or folder the OS refuses: name it, no traceback
        if os.environ.get("UQHPO_DEBUG"):
            raise
        print(f"error: {_os_error(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `uqhpo status ... | head`: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - interpreter shutdown flushes it
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
