"""Create-or-continue and optimize for `uqhpo run`, `resume`, `sweep` and `focus`: the
rules every command that runs a study shares (one place, so the CLI modules import it
one way and never each other)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional

from .cli_read import UserError, stored_user, write_plot

logger = logging.getLogger("uqhpo")

EXIT_FAILED = 1        # the study ran but no trial completed
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what schedulers expect


def _create_or_continue(cfg: Any, must_exist: bool = False) -> Any:
    """The study a config describes: created, or reopened when nothing that defines its
    objective changed (else a one-line error naming the changed settings)."""
    from .config import changed_settings, describe_changes  # noqa: PLC0415
    from .storage import get_storage  # noqa: PLC0415
    from .study import create_study  # noqa: PLC0415

    start_hint = f"start it with: uqhpo run {cfg.source or 'CONFIG'}"
    if must_exist and cfg.storage.startswith(("sqlite:///", "journal:///")):
        path = Path(os.path.expanduser(cfg.storage.split(":///", 1)[1]))
        if not path.exists():
            raise UserError(f"no study '{cfg.study}' in {cfg.storage} (no such file); {start_hint}")
    store = get_storage(cfg.storage)
    record = store.get_study(cfg.study)
    if record is None and must_exist:
        raise UserError(f"no study '{cfg.study}' in {cfg.storage}; {start_hint}")
    stored = (record.settings.get("user") or {}).get("config") if record is not None else None
    if record is not None and stored:
        changes = changed_settings(stored, record.space, cfg)
        if changes:
            raise UserError(describe_changes(changes, cfg.study))
    try:
        study = create_study(space=cfg.search_space, strategy=cfg.strategy.name,
                             strategy_options=cfg.strategy.options, seed=cfg.seed, storage=cfg.storage,
                             name=cfg.study, direction=cfg.direction, kappa=cfg.uq.kappa,
                             n_replicates=cfg.uq.replicates, mc_dropout=cfg.uq.mc_dropout,
                             adaptive_replicates=cfg.uq.adaptive, config_hash=cfg.config_hash(),
                             settings=_user_settings(cfg), load_if_exists=True)
    except ValueError as e:
        raise UserError(str(e)) from None
    # keep the stored config current (budget or executor may have changed on resume)
    study.set_user_settings({**stored_user(study), **_user_settings(cfg)})
    return study


def _user_settings(cfg: Any) -> dict:
    # the pruner may change on resume: stored where Study.pruner reads it, None = off
    out: dict[str, Any] = {"config": cfg.to_dict(), "pruner": cfg.pruner.spec() or None,
                           "recommend": cfg.uq.recommend}  # read by uqhpo.recommendation.rule_of
    if cfg.source is not None:  # its folder goes on sys.path again on `resume STORAGE`
        out["config_file"] = str(cfg.source)
    return out


def _optimize(study: Any, cfg: Any, n_trials: Optional[int], args: argparse.Namespace, resume_hint: str,
              executor: Any = None, plot: bool = True) -> int:
    """Run the study to its budget: ``n_trials`` configs (the caller's choice: ``--trials``,
    the config's or the stored one; None for none) and the config's ``budget.trainings``.
    ``executor``: an executor object built by the caller (``uqhpo worker --ddp-processes``),
    instead of the config's; ``plot``: write the convergence plot at the end (one of many
    workers sharing a study draws it, not all)."""
    from .policy import trainings_spent  # noqa: PLC0415

    max_trainings = cfg.budget.trainings
    trials = study.all_trials()
    done_before = sum(1 for t in trials if t.finished)
    budgets = ([f"{done_before} of {n_trials} trials done"] if n_trials is not None else
               [f"{done_before} trials done"])
    if max_trainings is not None:
        budgets.append(f"{trainings_spent(trials)} of {max_trainings} trainings spent")
    logger.info("study '%s': %s, %d replicate(s) each%s, %s executor with %d worker(s)", study.name,
                ", ".join(budgets), cfg.uq.replicates, " (adaptive)" if cfg.uq.adaptive else "",
                cfg.executor.name, cfg.executor.workers)
    from .optimize_loop import Terminated  # noqa: PLC0415

    force_workers = cfg.executor.force or executor is not None  # a caller's executor is sized by the caller
    if executor is None:
        executor = cfg.executor.name
    options = {k: v for k in ("address", "scheduler_file", "cluster", "profile", "jobs", "gpus_per_replicate",
                             "resources") if (v := getattr(cfg.executor, k, None)) is not None}
    if options and isinstance(executor, str):  # options beyond the worker count (the schema allows them for dask only)
        from .executors import make_executor  # noqa: PLC0415

        executor = make_executor(executor, workers=cfg.executor.workers, **options)
    try:
        study.optimize(cfg.task, n_trials=n_trials, n_replicates=cfg.uq.replicates, max_trainings=max_trainings,
                       executor=executor,
                       workers=cfg.executor.workers, replicates_parallel=cfg.uq.replicates_parallel,
                       timeout=cfg.budget.timeout, show_progress=_show_bar(args), data=cfg.data,
                       replicate_timeout=cfg.budget.replicate_timeout,
                       heartbeat_timeout=cfg.executor.heartbeat_timeout, force_workers=force_workers)
    except KeyboardInterrupt as e:
        what = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted"
        print(f"\n{what}; finished results are stored. resume with: uqhpo resume {resume_hint}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(e, Terminated) else EXIT_INTERRUPTED
    return _summarise(study, cfg.output_dir, plot=plot)


def _summarise(study: Any, output: Path, plot: bool = True) -> int:
    """Print the best config and (with ``plot``) write the convergence plot; the exit
    status (1 when no trial completed, with one line saying why)."""
    from .analysis.describe import best_line  # noqa: PLC0415

    best = study.best_or_none()
    if best is None:
        print(f"error: study '{study.name}': no trial completed; {_last_error(study)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"best of study '{study.name}': {best_line(best, study.kappa, study.direction)}")
    for key, value in best.config.items():
        print(f"  {key}: {value:.6g}" if isinstance(value, float) else f"  {key}: {value}")
    if plot:
        print(f"convergence plot: {write_plot(study, output / 'convergence.png')}")
    return 0


def _last_error(study: Any) -> str:
    """The last line of the most recent replicate error, or where to look."""
    errors = [r for t in study.all_trials() for r in t.replicates if r.error]
    if not errors:
        return "see `uqhpo status`"
    last = max(errors, key=lambda r: (r.finished or 0.0, r.trial, r.index, r.attempt))
    lines = [ln.strip() for ln in str(last.error).splitlines() if ln.strip()]
    return f"last error (trial {last.trial}): {lines[-1][:200] if lines else '?'}"


def _show_bar(args: argparse.Namespace) -> bool:
    """A progress bar only for a person watching: stderr is a terminal and not --quiet."""
    stream_is_tty = getattr(sys.stderr, "isatty", None)
    return bool(not getattr(args, "quiet", False) and callable(stream_is_tty) and stream_is_tty())
