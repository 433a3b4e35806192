"""Run every figure script in this folder (``make figures``).

    python paper_figures/make_all.py [--preset quick|paper] [--only NAME ...]

The method figures (``fig_*.py``) take the preset (also from ``PRESET=quick|paper`` in the
environment, as the Makefile passes it) and build the studies they need when missing;
they write ``paper_figures/out/*.png|pdf``. The per-app scripts (``<app>_*.py``) are run
as they are. Helpers start with ``_``. One script's failure does not stop the others;
the exit status says whether all finished.
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts(only: list[str] | None = None) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name != "make_all.py" and not p.name.startswith("_"))
    if only:
        wanted = {name.removesuffix(".py") for name in only}
        found = [p for p in found if p.stem in wanted or p.stem.removeprefix("fig_") in wanted]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("quick", "paper"), default=os.environ.get("PRESET") or "quick")
    parser.add_argument("--only", nargs="+", help="script names, e.g. convergence timeline hadronization_angles")
    args = parser.parse_args(argv)
    os.environ["PRESET"] = args.preset          # the fig_* scripts read it
    sys.path.insert(0, str(HERE))
    failed = []
    for script in scripts(args.only):
        print(f"== {script.name} ({args.preset})")
        saved = sys.argv
        sys.argv = [str(script)]
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as e:  # scripts exit non-zero when a study is missing or failed
            if e.code not in (None, 0):
                print(f"   failed: {e.code}")
                failed.append(script.name)
        except Exception as e:  # keep going: one figure's problem should not hide the others
            print(f"   failed: {type(e).__name__}: {e}")
            failed.append(script.name)
        finally:
            sys.argv = saved
    if failed:
        print(f"{len(failed)} figure script(s) did not finish: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
