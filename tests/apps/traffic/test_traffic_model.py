"""The graph GRU: convolutions, batched graphs, shapes, a tiny training, MC dropout, resume."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.nn import ChebConv, GCNConv, TAGConv

from uqhpo.apps.traffic import data, prep
from uqhpo.apps.traffic.graph import GraphConv, LinkGraph, correlation_weights
from uqhpo.apps.traffic.model import Batches, build, forecast, mc_forecast, summed_mse, train
from uqhpo.apps.traffic.topology import build_topology
from uqhpo.task import TrialContext

TINY = dict(conv="diffusion", K=2, hidden=12, layers=1, window=8, lr=1e-2, batch_size=16, dropout=0.1,
            epochs=3, adjacency="static")


@pytest.fixture(scope="module")
def adjacency() -> torch.Tensor:
    return torch.as_tensor(build_topology().adjacency())


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> prep.Prepared:
    path = data.generate_file(tmp_path_factory.mktemp("traffic") / "traffic.h5", days=28, seed=5)
    return prep.prepare(data.load_traffic(path), train_days=14, val_days=7, test_days=7, horizon=4,
                        train_stride=3, eval_stride=4)


def _edges(adj: torch.Tensor, batch: int) -> torch.Tensor:
    ei = adj.nonzero().T
    return torch.cat([ei + b * adj.shape[0] for b in range(batch)], 1)


@pytest.mark.parametrize("kind", ["gcn", "cheb", "diffusion"])
def test_sparse_convolutions_match_pyg_on_edge_index(adjacency, kind):
    """Each type equals the stock PyG layer run on the block-diagonal ``edge_index``."""
    torch.manual_seed(0)
    x = torch.randn(2 * 102, 6)
    conv = GraphConv(kind, 6, 5, K=2)
    graph = LinkGraph(adjacency, kind).for_batch(torch.randn(2, 8, 102))
    ei = _edges(adjacency, 2)
    if kind == "gcn":
        ref = [GCNConv(6, 5), GCNConv(5, 5)]
        for r, mine in zip(ref, conv.layers):
            r.load_state_dict(mine.state_dict())
        expected = ref[1](ref[0](x, ei), ei)
    elif kind == "cheb":
        ref = ChebConv(6, 5, K=3)
        ref.load_state_dict(conv.conv.state_dict())
        expected = ref(x, ei)
    else:                                  # TAGConv over the random-walk matrix D^-1 A
        ref = TAGConv(6, 5, K=2, normalize=False)
        ref.load_state_dict(conv.conv.state_dict())
        deg = adjacency.sum(1).float()
        expected = ref(x, ei, (1.0 / deg)[ei[1] % 102])
    assert torch.allclose(conv(x, graph), expected, atol=1e-5)


def test_bad_conv_and_hops_are_named(adjacency):
    with pytest.raises(ValueError, match="conv: unknown graph convolution 'gat'"):
        GraphConv("gat", 4, 4, 1)
    with pytest.raises(ValueError, match="K: propagation hops must be >= 1"):
        GraphConv("gcn", 4, 4, 0)


def test_dynamic_graph_adds_the_most_correlated_links():
    t = torch.linspace(0, 6, 24)
    window = torch.randn(1, 24, 10) * 0.01
    window[0, :, 3] += torch.sin(t)
    window[0, :, 7] += torch.sin(t) * 2                   # 3 and 7 move together
    w = correlation_weights(window, k=2)
    assert w.shape == (1, 10, 10) and torch.equal(w, w.transpose(1, 2)) and w[0, 3, 7] > 0.99
    assert (w[0] > 0).sum(1).min() >= 2 and float(w[0].diagonal().abs().sum()) == 0
    dyn = LinkGraph(torch.zeros(10, 10), "gcn", dynamic=True).for_batch(window)
    assert dyn.adj.to_dense()[3, 7] > 0


@pytest.mark.parametrize("conv,layers,adjacency", [("gcn", 2, "static"), ("cheb", 1, "dynamic"),
                                                   ("diffusion", 3, "static")])
def test_forecast_shapes(small, conv, layers, adjacency):
    model = build({**TINY, "conv": conv, "layers": layers, "adjacency": adjacency}, small)
    batches = Batches(small, 8, "cpu")
    origins = small.origins["val"][:5]
    out = forecast(model.eval(), batches, origins)
    assert out.shape == (5, 4, 102) and np.isfinite(out).all()
    mc = mc_forecast(model, batches, origins, passes=3)
    assert mc.shape == (3, 5, 4, 102) and mc.std(0).mean() > 0             # dropout masks differ
    assert not model.training                                               # MC dropout leaves eval mode


def test_tiny_training_lowers_the_loss_and_is_reproducible(small, tmp_path):
    ctx = TrialContext(seed=7, workdir=tmp_path / "a")
    model, _, result = train(TINY, small, ctx)
    losses = [m["val_loss"] for _, m in ctx.reports]
    assert [s for s, _ in ctx.reports] == [1, 2, 3] and set(ctx.reports[0][1]) == {"val_loss", "train_mse"}
    untrained = build(TINY, small).eval()
    truth = prep.targets(small, "val")
    before = summed_mse(forecast(untrained, Batches(small, 8, "cpu"), small.origins["val"]), truth)
    assert result.best_score < 0.8 * before and losses[-1] < losses[0]
    _, _, again = train(TINY, small, TrialContext(seed=7, workdir=tmp_path / "b"))
    assert [h["val_loss"] for h in again.history] == [h["val_loss"] for h in result.history]
    _, _, other = train(TINY, small, TrialContext(seed=8, workdir=tmp_path / "c"))
    assert [h["val_loss"] for h in other.history] != [h["val_loss"] for h in result.history]
    assert not list(tmp_path.glob("*/*.ckpt"))


def test_interrupted_training_resumes_from_its_checkpoint(small, tmp_path, monkeypatch):
    from uqhpo.apps.traffic import model as model_module

    config = {**TINY, "conv": "cheb", "adjacency": "dynamic"}
    full = train(config, small, TrialContext(seed=3, workdir=tmp_path / "full"))[2]
    real = model_module.forecast
    calls = {"n": 0}

    def crash_on_third_evaluation(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("stopped")
        return real(*args, **kwargs)

    ctx = TrialContext(seed=3, workdir=tmp_path / "cut")
    monkeypatch.setattr(model_module, "forecast", crash_on_third_evaluation)
    with pytest.raises(RuntimeError, match="stopped"):
        train(config, small, ctx)
    monkeypatch.setattr(model_module, "forecast", real)
    assert ctx.checkpoint_path.exists()
    resumed = train(config, small, ctx)[2]
    assert resumed.resumed_from == 2
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]


def test_too_few_windows_for_the_batch_is_named(small, tmp_path):
    with pytest.raises(ValueError, match=r"training windows is fewer than batch_size=512 \(raise data.train_days"):
        train({**TINY, "batch_size": 512}, small, TrialContext(seed=0, workdir=tmp_path))
