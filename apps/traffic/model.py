"""Graph-convolutional GRU encoder-decoder over the link graph, and one training.

Each GRU gate is a graph convolution (``graph.GraphConv``) of the concatenated input and
hidden state, as in DCRNN / T-GCN. The encoder reads the input window (scaled traffic of
every link plus 4 calendar features); the decoder, started from the encoder's states,
rolls out ``horizon`` steps feeding back its own forecast, and predicts each step as an
increment over the previous one (so an untrained model starts near persistence).
Dropout sits between stacked layers and before the read-out: MC dropout
(``uqhpo.torch.mc_predict``) samples it. The epoch loop, best-epoch keeping, seeding and
checkpoints come from the app kit (``uqhpo.torch``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from uqhpo.torch import fit, mc_predict, seed_everything

from .graph import GraphConv, LinkGraph
from .prep import N_TIME_FEATURES, Prepared

EVAL_BATCH = 64


class GraphGRUCell(nn.Module):
    """GRU cell whose gates are graph convolutions: ``(N, in), (N, H) -> (N, H)``."""

    def __init__(self, kind: str, n_in: int, hidden: int, K: int):
        super().__init__()
        self.gates = GraphConv(kind, n_in + hidden, 2 * hidden, K)
        self.candidate = GraphConv(kind, n_in + hidden, hidden, K)

    def forward(self, x: torch.Tensor, h: torch.Tensor, graph: Any) -> torch.Tensor:
        update, reset = torch.sigmoid(self.gates(torch.cat([x, h], -1), graph)).chunk(2, -1)
        c = torch.tanh(self.candidate(torch.cat([x, reset * h], -1), graph))
        return update * h + (1.0 - update) * c


class GraphSeq2Seq(nn.Module):
    """Input window ``(B, w, L)`` + calendar features -> forecast ``(B, horizon, L)`` (scaled)."""

    def __init__(self, graph: LinkGraph, *, hidden: int, layers: int, K: int, dropout: float):
        super().__init__()
        self.graph, self.hidden = graph, int(hidden)
        n_in = 1 + N_TIME_FEATURES
        self.encoder = nn.ModuleList([GraphGRUCell(graph.kind, n_in if i == 0 else hidden, hidden, K)
                                      for i in range(int(layers))])
        self.decoder = nn.ModuleList([GraphGRUCell(graph.kind, n_in if i == 0 else hidden, hidden, K)
                                      for i in range(int(layers))])
        self.dropout = nn.Dropout(float(dropout))
        self.readout = nn.Linear(hidden, 1)

    @staticmethod
    def _step(cells: nn.ModuleList, drop: nn.Dropout, x: torch.Tensor, states: list, graph: Any) -> torch.Tensor:
        for i, cell in enumerate(cells):
            states[i] = cell(x if i == 0 else drop(x), states[i], graph)
            x = states[i]
        return x

    def forward(self, window: torch.Tensor, cal_in: torch.Tensor, cal_out: torch.Tensor) -> torch.Tensor:
        """window ``(B, w, L)``, cal_in ``(B, w, 4)``, cal_out ``(B, horizon, 4)``."""
        B, w, L = window.shape
        graph = self.graph.for_batch(window)
        states = [window.new_zeros(B * L, self.hidden) for _ in self.encoder]

        def node_input(values: torch.Tensor, cal: torch.Tensor) -> torch.Tensor:   # (B, L), (B, 4) -> (B L, 5)
            return torch.cat([values.reshape(B * L, 1), cal[:, None, :].expand(B, L, -1).reshape(B * L, -1)], -1)

        for t in range(w):
            self._step(self.encoder, self.dropout, node_input(window[:, t], cal_in[:, t]), states, graph)
        prev, out = window[:, -1], []
        for t in range(cal_out.shape[1]):
            top = self._step(self.decoder, self.dropout, node_input(prev, cal_out[:, t]), states, graph)
            prev = prev + self.readout(self.dropout(top)).view(B, L)
            out.append(prev)
        return torch.stack(out, 1)


@dataclass
class Batches:
    """The prepared series on the device, cut into windows on demand."""

    prep: Prepared
    window: int
    device: str

    def __post_init__(self) -> None:
        self.series = torch.as_tensor(self.prep.scaled, device=self.device)
        self.cal = torch.as_tensor(self.prep.time_features, device=self.device)
        self.past = torch.arange(-self.window + 1, 1, device=self.device)
        self.future = torch.arange(1, self.prep.horizon + 1, device=self.device)

    def inputs(self, origins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        past, future = origins[:, None] + self.past, origins[:, None] + self.future
        return self.series[past], self.cal[past], self.cal[future]

    def targets(self, origins: torch.Tensor) -> torch.Tensor:
        return self.series[origins[:, None] + self.future]


def build(config: dict, prep: Prepared) -> GraphSeq2Seq:
    """The network of a config (keys conv, K, hidden, layers, dropout, adjacency)."""
    graph = LinkGraph(torch.as_tensor(prep.adjacency), str(config["conv"]),
                      dynamic=config.get("adjacency", "static") == "dynamic")
    return GraphSeq2Seq(graph, hidden=int(config["hidden"]), layers=int(config["layers"]), K=int(config["K"]),
                        dropout=float(config["dropout"]))


@torch.no_grad()
def forecast(model: GraphSeq2Seq, batches: Batches, origins: np.ndarray) -> np.ndarray:
    """Scaled forecasts ``(n, horizon, L)`` for ``origins`` (the model's current mode)."""
    out = []
    for start in range(0, len(origins), EVAL_BATCH):
        o = torch.as_tensor(origins[start:start + EVAL_BATCH], device=batches.device)
        out.append(model(*batches.inputs(o)).float().cpu().numpy())
    return np.concatenate(out)


def mc_forecast(model: GraphSeq2Seq, batches: Batches, origins: np.ndarray, passes: int) -> np.ndarray:
    """``(passes, n, horizon, L)`` forecasts with fresh dropout masks (the kit's MC dropout)."""
    return mc_predict(model, lambda m: forecast(m, batches, origins), passes)


def summed_mse(pred: np.ndarray, truth: np.ndarray) -> float:
    """The objective: mean squared error per link (over windows and steps), summed over links."""
    return float(np.mean((pred - truth) ** 2, axis=(0, 1)).sum())


def train(config: dict, prep: Prepared, ctx: Any) -> tuple[GraphSeq2Seq, Batches, Any]:
    """Train with the app kit's loop; keep the epoch with the lowest validation loss.

    Returns:
        (model with the best epoch's weights, its ``Batches``, the kit's ``FitResult``).
    """
    seed_everything(ctx.seed)
    window, batch = int(config["window"]), int(config["batch_size"])
    train_origins = prep.origins["train"]
    if len(train_origins) < batch:
        raise ValueError(f"data file '{prep.path}': {len(train_origins)} training windows is fewer than "
                         f"batch_size={batch} (raise data.train_days or lower data.train_stride)")
    model = build(config, prep).to(ctx.device)
    batches = Batches(prep, window, ctx.device)
    opt = torch.optim.Adam(model.parameters(), lr=float(config["lr"]))
    order_rng = torch.Generator(device="cpu").manual_seed(int(ctx.seed) + 1)
    origins = torch.as_tensor(train_origins, device=ctx.device)
    val_truth = prep.scaled[prep.origins["val"][:, None] + np.arange(1, prep.horizon + 1)]

    def train_epoch(epoch: int) -> dict:
        perm = torch.randperm(len(origins), generator=order_rng).to(ctx.device)
        total, steps = 0.0, len(origins) // batch
        for b in range(steps):
            o = origins[perm[b * batch:(b + 1) * batch]]
            loss = torch.mean((model(*batches.inputs(o)) - batches.targets(o)) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            total += float(loss.detach())
        return {"train_mse": total / steps}

    result = fit(ctx, models=model, optimizers=opt, train_epoch=train_epoch, epochs=int(config["epochs"]),
                 evaluate=lambda epoch: summed_mse(forecast(model, batches, prep.origins["val"]), val_truth),
                 generators={"batch_order": order_rng}, metric="val_loss")
    return model, batches, result
