"""Graph convolutions over the link graph (torch-geometric) and the batched graphs they read.

Three convolution types, each reaching ``K`` hops:

* ``gcn``: ``K`` stacked ``GCNConv`` layers over the renormalised adjacency
  ``D^-1/2 (A + I) D^-1/2`` (linear in between, so it is ``Â^K X W``);
* ``cheb``: ``ChebConv`` with ``K + 1`` Chebyshev terms of the scaled Laplacian
  ``2 L / lambda_max - I = -D^-1/2 A D^-1/2`` (``L`` symmetric-normalised, lambda_max = 2),
  propagated by sparse products (:class:`SparseChebConv`);
* ``diffusion``: ``TAGConv`` over the random-walk matrix ``D^-1 A`` (DCRNN's diffusion:
  ``sum_k P^k X W_k`` for k = 0..K).

A batch of B windows is one block-diagonal graph of ``B * L`` nodes, handed to every
layer as a sparse CSR matrix: PyG then propagates with sparse matrix products, several
times faster on CPU than gather/scatter over ``edge_index`` and without storing one
message per edge for the backward pass (gigabytes for a deep Chebyshev GRU). With
``dynamic=True`` each window adds, for every link, its ``k`` most correlated links over
the input window (weight = the positive correlation) to the fixed graph.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

CONV_TYPES = ("gcn", "cheb", "diffusion")
DYNAMIC_NEIGHBOURS = 4


@dataclass
class BatchGraph:
    """One batched graph: ``adj`` ``(B L, B L)`` sparse CSR, row i = the weights node i
    gathers its neighbours with (``out = adj @ x``)."""

    adj: torch.Tensor


def normalise(weights: torch.Tensor, kind: str) -> torch.Tensor:
    """``(B, L, L)`` non-negative weights -> the matrix ``kind`` propagates with."""
    if kind == "gcn":
        w = weights + torch.eye(weights.shape[-1], device=weights.device, dtype=weights.dtype)
        d = w.sum(-1).clamp(min=1e-12).rsqrt()
        return d[..., :, None] * w * d[..., None, :]
    if kind == "diffusion":
        return weights / weights.sum(-1, keepdim=True).clamp(min=1e-12)
    d = weights.sum(-1).clamp(min=1e-12).rsqrt()     # cheb: the scaled Laplacian
    return -(d[..., :, None] * weights * d[..., None, :])


def correlation_weights(window: torch.Tensor, k: int = DYNAMIC_NEIGHBOURS) -> torch.Tensor:
    """``(B, w, L)`` input window -> ``(B, L, L)`` symmetric weights of each link's ``k``
    most (positively) correlated other links."""
    x = window - window.mean(1, keepdim=True)
    x = x / x.norm(dim=1, keepdim=True).clamp(min=1e-6)
    corr = torch.einsum("bwi,bwj->bij", x, x).clamp(min=0.0)
    corr.diagonal(dim1=1, dim2=2).zero_()
    top = torch.topk(corr, k, dim=-1)
    keep = torch.zeros_like(corr).scatter_(-1, top.indices, top.values)
    return torch.maximum(keep, keep.transpose(1, 2))


def batch_graph(matrices: torch.Tensor, kind: str) -> BatchGraph:
    """``(B, L, L)`` propagation matrices -> one block-diagonal graph of ``B L`` nodes."""
    b, i, j = matrices.nonzero(as_tuple=True)
    n = matrices.shape[-1]
    rows, cols, vals = b * n + i, b * n + j, matrices[b, i, j]
    size = matrices.shape[0] * n
    adj = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (size, size), check_invariants=False)
    with warnings.catch_warnings():          # "sparse CSR support is in beta": we rely on spmm only
        warnings.simplefilter("ignore", UserWarning)
        return BatchGraph(adj=adj.coalesce().to_sparse_csr())


class LinkGraph:
    """The fixed link graph; makes (and caches) the batched graphs a convolution reads."""

    def __init__(self, adjacency: torch.Tensor, kind: str, dynamic: bool = False):
        if kind not in CONV_TYPES:
            raise ValueError(f"conv: unknown graph convolution {kind!r}; use one of {', '.join(CONV_TYPES)}")
        self.adjacency = (adjacency != 0).float()
        self.kind, self.dynamic = kind, bool(dynamic)
        self._cache: dict[int, BatchGraph] = {}

    def for_batch(self, window: torch.Tensor) -> BatchGraph:
        """The graph for a batch of input windows ``(B, w, L)``."""
        B = window.shape[0]
        if not self.dynamic and B in self._cache:
            return self._cache[B]
        weights = self.adjacency.to(window.device).expand(B, -1, -1)
        if self.dynamic:
            weights = weights + correlation_weights(window.detach().float())
        graph = batch_graph(normalise(weights, self.kind), self.kind)
        if not self.dynamic:
            self._cache[B] = graph
        return graph


def _cheb_class() -> type:
    """``ChebConv`` taking the scaled Laplacian as a sparse matrix (made on first use, so
    importing this module does not import torch-geometric)."""
    from torch_geometric.nn import ChebConv  # noqa: PLC0415
    from torch_geometric.utils import spmm  # noqa: PLC0415

    class SparseChebConv(ChebConv):
        """``ChebConv``'s weights and recursion ``T_k = 2 L~ T_(k-1) - T_(k-2)``, with
        ``L~`` given as a sparse ``adj`` and propagated by PyG's fused sparse path."""

        def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            tx0, out = x, self.lins[0](x)
            if len(self.lins) > 1:
                tx1 = self.propagate(adj, x=x, norm=None)
                out = out + self.lins[1](tx1)
                for lin in self.lins[2:]:
                    tx2 = 2.0 * self.propagate(adj, x=tx1, norm=None) - tx0
                    out = out + lin(tx2)
                    tx0, tx1 = tx1, tx2
            return out + self.bias if self.bias is not None else out

        def message_and_aggregate(self, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return spmm(adj_t, x, reduce=self.aggr)

    return SparseChebConv


class GraphConv(nn.Module):
    """``K``-hop graph convolution ``(N, in) -> (N, out)`` of the chosen type."""

    def __init__(self, kind: str, n_in: int, n_out: int, K: int):
        super().__init__()
        from torch_geometric.nn import GCNConv, TAGConv  # noqa: PLC0415

        if kind not in CONV_TYPES:
            raise ValueError(f"conv: unknown graph convolution {kind!r}; use one of {', '.join(CONV_TYPES)}")
        if int(K) < 1:
            raise ValueError(f"K: propagation hops must be >= 1, got {K}")
        self.kind = kind
        if kind == "gcn":
            self.layers = nn.ModuleList([GCNConv(n_in if k == 0 else n_out, n_out, normalize=False)
                                         for k in range(int(K))])
        elif kind == "cheb":
            self.conv = _cheb_class()(n_in, n_out, K=int(K) + 1, normalization="sym")
        else:
            self.conv = TAGConv(n_in, n_out, K=int(K), normalize=False)

    def forward(self, x: torch.Tensor, graph: BatchGraph) -> torch.Tensor:
        if self.kind == "gcn":
            for layer in self.layers:
                x = layer(x, graph.adj)
            return x
        return self.conv(x, graph.adj)
