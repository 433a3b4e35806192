"""Figure: loss vs variability of random and RBF search (scatter with marginal histograms).

    python paper_figures/fig_loss_variability.py [--preset quick|paper] [--out DIR] [--no-build]

Every configuration a study evaluated is a point (mean loss, std over replicates); the
figure shows whether a strategy samples where the loss is low *and* stable. Reads the
seed-0 random and RBF studies of the convergence figure. Writes out/loss_variability.png|pdf.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_args, require  # noqa: E402
from _studies import build_convergence  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)
    from uqhpo.analysis.variability import loss_variability  # noqa: PLC0415
    from uqhpo.plotting.variability import plot_loss_variability  # noqa: PLC0415

    studies = require(args.preset, ["conv_random_0", "conv_rbf_0"], build_convergence, args.no_build)
    data = {s.settings.strategy: loss_variability(s.trials, space=s.space, direction=s.direction) for s in studies}
    for path in plot_loss_variability(data, args.out / "loss_variability",
                                      title=f"random vs RBF search ({args.preset} preset)"):
        print(f"   wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
