"""YAML study configs: schema, validation with one-line errors, and the effective space.

A config names a task by import path and says how to search (strategy, budget, uq
settings, executor, storage). ``load_config(path)`` returns a validated :class:`Config`
or raises :class:`ConfigError` whose message is one line naming the offending key
(dotted, e.g. ``uq.replicates``) or file. Example::

    task: uqhpo.apps.template:task
    space: {lr: {type: real, low: 1.0e-4, high: 1.0e-1, log: true}}
    strategy: {name: rbf, n_initial: 8}
    budget: {trials: 24}
    uq: {replicates: 3, kappa: 1.0}
    executor: {name: local, workers: 2}
    data: {path: datasets/template/regression.h5}

Workers in other processes re-import the task by path; they receive the config's
``data`` through the environment variable ``UQHPO_TASK_DATA`` (JSON), see
:func:`export_task_data` and :func:`task_data_from_env`.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .space import Parameter, Space, parameter_from_dict
from .task import as_task, import_object

__all__ = ["Config", "ConfigError", "load_config", "validate_config", "TASK_DATA_ENV",
           "export_task_data", "task_data_from_env", "storage_url"]

#: environment variable that carries the config's ``data`` dict (JSON) to worker processes
TASK_DATA_ENV = "UQHPO_TASK_DATA"
_PATH_KEYS = ("path", "file", "dir")
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


class BudgetSection(BaseModel):
    model_config = _STRICT
    trials: int = Field(gt=0)
    timeout: Optional[float] = Field(default=None, gt=0)


class UQSection(BaseModel):
    model_config = _STRICT
    replicates: int = Field(default=3, ge=1)
    kappa: float = Field(default=1.0, ge=0)
    mc_dropout: int = Field(default=0, ge=0)
    replicates_parallel: bool = True
    # train new configs once and top the incumbent up to `replicates` (see create_study)
    adaptive: bool = False


class ExecutorSection(BaseModel):
    model_config = _STRICT
    name: Literal["serial", "local", "simulated"] = "serial"
    workers: int = Field(default=1, ge=1)


class Config(BaseModel):
    """A validated study config. Paths are resolved against the current directory."""

    model_config = _STRICT
    task: str
    space: Optional[dict[str, ParamSpec]] = None
    strategy: StrategySection = Field(default_factory=StrategySection)
    budget: BudgetSection
    uq: UQSection = Field(default_factory=UQSection)
    executor: ExecutorSection = Field(default_factory=ExecutorSection)
    storage: Optional[str] = None
    study: Optional[str] = None
    seed: int = 0
    direction: Literal["minimize", "maximize"] = "minimize"
    output: Optional[str] = None
    data: Optional[dict[str, Any]] = None

    _task: Any = PrivateAttr(default=None)
    _space: Optional[Space] = PrivateAttr(default=None)
    _source: Optional[Path] = PrivateAttr(default=None)

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy_string(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("study", mode="before")
    @classmethod
    def _study_mapping(cls, v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"name"}:
            return v["name"]
        return v

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
        return self._source

    @property
    def output_dir(self) -> Path:
        return Path(self.output or f"runs/{self.study}").resolve()

    def to_dict(self) -> dict:
        """JSON-able form (what is stored in the study's settings)."""
        return self.model_dump(mode="json", exclude_none=True)

    def config_hash(self) -> str:
        """Hash of what defines the objective and the search: task, effective space, uq
        settings (not the replicate parallelism), data, seed, direction and strategy. The
        budget, executor and storage may change on resume; these may not."""
        uq = self.uq.model_dump()
        uq.pop("replicates_parallel")
        ident = {"task": self.task, "space": self.search_space.to_dict() if self._space else None,
                 "uq": uq, "data": self.data or {}, "seed": self.seed, "direction": self.direction,
                 "strategy": self.strategy.model_dump()}
        blob = json.dumps(ident, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def storage_url(location: str) -> str:
    """A storage URL, or a plain ``.db``/``.sqlite``/``.jsonl`` path -> URL."""
    if "://" in location:
        return location
    if location.endswith(".jsonl"):
        return f"journal:///{location}"
    return f"sqlite:///{location}"


def load_config(path: str | os.PathLike, *, check_task: bool = True) -> Config:
    """Read and validate a YAML config file.

    Args:
        path: the YAML file.
        check_task: import the task, build the effective space and run the task's checks.

    Raises:
        ConfigError: one line naming the file or the dotted key at fault.
    """
    import yaml  # noqa: PLC0415 - only the CLI needs YAML

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (task, budget, ...), got {type(raw).__name__}")
    raw.setdefault("study", path.stem)
    cfg = validate_config(raw, source=str(path), check_task=check_task)
    cfg._source = path.resolve()
    return cfg


def validate_config(raw: dict, *, source: Optional[str] = None, check_task: bool = True) -> Config:
    """Validate a config mapping (from YAML or from a study's stored settings)."""
    where = f"{source}: " if source else ""
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(where + describe_validation_error(e)) from None
    if not cfg.study:
        raise ConfigError(f"{where}study: a study name is required")
    cfg.storage = storage_url(cfg.storage) if cfg.storage else f"sqlite:///runs/{cfg.study}/study.db"
    cfg.output = str(cfg.output_dir)
    cfg.data, missing_files = _resolve_data(cfg.data, where) if cfg.data is not None else (None, [])
    own_space = _config_space(cfg, where)
    _check_strategy_name(cfg.strategy.name, where)
    if check_task:
        cfg._task, cfg._space = _bind_task(cfg, own_space, where, missing_files)
        _check_strategy_options(cfg, where)
    else:
        _refuse_missing(missing_files, where)
        if own_space is not None:
            cfg._space = Space(own_space)
    return cfg


def _refuse_missing(missing_files: list, where: str) -> None:
    if missing_files:
        key, value = missing_files[0]
        raise ConfigError(f"{where}data.{key}: file '{value}' does not exist")


def _config_space(cfg: Config, where: str) -> Optional[dict]:
    """Parameters of the config's ``space`` section, each validated; None when absent."""
    if not cfg.space:
        return None
    params = {}
    for name, spec in cfg.space.items():
        d = {k: v for k, v in spec.model_dump().items() if v is not None or k == "value"}
        if d["type"] != "fixed":
            d.pop("value", None)
        try:
            params[name] = parameter_from_dict(name, d)
        except ValueError as e:
            msg = str(e).replace(f"parameter '{name}': ", "")
            raise ConfigError(f"{where}space.{name}: {msg}") from None
    return params


def _resolve_data(data: dict, where: str) -> tuple[dict, list]:
    """Make path-like ``data`` values absolute; also return the (key, value) pairs of files
    that do not exist (refused later unless the task generates missing data itself)."""
    out, missing = {}, []
    for key, value in data.items():
        if isinstance(value, str) and any(key == k or key.endswith("_" + k) for k in _PATH_KEYS):
            p = Path(value).expanduser().resolve()
            if not p.exists():
                missing.append((key, value))
            value = str(p)
        out[key] = value
    return out, missing


def _bind_task(cfg: Config, own: Optional[dict], where: str, missing_files: list = ()) -> tuple[Any, Space]:
    """Import and configure the task, merge the spaces and run the task's own checks."""
    try:
        task = as_task(import_object(cfg.task))
    except ValueError as e:  # import_object's message already starts with "task ..."
        text = str(e)
        raise ConfigError(f"{where}{text if text.startswith('task') else 'task: ' + text}") from None
    except Exception as e:  # user code failing at import: report it, not a traceback
        raise ConfigError(f"{where}task: importing '{cfg.task}' failed ({type(e).__name__}: {e})") from None
    # a task that writes its dataset on first use (``generates_missing_data = True``) may name a file
    # that does not exist yet; any other task gets a one-line error naming the file
    if not getattr(task, "generates_missing_data", False):
        _refuse_missing(list(missing_files), where)
    data = dict(cfg.data or {})
    missing = [k for k in getattr(task, "required_data_keys", ()) if k not in data]
    if missing:
        raise ConfigError(f"{where}data.{missing[0]}: required by task '{cfg.task}'")
    if hasattr(task, "configure"):
        try:
            task.configure(data)
        except (ValueError, FileNotFoundError, TypeError) as e:
            raise ConfigError(f"{where}data: {e}") from None
    elif data:
        raise ConfigError(f"{where}data: task '{cfg.task}' takes no data (it has no configure method)")
    try:
        base: dict[str, Parameter] = dict(task.search_space().params)
    except (NotImplementedError, ValueError) as e:
        if own is None:
            raise ConfigError(f"{where}space: task '{cfg.task}' has no space of its own ({e}); "
                              "define one in the config") from None
        base = {}
    for name, param in (own or {}).items():
        if base and name not in base:
            raise ConfigError(f"{where}space.{name}: task '{cfg.task}' has no parameter '{name}'"
                              f"{_did_you_mean(name, base)}")
        base[name] = param
    try:
        space = Space(base)
    except ValueError as e:
        raise ConfigError(f"{where}space: {e}") from None
    if hasattr(task, "check"):
        try:
            task.check()
        except (ValueError, FileNotFoundError) as e:
            raise ConfigError(f"{where}{'data' if data else 'task'}: {e}") from None
    return task, space


def _check_strategy_name(name: str, where: str) -> None:
    from .strategies import STRATEGY_NAMES  # noqa: PLC0415 - registry only, no strategy module

    if name not in STRATEGY_NAMES:
        raise ConfigError(f"{where}strategy.name: unknown strategy '{name}'{_did_you_mean(name, STRATEGY_NAMES)}; "
                          f"choose one of {', '.join(STRATEGY_NAMES)}")


def _check_strategy_options(cfg: Config, where: str) -> None:
    """Build the strategy once so that a bad option fails now, not in the middle of a run."""
    from .strategies import make_strategy  # noqa: PLC0415

    try:
        make_strategy(cfg.strategy.name, cfg.search_space, seed=cfg.seed, **cfg.strategy.options)
    except ImportError as e:
        raise ConfigError(f"{where}strategy.name: strategy '{cfg.strategy.name}' is not available ({e})") from None
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}strategy: {e}") from None


def _did_you_mean(word: str, candidates: Any) -> str:
    import difflib  # noqa: PLC0415

    hint = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


_SECTIONS: dict[str, type[BaseModel]] = {"budget": BudgetSection, "uq": UQSection, "executor": ExecutorSection}


def _allowed_keys(loc: tuple) -> list[str]:
    """Valid keys at the mapping that contains ``loc[-1]``."""
    parent = loc[:-1]
    if not parent:
        return list(Config.model_fields)
    if parent[0] == "space" and len(parent) == 2:
        return list(ParamSpec.model_fields)
    model = _SECTIONS.get(str(parent[0]))
    return list(model.model_fields) if model else []


def describe_validation_error(err: ValidationError) -> str:
    """The first pydantic error as one line that names the dotted key."""
    e = err.errors()[0]
    loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
    key = ".".join(str(x) for x in loc) or "config"
    kind = e["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key{_did_you_mean(loc[-1], _allowed_keys(loc))}"
    if kind == "missing":
        return f"{key}: required key is missing"
    msg = e["msg"][0].lower() + e["msg"][1:]
    if kind in ("model_type", "dict_type"):
        msg = "expected a mapping of keys"
    if kind == "literal_error":
        msg += _did_you_mean(e["input"], _literal_choices(e))
    got = e.get("input")
    if isinstance(got, (dict, list)) or got is None:
        return f"{key}: {msg}"
    return f"{key}: {msg}, got {got!r}"


def _literal_choices(e: dict) -> list[str]:
    import re  # noqa: PLC0415

    return re.findall(r"'([^']*)'", str(e.get("ctx", {}).get("expected", "")))


def export_task_data(data: Optional[dict]) -> None:
    """Put the config's ``data`` into ``UQHPO_TASK_DATA`` so spawned workers inherit it."""
    if data:
        os.environ[TASK_DATA_ENV] = json.dumps(data, sort_keys=True)
    else:
        os.environ.pop(TASK_DATA_ENV, None)


def task_data_from_env() -> dict:
    """The ``data`` dict a worker process received (empty when none)."""
    blob = os.environ.get(TASK_DATA_ENV, "")
    if not blob:
        return {}
    try:
        data = json.loads(blob)
    except json.JSONDecodeError:
        raise ValueError(f"environment variable {TASK_DATA_ENV} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError(f"environment variable {TASK_DATA_ENV} must hold a JSON object")
    return data
