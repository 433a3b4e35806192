"""Storage latency and concurrency benchmark: prints tables, asserts nothing.

One *ask+tell cycle* is what a study does per config with k replicates and no proposal:
``add_trial`` (k seeds) then k times ``claim`` + ``finish``. ``get_trials`` (a study's ask
reads it once per proposal) is timed separately. Both are measured at 100, 1 000 and
10 000 stored trials (each finished, k replicates) against the in-memory baseline of the
same run. A last table has 8 spawned processes writing to one file at once.

Usage: ``python benchmarks/bench_storage.py [--quick] [--dir PATH]`` (``--dir`` puts the
files somewhere else, e.g. on an NFS mount, to see what a cluster file system costs).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time

from uqhpo.storage import JournalStorage, StudyRecord, get_storage
from uqhpo.trial import State

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


def study_ask_tell(kinds: list[str], sizes: list[int], repeats: int, directory: str) -> dict:
    """Median ms of a whole ``Study.ask()`` + ``Study.tell()`` (random strategy, 6 reals) with n
    stored trials: what a driver pays per config, storage reads and aggregation included."""
    import numpy as np

    import uqhpo
    from uqhpo.trial import State
    space = uqhpo.Space({f"x{i}": uqhpo.Real(0.0, 1.0) for i in range(6)})
    out = {}
    for kind in kinds:
        for size in sizes:
            url = "memory" if kind == "memory" else _url(kind, os.path.join(directory, f"study-{kind}-{size}"))
            study = uqhpo.create_study(space, strategy="random", seed=0, storage=url, n_replicates=K)
            rng = np.random.default_rng(0)
            for config in space.sample(rng, size):
                number = study.storage.add_trial(study.name, config, list(range(K)))
                for i in range(K):
                    r = study.storage.claim(study.name, "bench", trial=number, index=i)
                    study.storage.finish(study.name, number, i, r.attempt, State.COMPLETE, loss=float(rng.random()))

            def one() -> None:
                study.tell(study.ask(), [0.5] * K)
            out[(kind, size)] = _median_ms(one, repeats)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 100 and 1000, fewer cycles, 4 processes")
    parser.add_argument("--dir", default=None, help="where the database files go (default: a temp dir)")
    args = parser.parse_args()
    sizes = [100, 1000] if args.quick else [100, 1000, 10_000]
    cycles = 20 if args.quick else 50
    n_procs, n_trials = (4, 25) if args.quick else (8, 50)
    kinds = ["memory", "sqlite", "journal", "journal-nosync"]
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        print(f"latency (k={K} replicates per config; median of {cycles} cycles) in {directory}")
        res = latency(kinds, sizes, cycles, directory)
        print(f"\n{'backend':14s} {'trials':>6s} {'ask+tell ms':>12s} {'x memory':>9s} {'get_trials ms':>14s} "
              f"{'x memory':>9s}")
        for kind in kinds:
            for size in sizes:
                cyc, read = res[(kind, size)]
                base_cyc, base_read = res[("memory", size)]
                print(f"{kind:14s} {size:>6d} {cyc:12.3f} {cyc / base_cyc:9.1f} {read:14.3f} {read / base_read:9.1f}")
        print("\nwhole Study.ask + Study.tell (random strategy, 6 reals): what a driver pays per config")
        print(f"{'backend':14s} {'trials':>6s} {'ms':>10s} {'x memory':>9s}")
        study_kinds = ["memory", "sqlite"]
        st = study_ask_tell(study_kinds, sizes, 5, directory)
        for kind in study_kinds:
            for size in sizes:
                print(f"{kind:14s} {size:>6d} {st[(kind, size)]:10.1f} {st[(kind, size)] / st[('memory', size)]:9.1f}")
        print(f"\n{n_procs} concurrent writer processes, {n_trials} trials each (add_trial + claim + finish)")
        print(f"{'backend':8s} {'written':>8s} {'lost':>5s} {'dup':>4s} {'unfinished':>10s} "
              f"{'seconds':>8s} {'ops/s':>8s}")
        for kind in ["sqlite", "journal"]:
            c = concurrency(kind, n_procs, n_trials, directory)
            print(f"{kind:8s} {c['written']:8d} {c['lost']:5d} {c['duplicated']:4d} {c['unfinished']:10d} "
                  f"{c['seconds']:8.2f} {c['ops_per_s']:8.0f}")


if __name__ == "__main__":
    main()
