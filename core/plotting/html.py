"""The interactive page of a study: one self-contained HTML file (plotly's JavaScript
embedded, so it opens offline). Hovering over a point shows that config's
hyperparameters, loss mean ± std and replicate values; a table lists every trial, the
running and failed ones included."""
from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Any, Optional, Sequence

__all__ = ["hover_text", "write_study_html"]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def hover_text(number: int, config: dict, mean: float, std: float, losses: Sequence[float], objective: float,
               objective_name: str) -> str:
    """The hover box of one trial (HTML lines, values escaped)."""
    lines = [f"<b>trial {number}</b>",
             f"loss (validation) {_fmt(mean)} ± {_fmt(std) if len(losses) > 1 else 'n/a'} (n={len(losses)})",
             f"objective ({html.escape(objective_name)}) {_fmt(objective)}",
             "replicates: " + ", ".join(_fmt(float(v)) for v in losses)]
    lines += [f"{html.escape(str(k))} = {html.escape(_fmt(v))}" for k, v in config.items()]
    return "<br>".join(lines)


def write_study_html(study: Any, path: str | os.PathLike, *, title: Optional[str] = None) -> Path:
    """Write the study's interactive page.

    Panels: loss mean ± std per trial number with the best-so-far objective, and loss vs
    its spread (std over replicates); below, a table of every trial.

    Args:
        study: a :class:`~uqhpo.study.Study`.
        path: output ``.html`` file.
        title: page title (default: the study name and strategy).

    Returns:
        The path written.
    """
    try:
        import plotly.graph_objects as go  # noqa: PLC0415
        from plotly.subplots import make_subplots  # noqa: PLC0415
    except ImportError:
        raise ImportError("the HTML page needs plotly: pip install 'uqhpo[plot]'") from None
    from ..analysis.describe import objective_formula  # noqa: PLC0415
    from ..analysis.history import convergence_history  # noqa: PLC0415

    s = study.settings
    formula = objective_formula(s.kappa, s.direction)
    done = [t for t in study.trials if math.isfinite(t.mean)]
    texts = [hover_text(t.number, t.config, t.mean, t.std, t.losses, t.value, formula) for t in done]
    fig = make_subplots(rows=2, cols=2, specs=[[{}, {}], [{"type": "table", "colspan": 2}, None]],
                        row_heights=[0.55, 0.45], vertical_spacing=0.08,
                        subplot_titles=("loss per trial (mean ± std over replicates)", "loss vs its spread"))
    numbers = [t.number for t in done]
    means = [t.mean for t in done]
    stds = [t.std if t.n > 1 else 0.0 for t in done]
    fig.add_trace(go.Scatter(x=numbers, y=means, mode="markers", name="trial",
                             error_y={"type": "data", "array": stds, "visible": True, "thickness": 1},
                             text=texts, hovertemplate="%{text}<extra></extra>"), row=1, col=1)
    history = convergence_history(done, s.direction)
    fig.add_trace(go.Scatter(x=history.numbers.tolist(), y=history.best_values.tolist(), mode="lines",
                             line={"shape": "hv"}, name=f"best so far ({formula})"), row=1, col=1)
    fig.add_trace(go.Scatter(x=means, y=stds, mode="markers", name="config", marker={"color": numbers,
                             "colorscale": "Viridis", "showscale": True, "colorbar": {"title": "trial", "x": 1.02,
                                                                                      "len": 0.5, "y": 0.78}},
                             text=texts, hovertemplate="%{text}<extra></extra>"), row=1, col=2)
    fig.add_trace(_table(study, go), row=2, col=1)
    fig.update_xaxes(title_text="trial number", row=1, col=1)
    fig.update_yaxes(title_text="loss (validation)", row=1, col=1)
    fig.update_xaxes(title_text="loss (validation), mean over replicates", row=1, col=2)
    fig.update_yaxes(title_text="std of loss over replicates", row=1, col=2)
    fig.update_layout(title=title or f"study '{study.name}': strategy {s.strategy}, objective {formula}, "
                      f"{len(study.all_trials())} trials", height=950, hoverlabel={"align": "left"})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fig.write_html(tmp, include_plotlyjs=True, full_html=True)  # JS embedded: opens offline
    os.replace(tmp, path)
    return path


def _table(study: Any, go: Any) -> Any:
    summaries = {t.number: t for t in study.trials}
    names = study.space.names
    rows: list[list[str]] = [[] for _ in range(5 + len(names))]
    for t in study.all_trials():
        sm = summaries.get(t.number)
        cells = [str(t.number), t.state.value, _fmt(sm.mean) if sm else "", _fmt(sm.std) if sm and sm.n > 1 else "",
                 ", ".join(_fmt(float(v)) for v in t.losses)] + [_fmt(t.config.get(n, "")) for n in names]
        for col, value in zip(rows, cells):
            col.append(value)
    header = ["trial", "state", "loss mean", "loss std", "replicate losses", *names]
    return go.Table(header={"values": header, "align": "left"}, cells={"values": rows, "align": "left"})
