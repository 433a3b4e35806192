"""What the per-app figure scripts share: find the study of a config, its best trial, and the
files that trial's replicates saved (retraining the config once per stored replicate seed
only when none are found)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, Optional


def format_config(config: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items())


def retrain(task: Any, trial: Any, data: dict, mc_dropout: int, workdir: Path, result_key: str) -> list[Path]:
    """Re-run ``trial``'s config for each of its completed replicate seeds; the saved paths."""
    from uqhpo.task import TrialContext  # noqa: PLC0415

    task.configure(data)
    paths = []
    for index, rep in sorted(trial.latest().items()):
        if getattr(rep.state, "value", rep.state) != "COMPLETE":
            continue
        ctx = TrialContext(seed=rep.seed, trial=trial.number, replicate=index, mc_dropout=mc_dropout,
                           workdir=workdir / f"trial{trial.number}")
        print(f"   retraining trial {trial.number} replicate {index} (seed {rep.seed})")
        paths.append(Path(task.run(trial.config, ctx)[result_key]))
    return paths


def best_trial_files(args: argparse.Namespace, default_name: str, find_paths: Callable[..., list[Path]],
                     make_task: Callable[[], Any], result_key: str, what: str) -> Optional[tuple[Any, Any, list]]:
    """(study, best summary, saved paths) for ``args.config``/``--storage``/``--study``;
    None after printing why (no study, or nothing saved and ``--no-retrain``)."""
    import uqhpo  # noqa: PLC0415
    from uqhpo.config import load_config  # noqa: PLC0415

    # the same storage, study name and output folder as `uqhpo run` (paths relative to the config)
    cfg = load_config(args.config, import_dirs=True)
    name = args.study or cfg.study or default_name
    storage = args.storage or cfg.storage
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///"):]).exists():
        print(f"no study at {storage}: run `uqhpo run {args.config}` first")
        return None
    study = uqhpo.load_study(storage, name=name)
    best = study.best
    trial = next(t for t in study.all_trials() if t.number == best.number)
    output = cfg.output_dir
    paths = find_paths(trial, search_dirs=[output, Path(storage.split(":///", 1)[-1]).parent])
    if not paths:
        if args.no_retrain:
            print(f"trial {best.number} has no saved {what} and --no-retrain was given")
            return None
        user = study.record.settings.get("user") or {}
        data = (user.get("config") or user).get("data") or cfg.data or {}
        paths = retrain(make_task(), trial, data, int(study.mc_dropout or 0), output / "figure_retrain", result_key)
    return study, best, paths
