"""How sure is a median difference? A paired bootstrap over seeds of stored benchmark runs.

Reads the results JSONL of ``optimizer_bench.py`` and prints, per problem, the median true
value of each optimizer over the seeds every listed optimizer has, and for each (row, peer)
pair the median difference with its 90 % bootstrap interval (seeds resampled together, so
the pairing by seed is kept) and the share of seeds on which the row did better.

    .venv/bin/python benchmarks/paired_bootstrap.py --results benchmarks/results/optimizer_uq3.jsonl \\
        --problems branin-int-noisy,hartmann6-noisy,ackley5-mixed-noisy \\
        --rows uqhpo-rbf-ad2-t --peers optuna-gp,optuna-tpe --seeds 0-49
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def parse_seeds(text: str) -> set[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return set(range(int(lo), int(hi) + 1))
    return {int(s) for s in text.split(",")}


def final_values(path: Path, problem: str, optimizer: str, seeds: set[int]) -> dict[int, float]:
    """``{seed: best_true}`` of the finished runs of ``optimizer`` on ``problem``."""
    out = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if (r.get("problem"), r.get("optimizer")) == (problem, optimizer) and "best_true" in r \
                and "error" not in r and r.get("seed") in seeds:
            out[int(r["seed"])] = float(r["best_true"])
    return out


def paired_interval(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, draws: int = 4000
                    ) -> tuple[float, float]:
    """90 % interval of ``median(x) - median(y)`` over seeds resampled in pairs (``x``, ``y`` ``(s,)``)."""
    idx = rng.integers(0, len(x), size=(draws, len(x)))
    diffs = np.median(x[idx], axis=1) - np.median(y[idx], axis=1)
    lo, hi = np.percentile(diffs, [5, 95])
    return float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--problems", required=True, help="comma list")
    ap.add_argument("--rows", required=True, help="comma list of the optimizers to judge")
    ap.add_argument("--peers", required=True, help="comma list of the optimizers to compare with")
    ap.add_argument("--seeds", default="0-9", help='"0-49" or "1,4,7"')
    ap.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    args = ap.parse_args()
    rows, peers = args.rows.split(","), args.peers.split(",")
    rng = np.random.default_rng(args.seed)
    for problem in args.problems.split(","):
        values = {o: final_values(args.results, problem, o, parse_seeds(args.seeds)) for o in rows + peers}
        common = sorted(set.intersection(*(set(v) for v in values.values())))
        print(f"\n### {problem}: {len(common)} seeds with every optimizer\n")
        if not common:
            continue
        print("| row | peer | median row | median peer | difference | 90 % interval | row better on |")
        print("|---|---|---|---|---|---|---|")
        for row in rows:
            x = np.array([values[row][s] for s in common])
            for peer in peers:
                y = np.array([values[peer][s] for s in common])
                lo, hi = paired_interval(x, y, rng)
                print(f"| {row} | {peer} | {np.median(x):.4g} | {np.median(y):.4g} | "
                      f"{np.median(x) - np.median(y):+.4g} | [{lo:+.4g}, {hi:+.4g}] | {np.mean(x < y):.0%} of seeds |")


if __name__ == "__main__":
    main()
