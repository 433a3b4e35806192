"""Edits and comparisons of study configs: ``--set key=value`` overrides, and naming the
settings that changed since a study was created.

``apply_overrides`` works on the raw YAML mapping before validation, so an override is
checked exactly like a key in the file. ``changed_settings`` compares what defines a
study's objective and search (:meth:`Config.identity`: task, space, uq, data, seed,
direction, strategy) between the config stored with the study and a new one.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Optional, Sequence

from pydantic import ValidationError

from .config_schema import Config, ConfigError, ParamSpec, did_you_mean, section_keys

__all__ = ["apply_overrides", "changed_settings", "describe_changes"]

_SECTIONS = ("budget", "uq", "executor", "pruner")


def apply_overrides(raw: dict, items: Sequence[str]) -> dict:
    """A copy of ``raw`` with ``"dotted.key=value"`` items applied (values parsed as YAML).

    Args:
        raw: the config mapping as read from YAML.
        items: e.g. ``["uq.replicates=2", "executor.workers=1", "strategy=random"]``.

    Raises:
        ConfigError: ``--set <key>: ...`` for a malformed item or a key the schema lacks.
    """
    import yaml  # noqa: PLC0415

    out = copy.deepcopy(raw)
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item}: expected KEY=VALUE, e.g. --set uq.replicates=2")
        parts = key.split(".")
        if not all(parts):
            raise ConfigError(f"--set {key}: empty part in the dotted key")
        _check_key(parts, key)
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: value {text!r} is not valid YAML") from None
        value = _yaml11_number(value)
        node = out
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif depth == 0 and part == "strategy" and isinstance(child, str):
                child = node[part] = {"name": child}  # the short form `strategy: rbf`
            elif not isinstance(child, dict):
                raise ConfigError(f"--set {key}: '{'.'.join(parts[:depth + 1])}' is not a mapping in the config")
            node = child
        node[parts[-1]] = value
    return out


def _yaml11_number(value: Any) -> Any:
    """PyYAML reads ``1e-3`` (no dot) as a string; on the command line it means a number."""
    if isinstance(value, str):
        try:
            return float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            return value
    return value


def _check_key(parts: list[str], key: str) -> None:
    top = parts[0]
    top_keys = section_keys(None) or []
    if top not in top_keys:
        raise ConfigError(f"--set {key}: unknown key{did_you_mean(top, top_keys)}")
    if len(parts) == 1:
        return
    if top in _SECTIONS:
        allowed = section_keys(top) or []
        if parts[1] not in allowed:
            raise ConfigError(f"--set {key}: unknown key{did_you_mean(parts[1], allowed)}")
        if len(parts) > 2:
            raise ConfigError(f"--set {key}: '{top}.{parts[1]}' is a value, not a section")
    elif top == "space":
        if len(parts) == 3 and parts[2] not in ParamSpec.model_fields:
            raise ConfigError(f"--set {key}: unknown key{did_you_mean(parts[2], ParamSpec.model_fields)}")
        if len(parts) > 3:
            raise ConfigError(f"--set {key}: too many parts (space.PARAMETER.FIELD)")
    elif top == "strategy":
        if len(parts) > 2:
            raise ConfigError(f"--set {key}: too many parts (strategy.OPTION)")
    elif top != "data":
        raise ConfigError(f"--set {key}: '{top}' is a value, not a section")


def changed_settings(stored: dict, stored_space: Optional[dict], new: Config) -> list[tuple[str, Any, Any]]:
    """Settings that define the objective or the search and differ between a study's
    stored config and a new one.

    Args:
        stored: the config stored with the study (``Config.to_dict`` form).
        stored_space: the study's effective space (``Space.to_dict`` form), or None.
        new: the new config, bound to its task (its effective space known).

    Returns:
        ``(dotted key, stored value, new value)`` triples; ``None`` stands for "absent".
    """
    old_id = _identity_of(stored, stored_space)
    new_id = new.identity()
    old_space, new_space = old_id.pop("space") or {}, new_id.pop("space") or {}
    old_flat, new_flat = _flatten(_plain(old_id)), _flatten(_plain(new_id))
    changes = [(k, old_flat.get(k), new_flat.get(k)) for k in dict.fromkeys([*old_flat, *new_flat])
               if old_flat.get(k) != new_flat.get(k)]
    old_space, new_space = _plain(old_space), _plain(new_space)
    for name in dict.fromkeys([*old_space, *new_space]):
        if name not in old_space or name not in new_space:
            changes.append((f"space.{name}", old_space.get(name), new_space.get(name)))
            continue
        a, b = _flatten(old_space[name], f"space.{name}."), _flatten(new_space[name], f"space.{name}.")
        changes += [(k, a.get(k), b.get(k)) for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
    if not changes and list(old_space) != list(new_space):
        changes.append(("space (parameter order)", list(old_space), list(new_space)))
    return changes


def describe_changes(changes: Sequence[tuple[str, Any, Any]], study: str) -> str:
    """One line naming the changed settings and the two ways out."""
    parts = [f"{key} changed from {_show(old)} to {_show(new)}" for key, old, new in changes[:3]]
    if len(changes) > 3:
        parts.append(f"{len(changes) - 3} more setting(s) changed")
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return (f"{text} since study '{study}' was created; use a new study name (study: NAME in the config, "
            f"or --set study=NAME) or change {'it' if len(changes) == 1 else 'them'} back")


def _identity_of(stored: dict, stored_space: Optional[dict]) -> dict:
    """:meth:`Config.identity` of a stored config, defaults filled in where it validates."""
    try:
        ident = Config.model_validate(stored).identity()
    except ValidationError:  # written by another version: compare what is there
        ident = {k: stored.get(k) for k in ("task", "uq", "data", "seed", "direction", "strategy")}
    ident["space"] = stored_space
    return ident


def _plain(value: Any) -> Any:
    """JSON round trip: tuples -> lists, so stored and new values compare equal."""
    return json.loads(json.dumps(value, default=str))


def _flatten(d: Any, prefix: str = "") -> dict:
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d} if prefix else {}
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, dict):  # an empty mapping is the same as an absent one
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
