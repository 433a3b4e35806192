"""The ``uqhpo`` command line: run, resume, status, best, export, plot.

User errors (a bad config, a missing file, a study that does not match) print one line
``error: <message>`` on stderr and exit with status 2; set ``UQHPO_DEBUG=1`` to see the
traceback instead. Ctrl-C during a run stores what finished, prints how to resume and
exits with 130.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from .config import Config, ConfigError, export_task_data, load_config, storage_url, validate_config
from .storage.base import StorageError

logger = logging.getLogger("uqhpo")

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """An error caused by the user's input: shown as one line, no traceback."""


# -- opening studies ----------------------------------------------------------------------------
def _is_config(target: str) -> bool:
    return target.endswith((".yaml", ".yml"))


def _existing_storage(target: str) -> str:
    """Storage URL of an existing file (so that a typo does not create an empty database)."""
    url = storage_url(target)
    for scheme in ("sqlite", "journal"):
        prefix = f"{scheme}:///"
        if url.startswith(prefix) and not Path(os.path.expanduser(url[len(prefix):])).exists():
            raise UserError(f"storage file '{url[len(prefix):]}' not found")
    return url


def _open(target: str, study_name: Optional[str]) -> tuple[Any, Optional[Config]]:
    """(study, config or None) for a config file or a storage URL/path; reads only."""
    from .study import load_study  # noqa: PLC0415

    cfg = None
    if _is_config(target):
        cfg = load_config(target, check_task=False)
        url, study_name = _existing_storage(cfg.storage or ""), study_name or cfg.study
    else:
        url = _existing_storage(target)
    return load_study(url, study_name), cfg


def _stored_config(study: Any) -> Optional[dict]:
    return (study.record.settings.get("user") or {}).get("config")


def _output_dir(study: Any, cfg: Optional[Config]) -> Path:
    if cfg is not None:
        return cfg.output_dir
    stored = _stored_config(study)
    if stored and stored.get("output"):
        return Path(stored["output"])
    path = getattr(study.storage, "path", None)
    return Path(path).resolve().parent if path else Path("runs") / study.name


# -- run / resume -------------------------------------------------------------------------------
def _create_or_continue(cfg: Config, must_exist: bool = False) -> Any:
    from .storage import get_storage  # noqa: PLC0415
    from .study import create_study  # noqa: PLC0415

    if must_exist and cfg.study not in get_storage(cfg.storage).list_studies():
        raise UserError(f"no study '{cfg.study}' in {cfg.storage}; start it with: uqhpo run {cfg.source or 'CONFIG'}")
    try:
        study = create_study(space=cfg.search_space, strategy=cfg.strategy.name,
                             strategy_options=cfg.strategy.options, seed=cfg.seed, storage=cfg.storage,
                             name=cfg.study or "default", direction=cfg.direction, kappa=cfg.uq.kappa,
                             n_replicates=cfg.uq.replicates, mc_dropout=cfg.uq.mc_dropout,
                             adaptive_replicates=cfg.uq.adaptive,
                             config_hash=cfg.config_hash(), settings={"config": cfg.to_dict()},
                             load_if_exists=True)
    except ValueError as e:
        raise UserError(str(e)) from None
    # keep the stored config current (budget or executor may have changed on resume)
    study.set_user_settings({**(study.record.settings.get("user") or {}), "config": cfg.to_dict()})
    return study


