"""The reading commands of the ``uqhpo`` CLI: status, best, export, plot, list.

They read the storage only: given a YAML config they take its storage and study name
and never import the task or look for its data files. A path that is not a uqhpo
storage gives one line (``'x.csv' is not a uqhpo storage (SQLite or journal)``).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, Optional, TextIO

__all__ = ["UserError", "existing_storage", "open_study", "cmd_status", "cmd_best", "cmd_export", "cmd_plot",
           "cmd_list", "write_plot", "is_config"]


class UserError(Exception):
    """An error caused by the user's input: shown as one line, no traceback."""


# -- opening storages ---------------------------------------------------------------------------
def is_config(target: str) -> bool:
    return target.endswith((".yaml", ".yml"))


def existing_storage(target: str) -> str:
    """The storage URL of an existing uqhpo storage file (a typo must not create an empty
    database, nor a foreign file get uqhpo's tables)."""
    from .config import storage_url  # noqa: PLC0415 - imports pydantic: readers only

    url = storage_url(target)
    for scheme in ("sqlite", "journal"):
        prefix = f"{scheme}:///"
        if url.startswith(prefix):
            path = Path(os.path.expanduser(url[len(prefix):]))
            if not path.exists():
                raise UserError(f"storage file '{url[len(prefix):]}' not found")
            if path.is_dir():
                raise UserError(f"'{target}' is a directory, not a uqhpo storage file")
            if not _looks_like_storage(path, scheme):
                raise UserError(f"'{target}' is not a uqhpo storage (SQLite or journal)")
    return url


def _looks_like_storage(path: Path, scheme: str) -> bool:
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    if scheme == "journal":
        return not head or head.lstrip()[:1] == b"{"  # an empty journal holds no study yet
    if not head.startswith(b"SQLite format 3\x00"):
        return False
    try:  # read-only: a foreign database must not get uqhpo's tables
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return {"studies", "trials", "replicates", "reports"} <= found


def open_study(target: str, study_name: Optional[str]) -> tuple[Any, Any]:
    """(study, config or None) for a config file or a storage URL/path; reads only."""
    from .config import load_config  # noqa: PLC0415
    from .study import load_study  # noqa: PLC0415

    cfg = None
    if is_config(target):
        cfg = load_config(target, check_task=False)
        url, study_name = existing_storage(cfg.storage or ""), study_name or cfg.study
    else:
        url = existing_storage(target)
    return load_study(read_only_storage(url), study_name), cfg


def read_only_storage(url: str) -> Any:
    """The storage at ``url`` opened read-only: reading commands never change a file."""
    from .storage import get_storage  # noqa: PLC0415

    return get_storage(url, read_only=True)


def stored_user(study: Any) -> dict:
    """The free settings the CLI stored with the study (``config``, ``config_file``)."""
    return dict(study.settings.user or {})


def _output_dir(study: Any, cfg: Any) -> Path:
    if cfg is not None:
        return cfg.output_dir
    stored = stored_user(study).get("config") or {}
    if stored.get("output"):
        return Path(stored["output"])
    path = getattr(study.storage, "path", None)
    return Path(path).resolve().parent if path else Path("runs") / study.name


