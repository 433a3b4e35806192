"""YAML study configs: reading, path resolution, task binding and the effective space.

A config names a task by import path and says how to search (strategy, budget, uq
settings, executor, storage). ``load_config(path)`` returns a validated :class:`Config`
or raises :class:`ConfigError` whose message is one line naming the offending key
(dotted, e.g. ``uq.replicates``) or file. Example::

    task: mypkg.tasks:task        # mypkg/ next to this file, or in the current folder
    study: quick                  # default: the file name without .yaml
    space: {lr: {type: real, low: 1.0e-4, high: 1.0e-1, log: true}}
    strategy: {name: rbf, n_initial: 8}
    budget: {trials: 24}          # or {trainings: 72}: replicate runs, what the study costs
    uq: {replicates: 3, kappa: 1.0}
    executor: {name: local, workers: 2}
    data: {path: ../data/table.csv}   # relative to this file's folder

Paths: a relative ``data`` path (keys ``path``, ``file``, ``dir`` or ending in ``_path``,
``_file``, ``_dir``), an explicit relative ``storage`` file and ``output`` resolve
against the config file's folder. An omitted ``storage`` is ``runs/<study>/study.db`` and
an omitted ``output`` ``runs/<study>`` under the current directory.

The schema lives in :mod:`uqhpo.config_schema`, ``--set`` overrides and the naming of
changed settings in :mod:`uqhpo.config_overrides`. The ``data`` section reaches worker
processes with each job (``Study.optimize(data=...)``), never through the environment.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from pydantic import ValidationError

from .config_overrides import apply_overrides, changed_settings, describe_changes
from .config_schema import Config, ConfigError, describe_validation_error, did_you_mean
from .paths import safe_component
from .space import Parameter, Space, parameter_from_dict
from .task import as_task, import_object

__all__ = ["Config", "ConfigError", "load_config", "validate_config", "storage_url", "apply_overrides",
           "changed_settings", "describe_changes", "add_import_dirs"]

_PATH_KEYS = ("path", "file", "dir")


def storage_url(location: str, base_dir: Optional[str | os.PathLike] = None) -> str:
    """A storage URL, or a plain ``.db``/``.sqlite``/``.jsonl`` path -> URL.

    Args:
        location: ``sqlite:///x.db``, ``journal:///x.jsonl``, ``memory`` or a file path.
        base_dir: folder a relative file path is resolved against (the result is then
            absolute); None keeps a relative path as it is (relative to the current one).
    """
    if location in ("memory", ":memory:"):
        return location
    scheme, path = ("", location)
    for name in ("sqlite", "journal"):
        if location.startswith(f"{name}:///"):
            scheme, path = name, location[len(name) + 4:]
    if not scheme:
        if "://" in location:
            return location
        scheme = "journal" if location.endswith(".jsonl") else "sqlite"
    if base_dir is not None and path:
        path = str(Path(base_dir, os.path.expanduser(path)).resolve())
    return f"{scheme}:///{path}"


def add_import_dirs(dirs: Sequence[str | os.PathLike]) -> list[str]:
    """Put folders (absolute) at the front of ``sys.path`` so a task module in them
    imports; spawned workers inherit ``sys.path``. Returns the folders, in order."""
    added = list(dict.fromkeys(str(Path(d).resolve()) for d in dirs))
    for folder in reversed(added):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    return added


def load_config(path: str | os.PathLike, *, check_task: bool = True, overrides: Sequence[str] = (),
                import_dirs: bool = False) -> Config:
    """Read and validate a YAML config file.

    Args:
        path: the YAML file.
        check_task: import the task, check the data files, build the effective space and
            run the task's checks. False (reading a study) checks the keys only.
        overrides: ``"dotted.key=value"`` items (``--set``), values parsed as YAML.
        import_dirs: put the current folder and the config file's folder on ``sys.path``
            before importing the task (what the CLI does).

    Raises:
        ConfigError: one line naming the file, the dotted key or the ``--set`` item at fault.
    """
    import yaml  # noqa: PLC0415 - only the CLI needs YAML

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file '{path}' is a directory, not a YAML file")
    if not path.exists():
        raise ConfigError(f"config file '{path}' not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file '{path}' is not a text (UTF-8) file") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file '{path}': {e.strerror or e}") from None
    try:
        raw = yaml.load(text, Loader=strict_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as e:
        raise ConfigError(f"{path}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (task, budget, ...), got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides)
    raw.setdefault("study", path.stem)
    folder = path.resolve().parent
    dirs = [Path.cwd(), folder] if import_dirs else []
    cfg = validate_config(raw, source=str(path), base_dir=folder, check_task=check_task, import_dirs=dirs,
                          overridden=[item.split("=", 1)[0].strip() for item in overrides])
    cfg._source = path.resolve()
    return cfg


class DuplicateKeyError(ValueError):
    """A YAML mapping names the same key twice (the last one would silently win)."""


_LOADER: Any = None


def strict_yaml_loader() -> Any:
    """A ``yaml.SafeLoader`` that refuses duplicate keys and reads ``1e9``/``3.6e3`` as floats
    (YAML 1.2 numbers; PyYAML's YAML 1.1 rules read them as strings)."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import re  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    raise DuplicateKeyError(f"duplicate key '{key}' at line {key_node.start_mark.line + 1} (first at "
                                            f"line {seen[key]}); the last one would silently win")
                if isinstance(key, (str, int, float, bool)):
                    seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

    StrictLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))
    _LOADER = StrictLoader
    return _LOADER


