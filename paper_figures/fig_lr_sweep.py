"""Figure: the learning-rate × epochs "bowl" (loss mean ± std vs learning rate per epoch count).

    python paper_figures/fig_lr_sweep.py [--preset quick|paper] [--out DIR] [--no-build]

One long training per learning rate (with replicates) gives every epoch count from its
reported validation curve. quick: the template MLP, lr in 1e-3..3e-2, epochs 2/5/10/20
(a CPU-sized stand-in for the GAN); paper: the hadronization GAN's generator learning
rate, epochs 20/100/200/1000. Writes out/lr_sweep.png|pdf.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_args, require  # noqa: E402
from _studies import LR_SWEEP, build_lr_sweep  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)
    from uqhpo.analysis.param_effect import param_effect  # noqa: PLC0415
    from uqhpo.plotting.curves import plot_param_effect  # noqa: PLC0415

    spec = LR_SWEEP[args.preset]
    [study] = require(args.preset, ["lr_sweep"], build_lr_sweep, args.no_build)
    effect = param_effect(study.all_trials(), spec["x"], "epoch", study.space, steps=spec["steps"])
    for path in plot_param_effect(effect, args.out / "lr_sweep",
                                  title=f"{spec['x']} × epochs ({args.preset} preset)"):
        print(f"   wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
