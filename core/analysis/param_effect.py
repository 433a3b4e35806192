"""Loss mean ± std against one hyperparameter, one line per value of another (the sweep "bowl").

With a group that is a hyperparameter taking several values (a learning-rate × epochs
grid), each (group, x) cell pools the replicate losses of its trials. With the group
``step``/``epoch``/``epochs`` when the epochs were not varied, the lines come from the
stored learning curves instead: one long training per learning rate gives every epoch
count (the validation loss after that many epochs, not the best epoch up to it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from ..trial import Trial

__all__ = ["EffectLine", "ParamEffect", "param_effect", "STEP_GROUPS"]

#: group names that read the learning curves when they are not a varied hyperparameter
STEP_GROUPS = ("step", "epoch", "epochs")


@dataclass(frozen=True)
class EffectLine:
    """One line of the figure: loss against the x hyperparameter at one group value.

    Attributes:
        group: the group value (None for a single line).
        x: the x values (sorted; categories in their order), length m.
        mean, std: ``(m,)`` over the pooled replicate values (std NaN with one).
        n: ``(m,)`` pooled replicate values per point.
    """

    group: Any
    x: list
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray


@dataclass(frozen=True)
class ParamEffect:
    """Lines of :class:`EffectLine`, plus what the axes show."""

    x_name: str
    group_name: Optional[str]
    metric: str
    source: str  # "final" (the replicates' returned loss) or "curves" (reported per step)
    lines: list = field(default_factory=list)
    x_categories: Optional[list] = None
    x_log: bool = False


def _order(values: Sequence[Any], param: Any) -> list:
    choices = getattr(param, "choices", None)
    if choices is not None:
        return [c for c in choices if c in values]
    try:
        return sorted(values)
    except TypeError:
        return list(values)


def _line(group: Any, cells: dict, order: list) -> EffectLine:
    xs = [x for x in order if cells.get(x)]
    vals = [np.asarray(cells[x], dtype=float) for x in xs]
    return EffectLine(group=group, x=xs, mean=np.array([v.mean() for v in vals]),
                      std=np.array([v.std(ddof=1) if len(v) > 1 else math.nan for v in vals]),
                      n=np.array([len(v) for v in vals], dtype=int))


def param_effect(trials: Sequence[Trial], x: str, group: Optional[str] = None, space: Any = None,
                 metric: Optional[str] = None, steps: Optional[Sequence[int]] = None) -> ParamEffect:
    """Loss against hyperparameter ``x`` per value of ``group``.

    Args:
        trials: every trial (``study.all_trials()``).
        x: the hyperparameter on the x axis.
        group: a hyperparameter (one line per value), a step group (see module doc), or None.
        space: the study's space (category order, log scale).
        metric: the reported metric for step groups (default: see
            :func:`uqhpo.analysis.curves.default_metric`).
        steps: the steps to draw for a step group (default: up to 4 spread over the range).

    Raises:
        ValueError: ``x`` or ``group`` is not a hyperparameter of the trials.
    """
    names = list(dict.fromkeys(k for t in trials for k in t.config))
    if x not in names:
        raise ValueError(f"--x '{x}' is not a hyperparameter of the study (have: {', '.join(names)})")
    varied = group is not None and group in names and len({_key(t.config.get(group)) for t in trials}) > 1
    if group is not None and not varied and group not in STEP_GROUPS and group not in names:
        raise ValueError(f"--group '{group}' is not a hyperparameter of the study (have: {', '.join(names)}) "
                         f"nor one of {', '.join(STEP_GROUPS)}")
    param = space.params.get(x) if space is not None else None
    order = _order(list(dict.fromkeys(t.config[x] for t in trials if x in t.config)), param)
    choices = getattr(param, "choices", None)
    labels = [str(c) for c in choices] if choices is not None else None
    log = bool(getattr(param, "log", False))
    if group is not None and not varied:
        return _from_curves(trials, x, group, order, metric, steps, labels, log)
    cells: dict[Any, dict[Any, list]] = {}
    for t in trials:
        losses = t.losses
        if x in t.config and len(losses):
            g = t.config.get(group) if group else None
            cells.setdefault(g, {}).setdefault(t.config[x], []).extend(losses.tolist())
    gparam = space.params.get(group) if space is not None and group else None
    lines = [_line(g, cells[g], order) for g in _order(list(cells), gparam)]
    return ParamEffect(x_name=x, group_name=group, metric="loss", source="final", lines=lines,
                       x_categories=labels, x_log=log)


def _from_curves(trials: Sequence[Trial], x: str, group: str, order: list, metric: Optional[str],
                 steps: Optional[Sequence[int]], labels: Optional[list], log: bool) -> ParamEffect:
    from .curves import default_metric, replicate_series  # noqa: PLC0415

    metric = default_metric(trials, metric)
    cells: dict[int, dict[Any, list]] = {}
    for t in trials:
        for series in replicate_series(t, metric):
            for step, value in series.items():
                cells.setdefault(step, {}).setdefault(t.config[x], []).append(value)
    available = sorted(cells)
    if steps is None:
        pick = np.unique(np.round(np.linspace(0, len(available) - 1, min(4, len(available)))).astype(int))
        chosen = [available[i] for i in pick] if available else []
    else:
        missing = [s for s in steps if s not in cells]
        if missing:
            raise ValueError(f"step {missing[0]} was never reported (reported steps {available[0]}..{available[-1]})")
        chosen = list(steps)
    lines = [_line(s, cells[s], order) for s in chosen]
    return ParamEffect(x_name=x, group_name=group, metric=metric, source="curves", lines=lines,
                       x_categories=labels, x_log=log)


def _key(value: Any) -> str:
    return repr(value)
