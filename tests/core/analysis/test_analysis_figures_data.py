"""The analysis functions behind the figures, checked on the data they return."""
from __future__ import annotations

import math

import numpy as np
import pytest

import uqhpo
from uqhpo.analysis.compare import compare_studies
from uqhpo.analysis.convergence import CostCurve, band_over_studies, cost_curve, study_curve
from uqhpo.analysis.curves import learning_curves
from uqhpo.analysis.param_effect import param_effect
from uqhpo.analysis.sensitivity import param_scatter, sobol_indices, study_sobol
from uqhpo.analysis.slices import slice_2d, slices_1d
from uqhpo.analysis.surrogate_view import fit_study_surrogate
from uqhpo.analysis.timeline import worker_timeline
from uqhpo.analysis.variability import loss_variability
from uqhpo.space import Categorical, Real, Space


def test_cost_curve_knows_the_best_and_where_the_surrogate_starts():
    study = uqhpo.create_study(Space({"x": Real(0.0, 1.0)}), strategy="random", n_replicates=2)
    losses = [[3.0, 3.2], [1.0, 1.4], [2.0, 2.0], [0.5, 0.7], [0.9, 0.9]]
    for values in losses:
        study.tell(study.ask(), values)
    curve = cost_curve(study.all_trials(), study.trials, n_initial=2)
    objective = [np.mean(v) + np.std(v, ddof=1) for v in losses]
    assert curve.values == pytest.approx(objective)
    assert curve.best_values == pytest.approx(np.minimum.accumulate(objective))
    assert curve.evaluations.tolist() == [2, 4, 6, 8, 10]       # two trainings per trial
    assert curve.surrogate_start == 6                          # trial 2 is the first after the design
    assert np.all(np.diff(curve.seconds) >= 0) and curve.seconds[0] >= 0
    assert study_curve(study).surrogate_start is None          # random search has no phases


def test_band_over_studies_gives_median_and_iqr_where_studies_reached():
    def curve(best):
        best = np.asarray(best, dtype=float)
        return CostCurve(numbers=np.arange(len(best)), evaluations=np.arange(1.0, len(best) + 1),
                         seconds=np.zeros(len(best)), values=best, best_values=best, best_stds=np.zeros(len(best)))
    band = band_over_studies([curve([4, 3, 2]), curve([5, 1, 1]), curve([6, 6])])
    assert band.x.tolist() == [1, 2, 3]
    assert band.median.tolist() == [5, 3, 1.5] and band.n_studies.tolist() == [3, 3, 2]
    assert band.q25[0] == pytest.approx(4.5) and band.q75[0] == pytest.approx(5.5)


def test_loss_variability_points_and_categorical_colour(random_study):
    data = loss_variability(random_study.trials, color_by="act", space=random_study.space)
    summaries = random_study.trials
    assert len(data) == len(summaries)
    assert data.means == pytest.approx([s.mean for s in summaries])
    assert data.stds == pytest.approx([s.std for s in summaries])
    assert data.categories == ["relu", "tanh"] and set(np.unique(data.color)) <= {0.0, 1.0}
    assert data.best_number == random_study.best.number
    with pytest.raises(ValueError, match="colour key 'nope'"):
        loss_variability(summaries, color_by="nope")


def test_sobol_indices_of_a_function_of_one_parameter():
    space = Space({"a": Real(0.0, 1.0), "b": Real(0.0, 1.0), "c": Categorical(["p", "q", "r"])})
    sl = space.slice_of("a")
    sobol = sobol_indices(lambda X: np.sin(6 * X[:, sl.start]), space, n=4096, seed=1, n_boot=20)
    assert sobol.names == ["a", "b", "c"]
    assert sobol.first[0] == pytest.approx(1.0, abs=0.05) and sobol.total[0] == pytest.approx(1.0, abs=0.05)
    assert np.abs(sobol.first[1:]).max() < 0.05 and sobol.total[1:].max() < 1e-12
    assert sobol.ranking()[0] == "a" and np.all(sobol.first_ci >= 0)


@pytest.mark.parametrize("surrogate", ["rbf", "gp"])
def test_sensitivity_on_a_study_finds_the_one_parameter_that_matters(random_study, surrogate):
    sobol = study_sobol(random_study, surrogate=surrogate, n=1024)
    total = dict(zip(sobol.names, sobol.total))
    assert total["x"] > 0.8 and max(total["y"], total["n"], total["act"]) < 0.15
    scatter = {s.name: s for s in param_scatter(random_study.trials, random_study.space)}
    assert set(scatter) == {"x", "y", "n", "act"} and scatter["y"].log and scatter["act"].categories
    assert len(scatter["x"].values) == len(random_study.trials)


