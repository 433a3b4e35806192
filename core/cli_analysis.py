"""The analysis commands of the ``uqhpo`` CLI: plot (and, as they are built, sweep, focus,
compare). :func:`add_parsers` registers them; :data:`COMMANDS` maps names to handlers.
"""
from __future__ import annotations

import argparse
from typing import Any, Callable


def cmd_plot(args: argparse.Namespace) -> int:
    from .cli_read import cmd_plot as convergence_plot  # noqa: PLC0415

    return convergence_plot(args)


def add_parsers(sub: Any) -> None:
    """Register the analysis sub-commands on the CLI's sub-parsers."""
    c = sub.add_parser("plot", help="write the convergence plot (PNG)")
    c.add_argument("target", metavar="STORAGE_OR_CONFIG", help="storage URL, .db/.jsonl path or YAML config")
    c.add_argument("--study", help="study name (needed when the storage holds several)")
    c.add_argument("--out", help="output PNG (default: <output>/convergence.png)")


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"plot": cmd_plot}
