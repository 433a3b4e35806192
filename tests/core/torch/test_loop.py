"""fit: reports, best-epoch weights, checkpoints, and an interrupted run that resumes exactly."""
from __future__ import annotations

import math

import pytest
import torch

from uqhpo.task import TrialContext
from uqhpo.torch import fit, load_checkpoint


def _weights(model) -> list:
    return [t.clone() for t in model.state_dict().values()]


def test_reports_every_evaluation_and_restores_the_best_epoch(make_trainer, tmp_path):
    t = make_trainer(seed=1)
    scores = iter([0.5, 0.2, 0.4, 0.3])      # epoch 2 is the best
    best_weights = {}

    def evaluate(epoch):
        if epoch == 2:
            best_weights["w"] = _weights(t.model)
        return next(scores)

    ctx = TrialContext(seed=1, workdir=tmp_path)
    res = t.fit(ctx, evaluate=evaluate, epochs=4, metric="val_mse")
    assert (res.best_score, res.best_epoch, res.resumed_from) == (0.2, 2, None)
    assert [step for step, _ in ctx.reports] == [1, 2, 3, 4]
    assert set(ctx.reports[0][1]) == {"val_mse", "train_loss"} and ctx.reports[1][1]["val_mse"] == 0.2
    assert [h["epoch"] for h in res.history] == [1, 2, 3, 4] and res.history[2]["val_mse"] == 0.4
    # the model holds epoch 2's weights, not the last epoch's, and is left in eval mode
    assert all(torch.equal(a, b) for a, b in zip(_weights(t.model), best_weights["w"]))
    assert not t.model.training
    assert not ctx.checkpoint_path.exists()          # deleted after a successful fit


def test_eval_every_evaluate_before_and_nan_scores(make_trainer, tmp_path):
    t = make_trainer(seed=2)
    ctx = TrialContext(seed=2, workdir=tmp_path)
    res = t.fit(ctx, epochs=5, eval_every=2, evaluate_before=True,
                evaluate=lambda e: math.nan if e == 4 else 1.0 / (e + 1))
    assert [s for s, _ in ctx.reports] == [0, 2, 4, 5]          # the last epoch is always evaluated
    assert ctx.reports[0][1] == {"val_loss": 1.0}               # epoch 0: no training metrics
    assert res.best_epoch == 5 and res.best_score == pytest.approx(1 / 6)
    none = make_trainer(seed=2).fit(TrialContext(seed=2, workdir=tmp_path / "n"), epochs=2,
                                    evaluate=lambda e: math.nan)
    assert math.isnan(none.best_score) and none.best_epoch == -1


def test_models_train_during_epochs_and_evaluate_in_eval_mode(make_trainer, tmp_path):
    t = make_trainer(seed=3)
    seen = []
    t.fit(TrialContext(seed=3, workdir=tmp_path), epochs=2,
          train_epoch=lambda e: seen.append(("train", t.model.training)) or {},
          evaluate=lambda e: seen.append(("eval", t.model.training)) or 1.0)
    assert seen == [("train", True), ("eval", False)] * 2


def test_interrupted_fit_resumes_and_matches_an_uninterrupted_run(make_trainer, tmp_path):
    full_ctx = TrialContext(seed=7, workdir=tmp_path / "full")
    full_trainer = make_trainer(seed=7)
    full = full_trainer.fit(full_ctx)
    rng_after_full = torch.get_rng_state()

    ctx = TrialContext(seed=7, workdir=tmp_path / "cut")
    with pytest.raises(RuntimeError, match="crash at epoch 4"):
        make_trainer(seed=7, fail_at=4).fit(ctx)
    saved = load_checkpoint(ctx.checkpoint_path)
    assert saved["epoch"] == 3 and saved["seed"] == 7 and len(saved["history"]) == 3

    again = make_trainer(seed=7)              # a fresh process would rebuild everything
    torch.rand(5)                             # ...and may draw differently before fit: the checkpoint decides
    resumed = again.fit(ctx)
    assert resumed.resumed_from == 3 and again.trained == [4, 5, 6]
    assert [s for s, _ in ctx.reports] == [1, 2, 3, 4, 5, 6]     # epochs 1-3 from the first call
    assert resumed.history == full.history
    assert (resumed.best_score, resumed.best_epoch) == (full.best_score, full.best_epoch)
    assert all(torch.equal(a, b) for a, b in zip(_weights(again.model), _weights(full_trainer.model)))
    assert torch.equal(torch.get_rng_state(), rng_after_full)     # the code after fit draws the same numbers


