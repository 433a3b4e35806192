"""Every figure of one stored study by name: what ``uqhpo plot STUDY --kind K`` draws.

:func:`render` maps a kind to its analysis function and renderer and returns the files
written; ``all`` draws every kind the study has data for and reports (instead of raising)
the ones it cannot draw yet, e.g. sensitivity before two trials completed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .common import DEFAULT_FORMATS

__all__ = ["PlotOptions", "KINDS", "render", "render_all"]

KINDS = ("convergence", "loss-variability", "sensitivity", "slices", "timeline", "html", "curves", "param", "all")


@dataclass(frozen=True)
class PlotOptions:
    """Options of the figure kinds (CLI flags).

    Attributes:
        formats: file formats of the matplotlib figures.
        color_by: loss-variability colour (hyperparameter or metric), None for none.
        surrogate: "auto", "rbf" or "gp" (sensitivity, slices).
        target: what the surrogate models, "objective" or "mean".
        x, group: hyperparameters of the ``param`` kind.
        steps: steps of a step-group ``param`` figure.
        metric: reported metric of ``curves``/``param``.
        top_k: number of configs in ``curves``.
        sobol_samples: base sample size of the Sobol estimate.
    """

    formats: Sequence[str] = DEFAULT_FORMATS
    color_by: Optional[str] = None
    surrogate: str = "auto"
    target: str = "objective"
    x: Optional[str] = None
    group: Optional[str] = None
    steps: Optional[Sequence[int]] = None
    metric: Optional[str] = None
    top_k: int = 5
    sobol_samples: int = 1024


def _title(study: Any, what: str) -> str:
    return f"{what}: study '{study.name}' ({study.settings.strategy})"


def _convergence(study: Any, out: Path, o: PlotOptions) -> list[Path]:
    from ..analysis.convergence import study_curve  # noqa: PLC0415
    from ..analysis.describe import objective_formula  # noqa: PLC0415
    from .cost import plot_cost_convergence  # noqa: PLC0415

    return plot_cost_convergence(study_curve(study), out / "convergence", title=_title(study, "convergence"),
                                 formats=o.formats, objective=objective_formula(study.kappa, study.direction))


def _variability(study: Any, out: Path, o: PlotOptions) -> list[Path]:
    from ..analysis.variability import loss_variability  # noqa: PLC0415
    from .variability import plot_loss_variability  # noqa: PLC0415

    data = loss_variability(study.trials, o.color_by, study.space, study.direction)
    return plot_loss_variability(data, out / "loss_variability", title=_title(study, "loss vs variability"),
                                 formats=o.formats)


def _sensitivity(study: Any, out: Path, o: PlotOptions) -> list[Path]:
    from ..analysis.sensitivity import param_scatter, study_sobol  # noqa: PLC0415
    from .sensitivity import plot_sensitivity  # noqa: PLC0415

    sobol = study_sobol(study, surrogate=o.surrogate, n=o.sobol_samples, target=o.target)
    return plot_sensitivity(param_scatter(study.trials, study.space), out / "sensitivity", sobol=sobol,
                            title=_title(study, "sensitivity"), formats=o.formats)


def _slices(study: Any, out: Path, o: PlotOptions) -> list[Path]:
    from ..analysis.sensitivity import sobol_indices  # noqa: PLC0415
    from ..analysis.slices import slice_2d, slices_1d  # noqa: PLC0415
    from ..analysis.surrogate_view import fit_study_surrogate  # noqa: PLC0415
    from .sensitivity import plot_slices  # noqa: PLC0415

    view = fit_study_surrogate(study, kind=o.surrogate, target=o.target)
    center = study.best.config
    one_d = slices_1d(view, center)
    two_d = None
    if len(one_d) >= 2:  # the 2-D slice shows the two parameters that matter most
        ranked = sobol_indices(lambda X: view.predict_encoded(X)[0], study.space, n=256, n_boot=0).ranking()
        two_d = slice_2d(view, center, ranked[0], ranked[1])
    return plot_slices(one_d, out / "slices", slice2d=two_d, target=o.target, formats=o.formats,
                       title=_title(study, f"{view.kind.upper()} surrogate through the incumbent"))


def _timeline(study: Any, out: Path, o: PlotOptions) -> list[Path]:
    from ..analysis.timeline import study_timeline  # noqa: PLC0415
    from .timeline import plot_timeline  # noqa: PLC0415

    tl = study_timeline(study)
    print(f"study '{study.name}': {tl.utilization_line()}")
    return plot_timeline(tl, out / "timeline", title=_title(study, "worker timeline"), formats=o.formats)


def _html(study: Any, out: Path, o: PlotOptions) -> list[Path]:
    from .html import write_study_html  # noqa: PLC0415

    return [write_study_html(study, out / f"{study.name}.html")]


def _curves(study: Any, out: Path, o: PlotOptions) -> list[Path]:
    from ..analysis.curves import learning_curves  # noqa: PLC0415
    from .curves import plot_curves  # noqa: PLC0415

    curves = learning_curves(study.all_trials(), study.trials, metric=o.metric, top_k=o.top_k,
                             direction=study.direction)
    return plot_curves(curves, out / "curves", title=_title(study, f"learning curves of the best {o.top_k}"),
                       formats=o.formats)


def _param(study: Any, out: Path, o: PlotOptions) -> list[Path]:
    from ..analysis.param_effect import param_effect  # noqa: PLC0415
    from .curves import plot_param_effect  # noqa: PLC0415

    if not o.x:
        raise ValueError("--kind param needs --x NAME (and optionally --group NAME)")
    effect = param_effect(study.all_trials(), o.x, o.group, study.space, metric=o.metric, steps=o.steps)
    name = f"param_{o.x}" + (f"_by_{o.group}" if o.group else "")
    return plot_param_effect(effect, out / name, title=_title(study, f"loss vs {o.x}"), formats=o.formats)


_RENDERERS: dict[str, Callable[[Any, Path, PlotOptions], list[Path]]] = {
    "convergence": _convergence, "loss-variability": _variability, "sensitivity": _sensitivity,
    "slices": _slices, "timeline": _timeline, "html": _html, "curves": _curves, "param": _param}


def render(study: Any, kind: str, out_dir: str | Path, options: Optional[PlotOptions] = None) -> list[Path]:
    """Draw one figure kind (or ``all``) of ``study`` into ``out_dir``; returns the files."""
    if kind not in KINDS:
        raise ValueError(f"--kind '{kind}' is unknown; choose one of {', '.join(KINDS)}")
    options = options or PlotOptions()
    out = Path(out_dir)
    if kind == "all":
        return render_all(study, out, options)
    return _RENDERERS[kind](study, out, options)


def render_all(study: Any, out: Path, options: PlotOptions) -> list[Path]:
    """Every kind the study has data for; ``param`` only with ``--x``; skipped kinds are
    printed with the reason."""
    written: list[Path] = []
    for kind in KINDS[:-1]:
        if kind == "param" and not options.x:
            continue
        try:
            written += _RENDERERS[kind](study, out, options)
        except ValueError as e:  # e.g. no reports for curves, too few trials for a surrogate
            print(f"skipped {kind}: {str(e).splitlines()[0]}")
    return written
