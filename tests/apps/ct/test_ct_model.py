"""The sinogram U-Net: shapes, residual form, a tiny training, MC dropout."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from uqhpo.apps.ct import data, prep
from uqhpo.apps.ct.model import UNet, build, predict, sample_passes, tensors, train
from uqhpo.task import TrialContext

GEN = data.Generation(image_size=32, n_angles=32, n_train=32, n_valid=8, n_test=8, k=4, seed=1)
DEVICE = TrialContext(seed=0).device    # "cuda" under the GPU meta-test (UQHPO_DEVICE)
CONFIG = dict(depth=2, base_channels=8, kernel_size=3, dropout=0.2, lr=3e-3, batch_size=8, epochs=4, residual=True)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    path = data.generate_file(tmp_path_factory.mktemp("ct") / "tiny.h5", GEN)
    return prep.prepare(data.read_h5(path), str(path), backend="skimage", recon_samples=4)


@pytest.mark.parametrize("depth, shape", [(2, (37, 30)), (3, (64, 64)), (5, (45, 33))])
def test_unet_pads_and_crops_any_sinogram_size(depth, shape):
    net = UNet(depth=depth, base_channels=4, kernel_size=3, dropout=0.0, residual=False)
    out = net(torch.zeros(2, 3, *shape))
    assert out.shape == (2, 1, *shape)


def test_residual_unet_adds_the_interpolation_channel():
    torch.manual_seed(0)
    net = UNet(depth=2, base_channels=4, kernel_size=5, residual=True).eval()
    x = torch.randn(1, 3, 16, 16)
    plain = UNet(depth=2, base_channels=4, kernel_size=5, residual=False).eval()
    plain.load_state_dict(net.state_dict())
    assert torch.allclose(net(x), plain(x) + x[:, 2:3])
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        UNet(kernel_size=4)


def test_tiny_training_lowers_the_loss(prepared, tmp_path):
    ctx = TrialContext(seed=0, workdir=tmp_path, device=DEVICE)
    t = {k: tensors(s, prepared.scale, DEVICE) for k, s in prepared.splits.items()}
    model, result = train({**CONFIG, "epochs": 6}, t["train"], t["valid"], prepared.scale, ctx)
    val = [m["val_mse"] for _, m in ctx.reports]
    train_loss = [m["train_loss"] for _, m in ctx.reports]
    assert len(val) == 6 and result.best_score == min(val)
    assert train_loss[-1] < 0.5 * train_loss[0]
    assert min(val[1:]) < val[0]
    mean, _ = predict(model, t["valid"], prepared.scale)
    assert prep.missing_mse(mean, prepared.splits["valid"].full, prepared.splits["valid"].mask) == \
        pytest.approx(result.best_score, rel=1e-4)


def test_same_seed_same_model_other_seed_other_model(prepared, tmp_path):
    t = {k: tensors(s, prepared.scale, DEVICE) for k, s in prepared.splits.items()}
    cfg = {**CONFIG, "epochs": 1}
    scores = [train(cfg, t["train"], t["valid"], prepared.scale, TrialContext(seed=s, workdir=tmp_path / str(i),
                                                                               device=DEVICE))[1].best_score
              for i, s in enumerate((5, 5, 6))]
    # equal on CPU; CUDA's replication-pad backward is not bit-deterministic, hence the tolerance
    assert scores[0] == pytest.approx(scores[1], rel=1e-4) and scores[2] != pytest.approx(scores[0], rel=1e-4)


def test_mc_dropout_spreads_predictions_but_keeps_measured_rows_and_batch_norm(prepared, tmp_path):
    t = {k: tensors(s, prepared.scale, DEVICE) for k, s in prepared.splits.items()}
    model, _ = train({**CONFIG, "epochs": 1}, t["train"], t["valid"], prepared.scale,
                     TrialContext(seed=0, workdir=tmp_path, device=DEVICE))
    running = [b.running_mean.clone() for b in model.modules() if isinstance(b, torch.nn.BatchNorm2d)]
    split = prepared.splits["valid"]
    mean, std = predict(model, t["valid"], prepared.scale, passes=6)
    assert std[~split.mask].mean() > 0 and np.all(std[split.mask] == 0)
    assert np.allclose(mean[split.mask], split.full[split.mask], atol=1e-5)       # data consistency
    after = [b.running_mean for b in model.modules() if isinstance(b, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(running, after))                # BN stayed in eval mode
    passes = sample_passes(model, t["test"], np.array([0, 2]), prepared.scale, 5)
    assert passes.shape == (5, 2, 32, 32) and passes.std(0).max() > 0
    _, det_std = predict(model, t["valid"], prepared.scale, passes=0)
    assert np.all(det_std == 0)


def test_no_dropout_means_no_mc_spread(prepared, tmp_path):
    t = {k: tensors(s, prepared.scale, DEVICE) for k, s in prepared.splits.items()}
    model, _ = train({**CONFIG, "dropout": 0.0, "epochs": 1}, t["train"], t["valid"], prepared.scale,
                     TrialContext(seed=0, workdir=tmp_path, device=DEVICE))
    assert predict(model, t["valid"], prepared.scale, passes=3)[1].max() < 1e-6
    assert isinstance(build(CONFIG), UNet)


def test_batch_larger_than_the_training_set_is_named(prepared, tmp_path):
    t = {k: tensors(s, prepared.scale, DEVICE) for k, s in prepared.splits.items()}
    with pytest.raises(ValueError, match="batch_size 64 exceeds the 32 training sinograms"):
        train({**CONFIG, "batch_size": 64}, t["train"], t["valid"], prepared.scale,
              TrialContext(seed=0, workdir=tmp_path))
