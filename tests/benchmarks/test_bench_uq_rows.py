"""optimizer_bench's second-pass UQ rows: PRIOR_DOF set for one run only, the surrogate recommendation."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

import optimizer_bench as B  # noqa: E402
import problems as P  # noqa: E402

from uqhpo import uq  # noqa: E402


def test_raw_row_sets_prior_dof_for_its_run_only(monkeypatch):
    monkeypatch.setattr(uq, "PRIOR_DOF", 20.0)
    seen = []
    real = B.run_uqhpo_trainings

    def spy(problem, spec, seed, budget):
        seen.append(uq.PRIOR_DOF)
        return real(problem, spec, seed, budget)

    monkeypatch.setattr(B, "run_uqhpo_trainings", spy)
    rec = B.run_uqhpo_trainings(P.get_problem("branin-int-noisy"), B.OPTIMIZERS["uqhpo-rbf-ad2-t-raw"], 0, 8)
    assert seen == [20.0, 0.0]                      # the inner run saw 0 ...
    assert uq.PRIOR_DOF == 20.0                     # ... and it is restored afterwards
    assert rec["trainings"] == 8 and len(rec["curve"]) == 8


@pytest.mark.parametrize("name", ["uqhpo-rbf-ad2-t", "uqhpo-rbf-ad2-ts"])
def test_rows_score_the_configuration_their_rule_recommends(name):
    from uqhpo.recommendation import recommend_trial

    problem = P.get_problem("branin-int-noisy")
    spec = dict(B.OPTIMIZERS[name], strategy="random")  # the rule, not the rbf search, is under test
    rec = B.run_uqhpo_trainings(problem, spec, 1, 20)
    assert rec["trainings"] == 20
    assert rec["curve"][-1] == pytest.approx(problem.true_value(rec["best_config"]))
    # the recorded config is what the row's rule picks from the same (deterministic) study
    import uqhpo
    study = uqhpo.create_study(problem.space, strategy="random", seed=1, kappa=0.0, n_replicates=2,
                               adaptive_replicates=True, name=f"{problem.name}-1",
                               settings={"recommend": spec["recommend"]} if spec.get("recommend") else None)
    study.optimize(lambda c, s: problem.observe(c, s), max_trainings=20, max_retries=0)
    number = recommend_trial(study.all_trials(), study.space, study.settings)
    assert rec["best_trial"] == number
    # on this seed the two rules disagree, so a row that ignored its rule would fail here
    assert (number == study.best.number) == (name == "uqhpo-rbf-ad2-t")
