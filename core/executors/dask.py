"""The Dask executor: replicates run on a ``distributed`` cluster.

A ``LocalCluster`` of worker processes when no address is given, else the scheduler at
``address`` (or named by ``scheduler_file``), e.g. one started by ``dask_jobqueue`` or by
hand on a campus machine. The study's storage stays the only truth: the driver records
what comes back; Dask only runs jobs. Tasks travel by import path, as with the local
executor, so workers import them themselves and nothing is pickled but the job.

A worker that dies takes its running job with it: Dask reports the job's future as
failed (``KilledWorker``, ``allowed-failures`` is set to 0 on a cluster we start, so
nothing is silently re-run), and the executor reports its slots as lost; the driver
re-queues them as new attempts with the same seed, exactly as with the local executor.

Live reports: with a report handler (a study's driver), each ``ctx.report`` on a worker
goes into a Dask queue as it happens; the driver empties it whenever it polls and sets a
per-job Dask event when the pruner stops the job, which the worker checks at its next
report.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Optional

from .base import Executor, Job, Outcome, ReplicateResult

_PATH_HINT = ("executor 'dask': the task must be an import path 'package.module:attribute' "
              "(workers on other machines import it)")


def run_job_on_worker(job: Job) -> list[ReplicateResult]:
    """What a Dask worker runs: every slot of ``job`` in order (module level, so importable).

    With ``job.channel`` every ``ctx.report`` goes into the Dask queue of that name as it
    happens, and the job stops once the driver sets the event ``<channel>-stop-<job_id>``.
    """
    from ..task import default_device  # noqa: PLC0415 - on the worker
    from .worker import run_job  # noqa: PLC0415

    try:
        from distributed import get_worker  # noqa: PLC0415

        name = f"dask:{get_worker().name}"
    except (ImportError, ValueError):
        name = "dask"
    on_report, stopped = _live_hooks(job)
    return list(run_job(job, device=default_device(), worker=name, on_report=on_report, stopped=stopped))


def _live_hooks(job: Job) -> tuple[Any, Any]:
    """``(on_report, stopped)`` relaying reports through the job's Dask queue (worker side)."""
    if not job.channel:
        return None, None
    from distributed import Event, Queue  # noqa: PLC0415

    queue, stop = Queue(job.channel), Event(f"{job.channel}-stop-{job.job_id}")

    def on_report(slot: Any, step: int, metrics: dict) -> bool:
        queue.put((job.job_id, int(slot.index), int(slot.attempt), int(step), dict(metrics)))
        return bool(stop.is_set())

    return on_report, lambda: bool(stop.is_set())


