"""A budget counted in trainings (replicate runs), not configs: policy, API, YAML and CLI."""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import uqhpo
from uqhpo.config import ConfigError, load_config
from uqhpo.policy import Done, Extend, Propose, Wait, next_work, trainings_spent
from uqhpo.settings import StudySettings
from uqhpo.trial import Replicate, State, Trial


def _trial(number, states, losses=None, errors=None):
    """Trial with one attempt per entry of ``states`` (replicate index = position, unless
    a tuple (index, attempt, state) is given)."""
    reps = []
    for i, s in enumerate(states):
        index, attempt, state = s if isinstance(s, tuple) else (i, 0, s)
        loss = (losses or {}).get(i, 1.0 + number) if state == State.COMPLETE else None
        reps.append(Replicate(trial=number, index=index, attempt=attempt, seed=i, state=state, loss=loss,
                              error=(errors or {}).get(i)))
    n = max(r.index for r in reps) + 1
    return Trial(number=number, config={"x": float(number)}, n_replicates=n, replicates=reps)


C, F, W, R, S = State.COMPLETE, State.FAILED, State.WAITING, State.RUNNING, State.STALE
FIXED = StudySettings(n_replicates=3)
ADAPTIVE = StudySettings(n_replicates=3, adaptive=True, kappa=0.0)


def _space():
    return uqhpo.Space({"x": uqhpo.Real(-2.0, 2.0)})


def _f(config, seed):
    return float(config["x"]) ** 2 + np.random.default_rng(seed).normal(0, 0.1)


# -- counting --------------------------------------------------------------------------------
def test_spent_counts_waiting_running_complete_pruned_and_failed_attempts():
    trials = [_trial(0, [C, C, F]), _trial(1, [R, W]), _trial(2, [State.PRUNED])]
    assert trainings_spent(trials) == 6


def test_interrupted_and_stale_attempts_do_not_count_but_their_retries_do():
    t = _trial(0, [(0, 0, F), (0, 1, W), (1, 0, S), (1, 1, R)], errors={0: "interrupted by user; re-queued"})
    assert trainings_spent([t]) == 2
    failed_then_retried = _trial(1, [(0, 0, F), (0, 1, C)], errors={0: "ValueError: boom"})
    assert trainings_spent([failed_then_retried]) == 2


# -- the policy ------------------------------------------------------------------------------
def test_fixed_replication_proposes_only_configs_whose_replicates_all_fit():
    trials = [_trial(0, [C, C, C])]
    assert next_work(trials, FIXED, None, 10) == Propose(2)          # 7 left: two configs of 3
    assert next_work(trials + [_trial(1, [C, C, C]), _trial(2, [C, R, W])], FIXED, None, 10) == Wait()
    full = trials + [_trial(1, [C, C, C]), _trial(2, [C, C, C])]
    done = next_work(full, FIXED, None, 10)
    assert isinstance(done, Done) and "10 trainings" in done.reason


def test_both_budgets_the_tighter_one_binds():
    trials = [_trial(0, [C, C, C])]
    assert next_work(trials, FIXED, 2, 30) == Propose(1)
    assert next_work(trials, FIXED, 20, 9) == Propose(2)


def test_running_and_waiting_replicates_are_reserved():
    trials = [_trial(0, [C, C, C]), _trial(1, [R, W, W])]
    assert next_work(trials, FIXED, None, 9) == Propose(1)           # 6 spent or reserved, 3 left
    assert next_work(trials, FIXED, None, 8) == Wait()               # 2 left: not a whole config


def test_adaptive_keeps_trainings_to_confirm_a_new_incumbent():
    confirmed = _trial(0, [C, C, C], losses={0: 1.0, 1: 1.0, 2: 1.0})
    worse = _trial(1, [C], losses={0: 5.0})
    assert next_work([confirmed, worse], ADAPTIVE, None, 10) == Propose(4)   # 6 left, 2 kept
    assert next_work([confirmed, worse], ADAPTIVE, None, 6) == Extend(1)     # only the reserve left
    lucky = _trial(2, [C], losses={0: 0.1})
    assert next_work([confirmed, worse, lucky], ADAPTIVE, None, 7) == Extend(2)


def test_adaptive_extension_never_exceeds_the_budget():
    lucky = _trial(0, [C], losses={0: 0.1})
    assert isinstance(next_work([lucky], ADAPTIVE, None, 1), Done)


def test_extend_carries_the_replicate_count_it_saw():
    work = next_work([_trial(0, [C], losses={0: 0.1})], ADAPTIVE, None, 10)
    assert isinstance(work, Extend) and work.replicates == 1


# -- the API ---------------------------------------------------------------------------------
def _attempts(study):
    return sum(len(t.replicates) for t in study.all_trials())


def test_fixed_replication_spends_whole_configs_only():
    s = uqhpo.create_study(_space(), strategy="random", seed=0, n_replicates=3)
    s.optimize(_f, max_trainings=10)
    assert _attempts(s) == 9 and len(s.all_trials()) == 3
    assert s.settings.max_trainings == 10 and s.settings.n_trials is None


@pytest.mark.parametrize("strategy", ["random", "rbf"])
def test_adaptive_replication_spends_the_budget_exactly(strategy):
    s = uqhpo.create_study(_space(), strategy=strategy, seed=3, n_replicates=3, adaptive_replicates=True,
                           kappa=0.0)
    s.optimize(_f, max_trainings=17)
    assert _attempts(s) == 17
    assert max(t.n_replicates for t in s.all_trials()) <= 3
    assert len(s.all_trials()) < 17                                  # some trainings were top-ups
    assert s.best.n == 3                                             # the recommendation is confirmed


