"""Study: the ask -> submit -> poll -> tell loop that ties the plug points together.

The storage is the only truth. A study object holds no results of its own: every
decision (what to run next, what is pending, which config is best) is re-derived from
``storage.get_trials``. Resuming is therefore just ``load_study`` + ``optimize``.
"""
from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from .seeding import proposal_rng, replicate_seed
from .space import Space
from .storage.base import Storage, StudyExistsError, StudyRecord
from .strategies import make_strategy
from .trial import FrozenTrial, Observations, State, Trial

logger = logging.getLogger("uqhpo")

_DIRECTIONS = ("minimize", "maximize")


class Study:
    """A named study inside a storage. Build it with :func:`create_study` or :func:`load_study`."""

    def __init__(self, storage: Storage, record: StudyRecord):
        self.storage = storage
        self.record = record
        self.name = record.name
        self.seed = int(record.seed)
        self.direction = record.direction
        self.space = Space.from_dict(record.space)
        s = record.settings
        self.kappa = float(s.get("kappa", 1.0))
        self.n_replicates = int(s.get("n_replicates", 1))
        self.mc_dropout = int(s.get("mc_dropout", 0))
        self.adaptive = bool(s.get("adaptive_replicates", False))
        self.strategy = self._make_strategy(s.get("n_trials"))
        self._sign = 1.0 if self.direction == "minimize" else -1.0

    def _make_strategy(self, n_trials: Optional[int]):
        """The strategy from the stored settings; a strategy whose schedule depends on the
        budget (DYCORS perturbation decay) gets the trial budget unless the user set one."""
        import inspect
        from .strategies import strategy_class
        s = self.record.settings
        options = dict(s.get("strategy_options") or {})
        name = s.get("strategy", "rbf")
        if n_trials and "budget" not in options and "budget" in inspect.signature(strategy_class(name)).parameters:
            options["budget"] = int(n_trials)
        return make_strategy(name, self.space, seed=self.seed, **options)

    def __repr__(self) -> str:
        return f"Study(name={self.name!r}, strategy={self.record.settings.get('strategy')!r}, seed={self.seed})"

    # -- reading ------------------------------------------------------------------------------
    def all_trials(self) -> list[Trial]:
        """Every trial with all replicate attempts, by number."""
        return self.storage.get_trials(self.name)

    def observations(self, trials: Optional[Sequence[Trial]] = None) -> Observations:
        """What the strategy sees: finished configs and their aggregate objective (minimised)."""
        from .uq import observations_from_trials
        trials = self.all_trials() if trials is None else trials
        return observations_from_trials(list(trials), self.space, self.kappa, self.direction,
                                        std_prior=self._std_prior(trials))

    def _std_prior(self, trials: Sequence[Trial]) -> Optional[float]:
        """With adaptive replication, single-replicate configs borrow the pooled spread."""
        if not self.adaptive:
            return None
        from .uq import pooled_std
        return pooled_std(trials)

    def _frozen(self, t: Trial, std_prior: Optional[float] = None) -> FrozenTrial:
        from .uq import aggregate
        losses = t.losses
        agg = aggregate(self._sign * losses, self.kappa, std_prior)
        done = [r for r in t.replicates if r.state == State.COMPLETE]
        metrics: dict[str, Any] = {}
        for key in sorted({k for r in done for k in r.metrics}):
            vals = [r.metrics[key] for r in done if isinstance(r.metrics.get(key), (int, float))]
            if vals:
                metrics[key] = float(np.mean(vals))
        return FrozenTrial(number=t.number, config=dict(t.config), value=self._sign * agg.objective,
                           mean=self._sign * agg.mean, std=agg.std, n=agg.n, losses=tuple(losses.tolist()),
                           metrics=metrics, state=t.state)

    def summarize(self, trial: Trial) -> FrozenTrial:
        """Aggregate of one trial's completed replicates (also for unfinished trials)."""
        return self._frozen(trial, self._std_prior(self.all_trials()))

    def set_user_settings(self, user: dict) -> None:
        """Replace the free settings stored with the study (e.g. the YAML config on resume)."""
        self._update_settings(user=dict(user))

    @property
    def trials(self) -> list[FrozenTrial]:
        """Finished (COMPLETE) trials with their aggregates, by number."""
        trials = self.all_trials()
        prior = self._std_prior(trials)
        return [self._frozen(t, prior) for t in trials if t.state == State.COMPLETE]

    @property
    def best(self) -> FrozenTrial:
        """The trial with the best aggregate objective (mean + kappa*std), never one lucky draw."""
        done = self.trials
        if not done:
            raise ValueError(f"study '{self.name}' has no completed trial yet")
        return min(done, key=lambda t: self._sign * t.value)

    def trials_table(self) -> list[dict]:
        """One flat row per trial: number, state, hyperparameters, objective, mean, std, n,
        metric means (the rows ``uqhpo export`` writes)."""
        from .analysis.history import trial_rows
        return trial_rows(self.all_trials(), self.trials, self.space.names)[1]

    def trials_dataframe(self):
        """:meth:`trials_table` as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("trials_dataframe needs pandas: pip install pandas (or use trials_table())") from None
        return pd.DataFrame(self.trials_table())

    # -- proposing ----------------------------------------------------------------------------
    def _propose(self, n: int, trials: Sequence[Trial]) -> list[dict]:
        obs = self.observations(trials)
        pending = [t.config for t in trials if not t.finished]
        rng = proposal_rng(self.seed, len(trials))
        return self.strategy.propose(obs, pending, n, rng)

    def _intensify_target(self, trials: Sequence[Trial]) -> Optional[Trial]:
        """Adaptive replication: the incumbent, when it has fewer than ``n_replicates``
        finished replicates and none pending; None otherwise. Topping it up first means a
        lucky single draw is challenged before it can stay the best."""
        if not self.adaptive or self.n_replicates <= 1:
            return None
        done = [t for t in trials if t.state == State.COMPLETE]
        if not done:
            return None
        prior = self._std_prior(trials)
        best = min(done, key=lambda t: self._sign * self._frozen(t, prior).value)
        return best if best.n_replicates < self.n_replicates else None

    def _extend(self, trial: Trial) -> int:
        """Queue one more replicate of ``trial`` (seed keyed by its number and new index)."""
        return self.storage.extend_trial(self.name, trial.number,
                                         replicate_seed(self.seed, trial.number, trial.n_replicates))

    def _replicates_for_new_trial(self) -> int:
        return 1 if self.adaptive else self.n_replicates

    def _add_trial(self, config: dict, n_replicates: int, user_attrs: Optional[dict] = None) -> int:
        # Seeds are keyed by the trial number this driver expects; the storage assigns numbers
        # atomically, and the seeds actually used are stored with every replicate.
        expected = self.storage.n_trials(self.name)
        seeds = [replicate_seed(self.seed, expected, i) for i in range(n_replicates)]
        return self.storage.add_trial(self.name, config, seeds, user_attrs=user_attrs)

    def enqueue(self, config: dict, n_replicates: Optional[int] = None) -> int:
        """Queue a user-chosen config (evaluated before any proposal). Returns its trial number."""
        from .design import validate_points
        [config] = validate_points(self.space, [config])
        return self._add_trial(config, n_replicates or self._replicates_for_new_trial(), {"enqueued": True})

    def ask(self, n: int = 1, n_replicates: Optional[int] = None) -> Trial | list[Trial]:
        """Propose and register ``n`` trials (a single Trial when n == 1). Evaluate each
        trial's ``waiting()`` replicates and pass their losses to :meth:`tell`.

        With adaptive replication the first returned trial may be an earlier one with one
        more replicate to run (the incumbent being confirmed) instead of a new config.
        """
        trials = self.all_trials()
        numbers: list[int] = []
        target = self._intensify_target(trials)
        if target is not None:
            self._extend(target)
            numbers.append(target.number)
        if len(numbers) < n:
            configs = self._propose(n - len(numbers), trials)
            k = n_replicates or self._replicates_for_new_trial()
            numbers += [self._add_trial(c, k) for c in configs]
        out = [self.storage.get_trial(self.name, k) for k in numbers]
        return out[0] if n == 1 else out

    def tell(self, trial: Trial | int, values: Any) -> FrozenTrial:
        """Store replicate results of an asked trial.

        Args:
            trial: the Trial from :meth:`ask`, or its number.
            values: one loss, or a list with one loss per *waiting* replicate (in index
                order; for a new trial that is every replicate), or dicts with "loss". A
                non-finite loss is stored as a FAILED replicate.
        """
        from .task import normalize_result
        number = trial if isinstance(trial, int) else trial.number
        t = self.storage.get_trial(self.name, number)
        vals = list(values) if isinstance(values, (list, tuple, np.ndarray)) else [values]
        waiting = [r.index for r in t.waiting()]
        if len(vals) != len(waiting):
            raise ValueError(f"trial {number} has {len(waiting)} waiting replicate(s) but {len(vals)} value(s) "
                             "were told")
        for i, v in zip(waiting, vals):
            rep = self.storage.claim(self.name, worker="tell", trial=number, index=i)
            if rep is None:
                raise ValueError(f"trial {number} replicate {i} is not waiting (already told or running)")
            try:
                loss, metrics = normalize_result(v)
            except ValueError as e:
                self.storage.finish(self.name, number, i, rep.attempt, State.FAILED, error=str(e))
                continue
            self.storage.finish(self.name, number, i, rep.attempt, State.COMPLETE, loss=loss, metrics=metrics)
        return self._frozen(self.storage.get_trial(self.name, number))

    # -- running ------------------------------------------------------------------------------
    def optimize(self, objective: Any, n_trials: int, n_replicates: Optional[int] = None, *,
                 executor: Any = "serial", workers: int = 1, replicates_parallel: bool = True,
                 timeout: Optional[float] = None, max_retries: int = 2, progress: bool = True,
                 callbacks: Iterable[Callable[["Study", FrozenTrial], None]] = (),
                 workdir: Optional[str | Path] = None, heartbeat_interval: float = 10.0,
                 heartbeat_timeout: float = 120.0) -> "Study":
        """Run trials until ``n_trials`` configs exist in the study and all have finished.

        Args:
            objective: a task object, an import path ``"pkg.mod:attr"``, or ``f(config, seed)``.
            n_trials: total configs in the study (counting earlier runs: resuming continues).
            n_replicates: trainings per config (default: the study's setting).
            executor: "serial", "local", "simulated" or an Executor instance.
            workers: worker count for a named executor.
            replicates_parallel: spread a config's replicates over workers (True) or run
                them in sequence on one worker (False).
            timeout: seconds after which no new work is started (running work finishes).
            max_retries: retries of a failed or lost replicate before it counts as FAILED.
            workdir: directory for per-trial files (default next to a file storage).
            heartbeat_timeout: a RUNNING replicate of another (dead) driver whose heartbeat
                is older than this is re-queued.
        """
        from .runner import StudyRunner
        if n_replicates is not None and n_replicates != self.n_replicates:
            self.n_replicates = int(n_replicates)
            self._update_settings(n_replicates=self.n_replicates)
        self._update_settings(n_trials=int(n_trials))
        self.strategy = self._make_strategy(int(n_trials))
        runner = StudyRunner(self, objective, executor=executor, workers=workers,
                             replicates_parallel=replicates_parallel, max_retries=max_retries,
                             workdir=workdir or self._default_workdir(), progress=progress,
                             callbacks=list(callbacks), heartbeat_interval=heartbeat_interval,
                             heartbeat_timeout=heartbeat_timeout)
        runner.run(n_trials=int(n_trials), timeout=timeout)
        return self

    def _update_settings(self, **changes: Any) -> None:
        settings = dict(self.record.settings)
        settings.update(changes)
        self.storage.update_settings(self.name, settings)
        self.record.settings = settings

    def _default_workdir(self) -> Path:
        path = getattr(self.storage, "path", None)
        if path:
            return Path(path).resolve().parent / "trials" / self.name
        # "uqhpo-trials", not "uqhpo": a folder named like the package would shadow it for scripts in /tmp
        return Path(tempfile.gettempdir()) / "uqhpo-trials" / f"{self.name}-{self.seed}"


# -- construction ---------------------------------------------------------------------------
def create_study(space: Optional[Space | dict] = None, *, task: Any = None, strategy: str = "rbf",
                 strategy_options: Optional[dict] = None, seed: int = 0, storage: Any = None,
                 name: str = "default", direction: str = "minimize", kappa: float = 1.0,
                 n_replicates: int = 1, mc_dropout: int = 0, adaptive_replicates: bool = False,
                 config_hash: str = "", settings: Optional[dict] = None, load_if_exists: bool = False) -> Study:
    """Create a study (in memory unless ``storage`` is a URL such as ``"sqlite:///x.db"``).

    ``space`` defaults to ``task.search_space()``. With ``load_if_exists`` an existing
    study of the same name is reopened, provided its search space and ``config_hash``
    match (a different objective must not be mixed into the same history).

    With ``adaptive_replicates`` a new config is trained once and the incumbent is
    topped up to ``n_replicates`` trainings before anything new is proposed, so the
    best config always rests on the full aggregate while weak configs cost one training.
    """
    from .storage import get_storage
    from .task import as_task
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    if space is None:
        if task is None:
            raise ValueError("create_study needs a space, or a task whose search_space() gives one")
        space = as_task(task).search_space()
    if isinstance(space, dict):
        space = Space(space) if all(hasattr(v, "encode") for v in space.values()) else Space.from_dict(space)
    if kappa < 0 or not math.isfinite(kappa):
        raise ValueError(f"kappa must be a finite number >= 0, got {kappa}")
    if int(n_replicates) < 1:
        raise ValueError(f"n_replicates must be >= 1, got {n_replicates}")
    make_strategy(strategy, space, seed=seed, **dict(strategy_options or {}))  # validates options early
    store = get_storage(storage)
    record = StudyRecord(
        name=name, direction=direction, seed=int(seed), space=space.to_dict(),
        space_fingerprint=space.fingerprint(), config_hash=config_hash,
        settings={"strategy": strategy, "strategy_options": dict(strategy_options or {}), "kappa": float(kappa),
                  "n_replicates": int(n_replicates), "mc_dropout": int(mc_dropout),
                  "adaptive_replicates": bool(adaptive_replicates), "user": dict(settings or {})})
    try:
        store.create_study(record)
    except StudyExistsError:
        if not load_if_exists:
            raise ValueError(f"study '{name}' already exists in {storage}; use load_study or a new name") from None
        existing = store.get_study(name)
        assert existing is not None
        _check_same(existing, record, storage)
        return Study(store, existing)
    return Study(store, record)


def _check_same(existing: StudyRecord, new: StudyRecord, where: Any) -> None:
    if existing.space_fingerprint != new.space_fingerprint:
        raise ValueError(f"study '{new.name}' in {where} was created with a different search space "
                         f"(fingerprint {existing.space_fingerprint} vs {new.space_fingerprint}); use a new study name")
    if existing.config_hash != new.config_hash:
        raise ValueError(f"study '{new.name}' in {where} was created with a different objective/settings "
                         f"(hash {existing.config_hash or '-'} vs {new.config_hash or '-'}); use a new study name")
    if existing.seed != new.seed:
        raise ValueError(f"study '{new.name}' in {where} was created with seed {existing.seed}, not {new.seed}")


def load_study(storage: Any, name: Optional[str] = None) -> Study:
    """Reopen a stored study (to resume or analyse). ``name`` may be omitted when the
    storage holds exactly one study."""
    from .storage import get_storage
    store = get_storage(storage)
    names = store.list_studies()
    if name is None:
        if len(names) != 1:
            raise ValueError(f"{storage} holds {len(names)} studies ({', '.join(names) or 'none'}); pass name=")
        name = names[0]
    record = store.get_study(name)
    if record is None:
        raise ValueError(f"no study named '{name}' in {storage} (found: {', '.join(names) or 'none'})")
    return Study(store, record)
