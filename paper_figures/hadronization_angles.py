"""Figure: true vs GAN-generated theta* per perturbative class, best hadronization trial.

Reads a stored study (default: the quick config's storage) and the per-replicate
histograms its best trial saved; draws true and generated theta* in each perturbative
class with the band of the replicate spread, the condition-blind baseline, and each
replicate's test loss against the baseline and floor. Only when no
saved histograms are found does it retrain the best config, once per stored replicate
seed (cheap for the quick config; pass --no-retrain to refuse).

    python paper_figures/hadronization_angles.py [--config CONFIG.yaml] [--storage URL]
        [--study NAME] [--out runs/figures/hadronization_angles.png]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "apps/hadronization/configs/quick.yaml"


def _read_yaml(path: Path) -> dict:
    import yaml  # noqa: PLC0415

    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def _retrain(study, trial, data: dict, workdir: Path) -> list[Path]:
    """Re-run the best config for each of its stored replicate seeds; returns histogram paths."""
    from uqhpo.apps.hadronization.task import HadronizationTask  # noqa: PLC0415
    from uqhpo.task import TrialContext  # noqa: PLC0415

    task = HadronizationTask()
    task.configure(data)
    paths = []
    for index, rep in sorted(trial.latest().items()):
        if getattr(rep.state, "value", rep.state) != "COMPLETE":
            continue
        ctx = TrialContext(seed=rep.seed, trial=trial.number, replicate=index, workdir=workdir / f"trial{trial.number}")
        print(f"   retraining trial {trial.number} replicate {index} (seed {rep.seed})")
        paths.append(Path(task.run(trial.config, ctx)["hist_path"]))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--storage", default=None, help="storage URL (default: the config's)")
    parser.add_argument("--study", default=None, help="study name (default: the config's)")
    parser.add_argument("--out", type=Path, default=Path("runs/figures/hadronization_angles.png"))
    parser.add_argument("--no-retrain", action="store_true", help="fail instead of retraining")
    args = parser.parse_args(argv)

    import uqhpo  # noqa: PLC0415
    from uqhpo.apps.hadronization.figures import plot_theta_per_class, trial_histogram_paths  # noqa: PLC0415

    cfg = _read_yaml(args.config)
    study_cfg = cfg.get("study")
    name = args.study or (study_cfg.get("name") if isinstance(study_cfg, dict) else study_cfg) or "hadronization_quick"
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
    paths = trial_histogram_paths(trial, search_dirs=[output, storage_dir])
    if not paths:
        if args.no_retrain:
            print(f"trial {best.number} has no saved histograms and --no-retrain was given")
            return 1
        user = study.record.settings.get("user") or {}
        data = (user.get("config") or user).get("data") or cfg.get("data") or {}
        paths = _retrain(study, trial, data, output / "figure_retrain")
    config = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.config.items())
    m = best.metrics
    out = plot_theta_per_class(paths, args.out, title=f"{study.name}: best trial {best.number} (validation loss "
                                                      f"{best.mean:.4f} ± {best.std:.4f})\n{config}")
    print(f"best trial {best.number}: validation loss {best.mean:.4f} ± {best.std:.4f}, test loss "
          f"{m.get('test_loss', float('nan')):.4f} over {best.n} replicates (baseline "
          f"{m.get('baseline_test_loss', float('nan')):.4f}, floor {m.get('floor_test_loss', float('nan')):.4f}); "
          f"figure: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
