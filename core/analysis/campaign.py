"""Where a running study stands and when it will be done (``uqhpo status``).

:func:`project_finish` is a pure function of numbers (finished runtimes, running and
waiting counts, the remaining budget, the workers); :func:`campaign_status` gathers those
numbers from the stored trials; :func:`status_lines` formats both for the CLI.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..pilot import duration, first_line
from ..trial import State, Trial


@dataclass(frozen=True)
class Projection:
    """Expected remaining wall time of a study.

    Attributes:
        seconds: expected wall seconds until the last replicate finishes.
        sd: standard deviation of that estimate (NaN with fewer than 2 finished runtimes).
        replicates_left: replicates not started yet (waiting + those of trials not yet proposed).
        running: replicates running now.
        workers: workers assumed to share the work.
    """

    seconds: float
    sd: float
    replicates_left: int
    running: int
    workers: int


def expected_residual(runtimes: np.ndarray, elapsed: float) -> float:
    """Expected seconds left of a replicate running for ``elapsed`` s: the mean of
    ``t - elapsed`` over the finished runtimes ``t`` longer than that (0 when none is)."""
    longer = runtimes[runtimes > elapsed]
    return float((longer - elapsed).mean()) if longer.size else 0.0


def project_finish(runtimes: Sequence[float], running_elapsed: Sequence[float], waiting: int,
                   remaining_trials: int, replicates_per_trial: int, workers: int) -> Optional[Projection]:
    """Project the remaining wall time from the replicates finished so far.

    Model: the ``N = waiting + remaining_trials * replicates_per_trial`` replicates still to
    start take the mean finished runtime ``m`` each; a running one takes its
    :func:`expected_residual`; ``w = min(workers, N + running)`` workers share the work and
    stay busy (asynchronous scheduling), so

        seconds = max(work / w, longest residual, m if N > 0)   with work = N m + sum(residuals)

    and its spread combines the spread of N runtimes and the uncertainty of ``m`` estimated
    from ``n`` runtimes with sample sd ``s``:  ``sd = s sqrt(N + N^2 / n) / w``.

    Args:
        runtimes: (n,) seconds of the finished replicates.
        running_elapsed: (r,) seconds each running replicate has run so far.
        waiting: replicates created and waiting for a worker.
        remaining_trials: trials of the budget not proposed yet.
        replicates_per_trial: replicates each of those trials will get.
        workers: workers available.

    Returns:
        The projection, or None when no replicate finished yet (nothing to extrapolate).
    """
    times = np.asarray(runtimes, dtype=float)
    if times.size == 0:
        return None
    mean = float(times.mean())
    sd = float(times.std(ddof=1)) if times.size > 1 else math.nan
    residuals = [expected_residual(times, float(e)) for e in running_elapsed]
    left = int(waiting) + max(int(remaining_trials), 0) * int(replicates_per_trial)
    w = max(1, min(int(workers), left + len(residuals)))
    work = left * mean + sum(residuals)
    seconds = max(work / w, max(residuals, default=0.0), mean if left else 0.0)
    spread = sd * math.sqrt(left + left * left / times.size) / w if left else 0.0
    return Projection(seconds=seconds, sd=spread, replicates_left=left, running=len(residuals), workers=w)


@dataclass(frozen=True)
class CampaignStatus:
    """Counts of a study's replicate attempts now, and the projection.

    Attributes:
        running: RUNNING attempts with a heartbeat younger than ``stale_after``.
        stale: RUNNING attempts whose heartbeat is older (their worker is probably gone;
            they will be re-queued, so the projection counts them as waiting).
        waiting, finished, failed: attempts WAITING, COMPLETE (or PRUNED), FAILED.
        failures: (count, reason) per distinct last line of the error, most frequent first.
        projection: see :func:`project_finish`; None without a finished replicate or budget.
    """

    running: int
    stale: int
    waiting: int
    finished: int
    failed: int
    failures: list[tuple[int, str]]
    projection: Optional[Projection]


def campaign_status(trials: Sequence[Trial], n_trials: Optional[int], replicates_per_trial: int, now: float,
                    stale_after: float, workers: Optional[int] = None) -> CampaignStatus:
    """Count the attempts of ``trials`` and project the time to finish ``n_trials`` trials.

    ``workers``: the configured workers; the projection uses at least as many as are
    running now (a Slurm allocation of ``uqhpo worker`` processes shows up that way).
    """
    attempts = [r for t in trials for r in t.replicates]
    running = [r for r in attempts if r.state is State.RUNNING]
    stale = [r for r in running if now - (r.heartbeat or r.started or now) > stale_after]
    fresh = [r for r in running if now - (r.heartbeat or r.started or now) <= stale_after]
    waiting = sum(1 for r in attempts if r.state is State.WAITING)
    done = [r for r in attempts if r.state in (State.COMPLETE, State.PRUNED)]
    failed = [r for r in attempts if r.state is State.FAILED]
    reasons = Counter(first_line(r.error) for r in failed)
    projection = None
    if n_trials is not None:
        projection = project_finish(
            [float(r.runtime) for r in done if r.runtime is not None],
            [max(now - float(r.started), 0.0) for r in fresh if r.started is not None],
            waiting + len(stale), int(n_trials) - len(trials), replicates_per_trial,
            max(len(fresh), int(workers or 1)))
    return CampaignStatus(running=len(fresh), stale=len(stale), waiting=waiting, finished=len(done),
                          failed=len(failed), failures=[(n, reason) for reason, n in reasons.most_common()],
                          projection=projection)


def status_lines(study: Any, trials: Sequence[Trial], now: float, stale_after: float) -> list[str]:
    """The campaign lines ``uqhpo status`` prints for ``study`` (a loaded Study) and its
    ``trials`` (``study.all_trials()``, read once by the caller)."""
    s = study.settings
    configured = ((s.user or {}).get("config") or {}).get("executor") or {}
    status = campaign_status(trials, s.n_trials, int(s.n_replicates), now, stale_after,
                             workers=configured.get("workers"))
    return format_status(status, has_budget=s.n_trials is not None)


def format_status(status: CampaignStatus, has_budget: bool = True) -> list[str]:
    """Counts, failures by reason, and the projected time to finish, one line each."""
    out = [f"campaign: {status.running} running, {status.stale} with a stale heartbeat, {status.waiting} waiting, "
           f"{status.finished} finished, {status.failed} failed"]
    out += [f"  failed {n}x: {reason}" for n, reason in status.failures]
    p = status.projection
    if p is None:
        why = "no finished replicate yet" if has_budget else "no trial budget stored with the study"
        out.append(f"projected time to finish: n/a ({why})")
    elif p.replicates_left == 0 and p.running == 0:
        out.append("projected time to finish: nothing left to run")
    elif p.seconds == 0.0:
        out.append(f"projected time to finish: any moment ({p.running} running, each longer than every "
                   "finished replicate took)")
    else:
        spread = "" if math.isnan(p.sd) else f" (sd {duration(p.sd)})"
        out.append(f"projected time to finish: about {duration(p.seconds)}{spread} for {p.replicates_left} "
                   f"replicate(s) to start and {p.running} running, on {p.workers} worker(s)")
    return out