class DaskExecutor(Executor):
    """Runs jobs on a ``distributed.Client``.

    Args:
        workers: worker processes of the ``LocalCluster`` started when no address is given;
            with an address, the number of jobs kept in flight (default: the cluster's
            worker count at start).
        address: scheduler address (``tcp://host:8786``); None starts a LocalCluster.
        scheduler_file: a scheduler file instead of ``address``.
        gpus_per_replicate: when > 0, jobs ask for ``resources={"GPU": n}``, so a worker
            runs at most (its declared GPUs / n) of them at once; None: 1 when the workers
            declare GPUs (``resources`` or a Slurm profile with GPUs), else 0.
        cluster: "local" (default) or "slurm": a ``dask_jobqueue.SLURMCluster`` of ``jobs``
            Slurm jobs, one single-threaded Dask worker each, built from the site profile
            ``profile`` (see :func:`uqhpo.slurm_submit.dask_slurm_cluster`).
        resources: what each LocalCluster worker declares, e.g. ``{"GPU": 1}`` (Dask
            resources are labels: they limit how many jobs run at once, nothing else).
        threads_per_worker: threads of each LocalCluster worker (1: one training each).
    """

    name = "dask"

    def __init__(self, workers: Optional[int] = None, address: Optional[str] = None,
                 scheduler_file: Optional[str] = None, gpus_per_replicate: Optional[int] = None,
                 threads_per_worker: int = 1, cluster: Optional[str] = None, profile: Optional[str] = None,
                 jobs: Optional[int] = None, resources: Optional[dict] = None):
        if workers is not None and int(workers) < 1:
            raise ValueError(f"executor 'dask': workers must be >= 1, got {workers}")
        if address and scheduler_file:
            raise ValueError("executor 'dask': give address or scheduler_file, not both")
        self._requested = None if workers is None else int(workers)
        self.address, self.scheduler_file = address, scheduler_file
        if cluster not in (None, "local", "slurm") or (cluster == "slurm") != bool(profile):
            raise ValueError("executor 'dask': cluster must be 'local' or 'slurm', and cluster 'slurm' needs a "
                             f"profile (got cluster={cluster!r}, profile={profile!r})")
        self.cluster, self.profile, self.jobs = cluster or "local", profile, int(jobs or workers or 1)
        self.resources = {str(k): v for k, v in (resources or {}).items()}
        self.gpus_per_replicate: Optional[int] = None if gpus_per_replicate is None else int(gpus_per_replicate)
        self.threads_per_worker = int(threads_per_worker)
        self._client: Any = None
        self._cluster: Any = None
        if self.cluster == "slurm":
            self._n = self.jobs
        elif address or scheduler_file:
            self._n = self._requested or 1
        else:
            self._n = (self._requested or 1) * self.threads_per_worker   # jobs in flight: one per thread
        self._futures: dict[Any, Job] = {}    # future -> its job
        self._started_at: dict[str, float] = {}
        self._channel: Optional[str] = None   # the queue of live reports (with a report handler)
        self._jobs: dict[str, Job] = {}       # job id -> job, while it may still report

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        if self._client is not None:
            return
        try:
            import dask  # noqa: PLC0415
            from distributed import Client, LocalCluster  # noqa: PLC0415
        except ImportError:
            raise ImportError("executor 'dask' needs dask.distributed: pip install 'uqhpo[dask]'") from None
        if self.cluster == "slurm":
            from ..slurm_submit import dask_slurm_cluster  # noqa: PLC0415

            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                self._cluster, self.resources = dask_slurm_cluster(self.profile or "", self.jobs)
            self._client = Client(self._cluster)
            return
        if self.address or self.scheduler_file:
            self._client = Client(address=self.address, scheduler_file=self.scheduler_file, timeout="30s")
            if self._requested is None:
                n = len(self._client.scheduler_info().get("workers", {}))
                self._n = max(n * self.threads_per_worker, 1)
            return
        # a lost worker must surface as a lost job (the storage re-queues it), not be re-run by Dask
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            self._cluster = LocalCluster(n_workers=self._requested or 1, threads_per_worker=self.threads_per_worker,
                                         processes=True, dashboard_address=":0", silence_logs=40,
                                         resources=self.resources or None)
        self._client = Client(self._cluster)

    def shutdown(self, cancel: bool = True) -> None:
        if self._client is None:
            return
        futures = list(self._futures)
        if cancel and futures:
            self._client.cancel(futures)
        elif futures:
            from distributed import wait  # noqa: PLC0415

            wait(futures)
        self._futures.clear()
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    # -- state ------------------------------------------------------------------------
    @property
    def n_workers(self) -> int:
        return self._n

    def n_running(self) -> int:
        return len(self._futures)

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (None before :meth:`start`)."""
        return self._client

    def job_resources(self) -> dict:
        """What each job asks of its worker: ``{"GPU": n}`` or nothing (see ``gpus_per_replicate``)."""
        gpus = self.gpus_per_replicate
        if gpus is None:
            gpus = 1 if self.resources.get("GPU", 0) > 0 else 0
        return {"GPU": gpus} if gpus > 0 else {}

    # -- work -------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        if not isinstance(job.task, str) or ":" not in job.task:
            raise ValueError(_PATH_HINT)
        self.start()
        resources = self.job_resources() or None
        if self._report_handler is not None:  # reports come back live through a Dask queue
            self._channel = self._channel or f"uqhpo-reports-{job.study}-{time.time_ns()}"
            job = dataclasses.replace(job, channel=self._channel)
            self._jobs[job.job_id] = job
        future = self._client.submit(run_job_on_worker, job, key=f"uqhpo-{job.study}-{job.job_id}-{time.time_ns()}",
                                     pure=False, resources=resources)
        self._futures[future] = job
        self._started_at[job.job_id] = time.time()

    def poll(self, timeout: Optional[float] = 0.0) -> list[ReplicateResult]:
        if not self._futures:
            return []
        from distributed import wait  # noqa: PLC0415

        wait_s = 1.0 if timeout is None else max(float(timeout), 0.0)
        try:
            done, _ = wait(list(self._futures), timeout=wait_s, return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = set()
        self._relay_reports()   # after the wait: a finished job's reports are all queued by now
        if not done:
            return []
        out: list[ReplicateResult] = []
        for future in done:
            job = self._futures.pop(future)
            out += self._collect(future, job)
        return out

    def _relay_reports(self) -> None:
        """Hand the queued live reports to the driver; set the stop event of a pruned job."""
        if self._channel is None or self._report_handler is None:
            return
        from distributed import Event, Queue  # noqa: PLC0415

        for job_id, index, attempt, step, metrics in Queue(self._channel, client=self._client).get(batch=True):
            job = self._jobs.get(job_id)
            if job is not None and self._report_handler(job.trial, index, attempt, step, metrics):
                Event(f"{self._channel}-stop-{job_id}", client=self._client).set()

    def _collect(self, future: Any, job: Job) -> list[ReplicateResult]:
        started = self._started_at.pop(job.job_id, time.time())
        self._jobs.pop(job.job_id, None)
        if future.status == "finished":
            return list(future.result())
        # the worker died (KilledWorker), or the job was cancelled / errored outside run_job
        try:
            error = repr(future.exception())
        except Exception as e:  # noqa: BLE001 - a cancelled future raises on exception()
            error = f"{type(e).__name__}: {e}"
        reason = f"dask worker lost while running job {job.job_id} ({error})"
        now = time.time()
        return [ReplicateResult(job_id=job.job_id, trial=job.trial, index=s.index, attempt=s.attempt,
                                seed=int(s.seed), status=Outcome.LOST, error=reason, worker="dask",
                                started=started, finished=now) for s in job.slots]
