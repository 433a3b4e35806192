"""`uqhpo prune-check`: early ranks of the learning curves against the final objective."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

import uqhpo
from uqhpo.analysis.rank_agreement import early_rank_agreement, verdict
from uqhpo.cli import main
from uqhpo.space import Real, Space
from uqhpo.trial import Replicate, State, Trial


def _trial(number: int, curves: list[list[float]], metric: str = "val_loss") -> Trial:
    """A completed trial whose replicate i reported ``curves[i][s]`` at step s + 1."""
    reps = [Replicate(trial=number, index=i, attempt=0, seed=i, state=State.COMPLETE, loss=c[-1],
                      reports=[(s + 1, {metric: v}) for s, v in enumerate(c)]) for i, c in enumerate(curves)]
    return Trial(number=number, config={"x": float(number)}, n_replicates=len(curves), replicates=reps)


def _summaries(trials: list[Trial]) -> list[SimpleNamespace]:
    return [SimpleNamespace(number=t.number, value=sum(r.loss for r in t.replicates) / len(t.replicates))
            for t in trials]


def test_parallel_curves_agree_at_every_fraction_and_keep_the_best():
    # config k: (k + 1) / step over 9 epochs, two replicates each: the order never changes
    trials = [_trial(k, [[(k + 1) / s for s in range(1, 10)]] * 2) for k in range(6)]
    rows = early_rank_agreement(trials, _summaries(trials))
    assert [round(r.fraction, 3) for r in rows] == [0.111, 0.333, 0.667]
    assert all(r.spearman == pytest.approx(1.0) and r.best_rank == 1 and r.kept and r.best_number == 0 for r in rows)
    assert "would have kept it" in verdict(rows)


def test_crossing_curves_rank_the_final_best_last_early():
    # trial 0 starts worst and ends best; the others start well and stall
    slow = [10.0 - s for s in range(9)]                          # 10 ... 2: worst early, best at the end
    # the others start well (1.1 ... 1.5 from step 1) and stall at a loss whose order is reversed (3.5 ... 3.1)
    fast = [[1.0 + 0.1 * k] + [3.6 - 0.1 * k] * 8 for k in range(1, 6)]
    trials = [_trial(0, [slow])] + [_trial(k + 1, [c]) for k, c in enumerate(fast)]
    rows = early_rank_agreement(trials, _summaries(trials), keep=0.5)
    first = rows[0]
    assert first.best_number == 0 and first.best_rank == 6 and not first.kept and first.n_configs == 6
    assert first.spearman < 0
    text = verdict(rows, 0.5)
    assert "trial 0" in text and "ranked 6 of 6 at 0.11" in text and "would have stopped it" in text


def test_each_config_is_cut_at_its_own_budget_and_takes_its_running_best():
    # trial 0 trains 9 epochs: at 1/3 its running best up to step 3 is 1.0 (a spike at step 3 does not count);
    # trial 1 trains 3 epochs: at 1/3 only its step 1 (2.0) counts, though it reaches 0.2 later
    t0 = _trial(0, [[4.0, 1.0, 9.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]])
    t1 = _trial(1, [[2.0, 1.5, 0.2]])
    t2 = _trial(2, [[1.5, 1.4, 1.3]])
    summaries = [SimpleNamespace(number=0, value=0.4), SimpleNamespace(number=1, value=5.0),  # t1: a wide spread
                 SimpleNamespace(number=2, value=1.3)]
    rows = early_rank_agreement([t0, t1, t2], summaries, fractions=(1 / 3,), keep=1 / 3)
    # early values: t0 1.0, t1 2.0, t2 1.5 -> t0 (the final best) ranks first; read over whole curves
    # t1 (0.2) would rank ahead of it, and read at the step itself t0 (9.0) would rank last
    assert rows[0].best_number == 0 and rows[0].best_rank == 1 and rows[0].kept


def test_a_maximized_metric_ranks_high_values_first():
    trials = [_trial(k, [[0.1 * k * s for s in range(1, 5)]], metric="accuracy") for k in range(1, 5)]
    summaries = _summaries(trials)
    rows = early_rank_agreement(trials, summaries, metric="accuracy", fractions=(0.25,), direction="maximize")
    assert rows[0].best_number == 4 and rows[0].best_rank == 1 and rows[0].spearman == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"fractions": (0.0, 0.5)}, "fractions: each must be in (0, 1], got 0.0"),
    ({"fractions": (1.5,)}, "fractions: each must be in (0, 1], got 1.5"),
    ({"keep": 0.0}, "keep: must be in (0, 1], got 0.0"),
])
def test_bad_arguments_name_themselves(kwargs, message):
    trials = [_trial(k, [[1.0, 0.5]]) for k in range(3)]
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
        early_rank_agreement(trials, _summaries(trials), **kwargs)


def test_too_few_configs_and_undefined_correlation():
    one = [_trial(0, [[1.0, 0.5]])]
    with pytest.raises(ValueError, match="at least 2 completed configs"):
        early_rank_agreement(one, _summaries(one))
    two = [_trial(k, [[1.0 + k, 0.5 + k]]) for k in range(2)]
    assert math.isnan(early_rank_agreement(two, _summaries(two))[0].spearman)


def _stored_study(tmp_path, crossing: bool):
    """A SQLite study of 6 configs, one replicate of 9 epochs each, written through the storage."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = uqhpo.create_study(Space({"x": Real(0.0, 1.0)}), strategy="random", seed=0, storage=url,
                               n_replicates=1, name="s")
    for k in range(6):
        trial = study.ask()
        curve = [10.0 - s for s in range(9)] if (crossing and k == 0) else [(k + 1) / s for s in range(1, 10)]
        if crossing and k > 0:
            curve = [0.5 + 0.01 * k] * 8 + [3.0 + k]
        rep = study.storage.claim("s", worker="w", trial=trial.number, index=0, now=float(k))
        for s, v in enumerate(curve):
            study.storage.add_report("s", trial.number, 0, rep.attempt, s + 1, {"val_loss": v})
        study.storage.finish("s", trial.number, 0, rep.attempt, State.COMPLETE, loss=curve[-1], runtime=1.0,
                             now=float(k) + 1)
    study.storage.close()
    return tmp_path / "s.db"