def test_checkpoint_of_another_seed_is_ignored_and_overwritten(make_trainer, tmp_path):
    ctx = TrialContext(seed=11, workdir=tmp_path)
    with pytest.raises(RuntimeError):
        make_trainer(seed=11, fail_at=3).fit(ctx)
    other = TrialContext(seed=12, workdir=tmp_path)               # same file, another seed
    with pytest.raises(RuntimeError):
        make_trainer(seed=12, fail_at=2).fit(other)
    assert load_checkpoint(other.checkpoint_path)["seed"] == 12
    res = make_trainer(seed=12).fit(other)
    fresh = make_trainer(seed=12).fit(TrialContext(seed=12, workdir=tmp_path / "fresh"))
    assert res.resumed_from == 1 and res.history == fresh.history


def test_checkpoint_of_another_setup_starts_afresh(make_trainer, tmp_path):
    ctx = TrialContext(seed=4, workdir=tmp_path)
    with pytest.raises(RuntimeError):
        make_trainer(seed=4, fail_at=3).fit(ctx)
    res = make_trainer(seed=4).fit(ctx, epochs=4)                 # another epoch count
    assert res.resumed_from is None and len(res.history) == 4


def test_keep_checkpoint_lets_a_rerun_skip_training(make_trainer, tmp_path):
    ctx = TrialContext(seed=5, workdir=tmp_path)
    first = make_trainer(seed=5).fit(ctx, keep_checkpoint=True)
    assert load_checkpoint(ctx.checkpoint_path)["epoch"] == 6
    again = make_trainer(seed=5)
    second = again.fit(ctx, keep_checkpoint=True)
    assert again.trained == [] and second.resumed_from == 6
    assert (second.best_score, second.history) == (first.best_score, first.history)


def test_checkpoint_every_zero_writes_nothing(make_trainer, tmp_path):
    ctx = TrialContext(seed=6, workdir=tmp_path)
    with pytest.raises(RuntimeError):
        make_trainer(seed=6, fail_at=3).fit(ctx, checkpoint_every=0)
    assert not ctx.checkpoint_path.exists()


def test_bad_arguments_are_named(make_trainer, tmp_path):
    t = make_trainer(seed=0)
    ctx = TrialContext(seed=0, workdir=tmp_path)
    with pytest.raises(ValueError, match="eval_every >= 1"):
        t.fit(ctx, eval_every=0)
    with pytest.raises(TypeError, match=r"generators\['rng'\]: cannot checkpoint a int"):
        t.fit(ctx, generators={"rng": 3})
    with pytest.raises(ValueError, match="no models"):
        fit(ctx, models={}, optimizers={}, train_epoch=t.train_epoch, evaluate=t.evaluate, epochs=1)


def test_a_pruned_fit_leaves_no_checkpoint_behind(make_trainer, tmp_path):
    from uqhpo.task import TrialPruned

    def stop_at_three(step, metrics):
        if step == 3:
            raise TrialPruned(f"pruned at step {step}")

    ctx = TrialContext(seed=7, workdir=tmp_path)
    ctx._on_report = stop_at_three
    with pytest.raises(TrialPruned):
        make_trainer(seed=7).fit(ctx)
    assert [step for step, _ in ctx.reports] == [1, 2, 3]
    assert not ctx.checkpoint_path.exists()           # nothing will continue a pruned training
    kept = TrialContext(seed=7, workdir=tmp_path / "kept")
    kept._on_report = stop_at_three
    with pytest.raises(TrialPruned):
        make_trainer(seed=7).fit(kept, keep_checkpoint=True)
    assert load_checkpoint(kept.checkpoint_path)["epoch"] == 2
