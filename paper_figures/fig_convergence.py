"""Figure: convergence of RBF vs GP vs random search (best so far, median and IQR over seeds).

    python paper_figures/fig_convergence.py [--preset quick|paper] [--out DIR] [--no-build]

quick: the noisy quadratic test task, 3 seeds per strategy; paper: the hadronization GAN,
5 seeds. Writes out/convergence.png|pdf (vs completed trainings) and
out/convergence_time.png|pdf (vs wall time).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_args, require  # noqa: E402
from _studies import build_convergence, convergence_names  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)
    from uqhpo.analysis.compare import compare_studies  # noqa: PLC0415
    from uqhpo.plotting.cost import plot_comparison  # noqa: PLC0415

    studies = require(args.preset, convergence_names(args.preset), build_convergence, args.no_build)
    for axis, stem in (("evaluations", "convergence"), ("seconds", "convergence_time")):
        comparison = compare_studies(studies, axis=axis)
        title = f"RBF vs GP vs random ({args.preset} preset)"
        for path in plot_comparison(comparison, args.out / stem, title=title):
            print(f"   wrote {path}")
    print("\n".join("   " + line for line in comparison.table()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
