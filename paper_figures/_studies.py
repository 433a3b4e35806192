"""Build the studies the method figures read (the only script here that trains anything).

    python paper_figures/_studies.py [--preset quick|paper] [--only convergence|lr_sweep|timeline]

quick: the noisy quadratic test task (convergence, loss variability, sensitivity), the
template MLP (learning-rate sweep) and a virtual-clock schedule (timeline); minutes on
2 CPU cores. paper: the hadronization GAN (apps/hadronization/configs/paper.yaml) for
convergence, loss variability, sensitivity and the generator-learning-rate sweep.
Existing finished studies are kept (a re-run resumes unfinished ones).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PRESETS, ROOT, runs_dir, storage  # noqa: E402

STRATEGIES = ("rbf", "gp", "random")
CONVERGENCE = {
    "quick": {"config": ROOT / "paper_figures/configs/quick_quadratic.yaml", "seeds": 3, "n_initial": 6},
    "paper": {"config": ROOT / "apps/hadronization/configs/paper.yaml", "seeds": 5, "n_initial": 24},
}
LR_SWEEP = {
    "quick": {"config": ROOT / "apps/template/configs/quick.yaml", "x": "lr",
              "params": ["lr=1e-3,3e-3,1e-2,3e-2", "epochs=20", "layers=2", "width=32", "dropout=0.0",
                         "batch_size=64"],
              "sets": ["uq.replicates=2", "executor.workers=2"], "steps": [2, 5, 10, 20]},
    "paper": {"config": ROOT / "apps/hadronization/configs/paper.yaml", "x": "g_lr",
              "params": ["g_lr=1e-5,3e-5,1e-4,3e-4,1e-3", "epochs=1000", "noise_dim=8", "g_width=128", "g_depth=3",
                         "d_width=128", "d_depth=3", "d_lr=1e-4", "batch_size=512", "r1_weight=1.0",
                         "activation=leaky_relu", "g_norm=none", "d_norm=none"],
              "sets": ["space.epochs={type: integer, low: 20, high: 1000}", "data.eval_every=20"],
              "steps": [20, 100, 200, 1000]},
}


def convergence_names(preset: str) -> list[str]:
    return [f"conv_{s}_{k}" for s in STRATEGIES for k in range(CONVERGENCE[preset]["seeds"])]


def build_convergence(preset: str) -> None:
    """RBF, GP and random search, each repeated with several seeds."""
    from uqhpo.cli import main  # noqa: PLC0415

    spec = CONVERGENCE[preset]
    for name in convergence_names(preset):
        _, strategy, seed = name.split("_")
        section = "{name: random}" if strategy == "random" else f"{{name: {strategy}, n_initial: {spec['n_initial']}}}"
        argv = ["run", str(spec["config"]), "--quiet", "--set", f"strategy={section}", "--set", f"seed={seed}",
                "--set", f"study={name}", "--set", f"storage={storage(preset)}",
                "--set", f"output={runs_dir(preset) / name}"]
        if main(argv) != 0:
            raise SystemExit(f"study {name} failed: uqhpo {' '.join(argv)}")


def build_lr_sweep(preset: str) -> None:
    """Learning rate × epochs: one long training per learning rate, epochs read from the curves."""
    from uqhpo.cli import main  # noqa: PLC0415

    spec = LR_SWEEP[preset]
    data = ROOT / "datasets/template/regression.h5"
    if preset == "quick" and not data.exists():
        subprocess.run([sys.executable, "-m", "uqhpo.apps.template.data", "--out", str(data)], check=True)
    argv = ["sweep", str(spec["config"]), "--name", "lr_sweep", "--quiet", "--format", "png",
            "--set", f"storage={storage(preset)}", "--set", f"output={runs_dir(preset) / 'lr_sweep'}"]
    for item in spec["params"]:
        argv += ["--param", item]
    for item in spec["sets"]:
        argv += ["--set", item]
    if main(argv) != 0:
        raise SystemExit(f"the lr sweep failed: uqhpo {' '.join(argv)}")


def build_timeline(preset: str) -> None:
    """The same search scheduled asynchronously and synchronously on a virtual clock."""
    from _timeline_sim import simulate  # noqa: PLC0415

    n_trials, workers = (24, 4) if preset == "quick" else (96, 8)
    for mode in ("async", "sync"):
        simulate(storage(preset), f"timeline_{mode}", mode, n_trials=n_trials, workers=workers)


BUILDERS = {"convergence": build_convergence, "lr_sweep": build_lr_sweep, "timeline": build_timeline}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=PRESETS, default=os.environ.get("PRESET") or "quick")
    parser.add_argument("--only", choices=tuple(BUILDERS), action="append")
    args = parser.parse_args(argv)
    for name in args.only or BUILDERS:
        print(f"== building {name} studies ({args.preset})")
        BUILDERS[name](args.preset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
