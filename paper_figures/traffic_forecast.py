"""Figure: a week of link-traffic forecasts with UQ bands, and per-link errors vs baselines.

Reads a stored study (default: the quick config's storage) and the per-replicate
forecasts its best trial saved; draws, for a backbone link, a lab spur and a
transatlantic link, the measured traffic of the first test week, the forecast ``--lead``
hours ahead (mean over replicates) and its 95 % band (MC dropout + residual + replicate
spread), and the test MAE of all 102 links for the model and the two baselines. Only
when no saved forecasts are found does it retrain the best config, once per stored
replicate seed (pass --no-retrain to refuse).

    python paper_figures/traffic_forecast.py [--config CONFIG.yaml] [--storage URL]
        [--study NAME] [--lead H] [--out runs/figures/traffic_forecast.png]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "apps/traffic/configs/quick.yaml"


def _read_yaml(path: Path) -> dict:
    import yaml  # noqa: PLC0415

    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def _retrain(trial, data: dict, mc_dropout: int, workdir: Path) -> list[Path]:
    """Re-run the best config for each of its stored replicate seeds; returns forecast paths."""
    from uqhpo.apps.traffic.task import TrafficTask  # noqa: PLC0415
    from uqhpo.task import TrialContext  # noqa: PLC0415

    task = TrafficTask()
    task.configure(data)
    paths = []
    for index, rep in sorted(trial.latest().items()):
        if getattr(rep.state, "value", rep.state) != "COMPLETE":
            continue
        ctx = TrialContext(seed=rep.seed, trial=trial.number, replicate=index, mc_dropout=mc_dropout,
                           workdir=workdir / f"trial{trial.number}")
        print(f"   retraining trial {trial.number} replicate {index} (seed {rep.seed})")
        paths.append(Path(task.run(trial.config, ctx)["forecast_path"]))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--storage", default=None, help="storage URL (default: the config's)")
    parser.add_argument("--study", default=None, help="study name (default: the config's)")
    parser.add_argument("--lead", type=int, default=None, help="forecast lead in hours (default: the horizon)")
    parser.add_argument("--out", type=Path, default=Path("runs/figures/traffic_forecast.png"))
    parser.add_argument("--no-retrain", action="store_true", help="fail instead of retraining")
    args = parser.parse_args(argv)

    import uqhpo  # noqa: PLC0415
    from uqhpo.apps.traffic.figures import plot_forecast, trial_forecast_paths  # noqa: PLC0415

    cfg = _read_yaml(args.config)
    study_cfg = cfg.get("study")
    name = args.study or (study_cfg.get("name") if isinstance(study_cfg, dict) else study_cfg) or "traffic_quick"
    # configs without storage/output use the defaults under the current directory: runs/<study>/
    storage = args.storage or cfg.get("storage", f"sqlite:///runs/{name}/study.db")
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///"):]).exists():
        print(f"no study at {storage}: run `uqhpo run {args.config}` first")
        return 1
    study = uqhpo.load_study(storage, name=name)
    best = study.best
    trial = next(t for t in study.all_trials() if t.number == best.number)
    output = Path(cfg.get("output", f"runs/{name}"))
    storage_dir = Path(storage.split(":///", 1)[-1]).parent
    paths = trial_forecast_paths(trial, search_dirs=[output, storage_dir])
    if not paths:
        if args.no_retrain:
            print(f"trial {best.number} has no saved forecasts and --no-retrain was given")
            return 1
        user = study.record.settings.get("user") or {}
        data = (user.get("config") or user).get("data") or cfg.get("data") or {}
        mc = int((cfg.get("uq") or {}).get("mc_dropout", 0))
        paths = _retrain(trial, data, mc, output / "figure_retrain")
    config = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.config.items())
    baseline = best.metrics.get("baseline_loss", float("nan"))
    out = plot_forecast(paths, args.out, lead=args.lead,
                        title=f"{study.name}: best trial {best.number} (validation loss {best.mean:.2f} ± "
                              f"{best.std:.2f}, best baseline {baseline:.2f})\n{config}")
    print(f"best trial {best.number}: loss = {best.mean:.3f} ± {best.std:.3f} over {best.n} replicates "
          f"(baseline_loss {baseline:.3f}); figure: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
