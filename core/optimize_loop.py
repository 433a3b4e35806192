"""The asynchronous loop behind ``Study.optimize``.

The moment a worker frees, the loop hands it work, in this order:
1. a WAITING replicate already in storage (a retry, a re-queued stale one, the rest of a
   trial whose replicates are spread over workers, or a user-enqueued config);
2. whatever :func:`uqhpo.policy.next_work` says: top up the incumbent, or a new config
   from the strategy, proposed with every unfinished config as *pending*.

The loop uses only the study's public API, the storage and the pure policy; it does not
import the study module (imports go one way: study -> loop). Results are written to
storage as they arrive. Nothing is lost on interruption: finished replicates are stored
at once; on Ctrl-C running replicates are closed as "interrupted" and re-queued, so a
resume runs exactly what is missing.
"""
from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Sequence

from .analysis.describe import format_loss
from .executors.base import Executor, Job, Outcome, ReplicateResult, ReplicateSlot
from .lifecycle import INTERRUPTED, Terminated, driver_id, driver_is_dead, terminate_as_interrupt
from .policy import Done, Extend, Propose, next_work, trainings_spent
from .pruners import Pruner, PruningMonitor
from .settings import StudySettings
from .storage.base import Storage, StorageError
from .summary import with_waiting
from .trial import State, Trial, TrialSummary

logger = logging.getLogger("uqhpo")

__all__ = ["OptimizeLoop", "LoopOptions", "StudyAPI", "INTERRUPTED", "Terminated", "describe_loss"]


class StudyAPI(Protocol):
    """The part of ``Study`` the loop uses (all public)."""

    name: str
    storage: Storage
    settings: StudySettings

    def all_trials(self) -> list[Trial]: ...
    def propose(self, n: int, trials: Optional[Sequence[Trial]] = None) -> list[dict]: ...
    def add_trial(self, config: dict, n_replicates: Optional[int] = None,
                  user_attrs: Optional[dict] = None) -> int: ...
    def propose_trial(self, trials: Optional[Sequence[Trial]] = None, n_replicates: Optional[int] = None,
                      max_attempts: int = 50, still_room: Optional[Callable[[Sequence[Trial]], bool]] = None,
                      max_trainings: Optional[int] = None) -> Optional[int]: ...
    def extend(self, trial: int, expected_replicates: Optional[int] = None,
               max_trainings: Optional[int] = None) -> Optional[int]: ...
    def summarize(self, trial: Trial) -> TrialSummary: ...
    def best_or_none(self) -> Optional[TrialSummary]: ...


@dataclass(frozen=True)
class LoopOptions:
    """How one ``optimize`` call runs (see ``Study.optimize`` for each option)."""

    n_trials: Optional[int]
    workdir: Path
    max_trainings: Optional[int] = None
    replicates_parallel: bool = True
    max_retries: int = 2
    timeout: Optional[float] = None
    show_progress: bool = False
    callbacks: tuple[Callable[[Any, TrialSummary], None], ...] = ()
    data: Optional[dict] = None
    heartbeat_interval: float = 10.0
    heartbeat_timeout: float = 120.0
    mc_dropout: int = 0
    replicate_timeout: Optional[float] = None
    pruner: Optional[Pruner] = None


@dataclass
class _Open:
    """Jobs this driver has submitted and the replicate attempts they still owe."""

    jobs: dict[str, Job] = field(default_factory=dict)
    slots: dict[tuple[int, int, int], str] = field(default_factory=dict)  # (trial, index, attempt) -> job id

    def add(self, job: Job) -> None:
        self.jobs[job.job_id] = job
        for s in job.slots:
            self.slots[(job.trial, s.index, s.attempt)] = job.job_id

    def close(self, trial: int, index: int, attempt: int) -> None:
        job_id = self.slots.pop((trial, index, attempt), None)
        if job_id is not None and job_id not in self.slots.values():
            self.jobs.pop(job_id, None)


