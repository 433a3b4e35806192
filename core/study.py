"""Study: a named search inside a storage, with ask/tell and ``optimize``.

The storage is the only truth. A study object holds no results of its own: every
decision (what to run next, what is pending, which config is best) is re-derived from
the stored trials, which the study reads incrementally (``Storage.changes_since``) into a
per-trial cache (:class:`uqhpo.trial_cache.TrialCache`), so a proposal costs the same at 100
or 100 000 trials. Resuming is therefore just ``load_study`` + ``optimize``.

Module map of a study: :mod:`uqhpo.settings` (the frozen settings), :mod:`uqhpo.summary`
(records -> aggregates, incumbent), :mod:`uqhpo.policy` (what to do next, pure),
:mod:`uqhpo.optimize_loop` (the asynchronous loop; it only uses the public API below).
"""
from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, cast

import numpy as np

from .analysis.describe import study_html
from .optimize_loop import LoopOptions, OptimizeLoop
from .paths import safe_component
from .policy import Extend, expected_configs, next_work
from .reservation import add_at_next_number, extend_by_one, reserve_trial_number
from .seeding import proposal_rng
from .settings import Direction, StudySettings
from .space import Space
from .storage.base import Storage, StudyExistsError, StudyRecord
from .strategies import make_strategy
from .summary import best_summary, cached, pending_configs, std_prior, summarize, summarize_complete
from .trial import Observations, State, Trial, TrialSummary
from .trial_cache import TrialCache

logger = logging.getLogger("uqhpo")


