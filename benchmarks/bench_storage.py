"""Storage latency and concurrency benchmark: prints tables, asserts nothing.

One *ask+tell cycle* is what a study does per config with k replicates and no proposal:
``add_trial`` (k seeds) then k times ``claim`` + ``finish``. ``get_trials`` (a full read,
which a study no longer does per proposal) is timed separately. Both are measured at 100,
1 000 and 10 000 stored trials (each finished, k replicates) against the in-memory
baseline of the same run.

The *study* table times a whole ``Study.ask() + Study.tell()`` at the same sizes on each
backend, twice: with a constant-cost strategy (what the study and the storage cost: the
incremental read ``changes_since`` and the per-trial cache) and with the random strategy
(whose de-duplication against every evaluated config is the strategy's own cost), and
counts the trial records the storage handed out per cycle. The *status* table times
``uqhpo status`` (a new process, as a user runs it) on a study of 100 000 replicates in
SQLite and in a journal, without and with its snapshot: CPU and wall time, the minimum of
rounds in which the variants alternate (so that a busy machine slows all of them alike).
Studies are built in bulk by :func:`build_study` (one SQLite transaction, one journal
append). A last table has 8 spawned processes writing to one file at once.

Usage: ``python benchmarks/bench_storage.py [--quick] [--dir PATH] [--only study|status]
[--status-replicates N] [--status-rounds R]`` (``--dir`` puts the files somewhere else, e.g.
on an NFS mount, to see what a cluster file system costs; ``--only study`` runs the study
and status tables only, ``--only status`` the status table only).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

import uqhpo
from uqhpo.storage import JournalStorage, StudyRecord, get_storage
from uqhpo.storage._events import AddTrial, Claim, Finish
from uqhpo.storage._json import config_key, dumps
from uqhpo.trial import Observations, State

K = 3  # replicates per config


def _url(kind: str, directory: str) -> str:
    return {"memory": "memory", "sqlite": f"sqlite:///{directory}/bench.db",
            "journal": f"journal:///{directory}/bench.jsonl"}[kind]


def _open(kind: str, directory: str):
    if kind == "journal-nosync":  # the same log without fsync: shows what durability costs
        return JournalStorage(os.path.join(directory, "bench-nosync.jsonl"), fsync=False)
    return get_storage(_url(kind, directory))


def _cycle(storage, n: int) -> None:
    number = storage.add_trial("b", {"lr": 1e-3 * (n % 97 + 1), "layers": n % 5, "act": "relu"},
                               [n * K + i for i in range(K)])
    for i in range(K):
        r = storage.claim("b", "bench", trial=number)
        storage.finish("b", r.trial, r.index, r.attempt, State.COMPLETE, loss=0.1 * i + n * 1e-6,
                       metrics={"val": [0.1, 0.2], "acc": 0.9}, runtime=1.0)


def _populate(storage, upto: int) -> None:
    for n in range(storage.n_trials("b"), upto):
        _cycle(storage, n)


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def latency(kinds: list[str], sizes: list[int], cycles: int, directory: str) -> dict:
    """``{(kind, size): (cycle_ms, get_trials_ms)}``."""
    out = {}
    for kind in kinds:
        storage = _open(kind, directory)
        storage.create_study(StudyRecord("b", "minimize", 0, {}, "fp"))
        # fill the journal without fsync (the timed handle below does fsync every line)
        filler = JournalStorage(storage.path, fsync=False) if kind == "journal" else storage
        for size in sizes:
            t0 = time.perf_counter()
            _populate(filler, size)
            fill = time.perf_counter() - t0
            counter = iter(range(10 ** 9))
            cycle_ms = _median_ms(lambda: _cycle(storage, next(counter)), cycles)
            reads = max(3, min(cycles, 20_000 // size))
            read_ms = _median_ms(lambda: storage.get_trials("b"), reads)
            out[(kind, size)] = (cycle_ms, read_ms)
            print(f"  {kind:14s} {size:>6d} trials: filled in {fill:6.1f} s, cycle {cycle_ms:8.3f} ms, "
                  f"get_trials {read_ms:9.3f} ms", flush=True)
        storage.close()
    return out


def _writer(url: str, wid: int, n_trials: int, go, results) -> None:
    storage = get_storage(url)
    go.wait()
    numbers = []
    for j in range(n_trials):
        number = storage.add_trial("b", {"w": wid, "j": j}, [wid * 10_000 + j])
        numbers.append(number)
        r = storage.claim("b", f"w{wid}")
        if r is not None:
            storage.finish("b", r.trial, r.index, r.attempt, State.COMPLETE, loss=float(wid), metrics={"w": wid})
    while (r := storage.claim("b", f"w{wid}")) is not None:
        storage.finish("b", r.trial, r.index, r.attempt, State.COMPLETE, loss=float(wid))
    results.put(numbers)


def concurrency(kind: str, n_procs: int, n_trials: int, directory: str) -> dict:
    url = _url(kind, os.path.join(directory, "conc"))
    storage = get_storage(url)
    storage.create_study(StudyRecord("b", "minimize", 0, {}, "fp"))
    ctx = mp.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(url, w, n_trials, go, results)) for w in range(n_procs)]
    for p in procs:
        p.start()
    time.sleep(0.5)  # let the interpreters start so that the timing covers the writes
    t0 = time.perf_counter()
    go.set()
    returned = [n for _ in procs for n in results.get()]
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    trials = storage.get_trials("b")
    expected = n_procs * n_trials
    stored = {t.number for t in trials}
    unfinished = sum(1 for t in trials for r in t.replicates if not r.state.finished)
    storage.close()
    return {"written": len(trials), "lost": expected - len(stored & set(returned)),
            "duplicated": len(returned) - len(set(returned)), "unfinished": unfinished, "seconds": elapsed,
            "ops_per_s": expected * 3 / elapsed}


SPACE = uqhpo.Space({f"x{i}": uqhpo.Real(0.0, 1.0) for i in range(6)})


def build_study(url: str, n_trials: int, k: int = K, seed: int = 0, name: str = "default") -> uqhpo.Study:
    """A study of ``n_trials`` finished trials with ``k`` COMPLETE replicates each (random
    configs of :data:`SPACE`, random losses), written in bulk: one SQLite transaction, or
    one append of the journal's lines (events as the storage writes them). 100 000
    replicates take seconds instead of minutes of single writes."""
    study = uqhpo.create_study(SPACE, strategy="random", seed=seed, storage=url, n_replicates=k, name=name)
    rng = np.random.default_rng(seed)
    configs = SPACE.sample(rng, n_trials)
    losses = rng.random((n_trials, k)).tolist()
    now = time.time()
    path = getattr(study.storage, "path", None)
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO trials (study, number, config, n_replicates, created, user_attrs, config_key) "
                         "VALUES (?, ?, ?, ?, ?, '{}', ?)",
                         [(name, n, dumps(c), k, now, config_key(c)) for n, c in enumerate(configs)])
        conn.executemany("INSERT INTO replicates (study, trial, idx, attempt, seed, state, loss, metrics, runtime, "
                         "error, worker, heartbeat, started, finished) "
                         "VALUES (?, ?, ?, 0, ?, 'COMPLETE', ?, '{}', 1.0, NULL, 'bench', ?, ?, ?)",
                         [(name, n, i, n * k + i, losses[n][i], now, now - 1.0, now)
                          for n in range(n_trials) for i in range(k)])
        conn.execute("COMMIT")
        conn.close()
    elif url.startswith("journal:"):
        lines = []
        for n, c in enumerate(configs):
            lines.append(AddTrial(name, n, c, tuple(n * k + i for i in range(k)), {}, now))
            for i in range(k):
                lines += [Claim(name, n, i, 0, worker="bench", now=now - 1.0),
                          Finish(name, n, i, 0, state=State.COMPLETE, loss=losses[n][i], metrics={}, runtime=1.0,
                                 error=None, now=now)]
        with open(path, "a") as fh:
            fh.write("".join(dumps(e.to_json()) + "\n" for e in lines))
    else:
        for n, c in enumerate(configs):
            number = study.storage.add_trial(name, c, [n * k + i for i in range(k)])
            for i in range(k):
                study.storage.finish(name, number, i, 0, State.COMPLETE, loss=losses[n][i], runtime=1.0)
    return study


class ConstantCostStrategy:
    """One random config per call, no de-duplication: a strategy whose cost does not grow
    with the trials, so what grows in a cycle is the study's and the storage's."""

    def __init__(self, space: uqhpo.Space):
        self.space = space

    def propose(self, observations: Observations, pending: Any, n: int, rng: np.random.Generator) -> list[dict]:
        return self.space.sample(rng, n)


class _Counted:
    """Counts the trial records a storage hands out (changes_since, get_trials, get_trial)."""

    def __init__(self, storage: Any):
        self.records = 0
        for method in ("changes_since", "get_trials", "get_trial"):
            original = getattr(storage, method)
            setattr(storage, method, self._counting(original))

    def _counting(self, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            out = fn(*args, **kwargs)
            trials = out[0] if isinstance(out, tuple) else out
            self.records += len(trials) if isinstance(trials, list) else 1
            return out
        return call


def _url_of(kind: str, directory: str, tag: str) -> str:
    if kind == "memory":
        return "memory"
    if kind == "sqlite":
        return f"sqlite:///{directory}/{tag}.db"
    return f"journal:///{directory}/{tag}.jsonl"


def study_ask_tell(kinds: list[str], sizes: list[int], repeats: int, directory: str) -> dict:
    """``{(kind, size): {"null": ms, "random": ms, "records": n}}``: median ms of a whole
    ``Study.ask() + Study.tell()`` (k replicates) with ``size`` stored trials, with the
    constant-cost strategy and with the random strategy, and the trial records read per
    constant-cost cycle. The journal ``fsync``s every line (the default)."""
    out: dict = {}
    for kind in kinds:
        for size in sizes:
            study = build_study(_url_of(kind, directory, f"study-{kind}-{size}"), size)
            study.all_trials()  # a driver reads everything once, when it starts

            def one() -> None:
                study.tell(study.ask(), [0.5] * K)
            counter = _Counted(study.storage)
            random_strategy = study.strategy
            study.strategy = ConstantCostStrategy(SPACE)
            one()  # warm up
            before = counter.records
            null_ms = _median_ms(one, repeats)
            records = (counter.records - before) / repeats
            study.strategy = random_strategy
            random_ms = _median_ms(one, max(3, repeats // 3))
            out[(kind, size)] = {"null": null_ms, "random": random_ms, "records": records}
            print(f"  {kind:8s} {size:>6d} trials: study ask+tell {null_ms:8.2f} ms (constant-cost strategy), "
                  f"{random_ms:8.2f} ms (random strategy), {records:.1f} records read per cycle", flush=True)
            study.storage.close()
    return out


def _child_run(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(wall s, CPU s = user + sys of the child process, its stdout) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    text = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, text


def status_times(n_replicates: int, directory: str, rounds: int = 5, k: int = K) -> dict:
    """Wall and CPU seconds (the minimum over ``rounds`` rounds) of ``uqhpo status`` on a study
    of ``n_replicates`` replicates, each run a new process as a user runs it, the variants
    alternating within each round (so a busy machine slows all alike): ``python -c 'import
    uqhpo.cli'`` (the interpreter and imports alone), SQLite, a journal as built (no
    snapshot: the whole log replayed) and a copy of it with the snapshot that a writer's
    open leaves next to it (``<file>.snapshot``). Also, per variant, an open plus one
    ``Storage.get_trials`` in this process (CPU s; what handing over every record costs)."""
    urls = {"sqlite": _url_of("sqlite", directory, "status-sqlite"),
            "journal": _url_of("journal", directory, "status-journal")}
    out: dict = {"built": {}}
    for kind, url in urls.items():
        t0 = time.perf_counter()
        build_study(url, -(-n_replicates // k), k).storage.close()
        out["built"][kind] = time.perf_counter() - t0
    # the bulk append above left no snapshot; a writer leaves one: its first open replays the log
    # and writes ``<file>.snapshot`` (none under 4 MiB of log)
    plain = urls["journal"].removeprefix("journal:///")
    urls["journal+snapshot"] = _url_of("journal", directory, "status-journal-snap")
    shutil.copyfile(plain, urls["journal+snapshot"].removeprefix("journal:///"))
    t = time.perf_counter()
    writer = get_storage(urls["journal+snapshot"])
    writer.list_studies()
    writer.close()
    out["snapshot_written"] = time.perf_counter() - t
    out["snapshot_exists"] = os.path.exists(f"{getattr(writer, 'path', '')}.snapshot")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmds = {"imports": [sys.executable, "-c", "import uqhpo.cli"]}
    cmds.update({name: [sys.executable, "-m", "uqhpo.cli", "status", url] for name, url in urls.items()})
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    out["load"] = [os.getloadavg()[0]]
    for _ in range(rounds):
        for name, cmd in cmds.items():
            wall, cpu, text = _child_run(cmd, env)
            runs[name].append((wall, cpu))
            out.setdefault("text", {})[name] = text
    out["load"].append(os.getloadavg()[0])
    for name, times in runs.items():
        out[name] = {"wall": min(w for w, _ in times), "cpu": min(c for _, c in times)}
    for name, url in urls.items():
        reads = []
        for _ in range(3):
            c = time.process_time()
            storage = get_storage(url, read_only=True)
            storage.get_trials("default")
            reads.append(time.process_time() - c)
            storage.close()
        out[name]["read"] = min(reads)
    return out


def _print_status_table(st: dict, n_reps: int, rounds: int) -> None:
    print(f"\nuqhpo status on a study of {n_reps} replicates ({-(-n_reps // K)} trials x {K}; a new process; "
          f"min of {rounds} rounds, the variants alternating; CPU = user + sys of the process; load average "
          f"{st['load'][0]:.1f} -> {st['load'][1]:.1f})")
    base = st["sqlite"]
    labels = {"imports": "interpreter + imports alone", "sqlite": "sqlite",
              "journal": "journal, no snapshot (whole log replayed)",
              "journal+snapshot": "journal, with the snapshot a writer leaves" if st["snapshot_exists"]
              else "journal, no snapshot (log under 4 MiB)"}
    print(f"{'variant':44s} {'CPU s':>6s} {'x sqlite':>8s} {'wall s':>7s} {'x sqlite':>8s} "
          f"{'open+get_trials CPU s':>22s}")
    for name, label in labels.items():
        r = st[name]
        read = f"{r['read']:22.2f}" if "read" in r else f"{'':22s}"
        print(f"{label:44s} {r['cpu']:6.2f} {r['cpu'] / base['cpu']:8.2f} {r['wall']:7.2f} "
              f"{r['wall'] / base['wall']:8.2f} {read}")
    print(f"(built in {st['built']['sqlite']:.1f} s (sqlite), {st['built']['journal']:.1f} s (journal); the writer's "
          f"open that wrote the snapshot {st['snapshot_written']:.2f} s wall)", flush=True)


def _print_study_table(st: dict, kinds: list[str], sizes: list[int]) -> None:
    first = sizes[0]
    print(f"\n{'backend':8s} {'trials':>6s} {'study ms':>9s} {'x at ' + str(first):>9s} {'records':>8s} "
          f"{'+random ms':>11s} {'x at ' + str(first):>9s}")
    for kind in kinds:
        base = st[(kind, first)]
        for size in sizes:
            r = st[(kind, size)]
            print(f"{kind:8s} {size:>6d} {r['null']:9.2f} {r['null'] / base['null']:9.2f} {r['records']:8.1f} "
                  f"{r['random']:11.2f} {r['random'] / base['random']:9.2f}")
    print("(study ms: constant-cost strategy, i.e. the study's and the storage's cost; records: trial records "
          "read per cycle; +random ms: the same cycle with the random strategy, whose de-duplication against "
          "every evaluated config grows with the trials)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 100 and 1000, fewer cycles, 4 processes")
    parser.add_argument("--dir", default=None, help="where the database files go (default: a temp dir)")
    parser.add_argument("--only", choices=["study", "status"], default=None,
                        help="only the study and status tables (study), or only the status table (status)")
    parser.add_argument("--status-replicates", type=int, default=100_000, help="replicates of the status study")
    parser.add_argument("--status-rounds", type=int, default=5,
                        help="rounds of the status variants, the minimum taken (--quick: 3)")
    args = parser.parse_args()
    sizes = [100, 1000] if args.quick else [100, 1000, 10_000]
    cycles = 20 if args.quick else 50
    n_procs, n_trials = (4, 25) if args.quick else (8, 50)
    kinds = ["memory", "sqlite", "journal", "journal-nosync"]
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        if args.only is None:
            print(f"latency (k={K} replicates per config; median of {cycles} cycles) in {directory}")
            res = latency(kinds, sizes, cycles, directory)
            print(f"\n{'backend':14s} {'trials':>6s} {'ask+tell ms':>12s} {'x memory':>9s} {'get_trials ms':>14s} "
                  f"{'x memory':>9s}")
            for kind in kinds:
                for size in sizes:
                    cyc, read = res[(kind, size)]
                    base_cyc, base_read = res[("memory", size)]
                    print(f"{kind:14s} {size:>6d} {cyc:12.3f} {cyc / base_cyc:9.1f} {read:14.3f} "
                          f"{read / base_read:9.1f}")
        if args.only != "status":
            repeats = 15 if args.quick else 30
            print(f"\nwhole Study.ask + Study.tell (k={K}, 6 reals; median of {repeats} cycles): what a driver "
                  "pays per config")
            study_kinds = ["memory", "sqlite", "journal"]
            _print_study_table(study_ask_tell(study_kinds, sizes, repeats, directory), study_kinds, sizes)
        n_reps = args.status_replicates if not args.quick else min(args.status_replicates, 10_000)
        rounds = 3 if args.quick else args.status_rounds
        _print_status_table(status_times(n_reps, directory, rounds), n_reps, rounds)
        if args.only is None:
            print(f"\n{n_procs} concurrent writer processes, {n_trials} trials each (add_trial + claim + finish)")
            print(f"{'backend':8s} {'written':>8s} {'lost':>5s} {'dup':>4s} {'unfinished':>10s} "
                  f"{'seconds':>8s} {'ops/s':>8s}")
            for kind in ["sqlite", "journal"]:
                c = concurrency(kind, n_procs, n_trials, directory)
                print(f"{kind:8s} {c['written']:8d} {c['lost']:5d} {c['duplicated']:4d} {c['unfinished']:10d} "
                      f"{c['seconds']:8.2f} {c['ops_per_s']:8.0f}")


if __name__ == "__main__":
    main()
