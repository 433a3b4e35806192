"""Run every figure script in this folder (``make figures``).

Each script reads stored studies only (it never starts an optimization) and writes PNGs
under ``runs/figures/``. A script whose study is missing says which command makes it.
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "make_all.py" and not p.name.startswith("_"))
    failed = []
    for script in scripts:
        print(f"== {script.name}")
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as e:  # scripts exit non-zero when their study is missing
            if e.code not in (None, 0):
                failed.append(script.name)
        except Exception as e:  # keep going: one figure's problem should not hide the others
            print(f"   failed: {e}")
            failed.append(script.name)
    if failed:
        print(f"{len(failed)} figure script(s) did not finish: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