def validate_config(raw: dict, *, source: Optional[str] = None, base_dir: Optional[str | os.PathLike] = None,
                    check_task: bool = True, import_dirs: Sequence[str | os.PathLike] = (),
                    overridden: Sequence[str] = ()) -> Config:
    """Validate a config mapping (from YAML or from a study's stored settings).

    Args:
        raw: the mapping.
        source: named at the start of error messages (a file).
        base_dir: folder relative paths resolve against (default: the current one).
        check_task: see :func:`load_config`.
        import_dirs: folders to put on ``sys.path`` before importing the task.
        overridden: dotted keys set with ``--set`` (errors at them name ``--set``).
    """
    where = f"{source}: " if source else ""
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        message = describe_validation_error(e)
        key = message.split(":", 1)[0]
        hit = any(key == k or key.startswith(k + ".") for k in overridden)
        raise ConfigError(("--set " if hit else where) + message) from None
    if not cfg.study:
        raise ConfigError(f"{where}study: a study name is required")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    # without a file to be relative to, a relative storage stays relative to the current folder;
    # the study name becomes one safe folder name (a name like '../../x' must not escape runs/)
    cfg.storage = (storage_url(cfg.storage, base_dir) if cfg.storage
                   else f"sqlite:///runs/{safe_component(cfg.study)}/study.db")
    cfg.output = str(cfg.output_dir if not cfg.output else (base / Path(cfg.output).expanduser()).resolve())
    cfg.data, missing_files = _resolve_data(cfg.data, base) if cfg.data is not None else (None, [])
    _refuse_directories(cfg.data or {}, where)
    own_space = _config_space(cfg, where)
    _check_strategy_name(cfg.strategy.name, where)
    if check_task:
        searched = add_import_dirs(import_dirs)
        cfg._task, cfg._space = _bind_task(cfg, own_space, where, missing_files, searched)
        _check_strategy_options(cfg, where)
    elif own_space is not None:
        cfg._space = Space(own_space)
    return cfg


def _refuse_directories(data: dict, where: str) -> None:
    """A ``file``/``*_file`` data value that names a folder: one line now, not a puzzling
    error from the task later."""
    for key, value in data.items():
        if isinstance(value, str) and (key == "file" or key.endswith("_file")) and Path(value).is_dir():
            raise ConfigError(f"{where}data.{key}: '{value}' is a directory, not a file")


def _refuse_missing(missing_files: Sequence[tuple[str, str]], where: str) -> None:
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
        elif "value" not in spec.model_fields_set:
            raise ConfigError(f"{where}space.{name}.value: a fixed parameter needs a value")
        try:
            params[name] = parameter_from_dict(name, d)
        except ValueError as e:
            msg = str(e).replace(f"parameter '{name}': ", "")
            raise ConfigError(f"{where}space.{name}: {msg}") from None
    return params


def _resolve_data(data: dict, base: Path) -> tuple[dict, list]:
    """Make path-like ``data`` values absolute (relative ones against ``base``); also
    return the (key, path) pairs of files that do not exist (refused later unless the
    task generates missing data itself)."""
    out, missing = {}, []
    for key, value in data.items():
        if isinstance(value, str) and any(key == k or key.endswith("_" + k) for k in _PATH_KEYS):
            p = (base / Path(value).expanduser()).resolve()
            if not p.exists():
                missing.append((key, str(p)))
            value = str(p)
        out[key] = value
    return out, missing


def _import_task(cfg: Config, where: str, searched: Sequence[str]) -> Any:
    """The task object; a module that is nowhere to be found names the folders searched."""
    module = cfg.task.split(":", 1)[0] if ":" in cfg.task else ""
    top = module.split(".")[0]
    if top and top not in sys.modules and importlib.util.find_spec(top) is None:
        folders = " and ".join(f"'{d}'" for d in searched) if searched else "sys.path"
        raise ConfigError(f"{where}task: cannot import module '{module}' of '{cfg.task}': no {top}.py or "
                          f"{top}/ package in {folders}, and no installed package '{top}'")
    try:
        return as_task(import_object(cfg.task))
    except ValueError as e:  # import_object's message already starts with "task ..."
        text = str(e)
        raise ConfigError(f"{where}{text if text.startswith('task') else 'task: ' + text}") from None
    except Exception as e:  # user code failing at import: report it, not a traceback
        raise ConfigError(f"{where}task: importing '{cfg.task}' failed ({type(e).__name__}: {e})") from None


def _bind_task(cfg: Config, own: Optional[dict], where: str, missing_files: Sequence[tuple[str, str]],
               searched: Sequence[str]) -> tuple[Any, Space]:
    """Import and configure the task, merge the spaces and run the task's own checks."""
    task = _import_task(cfg, where, searched)
    # a task that writes its dataset on first use (``generates_missing_data = True``) may name a file
    # that does not exist yet; any other task gets a one-line error naming the file
    if not getattr(task, "generates_missing_data", False):
        _refuse_missing(missing_files, where)
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
        task_params: dict[str, Parameter] = dict(task.search_space().params)
    except (NotImplementedError, ValueError) as e:
        if own is None:
            raise ConfigError(f"{where}space: task '{cfg.task}' has no space of its own ({e}); "
                              "define one in the config") from None
        task_params = {}
    base = dict(task_params)
    for name, param in (own or {}).items():
        # checked against the task's own parameters, not the dict being filled
        if task_params and name not in task_params:
            raise ConfigError(f"{where}space.{name}: task '{cfg.task}' has no parameter '{name}'"
                              f"{did_you_mean(name, task_params)}")
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
        raise ConfigError(f"{where}strategy.name: unknown strategy '{name}'{did_you_mean(name, STRATEGY_NAMES)}; "
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
