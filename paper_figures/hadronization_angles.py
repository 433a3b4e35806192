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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _app_study import best_trial_files, format_config  # noqa: E402

DEFAULT_CONFIG = ROOT / "apps/hadronization/configs/quick.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--storage", default=None, help="storage URL (default: the config's)")
    parser.add_argument("--study", default=None, help="study name (default: the config's)")
    parser.add_argument("--out", type=Path, default=Path("runs/figures/hadronization_angles.png"))
    parser.add_argument("--no-retrain", action="store_true", help="fail instead of retraining")
    args = parser.parse_args(argv)

    from uqhpo.apps.hadronization.figures import plot_theta_per_class, trial_histogram_paths  # noqa: PLC0415

    def make_task():
        from uqhpo.apps.hadronization.task import HadronizationTask  # noqa: PLC0415

        return HadronizationTask()

    found = best_trial_files(args, "hadronization_quick", trial_histogram_paths, make_task, "hist_path", "histograms")
    if found is None:
        return 1
    study, best, paths = found
    config = format_config(best.config)
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
