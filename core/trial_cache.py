"""The per-trial cache of a study: trials read incrementally, aggregates kept per trial.

A :class:`TrialCache` asks the storage only for the trials changed since its last read
(``Storage.changes_since``) and recomputes only their entries, so the study's reads (the
trials, the strategy's observations, the pending configs, the incumbent, the summaries)
cost the same at 100 or 100 000 trials. It answers through the functions of
:mod:`uqhpo.summary`, which use it when handed the :class:`~uqhpo.summary.TrialList` of
its last refresh and compute from the records otherwise; tests compare both.
"""
from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Set as AbstractSet
from typing import Any, Optional

import numpy as np

from ._trial_entry import TrialEntry, pooled_part, restrict, rough_objectives
from .settings import StudySettings
from .storage._json import no_gc
from .summary import TrialList, settings_key, summarize
from .trial import Trial, TrialSummary
from .uq import Aggregate, aggregate, finite_aggregate

__all__ = ["TrialCache"]


class TrialCache:
    """The trials of one study, read incrementally, with per-trial aggregates.

    Each :meth:`refresh` asks the storage only for the trials changed since the last one
    (``Storage.changes_since``) and recomputes only their entries, so reading the trials,
    the observations a strategy sees, the pending configs and the incumbent costs the same
    at 100 or 100 000 stored trials. Results equal the uncached functions of this module
    and of :mod:`uqhpo.uq` (tests compare them). Aggregates are computed when first asked
    for; a first look for the incumbent among many trials narrows the candidates with a
    vectorised estimate and ranks them on their exact aggregates. With adaptive
    replication a change of the pooled spread recomputes every aggregate.

    The trial records are shared with callers: treat them as read-only.

    Args:
        storage: the study's storage.
        study: the study's name.
        space: its search space (observed configs are restricted to its parameters).
        settings: kappa, direction and adaptive replication come from here.
    """

    #: more changed trials than this (or an eighth of all) rebuild the views at once
    BULK = 64

    def __init__(self, storage: Any, study: str, space: Any, settings: StudySettings):
        self.storage, self.study, self.space = storage, study, space
        self.params = tuple(space.params)
        self.settings = settings
        self.key = settings_key(settings)
        self.version = 0
        self.seq = 0
        self.records: list[Trial] = []
        self.entries: list[TrialEntry] = []
        self.prior: Optional[float] = None
        self._pooled: dict[int, tuple[float, int]] = {}  # adaptive: trial -> its term of the pooled spread
        self._best: Optional[int] = None
        self._best_stale = True
        self._views = False  # the observation views are built (then kept per change)
        self._key_of: dict[int, str] = {}   # trial number -> Space.key of its config (computed once)
        self._seen: Counter[str] = Counter()  # keys of the observed and failed configs (with multiplicity)
        self._rebuild_counts()

    # -- reading --------------------------------------------------------------------------------
    def refresh(self, settings: Optional[StudySettings] = None) -> None:
        """Catch up with the storage (and with changed kappa/direction/adaptive settings)."""
        if settings is not None:
            self.settings = settings
            if settings_key(settings) != self.key:
                self.key = settings_key(settings)
                self._recompute_all()
        changed, seq = self.storage.changes_since(self.study, self.seq)
        if not changed:
            self.seq = seq
            return
        n_old = len(self.records)
        if any(t.number > n_old + i for i, t in enumerate(t for t in changed if t.number >= n_old)):
            self.seq, self.records, self.entries = 0, [], []  # not contiguous (cannot happen): read all
            changed, seq = self.storage.changes_since(self.study, 0)
        self.seq = seq
        self.version += 1
        bulk = len(changed) > max(self.BULK, len(self.records) // 8)
        if bulk:
            with no_gc(len(changed)):  # tens of thousands of new objects: no collections that rescan all the records
                self._apply(changed, bulk)
        else:
            self._apply(changed, bulk)

    def _apply(self, changed: list[Trial], bulk: bool) -> None:
        settings = self.settings
        sign = settings.sign
        for t in changed:
            entry = TrialEntry(t, sign)
            if t.number < len(self.records):
                if not bulk:
                    self._remove(self.entries[t.number], t.number)
                self.records[t.number], self.entries[t.number] = t, entry
            else:
                self.records.append(t)
                self.entries.append(entry)
            if not bulk:
                self._add(entry, t.number)
            if settings.adaptive:
                part = pooled_part(t)
                if part is None:
                    self._pooled.pop(t.number, None)
                else:
                    self._pooled[t.number] = part
        if settings.adaptive and self._update_prior():
            self._recompute_all()
        elif bulk:
            self._rebuild_counts()

    def trials(self, settings: Optional[StudySettings] = None) -> TrialList:
        """Every trial record, by number, after a refresh (shared records: read-only)."""
        self.refresh(settings)
        out = TrialList(self.records)
        out.cache, out.version = self, self.version
        return out

    # -- answers (for the records as of the last refresh) ------------------------------------------
    def observations(self) -> tuple[list, np.ndarray, np.ndarray, list, int]:
        """``(configs, values (n,), variances (n,), failed, n_evaluations)`` as
        ``Study.observations`` computes them (``uq.observations_from_trials`` of the trials as
        ``pruners.as_observed`` shows them; completed trainings only in ``n_evaluations``).
        Fresh containers; configs are shared dicts."""
        self._build_views()
        failed = [restrict(self.records[n].config, self.params) for n in self._failed]
        return (list(self._configs), self._values.copy(), self._variances.copy(), failed, self._n_eval)

    def pending(self) -> list[dict]:
        """Configs of the unfinished trials, by number (as ``[t.config for t in trials if not t.finished]``)."""
        return [self.records[n].config for n in sorted(self._unfinished)]

    def with_waiting(self) -> list[Trial]:
        """The records with a WAITING latest attempt, by number."""
        return [self.records[n] for n in sorted(self._waiting)]

    def best_number(self) -> Optional[int]:
        """The incumbent's number: the lowest objective, the lowest number among ties."""
        if self._best_stale:
            self._best = self._scan_best()
            self._best_stale = False
        return self._best

    def summary(self, number: int) -> TrialSummary:
        entry = self.entries[number]
        if entry.summary is None:
            entry.summary = summarize(entry.trial, self.settings, self.prior)
        return entry.summary

    def summaries(self) -> list[TrialSummary]:
        """``summarize_complete`` of the records (computed once per change of a trial)."""
        return [self.summary(n) for n, e in enumerate(self.entries) if self._ranked(e)]

    # -- aggregates -------------------------------------------------------------------------------
    def _agg(self, e: TrialEntry) -> Aggregate:
        if e.agg is None:
            e.agg = aggregate(e.losses, self.settings.kappa, self.prior)
        return e.agg

    def _usable(self, e: TrialEntry) -> bool:
        """Observed: losses with a finite aggregate."""
        return e.losses is not None and finite_aggregate(self._agg(e))

    def _ranked(self, e: TrialEntry) -> bool:
        """Ranked for the incumbent: COMPLETE with a finite aggregate."""
        return e.ranked and self._usable(e)

    def _scan_best(self) -> Optional[int]:
        entries = self.entries
        complete = [n for n, e in enumerate(entries) if e.ranked and e.losses is not None]
        lazy = [n for n in complete if entries[n].agg is None]
        if len(lazy) > self.BULK:  # rank exactly only the trials a rough estimate cannot rule out
            rough, slack = rough_objectives([entries[n].losses or [] for n in lazy], self.settings.kappa,
                                             self.prior)
            finite = np.isfinite(rough)
            # the bar: the exact objective of a usable trial, so the best is at or below it
            bar = min((self._agg(entries[n]).objective for n in complete
                       if entries[n].agg is not None and self._ranked(entries[n])), default=math.inf)
            for i in np.argsort(np.where(finite, rough + slack, np.inf), kind="stable"):
                if not finite[i] or rough[i] + slack[i] >= bar:
                    break
                if self._ranked(entries[lazy[i]]):
                    bar = self._agg(entries[lazy[i]]).objective
                    break
            with np.errstate(invalid="ignore"):
                drop = {lazy[i] for i in np.flatnonzero(finite & (rough - slack > bar))}
            complete = [n for n in complete if n not in drop]
        usable = [(self._agg(entries[n]).objective, n) for n in complete if self._ranked(entries[n])]
        return min(usable)[1] if usable else None

    # -- keeping the views ----------------------------------------------------------------------------
    def _rebuild_counts(self) -> None:
        """The views every refresh keeps (no aggregates needed); the others are built on demand."""
        entries = self.entries
        self._unfinished = {n for n, e in enumerate(entries) if not e.finished}
        self._waiting = {n for n, e in enumerate(entries) if e.waiting}
        self._n_eval = sum(e.n_eval for e in entries)
        self.trainings_spent = sum(e.spent for e in entries)  # Trial.trainings_spent over the records
        self._best, self._best_stale, self._views = None, True, False

    def _build_views(self) -> None:
        if self._views:
            return
        entries, params = self.entries, self.params
        observed = [n for n, e in enumerate(entries) if self._usable(e)]
        self._observed = observed                                    # sorted numbers
        self._configs = [restrict(self.records[n].config, params) for n in observed]
        self._values = np.array([self._agg(entries[n]).objective for n in observed], dtype=float)
        self._variances = np.array([self._agg(entries[n]).objective_var for n in observed], dtype=float)
        self._failed = [n for n, e in enumerate(entries) if self._failed_entry(e)]
        self._seen = Counter(self._config_key(n) for n in (*observed, *self._failed))
        self._views = True

    def _config_key(self, n: int) -> str:
        key = self._key_of.get(n)
        if key is None:
            key = self._key_of[n] = self.space.key(self.records[n].config)
        return key

    def seen_keys(self) -> AbstractSet[str]:
        """``Space.key`` of every observed and failed config (as the strategies' ``taken``
        would compute them from :meth:`observations`, without re-encoding the history).
        A live read-only view, not a copy (copying 10 000 keys per proposal was a third of
        an ``ask`` at that size): it follows the cache's later refreshes."""
        self._build_views()
        return self._seen.keys()

    def _unsee(self, n: int) -> None:
        key = self._config_key(n)
        self._seen[key] -= 1
        if self._seen[key] <= 0:
            del self._seen[key]

    def _failed_entry(self, e: TrialEntry) -> bool:
        """Seen as FAILED, or with an overflowing aggregate (as ``uq.observations_from_trials``)."""
        return e.failed or (e.losses is not None and not self._usable(e))

    def _remove(self, e: TrialEntry, n: int) -> None:
        self._unfinished.discard(n)
        self._waiting.discard(n)
        self._n_eval -= e.n_eval
        self.trainings_spent -= e.spent
        if n == self._best:
            self._best_stale = True
        if not self._views:
            return
        if self._usable(e):
            i = bisect_left(self._observed, n)
            del self._observed[i], self._configs[i]
            self._values, self._variances = np.delete(self._values, i), np.delete(self._variances, i)
            self._unsee(n)
        if self._failed_entry(e):
            del self._failed[bisect_left(self._failed, n)]
            self._unsee(n)

    def _add(self, e: TrialEntry, n: int) -> None:
        if not e.finished:
            self._unfinished.add(n)
        if e.waiting:
            self._waiting.add(n)
        self._n_eval += e.n_eval
        self.trainings_spent += e.spent
        if not self._best_stale and self._ranked(e):
            best = self._best
            if best is None or (self._agg(e).objective, n) < (self._agg(self.entries[best]).objective, best):
                self._best = n
        if not self._views:
            return
        if self._usable(e):
            i = bisect_left(self._observed, n)
            agg = self._agg(e)
            self._observed.insert(i, n)
            self._configs.insert(i, restrict(e.trial.config, self.params))
            self._values = np.insert(self._values, i, agg.objective)
            self._variances = np.insert(self._variances, i, agg.objective_var)
            self._seen[self._config_key(n)] += 1
        if self._failed_entry(e):
            insort(self._failed, n)
            self._seen[self._config_key(n)] += 1

    def _update_prior(self) -> bool:
        """Recompute the pooled spread from the trials' terms; True when it changed."""
        num, dof = 0.0, 0
        for n in sorted(self._pooled):  # trial order: the additions of uq.pooled_std, in its order
            part, k = self._pooled[n]
            num += part
            dof += k
        prior = math.sqrt(num / dof) if dof and math.isfinite(num) else None
        if prior == self.prior or (prior is not None and self.prior is not None
                                   and math.isnan(prior) and math.isnan(self.prior)):
            return False
        self.prior = prior
        return True

    def _recompute_all(self) -> None:
        self._pooled = {}
        if self.settings.adaptive:
            for n, t in enumerate(self.records):
                part = pooled_part(t)
                if part is not None:
                    self._pooled[n] = part
            self._update_prior()
        else:
            self.prior = None
        sign = self.settings.sign
        self.entries = [TrialEntry(t, sign) for t in self.records]
        self._rebuild_counts()
