"""How a trial's result reads in one line: the objective's definition, mean ± std with the
replicate count, and the state of one replicate attempt (INTERRUPTED apart from FAILED).

Pure formatting, shared by ``uqhpo status``/``best``, the run summary and the per-trial
log line, so that "best" always says it is the objective (mean + κ·std) and not a loss.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

__all__ = ["INTERRUPTED_PREFIX", "STATE_ORDER", "attempt_state", "count_states", "counts_line",
           "format_loss", "objective_formula", "best_line"]

#: error text of attempts the runner closed on Ctrl-C (they are re-queued, not failures)
INTERRUPTED_PREFIX = "interrupted"
#: order of the state counts printed by ``uqhpo status``
#: (INTERRUPTED and PRUNED only appear when some replicate is in that state)
STATE_ORDER = ("COMPLETE", "RUNNING", "WAITING", "FAILED", "INTERRUPTED", "PRUNED", "STALE")
_SHOWN_WHEN_PRESENT = ("INTERRUPTED", "PRUNED")


def objective_formula(kappa: float, direction: str = "minimize") -> str:
    """``"mean + 1·std"`` (minimising) or ``"mean − 1·std"`` (maximising) for this κ."""
    sign = "−" if direction == "maximize" else "+"
    return f"mean {sign} {kappa:g}·std"


def format_loss(mean: float, std: float, n: int, digits: int = 6) -> str:
    """``"0.123 ± 0.0045 (n=3)"``; one replicate has no spread: ``"0.123 (n=1)"``."""
    if n <= 1 or not math.isfinite(std):
        return f"{mean:.{digits}g} (n={n})"
    return f"{mean:.{digits}g} ± {std:.{max(digits - 3, 2)}g} (n={n})"


def best_line(best: Any, kappa: float, direction: str = "minimize") -> str:
    """``"trial 3, objective (mean + 1·std) 0.52, loss 0.4 ± 0.12 (n=3)"`` for a
    :class:`~uqhpo.trial.TrialSummary`."""
    return (f"trial {best.number}, objective ({objective_formula(kappa, direction)}) {best.value:.6g}, "
            f"loss {format_loss(best.mean, best.std, best.n)}")


def attempt_state(replicate: Any) -> str:
    """The state name of one replicate attempt; a Ctrl-C'd attempt is ``INTERRUPTED``."""
    state = getattr(replicate.state, "value", replicate.state)
    if state == "FAILED" and str(replicate.error or "").startswith(INTERRUPTED_PREFIX):
        return "INTERRUPTED"
    return str(state)


def count_states(states: Iterable[str]) -> dict[str, int]:
    """State name -> how often it occurs."""
    out: dict[str, int] = {}
    for s in states:
        out[s] = out.get(s, 0) + 1
    return out


def counts_line(counts: dict[str, int], order: Iterable[str] = STATE_ORDER) -> str:
    """``"COMPLETE 8  RUNNING 0  ..."``; INTERRUPTED and PRUNED only when there are some."""
    return "  ".join(f"{s} {counts.get(s, 0)}" for s in order if s not in _SHOWN_WHEN_PRESENT or counts.get(s))


def study_html(name: str, strategy: str, seed: int, direction: str, trials: Iterable[Any], best: Any,
               kappa: float) -> str:
    """A study's summary for Jupyter (``Study._repr_html_``): trial counts by state, then the
    best trial's objective line and config as a table (or "no completed trial yet")."""
    import html  # noqa: PLC0415

    counts: dict[str, int] = {}
    n = 0
    for t in trials:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1
        n += 1
    rows = [f"<b>study {html.escape(name)}</b>: strategy {html.escape(strategy)}, seed {seed}, {direction}",
            f"trials: {n} (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"]
    if best is None:
        rows.append("best: no completed trial yet")
    else:
        rows.append("best: " + html.escape(best_line(best, kappa, direction)))
        cells = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_short(v))}</td></tr>"
                        for k, v in best.config.items())
        rows.append(f"<table>{cells}</table>")
    return "<div>" + "<br>".join(rows) + "</div>"


def _short(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
