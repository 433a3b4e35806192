"""1-D and 2-D slices of a fitted surrogate through a centre config (the incumbent).

Each slice varies one (or two) hyperparameters over their whole range and holds the
others at the centre; values are real configs (integers on their grid, every category),
so a slice shows what the model predicts for configs the search could actually propose.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

__all__ = ["Slice1D", "Slice2D", "axis_values", "slice_1d", "slices_1d", "slice_2d"]


def axis_values(param: Any, n: int = 60) -> tuple[list, Optional[list]]:
    """Values of one parameter to slice along, and the category labels when categorical.

    Reals: ``n`` points evenly spaced in the search scale (log when log-scaled);
    integers: every value, or ``n`` spread over the range when there are more; categories:
    every choice; fixed parameters: their value.
    """
    kind = getattr(param, "kind", "")
    if hasattr(param, "choices"):
        return list(param.choices), [str(c) for c in param.choices]
    if param.width == 0:
        return [param.value], None
    if kind == "integer" and param.cardinality() <= n:
        return list(range(int(param.low), int(param.high) + 1)), None
    values = [param.decode(np.array([u])) for u in np.linspace(0.0, 1.0, n)]
    return list(dict.fromkeys(values)), None


@dataclass(frozen=True)
class Slice1D:
    """The surrogate along one hyperparameter.

    Attributes:
        name: the hyperparameter.
        values: its values (categories as given), length m.
        mean: ``(m,)`` predicted objective; std ``(m,)`` or None (RBF has no std).
        center: the centre config's value.
        categories: labels when categorical, else None.
        log: log-scaled parameter.
    """

    name: str
    values: list
    mean: np.ndarray
    std: Optional[np.ndarray]
    center: Any
    categories: Optional[list] = None
    log: bool = False


def slice_1d(view: Any, center: Mapping[str, Any], name: str, n: int = 60) -> Slice1D:
    """The surrogate ``view`` (:class:`~uqhpo.analysis.surrogate_view.SurrogateView`)
    along ``name`` through ``center``."""
    param = view.space.params[name]
    values, labels = axis_values(param, n)
    mean, std = view.predict([{**center, name: v} for v in values])
    return Slice1D(name=name, values=values, mean=mean, std=std, center=center.get(name),
                   categories=labels, log=bool(getattr(param, "log", False)))


def slices_1d(view: Any, center: Mapping[str, Any], n: int = 60) -> list[Slice1D]:
    """A :class:`Slice1D` for every searched hyperparameter, in space order."""
    return [slice_1d(view, center, name, n) for name, p in view.space.params.items() if p.width]


@dataclass(frozen=True)
class Slice2D:
    """The surrogate over two hyperparameters (x along columns, y along rows).

    Attributes:
        x_name, y_name: the hyperparameters.
        x_values, y_values: their values (lengths nx, ny).
        mean: ``(ny, nx)`` predicted objective; std ``(ny, nx)`` or None.
        center: ``(x, y)`` values of the centre config.
        x_categories, y_categories: labels when categorical.
        x_log, y_log: log-scaled parameters.
    """

    x_name: str
    y_name: str
    x_values: list
    y_values: list
    mean: np.ndarray
    std: Optional[np.ndarray]
    center: tuple
    x_categories: Optional[list] = None
    y_categories: Optional[list] = None
    x_log: bool = False
    y_log: bool = False


def slice_2d(view: Any, center: Mapping[str, Any], x_name: str, y_name: str, n: int = 30) -> Slice2D:
    """The surrogate over ``x_name`` × ``y_name`` through ``center`` (others held)."""
    if x_name == y_name:
        raise ValueError(f"a 2-D slice needs two different parameters, got '{x_name}' twice")
    px, py = view.space.params[x_name], view.space.params[y_name]
    xs, x_labels = axis_values(px, n)
    ys, y_labels = axis_values(py, n)
    configs = [{**center, x_name: x, y_name: y} for y in ys for x in xs]
    mean, std = view.predict(configs)
    shape = (len(ys), len(xs))
    return Slice2D(x_name=x_name, y_name=y_name, x_values=xs, y_values=ys, mean=mean.reshape(shape),
                   std=None if std is None else std.reshape(shape), center=(center.get(x_name), center.get(y_name)),
                   x_categories=x_labels, y_categories=y_labels, x_log=bool(getattr(px, "log", False)),
                   y_log=bool(getattr(py, "log", False)))