# -- commands -----------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    from .analysis.describe import attempt_state, best_line, count_states, counts_line, objective_formula  # noqa: PLC0415
    from .summary import trial_states  # noqa: PLC0415
    from .trial import State  # noqa: PLC0415

    study, _ = open_study(args.target, args.study)
    trials = study.all_trials()
    s = study.settings
    print(f"study '{study.name}': strategy {s.strategy}, seed {s.seed}, objective = "
          f"{objective_formula(s.kappa, s.direction)} ({s.direction}), {'up to ' if s.adaptive else ''}"
          f"{s.n_replicates} replicate(s) per trial{' (adaptive)' if s.adaptive else ''}")
    print(f"trials: {len(trials)}" + (f" of {s.n_trials}" if s.n_trials else "") + " | "
          + counts_line(count_states(state.value for state in trial_states(trials))))
    # one pass over every replicate attempt (a study of 10^5 of them answers in about a second)
    reps = [r for t in trials for r in t.replicates]
    counts: dict[str, int] = {}
    n_done, last_finish, first_start = 0, -math.inf, math.inf
    now = time.time()
    stale: set[int] = set()
    for r in reps:
        state = r.state
        name = attempt_state(r) if state is State.FAILED else state.value
        counts[name] = counts.get(name, 0) + 1
        if r.started is not None and r.started < first_start:
            first_start = r.started
        if state is State.COMPLETE and r.finished is not None:
            n_done += 1
            last_finish = max(last_finish, r.finished)
        elif state is State.RUNNING and now - (r.heartbeat or r.started or now) > args.stale_after:
            stale.add(r.trial)
    print(f"replicates (all attempts): {len(reps)} | " + counts_line(counts))
    best = study.best_or_none()
    if best is None:
        print("best: no completed trial yet")
    else:
        print(f"best: {best_line(best, s.kappa, s.direction)}, config {json.dumps(best.config, default=str)}")
    if n_done and math.isfinite(first_start):
        hours = max(last_finish - first_start, 1e-9) / 3600
        print(f"throughput: {n_done / hours:.1f} finished replicates/hour ({n_done} in {hours * 60:.1f} min)")
    else:
        print("throughput: no finished replicate yet")
    print(f"stale RUNNING trials (heartbeat older than {args.stale_after:g} s): "
          + (", ".join(map(str, sorted(stale))) if stale else "none"))
    from .analysis.campaign import status_lines  # noqa: PLC0415 - counts, failures, projected time to finish
    for line in status_lines(study, trials, now, args.stale_after):
        print(line)
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    from .analysis.describe import objective_formula  # noqa: PLC0415
    from .recommendation import recommend, rule_of  # noqa: PLC0415

    study, _ = open_study(args.target, args.study)
    if study.best_or_none() is None:
        raise UserError(f"study '{study.name}' has no completed trial yet")
    s = study.settings
    try:
        rule = getattr(args, "rule", None) or rule_of(s)
        best = recommend(study, rule)
    except ValueError as e:
        raise UserError(str(e)) from None
    out = {"study": study.name, "rule": rule, "trial": best.number, "config": best.config, "objective": best.value,
           "objective_formula": objective_formula(s.kappa, s.direction), "kappa": s.kappa,
           "mean": best.mean, "std": best.std if best.n > 1 else None, "n": best.n,
           "losses": list(best.losses), "metrics": best.metrics}
    if args.format == "yaml":
        import yaml  # noqa: PLC0415

        print(yaml.safe_dump(out, sort_keys=False, allow_unicode=True).rstrip())
    else:
        print(json.dumps(out, indent=2, default=str, ensure_ascii=False))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .analysis.describe import objective_formula  # noqa: PLC0415
    from .analysis.export import nested_trials, replicate_rows, report_rows  # noqa: PLC0415
    from .analysis.history import trial_rows  # noqa: PLC0415

    study, _ = open_study(args.target, args.study)
    trials, names = study.all_trials(), study.space.names
    if args.rows == "replicates":
        columns, rows = replicate_rows(trials, names)
    elif args.rows == "reports":
        columns, rows = report_rows(trials)
    elif args.format == "json":
        columns, rows = trial_rows(trials, study.trials, names)[0], nested_trials(trials, study.trials, names)
    else:
        columns, rows = trial_rows(trials, study.trials, names)
    s = study.settings
    doc = {"study": study.name, "direction": s.direction, "kappa": s.kappa,
           "objective_formula": objective_formula(s.kappa, s.direction), "columns": columns, args.rows: rows}
    if args.out == "-":
        _write_table(sys.stdout, args.format, columns, rows, doc)
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="") as fh:
        _write_table(fh, args.format, columns, rows, doc)
    os.replace(tmp, out)
    print(f"wrote {len(rows)} {args.rows[:-1]} row(s) to {out}")
    return 0


def _write_table(fh: TextIO, fmt: str, columns: list[str], rows: list[dict], doc: dict) -> None:
    if fmt == "csv":
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    else:
        json.dump(doc, fh, indent=1, default=str, ensure_ascii=False)
        fh.write("\n")


def write_plot(study: Any, path: Path) -> Path:
    from .analysis.history import convergence_history  # noqa: PLC0415
    from .plotting.convergence import plot_convergence  # noqa: PLC0415

    history = convergence_history(study.trials, study.direction)
    return plot_convergence(history, path, title=f"study '{study.name}'", kappa=study.kappa)


def cmd_plot(args: argparse.Namespace) -> int:
    study, cfg = open_study(args.target, args.study)
    path = Path(args.out) if args.out else _output_dir(study, cfg) / "convergence.png"
    print(f"wrote {write_plot(study, path)}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """The studies in a storage: name, trials, complete, best objective."""
    from .config import load_config  # noqa: PLC0415
    from .study import load_study  # noqa: PLC0415

    target = load_config(args.target, check_task=False).storage or "" if is_config(args.target) else args.target
    url = existing_storage(target)
    names = _study_names(url)
    if not names:
        print(f"no studies in {url}")
        return 0
    table = [("study", "trials", "complete", "best objective")]
    store = read_only_storage(url)
    for name in names:
        study = load_study(store, name)
        trials = study.all_trials()
        best = study.best_or_none()
        table.append((name, str(len(trials)), str(sum(1 for t in trials if t.state.value == "COMPLETE")),
                      "-" if best is None else f"{best.value:.6g} (trial {best.number})"))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        print("  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:3], widths[1:3])),
                         row[3]]).rstrip())
    return 0


def _study_names(url: str) -> list[str]:
    return list(read_only_storage(url).list_studies())
