"""Run every benchmark script in benchmarks/ (``make bench``).

    python benchmarks/run_all.py            # full mode (hours on 2 cores; resumable)
    python benchmarks/run_all.py --quick    # smoke mode: a few minutes

Scripts: ``optimizer_bench.py`` first, then every ``bench_*.py`` present (each takes
``--quick``). Each runs in its own process with one BLAS/OpenMP thread; a failing script
does not stop the others, but the exit status is non-zero when any failed.
``UQHPO_BENCH_QUICK=1`` selects quick mode too (``make bench UQHPO_BENCH_QUICK=1``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the optimizer benchmark runs first (the core evidence), then every other ``bench_*.py``
FIRST = "optimizer_bench.py"


def discover() -> list[str]:
    """Benchmark scripts present in benchmarks/, in run order."""
    others = sorted(p.name for p in HERE.glob("bench_*.py"))
    return ([FIRST] if (HERE / FIRST).exists() else []) + others


def run_script(script: Path, quick: bool, extra: list[str]) -> int:
    """Run one script with the same interpreter; returns its exit status."""
    cmd = [sys.executable, str(script), *(["--quick"] if quick else []), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    print(f"\n===== {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, env=env, cwd=HERE.parent)
    print(f"===== {script.name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
    return rc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run every benchmark script in benchmarks/.")
    ap.add_argument("--quick", action="store_true", help="smoke mode (passes --quick to every script)")
    ap.add_argument("--only", help="comma list of script names to run (default: all present)")
    ap.add_argument("--jobs", type=int, default=None, help="passed to optimizer_bench.py (default 2)")
    args = ap.parse_args(argv)
    quick = args.quick or os.environ.get("UQHPO_BENCH_QUICK", "") not in ("", "0")
    scripts = discover()
    wanted = args.only.split(",") if args.only else scripts
    unknown = [w for w in wanted if w not in scripts]
    if unknown:
        ap.error(f"--only: unknown script(s) {unknown}; present: {', '.join(scripts)}")

    results: dict[str, str] = {}
    for name in wanted:
        script = HERE / name
        extra = ["--jobs", str(args.jobs)] if args.jobs and name == "optimizer_bench.py" else []
        rc = run_script(script, quick, extra)
        results[name] = "ok" if rc == 0 else f"FAILED (exit {rc})"
    print(f"\nbenchmarks ({'quick' if quick else 'full'} mode):")
    for name, status in results.items():
        print(f"  {name:<24} {status}")
    return 1 if any(s.startswith("FAILED") for s in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