def test_slices_pass_through_the_incumbent_and_find_the_minimum(random_study):
    view = fit_study_surrogate(random_study, kind="gp")
    center = random_study.best.config
    slices = {s.name: s for s in slices_1d(view, center)}
    x = slices["x"]
    assert x.center == center["x"] and x.std is not None
    assert x.values[int(np.argmin(x.mean))] == pytest.approx(0.3, abs=0.08)
    assert slices["act"].values == ["relu", "tanh"] and slices["n"].values == [1, 2, 3, 4]
    two = slice_2d(view, center, "x", "act")
    assert two.mean.shape == (2, len(two.x_values)) and two.x_categories is None
    with pytest.raises(ValueError, match="two different"):
        slice_2d(view, center, "x", "x")


def test_worker_timeline_bars_phases_and_utilization(timed):
    study = uqhpo.create_study(Space({"x": Real(0.0, 1.0)}), strategy="random", n_replicates=2)
    for _ in range(2):
        study.add_trial({"x": 0.5})
    t0 = 1000.0
    timed(study, 0, 0, "w0", t0, t0 + 4, 1.0)
    timed(study, 0, 1, "w1", t0, t0 + 2, 1.0)
    timed(study, 1, 0, "w1", t0 + 2, t0 + 4, 1.0)
    timed(study, 1, 1, "w0", t0 + 5, t0 + 8, 1.0)
    tl = worker_timeline(study.all_trials(), n_initial=1)
    assert tl.workers == ["w0", "w1"] and tl.span == pytest.approx(8.0)
    assert tl.busy == pytest.approx(4 + 2 + 2 + 3)
    assert tl.utilization == pytest.approx(11 / 16)
    assert [b.phase for b in sorted(tl.bars, key=lambda b: b.trial)][::2] == ["initial", "surrogate"]
    assert "69%" in tl.utilization_line()


def test_learning_curves_and_the_epoch_bowl(timed):
    study = uqhpo.create_study(Space({"lr": Real(1e-3, 1e-1, log=True)}), strategy="random", n_replicates=2)
    for lr in (1e-3, 1e-2, 1e-1):
        study.add_trial({"lr": lr})
    for number, lr in enumerate((1e-3, 1e-2, 1e-1)):
        for index in range(2):
            reports = [(e, {"val_loss": abs(math.log10(lr) + 2) + 1.0 / e + 0.1 * index}) for e in (1, 2, 4)]
            timed(study, number, index, "w", 0.0, 1.0, reports[-1][1]["val_loss"], reports)
    curves = learning_curves(study.all_trials(), study.trials, top_k=2)
    assert [c.number for c in curves] == [1, 0] or [c.number for c in curves] == [1, 2]
    assert curves[0].steps.tolist() == [1, 2, 4] and curves[0].mean[0] == pytest.approx(1.05)
    assert curves[0].std[0] == pytest.approx(np.std([1.0, 1.1], ddof=1))
    bowl = param_effect(study.all_trials(), "lr", "epoch", study.space, steps=[1, 4])
    assert bowl.source == "curves" and [ln.group for ln in bowl.lines] == [1, 4]
    assert bowl.lines[1].x == [1e-3, 1e-2, 1e-1] and bowl.lines[1].mean == pytest.approx([1.3, 0.3, 1.3])
    final = param_effect(study.all_trials(), "lr", None, study.space)
    assert final.source == "final" and final.lines[0].n.tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="--group 'depth'"):
        param_effect(study.all_trials(), "lr", "depth")
    with pytest.raises(ValueError, match="never reported"):
        learning_curves(study.all_trials(), metric="accuracy")


def test_compare_groups_studies_by_strategy(make_study):
    studies = [make_study(8, "random", seed) for seed in (0, 1)] + [make_study(8, "rbf", 0, n_initial=4)]
    comparison = compare_studies(studies)
    assert [b.label for b in comparison.bands] == ["random", "rbf"]
    assert comparison.final["random"][3] == 2 and comparison.final["rbf"][3] == 1
    ends = sorted(s.best.value for s in studies[:2])
    assert comparison.final["random"][0] == pytest.approx(np.mean(ends))
    assert "random" in comparison.table()[0]