def test_cli_prints_the_table_and_the_verdict(tmp_path, capsys):
    path = _stored_study(tmp_path, crossing=True)
    assert main(["prune-check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "6 completed configs" in out
    lines = [li.split() for li in out.splitlines() if li.strip().startswith("0.")]
    assert [li[0] for li in lines] == ["0.11", "0.33", "0.67"]
    assert lines[0][2:] == ["6", "of", "6", "no"]          # rank of the final best, not kept
    assert "would have stopped it" in out.splitlines()[-1]


def test_cli_error_is_one_line_naming_the_study(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'n.db'}"
    study = uqhpo.create_study(Space({"x": Real(0.0, 1.0)}), strategy="random", seed=0, storage=url,
                               n_replicates=1, name="n")
    for _ in range(3):
        study.tell(study.ask(), [1.0])
    study.storage.close()
    assert main(["prune-check", str(tmp_path / "n.db")]) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "prune-check of study 'n'" in err and "ctx.report" in err
    with pytest.raises(SystemExit):
        main(["prune-check", str(tmp_path / "n.db"), "--fractions", "0.5,x"])
    assert "--fractions: expected numbers in (0, 1]" in capsys.readouterr().err


def test_cli_notes_pruned_trials_take_no_part(tmp_path, capsys):
    path = _stored_study(tmp_path, crossing=False)
    study = uqhpo.load_study(f"sqlite:///{path}", "s")
    trial = study.ask()
    rep = study.storage.claim("s", worker="w", trial=trial.number, index=0, now=10.0)
    study.storage.add_report("s", trial.number, 0, rep.attempt, 1, {"val_loss": 0.01})
    study.storage.finish("s", trial.number, 0, rep.attempt, State.PRUNED, loss=0.01, runtime=1.0, now=11.0)
    study.storage.close()
    assert main(["prune-check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "6 completed configs" in out and "would have kept it" in out
    assert "note: 1 trial(s) of this study were pruned and take no part" in out
