"""The asynchronous driver loop behind ``Study.optimize``.

The moment a worker frees, the runner hands it work, in this order:
1. a WAITING replicate already in storage (a retry, a re-queued stale one, the rest of a
   trial whose replicates are spread over workers, or a user-enqueued config);
2. a new config from the strategy, proposed with every unfinished config as *pending*.

Results are written to storage as they arrive. Nothing is lost on interruption: finished
replicates are stored immediately; on Ctrl-C running replicates are closed as
"interrupted" and re-queued, so ``uqhpo resume`` runs exactly what is missing.
"""
from __future__ import annotations

import itertools
import logging
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .executors.base import Executor, Job, ReplicateResult, ReplicateSlot
from .storage.base import StorageError
from .trial import State, Trial

if TYPE_CHECKING:  # pragma: no cover
    from .study import Study

logger = logging.getLogger("uqhpo")

INTERRUPTED = "interrupted"  # error prefix of attempts closed by Ctrl-C: they do not use up retries


class StudyRunner:
    """Runs one ``optimize`` call. See ``Study.optimize`` for the arguments."""

    def __init__(self, study: "Study", objective: Any, *, executor: Any, workers: int,
                 replicates_parallel: bool, max_retries: int, workdir: Path, progress: bool,
                 callbacks: list, heartbeat_interval: float, heartbeat_timeout: float):
        from .executors import make_executor
        from .task import as_task, task_path
        self.study = study
        self.storage = study.storage
        self.name = study.name
        self.task_obj = as_task(objective, study.space)
        path = task_path(objective)
        self.executor: Executor = make_executor(executor, workers=workers) if isinstance(executor, str) else executor
        # a process-based executor needs an import path; in-process ones take the object itself
        self.task_ref = path if (path and self.executor.name not in ("serial", "simulated")) else self.task_obj
        self.replicates_parallel = replicates_parallel
        self.max_retries = int(max_retries)
        self.workdir = Path(workdir)
        self.progress = progress
        self.callbacks = callbacks
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.worker_id = f"driver:{socket.gethostname()}:{os.getpid()}"
        self._running: dict[str, Job] = {}      # job id -> job
        self._open_slots: dict[tuple[int, int, int], str] = {}  # (trial, index, attempt) -> job id
        self._job_ids = itertools.count()
        self._exhausted = False                   # the strategy has nothing left (finite grid)
        self._bar = None

    # -- main loop ------------------------------------------------------------------------------
    def run(self, n_trials: int, timeout: Optional[float]) -> None:
        check = getattr(self.task_obj, "check", None)
        if callable(check):
            check()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.executor.start()
        t0 = time.time()
        last_beat = self.executor.time()
        self.storage.requeue_stale(self.name, self.heartbeat_timeout)
        self._open_progress(n_trials)
        try:
            while True:
                accepting = timeout is None or time.time() - t0 < timeout
                trials = self.storage.get_trials(self.name)
                if accepting:
                    self._fill_workers(trials, n_trials)
                if not self._running:
                    if not accepting or self._exhausted or self._all_done(n_trials):
                        break
                    # other drivers' RUNNING replicates: wait for them or for their heartbeat to expire
                    if self.storage.requeue_stale(self.name, self.heartbeat_timeout):
                        continue
                    time.sleep(min(1.0, self.heartbeat_timeout / 10))
                    continue
                # a virtual clock can jump straight to the next finish; real ones wake up for heartbeats
                wait = None if self.executor.name == "simulated" else 0.5
                for result in self.executor.poll(timeout=wait):
                    self._record(result)
                now = self.executor.time()
                if now - last_beat >= self.heartbeat_interval:
                    for (trial, index, attempt) in self._open_slots:
                        self.storage.heartbeat(self.name, trial, index, attempt)
                    last_beat = now
        except KeyboardInterrupt:
            self._interrupt()
            raise
        finally:
            self.executor.shutdown(cancel=True)
            if self._bar is not None:
                self._bar.close()

    def _all_done(self, n_trials: int) -> bool:
        trials = self.storage.get_trials(self.name)
        return (len(trials) >= n_trials and all(t.finished for t in trials)
                and self.study._intensify_target(trials) is None)

    # -- handing out work -------------------------------------------------------------------------
    def _fill_workers(self, trials: list[Trial], n_trials: int) -> None:
        while self.executor.free_slots() > 0:
            job = self._job_from_waiting(trials)
            if job is None:
                target = self.study._intensify_target(trials)  # adaptive replication: confirm the incumbent
                if target is not None:
                    self.study._extend(target)
                    job = self._job_from_waiting([self.storage.get_trial(self.name, target.number)])
            if job is None and len(trials) < n_trials:
                configs = self.study._propose(1, trials)
                if not configs:  # finite space exhausted
                    if not self._exhausted:
                        logger.info("strategy has nothing left to propose; stopping at %d trials", len(trials))
                    self._exhausted = True
                    return
                number = self.study._add_trial(configs[0], self.study._replicates_for_new_trial())
                trials = self.storage.get_trials(self.name)
                job = self._job_from_waiting([t for t in trials if t.number == number])
            if job is None:
                return
            self.executor.submit(job)
            self._running[job.job_id] = job
            for s in job.slots:
                self._open_slots[(job.trial, s.index, s.attempt)] = job.job_id
            trials = self.storage.get_trials(self.name)

    def _job_from_waiting(self, trials: list[Trial]) -> Optional[Job]:
        for t in trials:
            waiting = [r for r in t.latest().values() if r.state == State.WAITING]
            if not waiting:
                continue
            take = sorted(waiting, key=lambda r: r.index)
            if self.replicates_parallel:
                take = take[:1]
            slots = []
            for r in take:
                claimed = self.storage.claim(self.name, self.worker_id, trial=t.number, index=r.index)
                if claimed is not None:
                    slots.append(ReplicateSlot(claimed.index, claimed.attempt, claimed.seed))
            if slots:
                return Job(job_id=f"j{next(self._job_ids)}", trial=t.number, config=dict(t.config), slots=slots,
                           task=self.task_ref, workdir=str(self.workdir), mc_dropout=self.study.mc_dropout,
                           study=self.name)
        return None

    # -- results ---------------------------------------------------------------------------------
    def _record(self, r: ReplicateResult) -> None:
        key = (r.trial, r.index, r.attempt)
        job_id = self._open_slots.pop(key, None)
        if job_id is not None and not any(j == job_id for j in self._open_slots.values()):
            self._running.pop(job_id, None)
        try:
            for step, metrics in r.reports:
                self.storage.add_report(self.name, r.trial, r.index, r.attempt, step, metrics)
            if r.status == "ok":
                self.storage.finish(self.name, r.trial, r.index, r.attempt, State.COMPLETE, loss=r.loss,
                                    metrics=r.metrics, runtime=r.runtime)
            else:
                reason = f"worker lost: {r.error or r.status}" if r.status == "lost" else (r.error or r.status)
                self.storage.finish(self.name, r.trial, r.index, r.attempt, State.FAILED, runtime=r.runtime,
                                    error=reason)
        except StorageError as e:
            # another driver declared this attempt stale and re-queued it: the late result is dropped
            logger.warning("dropping late result of trial %d replicate %d: %s", r.trial, r.index, e)
            return
        trial = self.storage.get_trial(self.name, r.trial)
        if r.status != "ok":
            failures = sum(1 for a in trial.replicates if a.index == r.index and a.state == State.FAILED
                           and not (a.error or "").startswith(INTERRUPTED))
            if failures <= self.max_retries:
                self.storage.retry(self.name, r.trial, r.index)
                logger.warning("trial %d replicate %d failed (%s); retry %d of %d", r.trial, r.index,
                               _first_line(reason), failures, self.max_retries)
                return
            logger.warning("trial %d replicate %d failed %d times; giving up: %s", r.trial, r.index,
                           failures, _first_line(reason))
        if trial.finished:
            self._trial_finished(trial)

    def _trial_finished(self, trial: Trial) -> None:
        f = self.study.summarize(trial)  # with adaptive replication: the pooled spread for single draws
        try:
            best = self.study.best
            best_txt = f"best {best.value:.4g} (trial {best.number})"
        except ValueError:
            best, best_txt = None, "no completed trial yet"
        if trial.state == State.COMPLETE:
            logger.info("trial %d: loss %.4g ± %.2g (%d/%d replicates) | %s", trial.number, f.mean, f.std, f.n,
                        trial.n_replicates, best_txt)
        else:
            logger.info("trial %d FAILED (all %d replicates) | %s", trial.number, trial.n_replicates, best_txt)
        if self._bar is not None:
            self._bar.update(1)
            if best is not None:
                self._bar.set_postfix_str(f"best {best.value:.4g}")
        for cb in self.callbacks:
            cb(self.study, f)

    def _interrupt(self) -> None:
        """Ctrl-C: close our running attempts as interrupted and re-queue them."""
        for (trial, index, attempt) in list(self._open_slots):
            try:
                self.storage.finish(self.name, trial, index, attempt, State.FAILED,
                                    error=f"{INTERRUPTED} by user; re-queued")
                self.storage.retry(self.name, trial, index)
            except Exception as e:  # pragma: no cover - best effort while shutting down
                logger.debug("could not re-queue trial %d replicate %d: %s", trial, index, e)
        self._open_slots.clear()
        n_done = sum(1 for t in self.storage.get_trials(self.name) if t.finished)
        logger.warning("interrupted: %d finished trials are stored; running replicates were re-queued", n_done)

    # -- progress ---------------------------------------------------------------------------------
    def _open_progress(self, n_trials: int) -> None:
        if not self.progress:
            return
        import sys
        from tqdm.auto import tqdm
        done = sum(1 for t in self.storage.get_trials(self.name) if t.finished)
        # in a log file (no terminal) a bar redrawn every 0.1 s buries the per-trial lines
        interval = 0.1 if sys.stderr.isatty() else 60.0
        self._bar = tqdm(total=n_trials, initial=min(done, n_trials), desc=self.name, unit="trial",
                         dynamic_ncols=True, leave=True, mininterval=interval)


def _first_line(text: str) -> str:
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""
