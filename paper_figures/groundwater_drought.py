"""Figure: observed vs forecast groundwater level through the drought, best and a poor trial.

Reads a stored study (default: the quick config's storage) and the per-replicate
forecasts its trials saved; draws, for the best trial and the worst completed one, the
observed level, the forecast ``lead`` days ahead with its 95 % band (replicates and
Monte-Carlo dropout), and the RMSE per lead day against persistence. Only when a trial's
saved forecasts are missing does it retrain that config once per stored replicate seed
(cheap for the quick config; pass --no-retrain to refuse).

    python paper_figures/groundwater_drought.py [--config CONFIG.yaml] [--storage URL]
        [--study NAME] [--out runs/figures/groundwater_drought.png]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "apps/groundwater/configs/quick.yaml"


def _read_yaml(path: Path) -> dict:
    import yaml  # noqa: PLC0415

    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def _retrain(study, trial, data: dict, workdir: Path) -> list[Path]:
    """Re-run a trial's config for each of its stored replicate seeds; returns forecast paths."""
    from uqhpo.apps.groundwater.task import GroundwaterTask  # noqa: PLC0415
    from uqhpo.task import TrialContext  # noqa: PLC0415

    task = GroundwaterTask()
    task.configure(data)
    paths = []
    for index, rep in sorted(trial.latest().items()):
        if getattr(rep.state, "value", rep.state) != "COMPLETE":
            continue
        ctx = TrialContext(seed=rep.seed, trial=trial.number, replicate=index, workdir=workdir / f"trial{trial.number}",
                           mc_dropout=study.mc_dropout)
        print(f"   retraining trial {trial.number} replicate {index} (seed {rep.seed})")
        paths.append(Path(task.run(trial.config, ctx)["forecast_path"]))
    return paths


def _label(kind: str, summary) -> str:
    config = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.config.items())
    base = summary.metrics.get("baseline_loss", float("nan"))
    return (f"{kind}: trial {summary.number}, validation RMSE {summary.mean:.3f} ± {summary.std:.3f} m "
            f"over {summary.n} replicates (baseline {base:.3f} m)\n{config}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--storage", default=None, help="storage URL (default: the config's)")
    parser.add_argument("--study", default=None, help="study name (default: the config's)")
    parser.add_argument("--out", type=Path, default=Path("runs/figures/groundwater_drought.png"))
    parser.add_argument("--no-retrain", action="store_true", help="fail instead of retraining")
    args = parser.parse_args(argv)

    import uqhpo  # noqa: PLC0415
    from uqhpo.apps.groundwater.figures import plot_drought  # noqa: PLC0415
    from uqhpo.apps.groundwater.uq import forecast_paths  # noqa: PLC0415

    cfg = _read_yaml(args.config)
    study_cfg = cfg.get("study")
    name = args.study or (study_cfg.get("name") if isinstance(study_cfg, dict) else study_cfg) or "groundwater_quick"
    # configs without storage/output use the defaults under the current directory: runs/<study>/
    storage = args.storage or cfg.get("storage", f"sqlite:///runs/{name}/study.db")
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///"):]).exists():
        print(f"no study at {storage}: run `uqhpo run {args.config}` first")
        return 1
    study = uqhpo.load_study(storage, name=name)
    done = [t for t in study.trials if t.n > 0]
    if not done:
        print(f"study {name} has no completed trial yet")
        return 1
    best = study.best
    poor = max(done, key=lambda t: t.value)
    output = Path(cfg.get("output", f"runs/{name}"))
    storage_dir = Path(storage.split(":///", 1)[-1]).parent
    by_number = {t.number: t for t in study.all_trials()}
    trials, labels = [], []
    for kind, summary in (("best", best), ("poor", poor)):
        trial = by_number[summary.number]
        paths = forecast_paths(trial, search_dirs=[output, storage_dir])
        if not paths:
            if args.no_retrain:
                print(f"trial {summary.number} has no saved forecasts and --no-retrain was given")
                return 1
            user = study.record.settings.get("user") or {}
            data = (user.get("config") or user).get("data") or cfg.get("data") or {}
            paths = _retrain(study, trial, data, output / "figure_retrain")
        trials.append(paths)
        labels.append(_label(kind, summary))
    out = plot_drought(trials, args.out, labels=labels, title=f"{study.name}: groundwater level through the drought")
    print(f"best trial {best.number}: RMSE = {best.mean:.3f} ± {best.std:.3f} m over {best.n} replicates "
          f"(baseline {best.metrics.get('baseline_loss', float('nan')):.3f} m); poor trial {poor.number}: "
          f"{poor.mean:.3f} m; figure: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