def _optimize(study: Any, cfg: Config, n_trials: int, quiet: bool, resume_hint: str) -> int:
    export_task_data(cfg.data)  # spawned workers read the data section from the environment
    done_before = sum(1 for t in study.all_trials() if t.finished)
    logger.info("study '%s': %d of %d trials done, %d replicate(s) each, %s executor with %d worker(s)",
                study.name, done_before, n_trials, cfg.uq.replicates, cfg.executor.name, cfg.executor.workers)
    try:
        study.optimize(cfg.task, n_trials=n_trials, n_replicates=cfg.uq.replicates, executor=cfg.executor.name,
                       workers=cfg.executor.workers, replicates_parallel=cfg.uq.replicates_parallel,
                       timeout=cfg.budget.timeout, progress=not quiet)
    except KeyboardInterrupt:
        print(f"\ninterrupted; finished results are stored. resume with: uqhpo resume {resume_hint}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    _summarise(study, cfg.output_dir)
    return 0


def _summarise(study: Any, output: Path) -> None:
    """Print the best config and write the convergence plot."""
    try:
        best = study.best
    except ValueError:
        print(f"study '{study.name}': no trial completed; see `uqhpo status` for errors")
        return
    print(f"best of study '{study.name}': trial {best.number}, loss {best.mean:.6g} ± {best.std:.3g} "
          f"(mean ± std over {best.n} replicate(s)), objective {best.value:.6g}")
    for key, value in best.config.items():
        print(f"  {key}: {_fmt(value)}")
    path = _write_plot(study, output / "convergence.png")
    print(f"convergence plot: {path}")


def _write_plot(study: Any, path: Path) -> Path:
    from .analysis.history import convergence_history  # noqa: PLC0415
    from .plotting.convergence import plot_convergence  # noqa: PLC0415

    history = convergence_history(study.trials, study.direction)
    return plot_convergence(history, path, title=f"study '{study.name}'", kappa=study.kappa)


def cmd_run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    study = _create_or_continue(cfg)
    return _optimize(study, cfg, args.trials or cfg.budget.trials, args.quiet, str(args.config))


def cmd_resume(args: argparse.Namespace) -> int:
    if _is_config(args.target):
        cfg = load_config(args.target)
        if args.study:
            cfg.study = args.study
        study = _create_or_continue(cfg, must_exist=True)
        hint = str(args.target)
    else:
        from .study import load_study  # noqa: PLC0415

        url = _existing_storage(args.target)
        study = load_study(url, args.study)
        stored = _stored_config(study)
        if not stored:
            raise UserError(f"study '{study.name}' in {url} has no stored config; resume it with its YAML file")
        cfg = validate_config({**stored, "storage": url}, source=f"stored config of study '{study.name}'")
        study = _create_or_continue(cfg, must_exist=True)
        hint = f"{args.target} --study {study.name}"
    n_trials = args.trials or int(study.record.settings.get("n_trials") or cfg.budget.trials)
    return _optimize(study, cfg, n_trials, args.quiet, hint)


# -- reading commands ---------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    from .trial import State  # noqa: PLC0415

    study, _ = _open(args.target, args.study)
    trials = study.all_trials()
    budget = study.record.settings.get("n_trials")
    settings = study.record.settings
    print(f"study '{study.name}': strategy {settings.get('strategy')}, seed {study.seed}, kappa {study.kappa:g}, "
          f"{'up to ' if study.adaptive else ''}{study.n_replicates} replicate(s) per trial"
          f"{' (adaptive)' if study.adaptive else ''}, {study.direction}")
    by_state = _count(t.state.value for t in trials)
    print(f"trials: {len(trials)}" + (f" of {budget}" if budget else "") + " | " + _counts_line(by_state))
    reps = [r for t in trials for r in t.replicates]
    print(f"replicates (all attempts): {len(reps)} | " + _counts_line(_count(r.state.value for r in reps)))
    try:
        best = study.best
        print(f"best: trial {best.number}, loss {best.mean:.6g} ± {best.std:.3g} (n={best.n}), "
              f"objective {best.value:.6g}, config {json.dumps(best.config, default=str)}")
    except ValueError:
        print("best: no completed trial yet")
    done = [r for r in reps if r.state == State.COMPLETE and r.finished is not None]
    starts = [r.started for r in reps if r.started is not None]
    if done and starts:
        hours = max(max(r.finished for r in done) - min(starts), 1e-9) / 3600
        print(f"throughput: {len(done) / hours:.1f} finished replicates/hour ({len(done)} in {hours * 60:.1f} min)")
    else:
        print("throughput: no finished replicate yet")
    now = time.time()
    stale = sorted({r.trial for r in reps if r.state == State.RUNNING
                    and now - (r.heartbeat or r.started or now) > args.stale_after})
    print(f"stale RUNNING trials (heartbeat older than {args.stale_after:g} s): "
          + (", ".join(map(str, stale)) if stale else "none"))
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    study, _ = _open(args.target, args.study)
    try:
        best = study.best
    except ValueError as e:
        raise UserError(str(e)) from None
    out = {"study": study.name, "trial": best.number, "config": best.config, "objective": best.value,
           "mean": best.mean, "std": best.std, "n": best.n, "metrics": best.metrics}
    if args.format == "yaml":
        import yaml  # noqa: PLC0415

        print(yaml.safe_dump(out, sort_keys=False).rstrip())
    else:
        print(json.dumps(out, indent=2, default=str))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .analysis.history import trial_rows  # noqa: PLC0415

    study, _ = _open(args.target, args.study)
    columns, rows = trial_rows(study.all_trials(), study.trials, study.space.names)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="") as fh:
        if args.format == "csv":
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
        else:
            json.dump({"study": study.name, "columns": columns, "trials": rows}, fh, indent=1, default=str)
    os.replace(tmp, out)
    print(f"wrote {len(rows)} trial(s) to {out}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    study, cfg = _open(args.target, args.study)
    path = Path(args.out) if args.out else _output_dir(study, cfg) / "convergence.png"
    print(f"wrote {_write_plot(study, path)}")
    return 0


# -- helpers ------------------------------------------------------------------------------------
def _count(states: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in states:
        out[s] = out.get(s, 0) + 1
    return out


def _counts_line(counts: dict[str, int]) -> str:
    order = ["COMPLETE", "RUNNING", "WAITING", "FAILED", "STALE"]
    return "  ".join(f"{s} {counts.get(s, 0)}" for s in order)


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class _TqdmSafeHandler(logging.StreamHandler):
    """Writes log lines through tqdm so that they do not tear the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm  # noqa: PLC0415

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - never let logging kill a run
            self.handleError(record)


def _configure_logging(quiet: bool) -> None:
    log = logging.getLogger("uqhpo")
    if not any(isinstance(h, _TqdmSafeHandler) for h in log.handlers):
        handler = _TqdmSafeHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)


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
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run (or continue) the study a YAML config describes")
    run.add_argument("config", help="YAML config file")
    resume = sub.add_parser("resume", help="continue a stopped study")
    resume.add_argument("target", metavar="CONFIG_OR_STORAGE", help="YAML config, storage URL or .db/.jsonl path")
    for cmd in (run, resume):
        cmd.add_argument("--trials", type=_positive_int, help="total trials (extends the budget)")
        cmd.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    resume.add_argument("--study", help="study name (needed when the storage holds several)")
    readers = {"status": "trial and replicate counts, best so far, throughput, stale trials",
               "best": "the best config with loss mean ± std and metrics",
               "export": "one row per trial as CSV or JSON",
               "plot": "write the convergence plot (PNG)"}
    cmds = {}
    for name, text in readers.items():
        c = sub.add_parser(name, help=text)
        c.add_argument("target", metavar="STORAGE_OR_CONFIG", help="storage URL, .db/.jsonl path or YAML config")
        c.add_argument("--study", help="study name (needed when the storage holds several)")
        cmds[name] = c
    cmds["status"].add_argument("--stale-after", type=float, default=120.0,
                                help="seconds without heartbeat after which a RUNNING trial counts as stale")
    cmds["best"].add_argument("--format", choices=("json", "yaml"), default="json")
    cmds["export"].add_argument("--format", choices=("csv", "json"), default="csv")
    cmds["export"].add_argument("--out", required=True, help="output file")
    cmds["plot"].add_argument("--out", help="output PNG (default: <output>/convergence.png)")
    return p


_COMMANDS = {"run": cmd_run, "resume": cmd_resume, "status": cmd_status, "best": cmd_best,
             "export": cmd_export, "plot": cmd_plot}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``uqhpo`` console script. Returns the exit status."""
    args = build_parser().parse_args(argv)
    _configure_logging(getattr(args, "quiet", False))
    try:
        return _COMMANDS[args.command](args)
    except (ConfigError, UserError, StorageError, ValueError, FileNotFoundError, ImportError) as e:
        if os.environ.get("UQHPO_DEBUG"):
            raise
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        print(f"error: {lines[0] if lines else type(e).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `uqhpo status ... | head`: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - interpreter shutdown flushes it
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
