"""Figure: sparse-angle CT reconstructions of the best ct trial, with error and uncertainty.

Reads a stored study (default: the quick config's storage) and the test examples its
best trial's replicates saved; draws per sample the FBP of the sparse sinogram, the
reference (FBP of the full sinogram), the FBP of the inpainted sinogram (mean over
replicates), the absolute difference to the reference and the per-pixel standard
deviation (MC dropout + replicates). Only when no saved examples are found does it
retrain the best config, once per stored replicate seed (pass --no-retrain to refuse).

    python paper_figures/ct_reconstruction.py [--config CONFIG.yaml] [--storage URL]
        [--study NAME] [--out runs/figures/ct_reconstruction.png]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "apps/ct/configs/quick.yaml"


def _read_yaml(path: Path) -> dict:
    import yaml  # noqa: PLC0415

    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def _retrain(study, trial, data: dict, workdir: Path) -> list[Path]:
    """Re-run the best config for each of its stored replicate seeds; returns example paths."""
    from uqhpo.apps.ct.task import CTTask  # noqa: PLC0415
    from uqhpo.task import TrialContext  # noqa: PLC0415

    task = CTTask()
    task.configure(data)
    paths = []
    for index, rep in sorted(trial.latest().items()):
        if getattr(rep.state, "value", rep.state) != "COMPLETE":
            continue
        ctx = TrialContext(seed=rep.seed, trial=trial.number, replicate=index,
                           workdir=workdir / f"trial{trial.number}", mc_dropout=study.mc_dropout)
        print(f"   retraining trial {trial.number} replicate {index} (seed {rep.seed})")
        paths.append(Path(task.run(trial.config, ctx)["examples_path"]))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--storage", default=None, help="storage URL (default: the config's)")
    parser.add_argument("--study", default=None, help="study name (default: the config's)")
    parser.add_argument("--out", type=Path, default=Path("runs/figures/ct_reconstruction.png"))
    parser.add_argument("--rows", type=int, default=3, help="test samples shown, one per row")
    parser.add_argument("--no-retrain", action="store_true", help="fail instead of retraining")
    args = parser.parse_args(argv)

    import uqhpo  # noqa: PLC0415
    from uqhpo.apps.ct.figures import plot_reconstructions, trial_example_paths  # noqa: PLC0415

    cfg = _read_yaml(args.config)
    name = args.study or cfg.get("study") or "ct_quick"
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
    paths = trial_example_paths(trial, search_dirs=[output, storage_dir])
    if not paths:
        if args.no_retrain:
            print(f"trial {best.number} has no saved examples and --no-retrain was given")
            return 1
        user = study.record.settings.get("user") or {}
        data = (user.get("config") or user).get("data") or cfg.get("data") or {}
        paths = _retrain(study, trial, data, output / "figure_retrain")
    config = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.config.items())
    baseline = best.metrics.get("baseline_loss", float("nan"))
    out = plot_reconstructions(paths, args.out, rows=args.rows,
                               title=f"{study.name}: best trial {best.number} (missing-row MSE {best.mean:.3g} "
                                     f"± {best.std:.2g}, interpolation {baseline:.3g})\n{config}")
    print(f"best trial {best.number}: loss = {best.mean:.4g} ± {best.std:.2g} over {best.n} replicates "
          f"(linear-interpolation baseline {baseline:.4g}); figure: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
