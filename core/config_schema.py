"""The schema of a YAML study config (pydantic models) and its one-line error messages.

:mod:`uqhpo.config` reads files, resolves paths and binds the task; this module only
says which keys exist, their types and defaults, and turns a pydantic
``ValidationError`` into one line that names the dotted key (``uq.replicates: ...``).
pydantic is imported here and in :mod:`uqhpo.config` only: the CLI, the study loop and
the workers never import either module at import time.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .paths import safe_component
from .space import Space

__all__ = ["Config", "ConfigError", "ParamSpec", "describe_validation_error", "did_you_mean", "section_keys"]

_STRICT = ConfigDict(extra="forbid", strict=True)


class ConfigError(ValueError):
    """A config is invalid. The message is one line naming the file or dotted key."""


class ParamSpec(BaseModel):
    """One parameter of the ``space`` section (the YAML form of ``Parameter.to_dict``)."""

    model_config = _STRICT
    type: Literal["real", "float", "integer", "int", "categorical", "fixed"]
    low: Optional[float] = None
    high: Optional[float] = None
    log: Optional[bool] = None
    choices: Optional[list] = None
    ordered: Optional[bool] = None
    value: Any = None

    @field_validator("low", "high", mode="before")
    @classmethod
    def _yaml11_floats(cls, v: Any) -> Any:
        # PyYAML reads "1e-4" (no dot) as a string; accept it as the number it means.
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                return v
        return v


class StrategySection(BaseModel):
    """``strategy``: a name plus options passed on to the strategy's constructor."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: str = "rbf"

    @property
    def options(self) -> dict:
        return dict(self.model_extra or {})


