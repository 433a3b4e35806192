"""The forecasting LSTM in both frameworks: tiny trainings, reproducibility, resume, MC dropout.

Tests of the Keras reference carry the ``tf`` marker; the PyTorch twin's tests do not.
"""
from __future__ import annotations

import numpy as np
import pytest

from uqhpo.apps.groundwater import data, model, prep, scores
from uqhpo.task import TrialContext

CONFIG = dict(layers=2, units=16, lag=14, dropout=0.1, recurrent_dropout=0.1, lr=1e-2, batch_size=64, epochs=4)


@pytest.fixture(scope="module")
def small() -> dict:
    p = prep.prepare(data.generate(n_years=6, n_wells=1, seed=2, drought_start_year=4, drought_years=2), horizon=7)
    lag = CONFIG["lag"]
    w, o = prep.origins(p, "train", lag, stride=2)
    wv, ov = prep.origins(p, "val", lag)
    obs = prep.observed(p, wv, ov)
    return {"x": prep.windows(p, w, o, lag), "y": prep.targets(p, w, o), "x_val": prep.windows(p, wv, ov, lag),
            "score": lambda scaled: scores.rmse(prep.to_metres(p, wv, ov, scaled), obs),
            "persistence": scores.rmse(scores.persistence(p, wv, ov), obs)}


def _train(framework: str, small: dict, ctx: TrialContext, config: dict = CONFIG, score=None) -> model.Trained:
    return model.train(framework, config, small["x"], small["y"], small["x_val"], score or small["score"], ctx)


def _check_training(framework: str, small: dict, tmp_path) -> None:
    ctx = TrialContext(seed=11, workdir=tmp_path / "a")
    res = _train(framework, small, ctx)
    assert [s for s, _ in ctx.reports] == list(range(5))
    assert set(ctx.reports[0][1]) == {"val_rmse"} and set(ctx.reports[1][1]) == {"val_rmse", "train_loss"}
    assert res.best_epoch > 0 and res.best_score < 0.6 * res.history[0]["val_rmse"]
    assert res.best_score < 0.7 * small["persistence"]
    assert res.best_score == pytest.approx(min(h["val_rmse"] for h in res.history))
    # the best epoch's weights are the ones kept
    assert small["score"](res.predict(small["x_val"])[0]) == pytest.approx(res.best_score, rel=1e-5)
    again = _train(framework, small, TrialContext(seed=11, workdir=tmp_path / "b"))
    assert [h["val_rmse"] for h in again.history] == [h["val_rmse"] for h in res.history]
    other = _train(framework, small, TrialContext(seed=12, workdir=tmp_path / "c"))
    assert [h["val_rmse"] for h in other.history][1:] != [h["val_rmse"] for h in res.history][1:]
    assert not list(tmp_path.glob("*/*.ckpt"))             # checkpoints are removed after a finished training
    # Monte-Carlo dropout: passes differ, the deterministic forecast does not move
    passes = res.predict(small["x_val"][:50], passes=4)
    assert passes.shape == (4, 50, 7) and np.all(passes.std(axis=0).mean() > 1e-4)
    plain = res.predict(small["x_val"][:50])
    assert np.array_equal(plain, res.predict(small["x_val"][:50]))
    assert np.abs(passes.mean(axis=0) - plain[0]).mean() < 0.5


def _check_resume(framework: str, small: dict, tmp_path) -> None:
    full = _train(framework, small, TrialContext(seed=5, workdir=tmp_path / "full"))

    def crash_at_3(scaled):
        crash_at_3.calls += 1
        if crash_at_3.calls == 4:                          # epoch 0, 1, 2 evaluate; epoch 3 stops
            raise RuntimeError("stopped")
        return small["score"](scaled)
    crash_at_3.calls = 0

    ctx = TrialContext(seed=5, workdir=tmp_path / "cut")
    with pytest.raises(RuntimeError, match="stopped"):
        _train(framework, small, ctx, score=crash_at_3)
    assert ctx.checkpoint_path.exists()
    resumed = _train(framework, small, ctx)
    assert resumed.resumed_from == 2
    assert [h["val_rmse"] for h in resumed.history] == [h["val_rmse"] for h in full.history]
    assert [s for s, _ in ctx.reports] == [0, 1, 2, 3, 4]
    assert not ctx.checkpoint_path.exists()


