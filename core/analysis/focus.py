"""Focus search and sweeps: sub-boxes of a space, parsed value lists, seeding a child study.

* :func:`focus_space`: a sub-box of a space around a centre config (a fraction of each
  numeric range, in the search scale) or given bounds;
* :func:`parse_values`: ``"lr=1e-3,1e-2"`` -> the parameter and its typed values;
* :func:`copy_trials`: copy a parent study's results inside a sub-box into a child study
  (same configs, seeds, losses, metrics and reports), so the child's surrogate starts
  from what is known instead of a fresh initial design.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np

__all__ = ["focus_space", "parse_bounds", "parse_values", "copy_trials", "COPIED_WORKER"]

#: worker name of copied replicates (the timeline leaves them out)
COPIED_WORKER = "copied"


def _typed(param: Any, text: str, key: str) -> Any:
    """One value of ``param`` from command-line text (categories matched by their text)."""
    text = text.strip()
    choices = getattr(param, "choices", None)
    if choices is not None:
        for c in choices:
            if str(c) == text:
                return c
        raise ValueError(f"{key}: '{text}' is not one of {', '.join(map(str, choices))}")
    if param.width == 0:
        return param.value if str(param.value) == text else text
    try:
        value: Any = int(text) if param.kind == "integer" else float(text)
    except ValueError:
        raise ValueError(f"{key}: '{text}' is not a number") from None
    if not param.contains(value):
        raise ValueError(f"{key}: {text} is outside [{param.low}, {param.high}]")
    return value


def parse_values(space: Any, item: str, flag: str = "--param") -> tuple[str, list]:
    """``"NAME=v1,v2,..."`` -> (NAME, typed values), checked against ``space``.

    Raises:
        ValueError: one line naming the flag item at fault.
    """
    name, sep, rest = item.partition("=")
    name = name.strip()
    if not sep or not rest.strip():
        raise ValueError(f"{flag} '{item}': expected NAME=v1,v2,...")
    if name not in space.params:
        raise ValueError(f"{flag} '{item}': '{name}' is not a hyperparameter (have: {', '.join(space.names)})")
    values = [_typed(space.params[name], v, f"{flag} {name}") for v in rest.split(",") if v.strip()]
    if len(set(map(repr, values))) != len(values):
        raise ValueError(f"{flag} '{item}': a value is listed twice")
    return name, values


def parse_bounds(space: Any, items: Sequence[str]) -> dict[str, Any]:
    """``["lr=1e-4:1e-2", "act=relu,tanh"]`` -> ``{name: (lo, hi) or [choices]}``."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        name = name.strip()
        if not sep or name not in space.params:
            raise ValueError(f"--bounds '{item}': expected NAME=lo:hi with NAME one of {', '.join(space.names)}")
        param = space.params[name]
        if hasattr(param, "choices"):
            out[name] = [_typed(param, v, f"--bounds {name}") for v in rest.split(",") if v.strip()]
        elif ":" in rest and param.width:
            lo, hi = (_typed(param, v, f"--bounds {name}") for v in rest.split(":", 1))
            if not lo < hi:
                raise ValueError(f"--bounds '{item}': low must be below high")
            out[name] = (lo, hi)
        else:
            raise ValueError(f"--bounds '{item}': expected {name}=lo:hi")
    return out


def focus_space(space: Any, center: Optional[Mapping[str, Any]] = None, width: float = 0.2,
                bounds: Optional[Mapping[str, Any]] = None) -> Any:
    """A sub-box of ``space``.

    Numeric parameters without given bounds span ``width`` of their range in the search
    scale (log for log-scaled ones) around ``center``, shifted to stay inside the range;
    an integer box narrower than two values becomes Fixed. Categorical parameters keep
    their choices unless bounds list some. Fixed parameters stay.

    Args:
        space: the parent :class:`~uqhpo.space.Space`.
        center: the centre config (the incumbent); needed unless every numeric parameter
            has bounds.
        width: fraction of each numeric range, in (0, 1].
        bounds: ``{name: (lo, hi) | [choices]}`` (see :func:`parse_bounds`).

    Returns:
        The narrowed :class:`~uqhpo.space.Space` (same parameter order).
    """
    from ..space import Space  # noqa: PLC0415

    if not 0 < width <= 1:
        raise ValueError(f"--width must be in (0, 1], got {width}")
    bounds = dict(bounds or {})
    specs: dict[str, dict] = {}
    for name, p in space.params.items():
        spec = p.to_dict()
        given = bounds.get(name)
        if hasattr(p, "choices"):
            if given is not None:
                spec = {**spec, "choices": list(given)} if len(given) > 1 else {"type": "fixed", "value": given[0]}
        elif p.width:
            if given is not None:
                lo, hi = given
            else:
                if center is None or name not in center:
                    raise ValueError(f"focus: no centre value for '{name}'; give --bounds {name}=lo:hi")
                u = float(p.encode(center[name])[0])
                a = min(max(u - width / 2, 0.0), 1.0 - width)
                lo, hi = p.decode(np.array([a])), p.decode(np.array([a + width]))
            if p.kind == "integer":
                lo, hi = int(lo), int(hi)
                if hi <= lo:
                    spec = {"type": "fixed", "value": lo}
                    specs[name] = spec
                    continue
            spec["low"], spec["high"] = lo, hi
        specs[name] = spec
    return Space.from_dict(specs)


def copy_trials(parent_trials: Sequence[Any], child: Any, parent_name: str) -> list[int]:
    """Copy the parent's completed trials whose config lies in the child's space.

    Each copied trial keeps its config, replicate seeds, losses, metrics, runtimes and
    per-step reports, and records ``copied_from = {"study", "trial"}`` in its user
    attributes. Only completed replicates are copied.

    Args:
        parent_trials: the parent's trials (``parent.all_trials()``).
        child: the child :class:`~uqhpo.study.Study` (new, empty).
        parent_name: the parent study's name (recorded with each copy).

    Returns:
        The child's trial numbers of the copies.
    """
    from ..trial import State  # noqa: PLC0415

    store, name = child.storage, child.name
    copied = []
    for t in sorted(parent_trials, key=lambda t: t.number):
        done = [r for r in sorted(t.latest().values(), key=lambda r: r.index)
                if r.state == State.COMPLETE and r.loss is not None and math.isfinite(r.loss)]
        config = {k: t.config[k] for k in child.space.names if k in t.config}
        if not done or len(config) != len(child.space.names) or not child.space.contains(config):
            continue
        number = store.add_trial(name, config, [int(r.seed) for r in done],
                                 user_attrs={"copied_from": {"study": parent_name, "trial": t.number}})
        for index, r in enumerate(done):
            rep = store.claim(name, worker=COPIED_WORKER, trial=number, index=index, now=r.started)
            for step, metrics in r.reports:
                store.add_report(name, number, index, rep.attempt, step, metrics)
            store.finish(name, number, index, rep.attempt, State.COMPLETE, loss=r.loss, metrics=dict(r.metrics),
                         runtime=r.runtime, now=r.finished)
        copied.append(number)
    return copied
