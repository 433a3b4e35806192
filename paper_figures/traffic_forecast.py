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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _app_study import best_trial_files, format_config  # noqa: E402

DEFAULT_CONFIG = ROOT / "apps/traffic/configs/quick.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--storage", default=None, help="storage URL (default: the config's)")
    parser.add_argument("--study", default=None, help="study name (default: the config's)")
    parser.add_argument("--lead", type=int, default=None, help="forecast lead in hours (default: the horizon)")
    parser.add_argument("--out", type=Path, default=Path("runs/figures/traffic_forecast.png"))
    parser.add_argument("--no-retrain", action="store_true", help="fail instead of retraining")
    args = parser.parse_args(argv)

    from uqhpo.apps.traffic.figures import plot_forecast, trial_forecast_paths  # noqa: PLC0415

    def make_task():
        from uqhpo.apps.traffic.task import TrafficTask  # noqa: PLC0415

        return TrafficTask()

    found = best_trial_files(args, "traffic_quick", trial_forecast_paths, make_task, "forecast_path", "forecasts")
    if found is None:
        return 1
    study, best, paths = found
    config = format_config(best.config)
    baseline = best.metrics.get("baseline_loss", float("nan"))
    out = plot_forecast(paths, args.out, lead=args.lead,
                        title=f"{study.name}: best trial {best.number} (validation loss {best.mean:.2f} ± "
                              f"{best.std:.2f}, best baseline {baseline:.2f})\n{config}")
    print(f"best trial {best.number}: loss = {best.mean:.3f} ± {best.std:.3f} over {best.n} replicates "
          f"(baseline_loss {baseline:.3f}); figure: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