class OptimizeLoop:
    """Runs one ``optimize`` call: ask the policy, submit, poll, store, repeat.

    Args:
        study: the study (only its public API is used).
        task: the resolved (and configured) task object, for ``check()``.
        task_ref: what jobs carry: an import path, or the object for in-process executors.
        executor: where replicates run.
        options: the call's options.
    """

    def __init__(self, study: StudyAPI, task: Any, task_ref: Any, executor: Executor, options: LoopOptions):
        self.study, self.task, self.task_ref, self.executor, self.opt = study, task, task_ref, executor, options
        self.storage, self.name = study.storage, study.name
        self.worker_id = driver_id()
        self._open = _Open()
        self._job_ids = itertools.count()
        self._exhausted = False   # the strategy has nothing left (finite space)
        self._monitor = (None if options.pruner is None
                         else PruningMonitor(options.pruner, sign=study.settings.sign))
        self._bar: Any = None

    # -- main loop ------------------------------------------------------------------------------
    def run(self) -> None:
        check = getattr(self.task, "check", None)
        if callable(check):
            check()
        self.opt.workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        self._requeue_dead()
        with terminate_as_interrupt():
            self.executor.set_report_handler(self._on_report)
            self.executor.start()
            try:
                self._open_progress()
                self._loop(t0)
            except KeyboardInterrupt as e:
                self._interrupt(f"{INTERRUPTED} by {'SIGTERM' if isinstance(e, Terminated) else 'user'}; re-queued")
                raise
            except Exception as e:  # the driver cannot go on: what runs is re-queued, not left RUNNING
                self._interrupt(f"{INTERRUPTED}: the driver stopped ({type(e).__name__}); re-queued")
                raise
            finally:
                self.executor.shutdown(cancel=True)
                if self._bar is not None:
                    self._bar.close()

    def _loop(self, t0: float) -> None:
        last_beat = self.executor.time()
        while True:
            accepting = self.opt.timeout is None or time.time() - t0 < self.opt.timeout
            if not accepting and self._open.jobs:
                # budget.timeout: stop on time; what runs is re-queued for a later call
                self._interrupt(f"{INTERRUPTED}: the study's time budget of {self.opt.timeout:g} s ran out; re-queued")
                return
            if accepting:
                self._fill_workers()
            if not self._open.jobs:
                if not accepting or self._exhausted or self._finished():
                    return
                # other drivers' RUNNING replicates: wait for them or for their heartbeat to expire
                if not self._requeue_dead() and not self.storage.requeue_stale(self.name,
                                                                                self.opt.heartbeat_timeout):
                    time.sleep(min(1.0, self.opt.heartbeat_timeout / 10))
                continue
            # a virtual clock jumps straight to the next finish; real ones wake up for heartbeats
            for result in self.executor.poll(timeout=None if self.executor.virtual_clock else 0.5):
                self._record(result)
            now = self.executor.time()
            if now - last_beat >= self.opt.heartbeat_interval:
                for (trial, index, attempt) in self._open.slots:
                    self.storage.heartbeat(self.name, trial, index, attempt)
                last_beat = now

    def _requeue_dead(self) -> bool:
        """Re-queue at once the RUNNING replicates of drivers on this host whose process is gone
        (their heartbeat would take ``heartbeat_timeout`` to expire). True when any was."""
        dead = sorted({r.worker for t in self.study.all_trials() for r in t.replicates
                       if r.state == State.RUNNING and r.worker and driver_is_dead(r.worker)})
        if not dead:
            return False
        requeued = self.storage.requeue_stale(self.name, 0.0, workers=dead)
        if requeued:
            logger.warning("re-queued %d replicate(s) of stopped driver(s) %s", len(requeued), ", ".join(dead))
        return bool(requeued)

    def _finished(self) -> bool:
        return isinstance(next_work(self.study.all_trials(), self.study.settings, self.opt.n_trials,
                                    self.opt.max_trainings), Done)

    # -- handing out work -------------------------------------------------------------------------
    def _fill_workers(self) -> None:
        while self.executor.free_slots() > 0:
            trials = self.study.all_trials()
            job = self._job_from_waiting(with_waiting(trials))  # from the study's cache: no pass over all
            if job is None:
                job = self._job_from_policy(trials)
            if job is None:
                return
            self.executor.submit(job)
            self._open.add(job)

    def _room_to_propose(self, trials: Sequence[Trial]) -> bool:
        """Whether the budget (in trials and in trainings) still pays for a new config."""
        return isinstance(next_work(trials, self.study.settings, self.opt.n_trials, self.opt.max_trainings), Propose)

    def _job_from_policy(self, trials: list[Trial]) -> Optional[Job]:
        work = next_work(trials, self.study.settings, self.opt.n_trials, self.opt.max_trainings)
        if isinstance(work, Extend):
            if self.study.extend(work.trial, work.replicates, max_trainings=self.opt.max_trainings) is None:
                return None  # another driver extended it or spent the budget first; the next round decides
            number = work.trial
        elif isinstance(work, Propose) and not self._exhausted:
            proposed = self.study.propose_trial(trials, still_room=self._room_to_propose,
                                                max_trainings=self.opt.max_trainings)
            if proposed is None and not self._room_to_propose(self.study.all_trials()):
                return None  # other drivers on this storage used the budget meanwhile
            if proposed is None:  # finite space exhausted
                logger.info("strategy has nothing left to propose; stopping at %d trials", len(trials))
                self._exhausted = True
                return None
            number = proposed
        else:
            return None
        return self._job_from_waiting([self.storage.get_trial(self.name, number)])

    def _job_from_waiting(self, trials: Sequence[Trial]) -> Optional[Job]:
        for t in trials:
            waiting = t.waiting()
            if not waiting:
                continue
            take = waiting[:1] if self.opt.replicates_parallel else waiting
            slots = []
            for r in take:
                claimed = self.storage.claim(self.name, self.worker_id, trial=t.number, index=r.index)
                if claimed is not None:
                    slots.append(ReplicateSlot(claimed.index, claimed.attempt, claimed.seed))
            if slots:
                return Job(job_id=f"j{next(self._job_ids)}", trial=t.number, config=dict(t.config), slots=slots,
                           task=self.task_ref, workdir=str(self.opt.workdir), mc_dropout=self.opt.mc_dropout,
                           study=self.name, data=self.opt.data, timeout=self.opt.replicate_timeout)
        return None

    # -- results ---------------------------------------------------------------------------------
    def _on_report(self, trial: int, index: int, attempt: int, step: int, metrics: dict) -> bool:
        """A live ``ctx.report``: store it now; True when the pruner stops the trial."""
        try:
            self.storage.add_report(self.name, trial, index, attempt, step, metrics)
        except (StorageError, TypeError, ValueError) as e:  # re-queued by another driver, or odd metrics
            logger.debug("trial %d replicate %d: report of step %d not stored (%s)", trial, index, step, e)
        if self._monitor is None:
            return False
        if self._monitor.stale():  # other drivers' curves; ours are added as they come
            self._monitor.sync(self.study.all_trials())
        return self._monitor.report(trial, index, attempt, step, metrics)

    def _finish_pruned(self, r: ReplicateResult) -> None:
        """Close a pruned replicate, and every replicate of its trial still waiting."""
        last = self._monitor.last_value(r.trial, r.index) if self._monitor is not None else None
        self.storage.finish(self.name, r.trial, r.index, r.attempt, State.PRUNED, loss=last, runtime=r.runtime,
                            error=r.error or "pruned")
        for w in self.storage.get_trial(self.name, r.trial).waiting():
            try:
                self.storage.finish(self.name, r.trial, w.index, w.attempt, State.PRUNED,
                                    error="pruned before it started")
            except StorageError:  # another driver took it meanwhile: it stops at its first report
                pass

    def _record(self, r: ReplicateResult) -> None:
        self._open.close(r.trial, r.index, r.attempt)
        for note in r.notes:
            logger.warning("trial %d replicate %d: %s", r.trial, r.index, note)
        reason = ""
        try:
            for step, metrics in r.reports[r.live_reports:]:   # those not stored live already
                self.storage.add_report(self.name, r.trial, r.index, r.attempt, step, metrics)
            if r.status == Outcome.OK:
                self._finish_complete(r)
                if self._monitor is not None:
                    self._monitor.completed.add(r.trial)
            elif r.status == Outcome.PRUNED:
                self._finish_pruned(r)
            else:
                reason = {Outcome.LOST: f"worker lost: {r.error or r.status}",
                          Outcome.CANCELLED: f"{INTERRUPTED}: {r.error or 'not run'}; re-queued"}.get(
                    r.status, r.error or "failed")
                self.storage.finish(self.name, r.trial, r.index, r.attempt, State.FAILED, runtime=r.runtime,
                                    error=reason)
        except StorageError as e:
            # another driver declared this attempt stale and re-queued it: the late result is dropped
            logger.warning("dropping late result of trial %d replicate %d: %s", r.trial, r.index, e)
            return
        trial = self.storage.get_trial(self.name, r.trial)
        pruned = self._monitor is not None and r.trial in self._monitor.pruned
        if r.status not in (Outcome.OK, Outcome.PRUNED) and not pruned and self._retry(trial, r.index, reason):
            return
        if trial.finished:
            self._trial_finished(trial)

    def _finish_complete(self, r: ReplicateResult) -> None:
        try:
            self.storage.finish(self.name, r.trial, r.index, r.attempt, State.COMPLETE, loss=r.loss,
                                metrics=r.metrics, runtime=r.runtime)
        except (TypeError, ValueError) as e:  # metrics the storage cannot hold: keep the loss
            logger.warning("trial %d replicate %d: dropping its metrics (%s)", r.trial, r.index, e)
            self.storage.finish(self.name, r.trial, r.index, r.attempt, State.COMPLETE, loss=r.loss,
                                runtime=r.runtime)

    def _retry(self, trial: Trial, index: int, reason: str) -> bool:
        """Re-queue a failed replicate within the retry limit; True when re-queued."""
        failures = sum(1 for a in trial.replicates if a.index == index and a.state == State.FAILED
                       and not (a.error or "").startswith(INTERRUPTED))
        if self.opt.max_trainings is not None and \
                trainings_spent(self.study.all_trials()) >= self.opt.max_trainings:
            logger.warning("trial %d replicate %d failed (%s); not retried: the budget of %d trainings is spent",
                           trial.number, index, _last_line(reason), self.opt.max_trainings)
            return False
        if failures <= self.opt.max_retries:
            self.storage.retry(self.name, trial.number, index)
            logger.warning("trial %d replicate %d failed (%s); retry %d of %d", trial.number, index,
                           _last_line(reason), failures, self.opt.max_retries)
            return True
        logger.warning("trial %d replicate %d failed %d times; giving up: %s", trial.number, index,
                       failures, _last_line(reason))
        return False

    def _trial_finished(self, trial: Trial) -> None:
        summary = self.study.summarize(trial)
        best = self.study.best_or_none()
        kappa = self.study.settings.kappa
        best_txt = (f"best objective (mean + {kappa:g}·std) {best.value:.4g} (trial {best.number})" if best is not None
                    else "no completed trial yet")
        if trial.state == State.COMPLETE and summary.state != State.COMPLETE:
            logger.warning("trial %d FAILED: its aggregate objective is not finite (losses %s overflow) | %s",
                           trial.number, ", ".join(f"{v:.3g}" for v in summary.losses), best_txt)
        elif trial.state == State.COMPLETE:
            logger.info("trial %d: %s | %s", trial.number, describe_loss(summary), best_txt)
        elif trial.state == State.PRUNED:
            steps = sorted({s for r in trial.latest().values() for s, _ in r.reports})
            logger.info("trial %d PRUNED after step %s | %s", trial.number, steps[-1] if steps else "-", best_txt)
        else:
            logger.info("trial %d FAILED (all %d replicates) | %s", trial.number, trial.n_replicates, best_txt)
        if self._bar is not None:
            self._bar.update(1)
            if best is not None:
                self._bar.set_postfix_str(f"best objective {best.value:.4g}")
        for callback in self.opt.callbacks:
            callback(self.study, summary)

    def _interrupt(self, reason: str) -> None:
        """Ctrl-C, SIGTERM or the time budget: close our running attempts as interrupted
        (``reason``) and re-queue them; interrupted attempts use up no retry."""
        for (trial, index, attempt) in list(self._open.slots):
            try:
                self.storage.finish(self.name, trial, index, attempt, State.FAILED, error=reason)
                self.storage.retry(self.name, trial, index)
            except Exception as e:  # pragma: no cover - best effort while shutting down
                logger.debug("could not re-queue trial %d replicate %d: %s", trial, index, e)
        self._open = _Open()
        n_done = sum(1 for t in self.study.all_trials() if t.finished)
        logger.warning("%s: %d finished trials are stored; running replicates were re-queued",
                       reason.split(";")[0], n_done)

    # -- progress ---------------------------------------------------------------------------------
    def _open_progress(self) -> None:
        if not self.opt.show_progress:
            return
        from tqdm.auto import tqdm  # noqa: PLC0415 - a widget in Jupyter, a bar on a terminal

        done = sum(1 for t in self.study.all_trials() if t.finished)
        total = self.opt.n_trials  # None (an open-ended bar) with only a training budget
        self._bar = tqdm(total=total, initial=done if total is None else min(done, total), desc=self.name,
                         unit="trial", dynamic_ncols=True, leave=True)


def describe_loss(summary: TrialSummary) -> str:
    """``loss 0.31 ± 0.02 (n=3)``, or ``loss 0.31 (n=1)`` for a single replicate."""
    return "loss " + format_loss(summary.mean, summary.std, summary.n, digits=4)


def _last_line(text: str) -> str:
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""
