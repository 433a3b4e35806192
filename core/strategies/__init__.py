"""Strategies by name: ``make_strategy("rbf", space, n_initial=10)``."""
from __future__ import annotations

import importlib
from typing import Any

from .base import Strategy

# name -> "module:Class"; modules are imported lazily
_REGISTRY = {
    "random": "uqhpo.strategies.random_search:RandomStrategy",
    "grid": "uqhpo.strategies.grid:GridStrategy",
    "rbf": "uqhpo.strategies.rbf:RBFStrategy",
    "gp": "uqhpo.strategies.gp:GPStrategy",
    "evolution": "uqhpo.strategies.evolution:EvolutionStrategy",
}

STRATEGY_NAMES = tuple(_REGISTRY)


def strategy_class(name: str) -> type[Strategy]:
    if name not in _REGISTRY:
        import difflib
        hint = difflib.get_close_matches(name, _REGISTRY, n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ValueError(f"unknown strategy '{name}'{extra}; choose one of {', '.join(_REGISTRY)}")
    mod, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(mod), cls)


def make_strategy(name: str | Strategy, space, **options: Any) -> Strategy:
    """Build a strategy by name (an instance is returned unchanged)."""
    if isinstance(name, Strategy):
        return name
    return strategy_class(name)(space, **options)


__all__ = ["Strategy", "make_strategy", "strategy_class", "STRATEGY_NAMES"]