def test_async_workers_do_not_overshoot():
    ex = uqhpo.make_executor("simulated", workers=4, seed=1,
                             duration={"dist": "lognormal", "median": 10, "spread": 10})
    s = uqhpo.create_study(_space(), strategy="random", seed=1, n_replicates=3, adaptive_replicates=True,
                           kappa=0.0)
    s.optimize(_f, max_trainings=23, executor=ex)
    assert _attempts(s) == 23


def test_failed_replicates_count_as_spent_trainings():
    ex = uqhpo.make_executor("simulated", workers=2, seed=2, failure_rate=0.3)
    s = uqhpo.create_study(_space(), strategy="random", seed=2, n_replicates=2)
    s.optimize(_f, max_trainings=12, executor=ex, max_retries=2)
    reps = [r for t in s.all_trials() for r in t.replicates]
    assert any(r.state == State.FAILED for r in reps)
    assert len(reps) <= 12 and trainings_spent(s.all_trials()) == len(reps)


def test_resume_respects_the_training_budget(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    s = uqhpo.create_study(_space(), strategy="random", seed=4, storage=url, n_replicates=3,
                           adaptive_replicates=True, kappa=0.0)
    s.optimize(_f, max_trainings=8)
    assert _attempts(s) == 8
    again = uqhpo.load_study(url)
    assert again.settings.max_trainings == 8
    again.optimize(_f, max_trainings=8)                              # spent already: nothing runs
    assert _attempts(again) == 8
    again.optimize(_f, max_trainings=14)                             # six more
    assert _attempts(uqhpo.load_study(url)) == 14


def test_optimize_needs_a_budget_and_rejects_bad_values():
    s = uqhpo.create_study(_space(), strategy="random", seed=0)
    with pytest.raises(ValueError, match="needs a budget"):
        s.optimize(_f)
    with pytest.raises(ValueError, match="max_trainings must be an integer >= 1, got 0"):
        s.optimize(_f, max_trainings=0)


# -- YAML and the CLI ------------------------------------------------------------------------
TASK = """\
import numpy as np
from uqhpo.space import Real, Space

class Quad:
    def search_space(self):
        return Space({"x": Real(-2.0, 2.0)})

    def run(self, config, ctx):
        return float(config["x"]) ** 2 + np.random.default_rng(ctx.seed).normal(0, 0.1)

task = Quad()
"""


def _config(folder, budget, extra=""):
    (folder / "budget_task_mod.py").write_text(TASK)
    path = folder / "b.yaml"
    path.write_text(textwrap.dedent(f"""\
        task: budget_task_mod:task
        strategy: {{name: random}}
        budget: {budget}
        uq: {{replicates: 3, adaptive: true, kappa: 0.0}}
        executor: {{name: serial}}
        seed: 5
        """) + extra)
    return path


def test_yaml_trainings_budget_parses(tmp_path):
    cfg = load_config(_config(tmp_path, "{trainings: 12}"), check_task=False)
    assert cfg.budget.trainings == 12 and cfg.budget.trials is None   # the training budget alone binds
    assert cfg.budget.trials_for_estimates(3) == 4                    # what 12 trainings pay for at 3 each
    assert cfg.to_dict()["budget"] == {"trainings": 12}              # stored as written
    both = load_config(_config(tmp_path, "{trials: 3, trainings: 12}"), check_task=False)
    assert (both.budget.trials, both.budget.trainings) == (3, 12)
    assert both.budget.trials_for_estimates(3) == 3
    old = load_config(_config(tmp_path, "{trials: 4}"), check_task=False)
    assert (old.budget.trials, old.budget.trainings) == (4, None)


@pytest.mark.parametrize("budget, message", [
    ("{trainings: 0}", "budget.trainings: input should be greater than 0, got 0"),
    ("{trainings: many}", "budget.trainings: input should be a valid integer, got 'many'"),
    ("{trainings: 2.5}", "budget.trainings: input should be a valid integer, got 2.5"),
    ("{timeout: 60}", "budget: give trials (configs) or trainings (replicate runs), or both"),
    ("{trainigs: 5}", "budget.trainigs: unknown key (did you mean 'trainings'?)"),
])
def test_yaml_bad_budgets_give_one_line_naming_the_key(tmp_path, budget, message):
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, budget), check_task=False)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cli_run_and_resume_honour_the_training_budget(tmp_path, monkeypatch):
    from uqhpo.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    path = _config(tmp_path, "{trainings: 10}", extra=f"storage: sqlite:///{tmp_path / 'c.db'}\n")
    assert main(["run", str(path), "--quiet"]) == 0
    study = uqhpo.load_study(f"sqlite:///{tmp_path / 'c.db'}")
    assert _attempts(study) == 10 and study.settings.n_trials is None
    assert main(["resume", str(path), "--quiet"]) == 0                # spent: nothing more runs
    assert _attempts(uqhpo.load_study(f"sqlite:///{tmp_path / 'c.db'}")) == 10
    assert main(["resume", str(path), "--quiet", "--set", "budget.trainings=13"]) == 0
    assert _attempts(uqhpo.load_study(f"sqlite:///{tmp_path / 'c.db'}")) == 13
    # from the storage alone (the stored config has no trials): the training budget still binds
    assert main(["resume", f"sqlite:///{tmp_path / 'c.db'}", "--quiet", "--set", "budget.trainings=15"]) == 0
    assert _attempts(uqhpo.load_study(f"sqlite:///{tmp_path / 'c.db'}")) == 15
