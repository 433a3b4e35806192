"""The conditional GAN: network shapes, options, a tiny training, reproducibility."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from uqhpo.apps.hadronization import data, prep, scores
from uqhpo.apps.hadronization.model import Discriminator, Generator, build, sample, train_gan
from uqhpo.task import TrialContext

CONFIG = dict(noise_dim=4, g_width=32, g_depth=2, d_width=32, d_depth=2, g_lr=1e-3, d_lr=1e-3,
              batch_size=128, r1_weight=1.0, activation="leaky_relu", g_norm="none", d_norm="none", epochs=6)


@pytest.mark.parametrize("g_norm,d_norm,act,depth", [("none", "none", "relu", 1), ("batch", "layer", "tanh", 3),
                                                    ("layer", "spectral", "gelu", 2), ("none", "none", "elu", 0)])
def test_networks_shapes(g_norm, d_norm, act, depth):
    g = Generator(8, 5, 16, depth, g_norm, act)
    d = Discriminator(8, 16, depth, d_norm, act)
    c, z = torch.randn(6, 8), torch.randn(6, 5)
    x = g(c, z)
    assert x.shape == (6, 2) and float(x.detach().abs().max()) < 1
    assert d(x, c).shape == (6,)
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in g.modules())
    assert n_linear == depth + 1


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="activation: unknown 'swish2'"):
        Generator(8, 4, 16, 2, "none", "swish2")
    with pytest.raises(ValueError, match="normalization: unknown 'group'"):
        Discriminator(8, 16, 2, "group", "relu")


@pytest.fixture(scope="module")
def small() -> prep.Prepared:
    return prep.prepare(data.generate(6_000, seed=2), n_train=4_000, n_val=1_000, n_test=1_000, seed=0)


def _evaluator(small):
    def evaluate(gen, epoch):
        z = sample(gen, small.cond["val"], seed=0)
        return scores.loss_on(small, small.target_scaler.inverse(z.astype(float)), "val")
    return evaluate


def test_tiny_training_lowers_the_loss_and_is_reproducible(small, tmp_path):
    ctx = TrialContext(seed=11, workdir=tmp_path / "a")
    res = train_gan(CONFIG, small.cond["train"], small.target["train"], ctx=ctx, evaluate=_evaluator(small))
    assert [s for s, _ in ctx.reports] == list(range(7))
    assert set(ctx.reports[0][1]) == {"val_loss"} and set(ctx.reports[1][1]) == {"val_loss", "d_loss", "g_loss"}
    assert res.best_epoch > 0 and res.best_score < 0.5 * res.history[0]["val_loss"]
    again = train_gan(CONFIG, small.cond["train"], small.target["train"],
                      ctx=TrialContext(seed=11, workdir=tmp_path / "b"), evaluate=_evaluator(small))
    assert [h["val_loss"] for h in again.history] == [h["val_loss"] for h in res.history]
    other = train_gan(CONFIG, small.cond["train"], small.target["train"],
                      ctx=TrialContext(seed=12, workdir=tmp_path / "c"), evaluate=_evaluator(small))
    assert [h["val_loss"] for h in other.history][1:] != [h["val_loss"] for h in res.history][1:]
    assert not list(tmp_path.glob("*/*.ckpt"))           # checkpoints are removed after a finished training


def test_interrupted_training_resumes_from_its_checkpoint(small, tmp_path):
    """Both networks, both optimizers, BatchNorm and spectral-norm buffers and the batch order
    come back from the checkpoint: the resumed run ends exactly as an uninterrupted one."""
    config = {**CONFIG, "g_norm": "batch", "d_norm": "spectral", "epochs": 4}
    evaluate = _evaluator(small)
    full = train_gan(config, small.cond["train"], small.target["train"],
                     ctx=TrialContext(seed=5, workdir=tmp_path / "full"), evaluate=evaluate)

    def crash_at_3(gen, epoch):
        if epoch == 3:
            raise RuntimeError("stopped")
        return evaluate(gen, epoch)

    ctx = TrialContext(seed=5, workdir=tmp_path / "cut")
    with pytest.raises(RuntimeError, match="stopped"):
        train_gan(config, small.cond["train"], small.target["train"], ctx=ctx, evaluate=crash_at_3)
    assert ctx.checkpoint_path.exists()
    resumed = train_gan(config, small.cond["train"], small.target["train"], ctx=ctx, evaluate=evaluate)
    assert resumed.resumed_from == 2 and [s for s, _ in ctx.reports] == [0, 1, 2, 3, 4]
    assert resumed.history == full.history and resumed.best_epoch == full.best_epoch
    assert np.array_equal(sample(resumed.generator, small.cond["test"], seed=1),
                          sample(full.generator, small.cond["test"], seed=1))


def test_batch_larger_than_data_is_refused(small, tmp_path):
    with pytest.raises(ValueError, match="batch_size 8192 exceeds the 4000 training clusters"):
        train_gan({**CONFIG, "batch_size": 8192}, small.cond["train"], small.target["train"],
                  ctx=TrialContext(seed=0, workdir=tmp_path), evaluate=lambda g, e: 0.0)


def test_build_reads_config():
    g, d = build({**CONFIG, "g_width": 48, "d_depth": 4, "d_norm": "spectral"}, n_cond=9)
    assert g.noise_dim == 4 and g.net[0].out_features == 48
    assert sum(isinstance(m, torch.nn.Linear) for m in d.modules()) == 5
    assert np.isfinite(sample(g, np.zeros((3, 9), np.float32), seed=1)).all()
