"""Early stopping: the app quick studies with and without a pruner, measured in one run.

Each row is one ``uqhpo run apps/<app>/configs/quick.yaml`` (the CLI, as a user runs it)
with ``--set pruner=...``, ``--set seed=...`` and its own SQLite file under ``--out``, run
from the repository root (the apps read their default data files under ``datasets/``).
Columns:

* best objective: the recommended config's mean + kappa * std of the validation loss
  (what the search selects on), its mean ± std over the replicates, and the mean test
  loss of that config (a split neither the search nor the pruner sees);
* training time: the sum of every replicate attempt's runtime (what the study paid in
  trainings), and its ratio against the unpruned study of the same app and seed in this
  run; also the ratio without trial 0, which is the same config in every run of a seed
  and carries each worker process's one-time start-up (importing torch, loading the
  data): its runtime varies several-fold with the machine's load;
* epochs: epochs trained, summed over all replicate attempts (the last reported step of
  each), and its ratio: the resource pruning saves, independent of the machine's load;
* CPU time: user + system seconds of the whole ``uqhpo run`` process tree (driver and
  worker processes, start-up included), and its ratio: far less sensitive to the load
  of a shared machine than the runtimes above, which are wall-clock;
* counts of COMPLETE / PRUNED trials and the wall time of the whole study.

Equal cost, more configs (``--pruned-trials 20,24``): a pruned study may spend what it
saves on more configs. Each pruner then also runs with ``--set budget.trials=N`` (rows
``<pruner>@N``, studies ``<app>_<pruner>_tN``); every ratio stays against the unpruned study
with the config's own number of trials.

"best ok" says whether the pruned study's best mean is no worse than the unpruned study's
best mean plus the replicate spread (the larger of the two best configs' std); "target"
(issue 8, target 5) whether, in the same seed, the best is ok at an epoch ratio <= 0.60.
The last table puts the "best ok" rate next to its chance level: how often the rule holds
between the unpruned studies of two different seeds, i.e. for a rerun with no pruner at
all; and the pruned studies' median best mean minus the unpruned ones', with a 90 % interval
over seeds resampled in pairs (as in ``paired_bootstrap.py``).

Usage::

    python benchmarks/bench_pruning.py                         # template app, none/median/asha, seed 0
    python benchmarks/bench_pruning.py --apps template,hadronization --seeds 0,1,2
    python benchmarks/bench_pruning.py --pruners none,median,asha,median-frac,asha-frac --seeds 0,1,2,3,4
    python benchmarks/bench_pruning.py --tables-only           # re-print from the stored studies
    python benchmarks/bench_pruning.py --pruners asha-frac --reuse   # add a variant, keep the stored runs
    python benchmarks/bench_pruning.py --pruners asha,asha-frac --pruned-trials 20,24 --seeds 10,11
    python benchmarks/bench_pruning.py --pruners adaptive,asha@24 --seeds 0,1   # one label, its own trials
    python benchmarks/bench_pruning.py --trials 48 --pruners asha-frac,asha@72 --out /tmp/p48   # a larger study

Timings on a shared machine are noisy; every ratio is against the unpruned study of the
same app and seed measured in the same run.
"""
from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: pruner settings (the same for both apps), as ``--set`` overrides; "none": pruning off.
#: "-frac": the same rule comparing configs at the same fraction of their own ``epochs``
#: (``budget_key: epochs``) instead of at the same epoch; "asha-frac3" (min_steps 3) and
#: "asha-frac-e2" (reduction factor 2): the variants tried on the tuning seeds 10-14;
PRUNERS = {
    "none": [],
    "median": ["pruner={name: median, warmup_steps: 3, min_trials: 4}"],
    "asha": ["pruner={name: asha, min_steps: 2, reduction_factor: 3, min_trials: 3}"],
    "median-frac": ["pruner={name: median, warmup_steps: 3, min_trials: 4, budget_key: epochs}"],
    "asha-frac": ["pruner={name: asha, min_steps: 2, reduction_factor: 3, min_trials: 3, budget_key: epochs}"],
    "asha-frac3": ["pruner={name: asha, min_steps: 3, reduction_factor: 3, min_trials: 3, budget_key: epochs}"],
    "asha-frac-e2": ["pruner={name: asha, min_steps: 2, reduction_factor: 2, min_trials: 3, budget_key: epochs}"],
}
#: variants that also change the replication: "adaptive" trains each new config once and
#: tops the incumbent up to the replicates (``uq.adaptive``), with no pruner and with ASHA
PRUNERS["adaptive"] = ["uq.adaptive=true"]
PRUNERS["asha-ad"] = [*PRUNERS["asha"], "uq.adaptive=true"]
PRUNERS["asha-frac-ad"] = [*PRUNERS["asha-frac"], "uq.adaptive=true"]
#: "-mK": the same rule sparing a config within K standard errors of the cutoff (``margin: K``)
for _base in ("median", "asha", "median-frac", "asha-frac"):
    for _k in (1, 2):
        PRUNERS[f"{_base}-m{_k}"] = [PRUNERS[_base][0][:-1] + f", margin: {_k}}}"]