def test_torch_twin_trains_reproducibly_with_mc_dropout(small, tmp_path):
    _check_training("torch", small, tmp_path)


def test_torch_twin_resumes_from_its_checkpoint(small, tmp_path):
    _check_resume("torch", small, tmp_path)


def test_torch_twin_dropout_layers_and_fast_path():
    import torch

    from uqhpo.apps.groundwater.torch_model import LSTMLayer, build
    from uqhpo.torch import mc_dropout

    net = build({**CONFIG, "layers": 3}, n_inputs=7, horizon=5)
    assert net(torch.randn(4, 20, 7)).shape == (4, 5)
    layer = LSTMLayer(3, 6, dropout=0.0, recurrent_dropout=0.2)
    x = torch.randn(5, 9, 3)
    layer.recurrent_dropout.p = 0.0
    layer.train()
    layer.recurrent_dropout.p = 1e-12                          # the stepped path with (almost) no dropout
    assert torch.allclose(layer(x), layer.lstm(x)[0], atol=1e-5)
    with mc_dropout(net):
        assert all(m.training for m in net.modules() if isinstance(m, torch.nn.Dropout))
        assert not any(m.training for m in net.modules() if isinstance(m, (torch.nn.LSTM, torch.nn.Linear)))


def test_unknown_framework_and_too_few_windows_are_named(small, tmp_path):
    with pytest.raises(ValueError, match="data.framework must be one of keras, torch, got 'jax'"):
        _train("jax", small, TrialContext(seed=0, workdir=tmp_path))
    with pytest.raises(ValueError, match="batch_size 4096 exceeds the .* training windows"):
        _train("torch", small, TrialContext(seed=0, workdir=tmp_path), config={**CONFIG, "batch_size": 4096})


@pytest.mark.tf
def test_keras_model_trains_reproducibly_with_mc_dropout(small, tmp_path):
    _check_training("keras", small, tmp_path)


@pytest.mark.tf
def test_keras_model_resumes_from_its_checkpoint(small, tmp_path):
    _check_resume("keras", small, tmp_path)


@pytest.mark.tf
def test_keras_checkpoint_of_another_seed_or_setup_is_ignored(tmp_path):
    from uqhpo.apps.groundwater.keras_model import _Checkpoint, build

    path = tmp_path / "replicate0.ckpt"
    net = build(CONFIG, 14, 7, 7)
    _Checkpoint(path, 5, {"epochs": 4}).save(net, _adam(net), None, {"epoch": 1, "history": [], "order": {}})
    assert _Checkpoint(path, 6, {"epochs": 4}).load(net, _adam(net)) is None
    assert _Checkpoint(path, 5, {"epochs": 5}).load(net, _adam(net)) is None
    assert _Checkpoint(path, 5, {"epochs": 4}).load(net, _adam(net))[0]["epoch"] == 1
    path.write_bytes(b"torn")
    assert _Checkpoint(path, 5, {"epochs": 4}).load(net, _adam(net)) is None


def _adam(net):
    import keras

    opt = keras.optimizers.Adam(1e-3)
    opt.build(net.trainable_variables)
    return opt


@pytest.mark.tf
def test_keras_uses_one_thread_and_the_same_architecture():
    import tensorflow as tf

    from uqhpo.apps.groundwater import keras_model

    assert tf.config.threading.get_intra_op_parallelism_threads() == 1
    assert tf.config.threading.get_inter_op_parallelism_threads() == 1
    from uqhpo.apps.groundwater.torch_model import build as build_torch

    config = {**CONFIG, "layers": 3, "units": 12}
    k = keras_model.build(config, lag=20, n_inputs=7, horizon=5)
    t = build_torch(config, n_inputs=7, horizon=5)
    assert k.count_params() == sum(int(p.numel()) for p in t.parameters()) - 3 * 4 * 12   # torch: two LSTM biases
    assert [type(layer).__name__ for layer in k.layers] == ["LSTM", "LSTM", "LSTM", "Dropout", "Dense"]
