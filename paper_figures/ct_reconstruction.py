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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _app_study import best_trial_files, format_config  # noqa: E402

DEFAULT_CONFIG = ROOT / "apps/ct/configs/quick.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--storage", default=None, help="storage URL (default: the config's)")
    parser.add_argument("--study", default=None, help="study name (default: the config's)")
    parser.add_argument("--out", type=Path, default=Path("runs/figures/ct_reconstruction.png"))
    parser.add_argument("--rows", type=int, default=3, help="test samples shown, one per row")
    parser.add_argument("--no-retrain", action="store_true", help="fail instead of retraining")
    args = parser.parse_args(argv)

    from uqhpo.apps.ct.figures import plot_reconstructions, trial_example_paths  # noqa: PLC0415

    def make_task():
        from uqhpo.apps.ct.task import CTTask  # noqa: PLC0415

        return CTTask()

    found = best_trial_files(args, "ct_quick", trial_example_paths, make_task, "examples_path", "examples")
    if found is None:
        return 1
    study, best, paths = found
    config = format_config(best.config)
    baseline = best.metrics.get("baseline_loss", float("nan"))
    out = plot_reconstructions(paths, args.out, rows=args.rows,
                               title=f"{study.name}: best trial {best.number} (missing-row MSE {best.mean:.3g} "
                                     f"± {best.std:.2g}, interpolation {baseline:.3g})\n{config}")
    print(f"best trial {best.number}: loss = {best.mean:.4g} ± {best.std:.2g} over {best.n} replicates "
          f"(linear-interpolation baseline {baseline:.4g}); figure: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
