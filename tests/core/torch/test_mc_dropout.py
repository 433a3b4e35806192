"""MC dropout switches on dropout only: BatchNorm keeps its running statistics and eval mode."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from uqhpo.torch import mc_dropout, mc_predict


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                        nn.Linear(16, 8), nn.AlphaDropout(0.2), nn.Linear(8, 1))
    net.train()
    for _ in range(3):                        # non-trivial running statistics
        net(torch.randn(32, 4) * 3 + 1)
    return net.eval()


def _bn_stats(net) -> list:
    bn = net[1]
    return [bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()]


def test_batchnorm_statistics_untouched_while_dropout_samples():
    net, x = _net(), torch.randn(20, 4)
    before = _bn_stats(net)
    preds = mc_predict(net, lambda m: m(x), passes=5)
    assert preds.shape == (5, 20, 1) and preds.dtype == np.float32
    assert preds.std(axis=0).mean() > 0                          # the masks differ between passes
    assert all(torch.equal(a, b) for a, b in zip(before, _bn_stats(net)))
    # what model.train() does instead: the running statistics move on every prediction
    net.train()
    with torch.no_grad():
        net(x)
    assert not torch.equal(before[0], _bn_stats(net)[0])


def test_only_dropout_layers_train_inside_and_modes_are_restored():
    net = _net()
    net[4].train()                             # a mixed state is put back as it was
    before = [m.training for m in net.modules()]
    with mc_dropout(net) as inside:
        assert inside is net
        modes = {type(m).__name__: m.training for m in net.modules()}
        assert modes["Dropout"] and modes["AlphaDropout"]
        assert not modes["BatchNorm1d"] and not modes["Sequential"] and not modes["Linear"]
    assert [m.training for m in net.modules()] == before


def test_modes_restored_after_an_error_and_bad_passes():
    net = _net()
    with pytest.raises(RuntimeError, match="boom"), mc_dropout(net):
        raise RuntimeError("boom")
    assert not any(m.training for m in net.modules())
    with pytest.raises(ValueError, match="passes must be >= 1"):
        mc_predict(net, lambda m: m(torch.zeros(2, 4)), passes=0)


def test_same_seed_same_masks():
    net, x = _net(), torch.randn(6, 4)
    torch.manual_seed(3)
    a = mc_predict(net, lambda m: m(x), passes=3)
    torch.manual_seed(3)
    assert np.array_equal(a, mc_predict(net, lambda m: m(x), passes=3))