class Study:
    """A named study inside a storage. Build it with :func:`create_study` or :func:`load_study`."""

    def __init__(self, storage: Storage, record: StudyRecord):
        self.storage = storage
        self.record = record
        self.name = record.name
        self.space = Space.from_dict(record.space)
        self.settings = StudySettings.from_stored(record.settings, direction=record.direction, seed=record.seed)
        self.strategy = make_strategy(self.settings.strategy, self.space, seed=self.seed,
                                      **self.settings.strategy_options)
        self._private_dir: Optional[Path] = None  # per-trial files of an in-memory study
        # the trials and their aggregates, read incrementally (Storage.changes_since)
        self._cache = TrialCache(storage, self.name, self.space, self.settings)

    # settings most callers want by name
    seed = property(lambda self: self.settings.seed)
    direction = property(lambda self: self.settings.direction)
    kappa = property(lambda self: self.settings.kappa)
    n_replicates = property(lambda self: self.settings.n_replicates)
    mc_dropout = property(lambda self: self.settings.mc_dropout)
    adaptive = property(lambda self: self.settings.adaptive)

    def __repr__(self) -> str:
        return f"Study(name={self.name!r}, strategy={self.settings.strategy!r}, seed={self.seed})"

    def _repr_html_(self) -> str:
        """A short summary for Jupyter: counts, the best config, its mean ± std."""
        return study_html(self.name, self.settings.strategy, self.seed, self.direction, self.all_trials(),
                          self.best_or_none(), self.kappa)

    # -- reading ------------------------------------------------------------------------------
    def all_trials(self) -> list[Trial]:
        """Every trial record (finished or not) with all replicate attempts, by number.

        Only the trials changed since the last call are read from the storage; the records
        are shared with the study's cache, so treat them as read-only."""
        return self._cache.trials(self.settings)

    def observations(self, trials: Optional[Sequence[Trial]] = None) -> Observations:
        """What the strategy sees: finished configs, their aggregate objective (minimised),
        and the trial budget (``Observations.budget``)."""
        from .uq import observations_from_trials  # noqa: PLC0415

        trials = self.all_trials() if trials is None else trials
        cache = cached(trials, self.settings)  # sees PRUNED trials through as_observed too
        if cache is not None:  # the same observations, kept up to date per changed trial
            configs, values, variances, failed, n_evaluations = cache.observations()
            return Observations(configs=configs, values=values, variances=variances, failed=failed,
                                n_evaluations=n_evaluations, budget=expected_configs(trials, self.settings),
                                seen_keys=cache.seen_keys())
        from .pruners import as_observed  # noqa: PLC0415

        # a PRUNED config is modelled with its last (best-so-far) value: see as_observed
        views = [as_observed(t) for t in trials]
        obs = observations_from_trials(views, self.space, self.kappa, self.direction,
                                       std_prior=std_prior(trials, self.settings))
        pruned_as_done = sum(sum(r.state == State.COMPLETE for r in v.replicates)
                             - sum(r.state == State.COMPLETE for r in t.replicates)
                             for t, v in zip(trials, views) if v is not t)  # not completed trainings
        return Observations(configs=obs.configs, values=obs.values, variances=obs.variances, failed=obs.failed,
                            n_evaluations=obs.n_evaluations - pruned_as_done,
                            budget=expected_configs(trials, self.settings))

    @property
    def pruner(self) -> Any:
        """The study's pruner (a :class:`uqhpo.pruners.Pruner`), or None when pruning is off
        (the default). Set with ``create_study(..., pruner=)`` or ``pruner:`` in YAML."""
        from .pruners import make_pruner  # noqa: PLC0415

        return make_pruner(self.settings.user.get("pruner"))

    def summarize(self, trial: Trial) -> TrialSummary:
        """Aggregate of one trial's completed replicates (also for unfinished trials)."""
        return summarize(trial, self.settings, std_prior(self.all_trials(), self.settings))

    @property
    def trials(self) -> list[TrialSummary]:
        """Summaries of the finished (COMPLETE) trials, by number. Every record, unfinished
        ones and all attempts included, is in :meth:`all_trials`."""
        return summarize_complete(self.all_trials(), self.settings)

    def best_or_none(self) -> Optional[TrialSummary]:
        """The trial with the best aggregate objective, or None before any completes."""
        return best_summary(self.all_trials(), self.settings)

    @property
    def best(self) -> TrialSummary:
        """The trial with the best aggregate objective (mean + kappa*std), never one lucky draw."""
        best = self.best_or_none()
        if best is None:
            raise ValueError(f"study '{self.name}' has no completed trial yet")
        return best

    def trials_table(self) -> list[dict]:
        """One flat row per trial: number, state, hyperparameters, objective, mean, std, n,
        metric means (the rows ``uqhpo export`` writes)."""
        from .analysis.history import trial_rows  # noqa: PLC0415

        return trial_rows(self.all_trials(), self.trials, self.space.names)[1]

    def trials_dataframe(self) -> Any:
        """:meth:`trials_table` as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd  # noqa: PLC0415
        except ImportError:
            raise ImportError("trials_dataframe needs pandas: pip install pandas (or use trials_table())") from None
        return pd.DataFrame(self.trials_table())

    # -- settings -----------------------------------------------------------------------------
    def update_settings(self, **changes: Any) -> None:
        """Change settings that may change on resume (``n_trials``, ``n_replicates``, ``user``)
        and store them; the strategy is unaffected."""
        self.settings = self.settings.replace(**changes)
        self.storage.update_settings(self.name, self.settings.to_stored())
        self.record.settings = self.settings.to_stored()

    def set_user_settings(self, user: dict) -> None:
        """Replace the free settings stored with the study (e.g. the YAML config on resume)."""
        self.update_settings(user=dict(user))

    # -- proposing ----------------------------------------------------------------------------
    def propose(self, n: int, trials: Optional[Sequence[Trial]] = None) -> list[dict]:
        """Up to ``n`` new configs from the strategy, with every unfinished config pending.
        Registers nothing; the rng is keyed by the number the next trial will get."""
        trials = self.all_trials() if trials is None else trials
        pending = pending_configs(trials)
        return self.strategy.propose(self.observations(trials), pending, n, proposal_rng(self.seed, len(trials)))

    def propose_trial(self, trials: Optional[Sequence[Trial]] = None, n_replicates: Optional[int] = None,
                      max_attempts: int = 50, still_room: Optional[Callable[[Sequence[Trial]], bool]] = None,
                      max_trainings: Optional[int] = None) -> Optional[int]:
        """Propose one config and reserve it as the next trial, atomically.

        The proposal's rng is keyed by the trial number it is reserved under. When another
        driver on the same storage took that number or the same config first, the trials
        are read again and a new config is proposed (with the other one pending), so
        concurrent drivers do not evaluate one config twice.

        Args:
            still_room: asked with the re-read trials after a reservation was lost; False
                means other drivers used the budget (in trials or trainings) meanwhile, and
                nothing is reserved, so concurrent drivers never overshoot it.
            max_trainings: the training budget, checked again by the storage as it reserves
                (see ``Storage.reserve_trial``).

        Returns:
            The new trial's number, or None when the strategy has nothing left to propose
            or ``still_room`` said no.
        """
        trials = self.all_trials() if trials is None else trials
        configs: list[dict] = []
        for _ in range(max(int(max_attempts), 1)):
            configs = self.propose(1, trials)
            if not configs:
                return None
            number = self._reserve(configs[0], len(trials), n_replicates, max_trainings=max_trainings)
            if number is not None:
                return number
            trials = self.all_trials()
            if still_room is not None and not still_room(trials):
                return None
        if max_trainings is not None:  # a forced add could pass the cap: let the next round decide
            return None
        logger.warning("study '%s': %d proposals in a row were taken by other drivers; adding the last one",
                       self.name, max_attempts)
        return self.add_trial(configs[0], n_replicates)

    def _reserve(self, config: dict, number: int, n_replicates: Optional[int],
                 user_attrs: Optional[dict] = None, max_trainings: Optional[int] = None) -> Optional[int]:
        """See :func:`uqhpo.reservation.reserve_trial_number` (None: another driver took the number)."""
        k = int(n_replicates or self.settings.replicates_per_new_trial)
        return reserve_trial_number(self.storage, self.name, self.seed, config, number, k, user_attrs, max_trainings)

    def add_trial(self, config: dict, n_replicates: Optional[int] = None, user_attrs: Optional[dict] = None) -> int:
        """Register ``config`` with WAITING replicates (default: as many as a new config
        gets), also when another trial has the same config. Returns its trial number."""
        k = int(n_replicates or self.settings.replicates_per_new_trial)
        return add_at_next_number(self.storage, self.name, self.seed, config, k, user_attrs)

    def extend(self, trial: int, expected_replicates: Optional[int] = None,
               max_trainings: Optional[int] = None) -> Optional[int]:
        """Queue one more replicate of trial ``trial`` (seed keyed by its number and the new
        index). Returns the new replicate's index; with ``expected_replicates``, None when
        the trial no longer has that many replicates (a concurrent driver extended it first);
        with ``max_trainings``, None when the study spent that many trainings already."""
        return extend_by_one(self.storage, self.name, self.seed, trial, expected_replicates, max_trainings)

    def enqueue(self, config: dict, n_replicates: Optional[int] = None) -> int:
        """Queue a user-chosen config (evaluated before any proposal). Returns its trial number."""
        from .design import validate_points  # noqa: PLC0415

        [config] = validate_points(self.space, [config])
        return self.add_trial(config, n_replicates, {"enqueued": True})

    def ask(self, n_replicates: Optional[int] = None) -> Trial:
        """One trial to evaluate: run its ``waiting()`` replicates and pass their losses to
        :meth:`tell`. With adaptive replication it may be an earlier trial with one more
        replicate to run (the incumbent being confirmed) instead of a new config.

        Raises:
            ValueError: the strategy has nothing left to propose (finite space).
        """
        batch = self.ask_batch(1, n_replicates)
        if not batch:
            raise ValueError(f"study '{self.name}': the strategy has nothing left to propose")
        return batch[0]

    def ask_batch(self, n: int, n_replicates: Optional[int] = None) -> list[Trial]:
        """Up to ``n`` trials to evaluate in parallel (fewer when a finite space runs out)."""
        trials = self.all_trials()
        numbers: list[int] = []
        work = next_work(trials, self.settings, None)
        if isinstance(work, Extend) and n > 0 and self.extend(work.trial, work.replicates) is not None:
            numbers.append(work.trial)
        if len(numbers) < n:
            base = len(trials) if not numbers else self.storage.n_trials(self.name)
            for i, config in enumerate(self.propose(n - len(numbers), trials)):
                number = self._reserve(config, base + i, n_replicates)
                if number is None:  # another driver raced us: propose this one afresh
                    number = self.propose_trial(n_replicates=n_replicates)
                if number is not None:
                    numbers.append(number)
        return [self.storage.get_trial(self.name, k) for k in numbers]

    def tell(self, trial: Trial | int, values: Any) -> TrialSummary:
        """Store replicate results of an asked trial.

        Args:
            trial: the Trial from :meth:`ask`, or its number.
            values: one loss, or a list with one loss per *waiting* replicate (in index
                order; for a new trial that is every replicate), or dicts with "loss". A
                non-finite loss is stored as a FAILED replicate.
        """
        from .task import normalize_result  # noqa: PLC0415

        number = trial if isinstance(trial, int) else trial.number
        record = self.storage.get_trial(self.name, number)
        vals = list(values) if isinstance(values, (list, tuple, np.ndarray)) else [values]
        waiting = [r.index for r in record.waiting()]
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
        return self.summarize(self.storage.get_trial(self.name, number))

    # -- running ------------------------------------------------------------------------------
    def optimize(self, objective: Any, n_trials: Optional[int] = None, n_replicates: Optional[int] = None, *,
                 max_trainings: Optional[int] = None,
                 executor: Any = "serial", workers: int = 1, replicates_parallel: bool = True,
                 timeout: Optional[float] = None, max_retries: int = 2, show_progress: bool = False,
                 callbacks: Iterable[Callable[[Study, TrialSummary], None]] = (),
                 workdir: Optional[str | Path] = None, data: Optional[dict] = None,
                 heartbeat_interval: float = 10.0, heartbeat_timeout: float = 120.0,
                 replicate_timeout: Optional[float] = None, force_workers: bool = False,
                 progress: Optional[bool] = None) -> Study:
        """Run trials until ``n_trials`` configs exist in the study, or ``max_trainings``
        trainings are spent, and all have finished (give either budget, or both).

        Args:
            objective: a task object, an import path ``"pkg.mod:attr"``, or ``f(config, seed)``.
            n_trials: total configs in the study (counting earlier runs: resuming continues).
            max_trainings: total trainings (replicate attempts, failed ones included) the
                study may spend, counting earlier runs; no config is proposed or extended
                beyond it (with fixed replication a config needs room for all its
                ``n_replicates``), and a failed replicate is not retried once it is spent.
            n_replicates: trainings per config (default: the study's setting).
            executor: "serial", "local", "simulated" or an Executor instance.
            workers: worker count for a named executor.
            replicates_parallel: spread a config's replicates over workers (True) or run
                them in sequence on one worker (False).
            timeout: seconds after which the call stops: no new work is started and running
                replicates are stopped and re-queued (a later call runs them).
            max_retries: retries of a failed or lost replicate before it counts as FAILED.
            show_progress: a progress bar (``tqdm.auto``: a widget in Jupyter). Per-trial
                lines go to the "uqhpo" logger either way.
            workdir: directory for per-trial files (default next to a file storage).
            data: the task's data settings, handed to ``task.configure`` here and in every
                worker (the same as a config file's ``data:`` section).
            heartbeat_timeout: a RUNNING replicate of another (dead) driver whose heartbeat
                is older than this is re-queued (one of a driver on this host whose process
                is gone is re-queued at once).
            replicate_timeout: seconds one training may run; a longer one is stopped and
                FAILED "timed out after S s" (then retried within ``max_retries``).
            force_workers: allow more local workers than CPUs (or GPUs); without it the
                worker count is capped with a warning.
            progress: former name of ``show_progress``.
        """
        from .executors import make_executor  # noqa: PLC0415
        from .executors.worker import configure_once  # noqa: PLC0415
        from .task import as_task, task_path  # noqa: PLC0415

        if progress is not None:
            warnings.warn("optimize(progress=) is now show_progress=", DeprecationWarning, stacklevel=2)
            show_progress = bool(progress)
        if n_trials is None and max_trainings is None:
            raise ValueError("optimize needs a budget: n_trials (configs) or max_trainings (trainings)")
        for key, value in (("n_trials", n_trials), ("max_trainings", max_trainings)):
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise ValueError(f"{key} must be an integer >= 1, got {value!r}")
        changes: dict[str, Any] = {"n_trials": None if n_trials is None else int(n_trials),
                                   "max_trainings": None if max_trainings is None else int(max_trainings)}
        if n_replicates is not None:
            changes["n_replicates"] = int(n_replicates)
        self.update_settings(**changes)
        task = as_task(objective, self.space)
        if data is not None:  # configured here for check(); in-process workers then skip the same data
            configure_once(task, dict(data))
        if replicate_timeout is not None and not replicate_timeout > 0:
            raise ValueError(f"replicate_timeout must be a positive number of seconds, got {replicate_timeout}")
        forced = {"force": True} if force_workers and executor == "local" else {}  # only the local pool caps
        ex = make_executor(executor, workers=workers, **forced)
        path = task_path(objective)
        if not ex.in_process and path is None:
            raise ValueError(f"executor '{ex.name}' runs tasks in other processes and needs an importable task: "
                             "an import path 'package.module:attribute' or a module-level function or class")
        options = LoopOptions(n_trials=changes["n_trials"], max_trainings=changes["max_trainings"],
                              workdir=Path(workdir or self._default_workdir()),
                              replicates_parallel=replicates_parallel, max_retries=int(max_retries),
                              timeout=timeout, show_progress=show_progress, callbacks=tuple(callbacks),
                              data=None if data is None else dict(data), heartbeat_interval=heartbeat_interval,
                              heartbeat_timeout=heartbeat_timeout, mc_dropout=self.mc_dropout,
                              replicate_timeout=None if replicate_timeout is None else float(replicate_timeout),
                              pruner=self.pruner)
        OptimizeLoop(self, task, task if ex.in_process else path, ex, options).run()
        return self

    def _default_workdir(self) -> Path:
        path = getattr(self.storage, "path", None)
        if path:
            return Path(path).resolve().parent / "trials" / safe_component(self.name)
        if self._private_dir is None:
            # a fresh private (0700) folder: a fixed name in the shared temp dir could be a planted symlink;
            # "uqhpo-trials", not "uqhpo": a folder named like the package would shadow it for scripts in /tmp
            self._private_dir = Path(tempfile.mkdtemp(prefix=f"uqhpo-trials-{safe_component(self.name)}-"))
        return self._private_dir


# -- construction ---------------------------------------------------------------------------
def create_study(space: Optional[Space | dict] = None, *, task: Any = None, strategy: str = "rbf",
                 strategy_options: Optional[dict] = None, seed: int = 0, storage: Any = None,
                 name: str = "default", direction: str = "minimize", kappa: float = 1.0,
                 n_replicates: int = 1, mc_dropout: int = 0, adaptive_replicates: bool = False,
                 config_hash: str = "", settings: Optional[dict] = None, load_if_exists: bool = False,
                 pruner: Any = None) -> Study:
    """Create a study (in memory unless ``storage`` is a URL such as ``"sqlite:///x.db"``).

    ``pruner`` stops hopeless trainings early from their ``ctx.report`` values: None (off,
    the default), ``"median"``, ``"asha"``, a dict such as ``{"name": "median",
    "warmup_steps": 5, "min_trials": 5}`` or a :class:`uqhpo.pruners.Pruner`; it is
    stored with the study (given with ``load_if_exists``, it replaces the stored one;
    ``"none"`` turns it off).

    ``space`` defaults to ``task.search_space()``. With ``load_if_exists`` an existing
    study of the same name is reopened, provided its search space and ``config_hash``
    match (a different objective must not be mixed into the same history).

    With ``adaptive_replicates`` a new config is trained once and the incumbent is
    topped up to ``n_replicates`` trainings before anything new is proposed, so the
    best config always rests on the full aggregate while weak configs cost one training.
    """
    from .pruners import pruner_spec  # noqa: PLC0415
    from .storage import get_storage  # noqa: PLC0415
    from .task import as_task  # noqa: PLC0415

    user = dict(settings or {})
    if pruner is not None:
        user["pruner"] = pruner_spec(pruner)  # validated here: a bad spec fails before anything is stored
    study_settings = StudySettings(direction=cast(Direction, direction), seed=int(seed), strategy=strategy,
                                   strategy_options=dict(strategy_options or {}), kappa=float(kappa),
                                   n_replicates=int(n_replicates), mc_dropout=int(mc_dropout),
                                   adaptive=bool(adaptive_replicates), user=user)
    if space is None:
        if task is None:
            raise ValueError("create_study needs a space, or a task whose search_space() gives one")
        space = as_task(task).search_space()
    if isinstance(space, dict):
        space = Space(space) if all(hasattr(v, "encode") for v in space.values()) else Space.from_dict(space)
    make_strategy(strategy, space, seed=seed, **study_settings.strategy_options)  # validates options early
    store = get_storage(storage)
    record = StudyRecord(name=name, direction=study_settings.direction, seed=int(seed), space=space.to_dict(),
                         space_fingerprint=space.fingerprint(), config_hash=config_hash,
                         settings=study_settings.to_stored())
    try:
        store.create_study(record)
    except StudyExistsError:
        if not load_if_exists:
            raise ValueError(f"study '{name}' already exists in {storage}; use load_study or a new name") from None
        existing = store.get_study(name)
        assert existing is not None
        _check_same(existing, record, storage)
        study = Study(store, existing)
        if pruner is not None:
            study.set_user_settings({**study.settings.user, "pruner": user["pruner"]})
        return study
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
    from .storage import get_storage  # noqa: PLC0415

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
