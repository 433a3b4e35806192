"""Run every benchmark script in benchmarks/ (``make bench``).

    python benchmarks/run_all.py            # full mode (hours on 2 cores; resumable)
    python benchmarks/run_all.py --quick    # smoke mode: a few minutes

Each script runs in its own process with one BLAS/OpenMP thread. Scripts that are not
there yet are reported and skipped; a failing script does not stop the others, but the
exit status is non-zero when any failed. ``UQHPO_BENCH_QUICK=1`` selects quick mode too
(``make bench UQHPO_BENCH_QUICK=1``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: run order: the optimizer benchmark first (the core evidence), then the engineering ones
SCRIPTS = ["optimizer_bench.py", "bench_storage.py", "bench_utilization.py"]


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
    wanted = args.only.split(",") if args.only else SCRIPTS
    unknown = [w for w in wanted if w not in SCRIPTS]
    if unknown:
        ap.error(f"--only: unknown script(s) {unknown}; choose from {', '.join(SCRIPTS)}")

    results: dict[str, str] = {}
    for name in wanted:
        script = HERE / name
        if not script.exists():
            results[name] = "not present (skipped)"
            continue
        extra = ["--jobs", str(args.jobs)] if args.jobs and name == "optimizer_bench.py" else []
        rc = run_script(script, quick, extra)
        results[name] = "ok" if rc == 0 else f"FAILED (exit {rc})"
    print(f"\nbenchmarks ({'quick' if quick else 'full'} mode):")
    for name, status in results.items():
        print(f"  {name:<24} {status}")
    return 1 if any(s.startswith("FAILED") for s in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
