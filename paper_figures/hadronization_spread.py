"""Figure: loss vs replicate spread of every trial of a stored hadronization study.

Each trial is a point (std over its replicates, mean loss): validation (what the search
selects on) and test (what is reported), with the baseline (best non-learned sampler)
and the floor (perfect generator) as lines. Reads the stored study only.

    python paper_figures/hadronization_spread.py [--config CONFIG.yaml] [--storage URL]
        [--study NAME] [--out runs/figures/hadronization_spread.png]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "apps/hadronization/configs/quick.yaml"


def _study_name_and_storage(config: Path, study: str | None, storage: str | None) -> tuple[str, str]:
    import yaml  # noqa: PLC0415

    cfg = (yaml.safe_load(config.read_text()) or {}) if config.exists() else {}
    name = study or cfg.get("study") or "hadronization_quick"
    name = name.get("name") if isinstance(name, dict) else name
    return name, storage or cfg.get("storage", f"sqlite:///runs/{name}/study.db")


def trial_rows(study) -> list[dict]:
    """One row per trial with completed replicates: number, mean, std, test_mean, test_std."""
    rows = []
    for t in study.trials:
        if t.n < 1:
            continue
        full = next(x for x in study.all_trials() if x.number == t.number)
        tests = [r.metrics.get("test_loss") for r in full.latest().values()
                 if getattr(r.state, "value", r.state) == "COMPLETE" and r.metrics.get("test_loss") is not None]
        rows.append({"number": t.number, "mean": t.mean, "std": t.std if np.isfinite(t.std) else 0.0,
                     "test_mean": float(np.mean(tests)) if tests else float("nan"),
                     "test_std": float(np.std(tests, ddof=1)) if len(tests) > 1 else float("nan")})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--storage", default=None)
    parser.add_argument("--study", default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/figures/hadronization_spread.png"))
    args = parser.parse_args(argv)

    import uqhpo  # noqa: PLC0415
    from uqhpo.apps.hadronization.figures import plot_loss_vs_spread  # noqa: PLC0415

    name, storage = _study_name_and_storage(args.config, args.study, args.storage)
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///"):]).exists():
        print(f"no study at {storage}: run `uqhpo run {args.config}` first")
        return 1
    study = uqhpo.load_study(storage, name=name)
    rows = trial_rows(study)
    if not rows:
        print(f"study {name} has no completed trials")
        return 1
    best = study.best
    m = best.metrics
    out = plot_loss_vs_spread(rows, args.out, baseline=float(m["baseline_test_loss"]),
                              floor=float(m["floor_test_loss"]), best=best.number,
                              title=f"{name}: {len(rows)} trials")
    print(f"{len(rows)} trials; best {best.number}: test {m.get('test_loss', float('nan')):.4f}; figure: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