#: the epoch ratio at or below which a pruned study meets target 5 (with its best ok)
TARGET_EPOCH_RATIO = 0.60


def _split(label: str) -> tuple[str, int | None]:
    """``"asha@20"`` -> ("asha", 20); ``"asha"`` -> ("asha", None) (the config's trials)."""
    pruner, _, trials = label.partition("@")
    return pruner, int(trials) if trials else None


def _name(app: str, label: str, seed: int) -> str:
    pruner, trials = _split(label)
    stem = f"{app}_{pruner}" if trials is None else f"{app}_{pruner}_t{trials}"
    return stem if seed == 0 else f"{stem}_s{seed}"


def run_study(app: str, label: str, seed: int, out: Path, workers: int, base_trials: int | None = None) -> float:
    """One quick study through the CLI (``label``: a pruner, ``@N`` for N trials, else
    ``base_trials``, else the config's); returns its wall time (s)."""
    name = _name(app, label, seed)
    pruner, trials = _split(label)
    trials = base_trials if trials is None else trials
    cmd = [sys.executable, "-m", "uqhpo.cli", "run", str(ROOT / "apps" / app / "configs" / "quick.yaml"),
           "--set", f"study={name}", "--set", f"storage=sqlite:///{out / f'{name}.db'}", "--set", f"seed={seed}",
           "--set", f"output={out / name}", "--set", f"executor.workers={workers}", "--quiet"]
    for item in PRUNERS[pruner]:
        cmd += ["--set", item]
    if trials is not None:
        cmd += ["--set", f"budget.trials={trials}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0, cpu0 = time.perf_counter(), _children_cpu()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    (out / f"{name}.cpu").write_text(f"{cpu:.1f}\n")
    (out / f"{name}.wall").write_text(f"{wall:.1f}\n")
    return wall


def _children_cpu() -> float:
    """User + system CPU seconds of the waited-for child processes (and theirs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(app: str, pruner: str, seed: int, out: Path) -> dict:
    """Numbers of one stored study."""
    import uqhpo  # noqa: PLC0415

    name = _name(app, pruner, seed)
    study = uqhpo.load_study(f"sqlite:///{out / f'{name}.db'}", name)
    trials = study.all_trials()
    reps = [r for t in trials for r in t.replicates]
    best = study.best
    test = best.metrics.get("test_loss")
    wall_file, cpu_file = out / f"{name}.wall", out / f"{name}.cpu"
    return {"app": app, "pruner": pruner, "seed": seed, "objective": best.value, "mean": best.mean, "std": best.std,
            "test": float(test) if isinstance(test, (int, float)) else math.nan,
            "train_s": sum(r.runtime or 0.0 for r in reps),
            "train_s_after0": sum(r.runtime or 0.0 for r in reps if r.trial != 0),
            "epochs": sum(max((int(s) for s, _ in r.reports), default=0) for r in reps),
            "complete": sum(t.state.value == "COMPLETE" for t in trials),
            "pruned": sum(t.state.value == "PRUNED" for t in trials),
            "trainings": len(reps),
            "wall": float(wall_file.read_text()) if wall_file.exists() else math.nan,
            "cpu": float(cpu_file.read_text()) if cpu_file.exists() else math.nan}


def _with_ratios(rows: list[dict]) -> list[dict]:
    for r in rows:
        base = next((b for b in rows if (b["app"], b["seed"], b["pruner"]) == (r["app"], r["seed"], "none")), None)
        r["ratio"] = r["train_s"] / base["train_s"] if base else math.nan
        r["ratio0"] = r["train_s_after0"] / base["train_s_after0"] if base else math.nan
        r["epoch_ratio"] = r["epochs"] / base["epochs"] if base else math.nan
        r["cpu_ratio"] = r["cpu"] / base["cpu"] if base else math.nan
        r["ok"] = None if base is None or r is base else r["mean"] <= base["mean"] + max(r["std"], base["std"])
        r["target"] = None if r["ok"] is None else bool(r["ok"] and r["epoch_ratio"] <= TARGET_EPOCH_RATIO)
    return rows


def table(rows: list[dict]) -> str:
    """One line per study."""
    lines = ["| app | seed | pruner | best objective | best mean ± std | test loss of best | training time (s) | "
             "ratio | ratio w/o trial 0 | epochs | epoch ratio | CPU (s) | CPU ratio | best ok | target | "
             "COMPLETE / PRUNED | wall (s) |",
             "|" + "---|" * 17]
    for r in rows:
        ok = "-" if r["ok"] is None else ("yes" if r["ok"] else "no")
        target = "-" if r["target"] is None else ("yes" if r["target"] else "no")
        lines.append(f"| {r['app']} | {r['seed']} | {r['pruner']} | {r['objective']:.4g} | {r['mean']:.4g} ± "
                     f"{r['std']:.2g} | {r['test']:.4g} | {r['train_s']:.0f} | {r['ratio']:.2f} | {r['ratio0']:.2f} | "
                     f"{r['epochs']} | {r['epoch_ratio']:.2f} | {r['cpu']:.0f} | {r['cpu_ratio']:.2f} | {ok} | "
                     f"{target} | {r['complete']} / {r['pruned']} | "
                     f"{r['wall']:.0f} |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """Per app and pruner over the seeds: median ratios, seeds whose best is ok."""
    lines = ["| app | pruner | seeds | median time ratio | median ratio w/o trial 0 | median epoch ratio | "
             "median CPU ratio | best ok | target (best ok, epoch ratio <= 0.60) |",
             "|" + "---|" * 9]
    for app in dict.fromkeys(r["app"] for r in rows):
        for pruner in dict.fromkeys(r["pruner"] for r in rows if r["pruner"] != "none"):
            sel = [r for r in rows if (r["app"], r["pruner"]) == (app, pruner) and r["ok"] is not None]
            if sel:
                med = {k: statistics.median(r[k] for r in sel) for k in ("ratio", "ratio0", "epoch_ratio", "cpu_ratio")}
                lines.append(f"| {app} | {pruner} | {len(sel)} | {med['ratio']:.2f} | {med['ratio0']:.2f} | "
                             f"{med['epoch_ratio']:.2f} | {med['cpu_ratio']:.2f} | "
                             f"{sum(bool(r['ok']) for r in sel)} of {len(sel)} | "
                             f"{sum(bool(r['target']) for r in sel)} of {len(sel)} |")
    return "\n".join(lines)


def _best_ok(candidate: dict, base: dict) -> bool:
    """The "best ok" rule of :func:`_with_ratios`: ``candidate``'s best mean is no worse than
    ``base``'s plus the larger of the two best configs' replicate std."""
    return bool(candidate["mean"] <= base["mean"] + max(candidate["std"], base["std"]))


def chance_level(rows: list[dict], app: str) -> tuple[int, int]:
    """How often "best ok" holds with no pruner at all, between two seeds: over the ordered
    pairs (i, j), i != j, of the app's unpruned studies, the pairs where seed j's best is ok
    against seed i's. Returns (passed, pairs). A pruner whose "best ok" rate is near this
    level finds bests as good as an unpruned rerun with another seed would."""
    base = [r for r in rows if (r["app"], r["pruner"]) == (app, "none")]
    pairs = [(a, b) for a in base for b in base if a is not b]
    return sum(_best_ok(b, a) for a, b in pairs), len(pairs)


def seed_summary(rows: list[dict]) -> str:
    """Per app and pruner: median best mean minus the unpruned studies' median best mean, with
    its 90 % interval over seeds resampled in pairs (``paired_bootstrap.paired_interval``, the
    statistic of the optimizer tables); the same for the test loss of the recommended config
    (a split neither the search nor the pruner sees, so free of the winner's curse of a
    minimum over many noisy means); the "best ok" rate next to the chance level of two
    unpruned seeds (:func:`chance_level`); and the median epoch ratio. The header gives the
    scale: the median replicate std of the unpruned studies' best configs."""
    import numpy as np  # noqa: PLC0415
    from paired_bootstrap import paired_interval  # noqa: PLC0415  (benchmarks/ is the script's folder)

    def gap(sel: list[dict], base: dict, key: str) -> str:
        pruned = np.array([r[key] for r in sel], dtype=float)
        unpruned = np.array([base[r["seed"]][key] for r in sel], dtype=float)
        if not (np.isfinite(pruned).all() and np.isfinite(unpruned).all()):
            return "-"
        lo, hi = paired_interval(pruned, unpruned, np.random.default_rng(20261203))
        return f"{float(np.median(pruned) - np.median(unpruned)):+.3g} [{lo:+.3g}, {hi:+.3g}]"

    lines = []
    for app in dict.fromkeys(r["app"] for r in rows):
        base = {r["seed"]: r for r in rows if (r["app"], r["pruner"]) == (app, "none")}
        if base:
            lines.append(f"{app}: median replicate std of the unpruned best configs "
                         f"{statistics.median(r['std'] for r in base.values()):.3g} ({len(base)} seeds)")
    lines += ["", "| app | pruner | seeds | median best mean − unpruned [90 %] | median test loss − unpruned [90 %] | "
              "best ok | best ok between two unpruned seeds (chance) | median epoch ratio |", "|" + "---|" * 8]
    for app in dict.fromkeys(r["app"] for r in rows):
        passed, pairs = chance_level(rows, app)
        chance = f"{passed} of {pairs} ({passed / pairs:.0%})" if pairs else "-"
        base = {r["seed"]: r for r in rows if (r["app"], r["pruner"]) == (app, "none")}
        for pruner in dict.fromkeys(r["pruner"] for r in rows if r["pruner"] != "none"):
            sel = [r for r in rows if (r["app"], r["pruner"]) == (app, pruner) and r["ok"] is not None]
            if len(sel) < 2:
                continue
            ok = sum(bool(r["ok"]) for r in sel)
            lines.append(f"| {app} | {pruner} | {len(sel)} | {gap(sel, base, 'mean')} | {gap(sel, base, 'test')} | "
                         f"{ok} of {len(sel)} ({ok / len(sel):.0%}) | {chance} | "
                         f"{statistics.median(r['epoch_ratio'] for r in sel):.2f} |")
    return "\n".join(lines)


def rank_summary(rows: list[dict], out: Path) -> str:
    """Per app, over its unpruned studies: do early ranks predict final ones? At each of ASHA's
    rungs (1/9, 1/3, 2/3 of each config's epochs) the median Spearman correlation between the
    early and the final values, and in how many studies the config that ended best was within
    the best third there (``uqhpo prune-check``, :mod:`uqhpo.analysis.rank_agreement`)."""
    import uqhpo  # noqa: PLC0415
    from uqhpo.analysis.rank_agreement import DEFAULT_FRACTIONS, early_rank_agreement  # noqa: PLC0415

    lines = ["| app | unpruned studies | " + " | ".join(f"at {f:.2f}: median rank correlation, best within the "
                                                         f"best third" for f in DEFAULT_FRACTIONS) + " |",
             "|" + "---|" * (2 + len(DEFAULT_FRACTIONS))]
    for app in dict.fromkeys(r["app"] for r in rows):
        per_study = []
        for r in rows:
            if (r["app"], r["pruner"]) == (app, "none"):
                name = _name(app, "none", r["seed"])
                study = uqhpo.load_study(f"sqlite:///{out / f'{name}.db'}", name)
                per_study.append(early_rank_agreement(study.all_trials(), study.trials,
                                                      direction=study.settings.direction))
        if not per_study:
            continue
        cells = []
        for i in range(len(DEFAULT_FRACTIONS)):
            rhos = [s[i].spearman for s in per_study if math.isfinite(s[i].spearman)]
            rho = f"{statistics.median(rhos):+.2f}" if rhos else "-"
            cells.append(f"{rho}, {sum(s[i].kept for s in per_study)} of {len(per_study)}")
        lines.append(f"| {app} | {len(per_study)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def unknown_labels(labels: list[str]) -> list[str]:
    """The labels of ``--pruners`` that name no variant: a key of :data:`PRUNERS`, optionally
    with its own number of trials (``asha@24``, as ``--pruned-trials`` writes them)."""
    def known(label: str) -> bool:
        pruner, at, trials = label.partition("@")
        return pruner in PRUNERS and (not at or (trials.isdigit() and int(trials) > 0))
    return [x for x in labels if not known(x)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--apps", default="template", help="comma-separated: template, hadronization")
    p.add_argument("--pruners", default="none,median,asha", help=f"comma-separated of {', '.join(PRUNERS)}")
    p.add_argument("--seeds", default="0", help="comma-separated study seeds")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pruning"))
    p.add_argument("--tables-only", action="store_true", help="re-print the tables from stored studies")
    p.add_argument("--pruned-trials", default="",
                   help="comma-separated numbers of trials: each pruner also runs with budget.trials=N "
                        "(rows <pruner>@N), against the unpruned study with the config's trials")
    p.add_argument("--trials", type=int, default=None,
                   help="trials of every study whose label has no @N, the unpruned baseline included "
                        "(default: the quick config's); give each number its own --out, the study names do not say it")
    p.add_argument("--reuse", action="store_true",
                   help="keep the studies already finished under --out (their .wall file exists), run the others")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    apps = [a for a in args.apps.split(",") if a]
    pruners = [x for x in args.pruners.split(",") if x]
    unknown = unknown_labels(pruners)
    if unknown:
        raise SystemExit(f"--pruners: unknown {unknown[0]!r}; choose from {', '.join(PRUNERS)}")
    if "none" not in pruners:
        pruners = ["none", *pruners]   # the baseline of every ratio
    if args.trials is not None and args.trials <= 0:
        raise SystemExit(f"--trials: must be positive, got {args.trials}")
    extra = [int(n) for n in args.pruned_trials.split(",") if n]
    if any(n <= 0 for n in extra):
        raise SystemExit(f"--pruned-trials: numbers of trials must be positive, got {args.pruned_trials!r}")
    pruners += [f"{x}@{n}" for n in extra for x in pruners if x != "none" and "@" not in x]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    rows = []
    for app in apps:
        for seed in seeds:
            # the order rotates with the seed: a machine whose load drifts does not always
            # favour the same variant (the baseline is not always first)
            for pruner in pruners[seed % len(pruners):] + pruners[:seed % len(pruners)]:
                db = out / f"{_name(app, pruner, seed)}.db"
                done = args.reuse and db.exists() and (out / f"{_name(app, pruner, seed)}.wall").exists()
                if not args.tables_only and not done:
                    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                        stale.unlink(missing_ok=True)
                    wall = run_study(app, pruner, seed, out, args.workers, args.trials)
                    print(f"{app} / seed {seed} / {pruner}: {wall:.0f} s", file=sys.stderr, flush=True)
                if db.exists():
                    rows.append(measure(app, pruner, seed, out))
    rows = _with_ratios(sorted(rows, key=lambda r: (apps.index(r["app"]), r["seed"], pruners.index(r["pruner"]))))
    print(table(rows))
    print()
    print(summary(rows))
    print()
    print(seed_summary(rows))
    print()
    print(rank_summary(rows, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
