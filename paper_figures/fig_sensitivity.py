"""Figure: which hyperparameters matter (value vs loss coloured by std; Sobol indices).

    python paper_figures/fig_sensitivity.py [--preset quick|paper] [--out DIR] [--no-build]

Sobol indices (first order and total) are computed on a GP fitted to the seed-0 RBF study
of the convergence figure; the 1-D/2-D surrogate slices through its incumbent go to
out/sensitivity_slices.png|pdf. Writes out/sensitivity.png|pdf.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_args, require  # noqa: E402
from _studies import build_convergence  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)
    from uqhpo.analysis.sensitivity import param_scatter, study_sobol  # noqa: PLC0415
    from uqhpo.plotting.kinds import PlotOptions, render  # noqa: PLC0415
    from uqhpo.plotting.sensitivity import plot_sensitivity  # noqa: PLC0415

    [study] = require(args.preset, ["conv_rbf_0"], build_convergence, args.no_build)
    sobol = study_sobol(study, surrogate="gp", n=2048)
    for name, value in sobol.as_dict().items():
        print(f"   {name}: S = {value['first']:.3f}, ST = {value['total']:.3f}")
    written = plot_sensitivity(param_scatter(study.trials, study.space), args.out / "sensitivity", sobol=sobol,
                               title=f"sensitivity of the RBF study ({args.preset} preset)")
    written += render(study, "slices", args.out / "_slices", PlotOptions(surrogate="gp"))
    for path in written:
        if path.parent.name == "_slices":
            path = path.replace(args.out / f"sensitivity_slices{path.suffix}")
        print(f"   wrote {path}")
    (args.out / "_slices").rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
