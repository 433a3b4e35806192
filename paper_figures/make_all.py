"""Run every figure script in this folder (``make figures``).

    python paper_figures/make_all.py [--preset quick|paper] [--only NAME ...]

The method figures (``fig_*.py``) take the preset (also from ``PRESET=quick|paper`` in the
environment, as the Makefile passes it) and build the studies they need when missing;
they write ``paper_figures/out/*.png|pdf``. The per-app scripts (``<app>_*.py``) get
``--config apps/<app>/configs/<preset>.yaml``, after ``uqhpo run`` of that config has built
or finished its study (a no-op when it is complete). Helpers start with ``_``. One
script's failure does not stop the others; the exit status says whether all finished.
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


def app_config(script: Path, preset: str) -> Path | None:
    """``apps/<app>/configs/<preset>.yaml`` for a per-app script ``<app>_<figure>.py``."""
    app = script.stem.split("_", 1)[0]
    config = HERE.parent / "apps" / app / "configs" / f"{preset}.yaml"
    return config if not script.stem.startswith("fig_") and config.is_file() else None


def build_study(config: Path) -> int:
    """Run (or finish) the study of ``config``; its exit status."""
    import subprocess  # noqa: PLC0415

    print(f"   building the study of {config.relative_to(HERE.parent)} (resumes; no-op when complete)")
    return subprocess.call([sys.executable, "-m", "uqhpo.cli", "run", str(config), "--quiet"])


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
        config = app_config(script, args.preset)
        if config is not None and build_study(config) != 0:
            print("   failed: its study did not finish")
            failed.append(script.name)
            continue
        saved = sys.argv
        sys.argv = [str(script), *(["--config", str(config)] if config is not None else [])]
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
