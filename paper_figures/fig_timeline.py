"""Figure: worker timelines of asynchronous vs synchronous scheduling (Gantt, utilization).

    python paper_figures/fig_timeline.py [--preset quick|paper] [--out DIR] [--no-build]

The same RBF search (noisy quadratic task, real losses) on a virtual clock with
log-normal training times (see _timeline_sim.py): quick 24 configs on 4 workers, paper 96
on 8. Bars are coloured by phase (initial design, surrogate). Writes out/timeline.png|pdf.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_args, require  # noqa: E402
from _studies import build_timeline  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)
    from uqhpo.analysis.timeline import study_timeline  # noqa: PLC0415
    from uqhpo.plotting.timeline import plot_timeline  # noqa: PLC0415

    studies = require(args.preset, ["timeline_async", "timeline_sync"], build_timeline, args.no_build)
    timelines = {mode: study_timeline(s) for mode, s in zip(("asynchronous", "synchronous"), studies)}
    for mode, tl in timelines.items():
        print(f"   {mode}: {tl.utilization_line()}, span {tl.span:.0f} s")
    for path in plot_timeline(timelines, args.out / "timeline",
                              title=f"asynchronous vs synchronous ({args.preset} preset)"):
        print(f"   wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