def _number_text(v: Any) -> Any:
    """PyYAML reads ``3.6e3`` and ``1e-4`` (no dot or no exponent sign) as strings; take the number."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


_FINITE = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class BudgetSection(BaseModel):
    """``budget``: configs (``trials``) and/or trainings (``trainings``: replicate runs,
    failed ones included, what a study costs), and time limits for the whole call and for
    one training. With only ``trainings``, ``trials`` stays None: the training budget alone
    decides how many configs the study evaluates."""

    model_config = _FINITE
    trials: Optional[int] = Field(default=None, gt=0)  # None: the training budget alone binds
    trainings: Optional[int] = Field(default=None, gt=0)
    timeout: Optional[float] = Field(default=None, gt=0)
    # seconds one training may run; a longer one is stopped and FAILED "timed out after S s"
    replicate_timeout: Optional[float] = Field(default=None, gt=0)

    @field_validator("timeout", "replicate_timeout", mode="before")
    @classmethod
    def _numbers(cls, v: Any) -> Any:
        return _number_text(v)

    @model_validator(mode="after")
    def _a_budget(self) -> BudgetSection:
        if self.trials is None and self.trainings is None:
            raise ValueError("give trials (configs) or trainings (replicate runs), or both")
        return self

    def trials_for_estimates(self, replicates: int) -> int:
        """A number of configs to size estimates by (pilot fractions, focus budgets): ``trials``
        when given, else what the training budget pays for at ``replicates`` trainings each."""
        if self.trials is not None:
            return self.trials
        return max(1, int(self.trainings or 1) // max(1, replicates))


class UQSection(BaseModel):
    model_config = _FINITE
    replicates: int = Field(default=3, ge=1)
    kappa: float = Field(default=1.0, ge=0)
    mc_dropout: int = Field(default=0, ge=0)
    replicates_parallel: bool = True
    # train new configs once and top the incumbent up to `replicates` (see create_study)
    adaptive: bool = False
    # which observed config `uqhpo best` recommends: the lowest aggregate, or the best
    # GP-smoothed one (uqhpo.recommendation); it does not steer the search, so it may change on resume
    recommend: Literal["best", "surrogate"] = "best"

    @field_validator("kappa", mode="before")
    @classmethod
    def _numbers(cls, v: Any) -> Any:
        return _number_text(v)


class ExecutorSection(BaseModel):
    model_config = _FINITE
    name: Literal["serial", "local", "simulated", "dask"] = "serial"
    workers: int = Field(default=1, ge=1)
    # dask only: a running scheduler ("tcp://host:8786") or its scheduler file; neither
    # starts a LocalCluster with `workers` workers
    address: Optional[str] = None
    scheduler_file: Optional[str] = None
    # dask only: `cluster: slurm` starts a dask_jobqueue.SLURMCluster of `jobs` Slurm jobs
    # (one Dask worker each) from the site profile `profile` (slurm/profiles/NAME.yaml)
    cluster: Optional[Literal["local", "slurm"]] = None
    profile: Optional[str] = None
    jobs: Optional[int] = Field(default=None, ge=1)
    # dask only: each job asks for resources={"GPU": n} (None: 1 when the workers declare GPUs)
    gpus_per_replicate: Optional[int] = Field(default=None, ge=0)
    # dask only: what each LocalCluster worker declares, e.g. {GPU: 1} (labels Dask schedules by)
    resources: Optional[dict[str, int]] = None
    # more local workers than CPUs (or GPUs) only when forced
    force: bool = False
    # a RUNNING replicate of another driver whose heartbeat is older than this is re-queued
    heartbeat_timeout: float = Field(default=120.0, gt=0)

    @field_validator("heartbeat_timeout", mode="before")
    @classmethod
    def _numbers(cls, v: Any) -> Any:
        return _number_text(v)

    @model_validator(mode="after")
    def _dask_only_keys(self) -> ExecutorSection:
        if self.name != "dask" and (self.address or self.scheduler_file):
            raise ValueError("address and scheduler_file need name: dask")
        if self.address and self.scheduler_file:
            raise ValueError("give address or scheduler_file, not both")
        dask_keys = ("cluster", "profile", "jobs", "gpus_per_replicate", "resources")
        given = [k for k in dask_keys if getattr(self, k) is not None]
        if self.name != "dask" and given:
            raise ValueError(f"{given[0]} needs name: dask")
        if self.cluster == "slurm" and (not self.profile or self.address or self.scheduler_file):
            raise ValueError("cluster: slurm needs profile: NAME (a Slurm site profile) and no address")
        if self.cluster != "slurm" and (self.profile or self.jobs):
            raise ValueError("profile and jobs need cluster: slurm")
        return self


class PrunerSection(BaseModel):
    """``pruner``: stop hopeless trainings early (off by default; see :mod:`uqhpo.pruners`).

    ``{name: median, warmup_steps: 5, min_trials: 5}`` or ``{name: asha, min_steps: 1,
    reduction_factor: 3}``; ``metric`` names the reported value both read; ``budget_key:
    epochs`` compares configurations at the same fraction of their own number of steps;
    ``margin: k`` spares a configuration within k standard errors of the cutoff.
    """

    model_config = _STRICT
    name: Literal["none", "median", "asha"] = "none"
    warmup_steps: Optional[int] = Field(default=None, ge=0)
    min_trials: Optional[int] = Field(default=None, ge=1)
    min_steps: Optional[int] = Field(default=None, ge=1)
    reduction_factor: Optional[int] = Field(default=None, ge=2)
    metric: Optional[str] = Field(default=None, min_length=1)
    budget_key: Optional[str] = Field(default=None, min_length=1)
    margin: Optional[float] = Field(default=None, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _keys_of_the_rule(self) -> PrunerSection:
        from .pruners import pruner_options  # noqa: PLC0415 - light

        allowed = pruner_options(self.name)
        for key in self.model_dump(exclude_none=True):
            if key != "name" and key not in allowed:
                users = [n for n in ("median", "asha") if key in pruner_options(n)]
                raise ValueError(f"{key} applies to name: {' or '.join(users)}, not {self.name}")
        return self

    def spec(self) -> dict:
        """The spec stored with the study ({} when off)."""
        given = self.model_dump(exclude_none=True)
        return {} if given.get("name") == "none" and len(given) == 1 else given


class Config(BaseModel):
    """A validated study config; :func:`uqhpo.config.load_config` has made its paths
    absolute (relative ones against the config file's folder)."""

    model_config = _STRICT
    task: str
    space: Optional[dict[str, ParamSpec]] = None
    strategy: StrategySection = Field(default_factory=StrategySection)
    budget: BudgetSection
    uq: UQSection = Field(default_factory=UQSection)
    executor: ExecutorSection = Field(default_factory=ExecutorSection)
    pruner: PrunerSection = Field(default_factory=PrunerSection)
    storage: Optional[str] = None
    study: Optional[str] = None
    seed: int = Field(default=0, ge=0, lt=2 ** 63)  # stored as a signed 64-bit SQLite integer
    direction: Literal["minimize", "maximize"] = "minimize"
    output: Optional[str] = None
    data: Optional[dict[str, Any]] = None

    _task: Any = PrivateAttr(default=None)
    _space: Optional[Space] = PrivateAttr(default=None)
    _source: Optional[Path] = PrivateAttr(default=None)

    @field_validator("strategy", "pruner", mode="before")
    @classmethod
    def _strategy_string(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    # -- derived ------------------------------------------------------------------------------
    @property
    def task_object(self) -> Any:
        """The imported (and configured) task."""
        return self._task

    @property
    def search_space(self) -> Space:
        """The effective space: the task's own space with the config's ``space`` applied."""
        if self._space is None:
            raise ConfigError(f"space: unknown until the task '{self.task}' is imported (load with check_task=True)")
        return self._space

    @property
    def source(self) -> Optional[Path]:
        """The YAML file this config was read from (absolute), or None."""
        return self._source

    @property
    def output_dir(self) -> Path:
        return Path(self.output or f"runs/{safe_component(self.study or 'study')}").resolve()

    def to_dict(self) -> dict:
        """JSON-able form (what is stored in the study's settings)."""
        return self.model_dump(mode="json", exclude_none=True)

    def identity(self) -> dict:
        """What defines the objective and the search, as dotted keys -> values: task,
        effective space, uq settings (not the replicate parallelism), data, seed, direction
        and strategy. The budget, executor, storage and recommendation rule may change on
        resume; these may not."""
        uq = self.uq.model_dump()
        uq.pop("replicates_parallel")
        uq.pop("recommend")  # how the result is read, not what is searched
        return {"task": self.task, "space": self.search_space.to_dict() if self._space else None,
                "uq": uq, "data": self.data or {}, "seed": self.seed, "direction": self.direction,
                "strategy": self.strategy.model_dump()}

    def config_hash(self) -> str:
        """Short hash of :meth:`identity` (stored with the study, compared on re-run)."""
        blob = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


_SECTIONS: dict[str, type[BaseModel]] = {"budget": BudgetSection, "uq": UQSection, "executor": ExecutorSection,
                                         "strategy": StrategySection, "pruner": PrunerSection}


def section_keys(section: Optional[str]) -> Optional[list[str]]:
    """Valid keys of a config section (None: the top level); None when any key goes
    (``data``, strategy options, a parameter of ``space``)."""
    if section is None:
        return list(Config.model_fields)
    if section == "strategy":
        return None
    model = _SECTIONS.get(section)
    return list(model.model_fields) if model else None


def did_you_mean(word: Any, candidates: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    hint = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


def _allowed_keys(loc: tuple) -> list[str]:
    """Valid keys at the mapping that contains ``loc[-1]``."""
    parent = loc[:-1]
    if not parent:
        return list(Config.model_fields)
    if parent[0] == "space" and len(parent) == 2:
        return list(ParamSpec.model_fields)
    return section_keys(str(parent[0])) or []


def describe_validation_error(err: ValidationError) -> str:
    """The first pydantic error as one line that names the dotted key."""
    e = err.errors()[0]
    loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
    key = ".".join(str(x) for x in loc) or "config"
    kind = e["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key{did_you_mean(loc[-1], _allowed_keys(loc))}"
    if kind == "missing":
        return f"{key}: required key is missing"
    msg = e["msg"][0].lower() + e["msg"][1:]
    if kind == "value_error":  # our own validators' messages, without pydantic's prefix
        msg = msg.removeprefix("value error, ")
    if kind in ("model_type", "dict_type"):
        msg = "expected a mapping of keys"
    if kind == "literal_error":
        msg += did_you_mean(e["input"], re.findall(r"'([^']*)'", str(e.get("ctx", {}).get("expected", ""))))
    got = e.get("input")
    if isinstance(got, (dict, list)) or got is None:
        return f"{key}: {msg}"
    return f"{key}: {msg}, got {got!r}"
