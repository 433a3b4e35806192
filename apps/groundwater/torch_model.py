"""The PyTorch twin of the Keras LSTM, trained by the app kit (``uqhpo.torch``).

Keras' LSTM has input and recurrent dropout with one mask per sequence; ``nn.LSTM`` has
neither, so each layer here applies a per-sequence input mask and, while its recurrent
dropout is active (training or Monte-Carlo passes with ``recurrent_dropout > 0``), steps
through time itself with a per-sequence mask on the recurrent state, using the weights
of its ``nn.LSTM``. Otherwise (``recurrent_dropout == 0``, or inference) the fused
``nn.LSTM`` runs: several times faster on a CPU. All masks are ``nn.Dropout`` subclasses,
so the kit's ``mc_dropout`` switches exactly them on for Monte-Carlo passes.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from uqhpo.torch import fit, mc_predict, seed_everything

from .model import CHUNK, Trained, check_batches


class SequenceDropout(nn.Dropout):
    """Input dropout with one mask per sequence: ``(b, t, f)`` -> same shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * F.dropout(x.new_ones(x.shape[0], 1, x.shape[2]), self.p, True)


class RecurrentDropout(nn.Dropout):
    """Draws the per-sequence mask of the recurrent state; active only in training mode."""

    @property
    def active(self) -> bool:
        return self.training and self.p > 0

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.dropout(torch.ones_like(h), self.p, True)


class LSTMLayer(nn.Module):
    """One LSTM layer with Keras-style dropout: ``(b, t, n_in)`` -> ``(b, t, units)``."""

    def __init__(self, n_in: int, units: int, dropout: float, recurrent_dropout: float):
        super().__init__()
        self.input_dropout = SequenceDropout(dropout)
        self.lstm = nn.LSTM(n_in, units, batch_first=True)
        self.recurrent_dropout = RecurrentDropout(recurrent_dropout)
        with torch.no_grad():   # Keras' initialisers: glorot, orthogonal, forget-gate bias 1
            nn.init.xavier_uniform_(self.lstm.weight_ih_l0)
            nn.init.orthogonal_(self.lstm.weight_hh_l0)
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_hh_l0.zero_()
            self.lstm.bias_ih_l0[units:2 * units] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_dropout(x)
        if not self.recurrent_dropout.active:
            return self.lstm(x)[0]
        lstm = self.lstm
        b, units = x.shape[0], lstm.hidden_size
        h = x.new_zeros(b, units)
        c = x.new_zeros(b, units)
        mask = self.recurrent_dropout(h)
        x_gates = x @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0    # (b, t, 4 units), one matmul
        outputs = []
        for t in range(x.shape[1]):
            i, f, g, o = (x_gates[:, t] + (h * mask) @ lstm.weight_hh_l0.T).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1)


class LSTMForecaster(nn.Module):
    """Stacked LSTM -> dropout -> linear: ``(b, lag, F)`` -> ``(b, H)``."""

    def __init__(self, n_inputs: int, horizon: int, layers: int, units: int, dropout: float,
                 recurrent_dropout: float):
        super().__init__()
        self.layers = nn.ModuleList([LSTMLayer(n_inputs if i == 0 else units, units, dropout, recurrent_dropout)
                                     for i in range(int(layers))])
        self.head_dropout = nn.Dropout(dropout)
        self.head = nn.Linear(units, horizon)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.head(self.head_dropout(x[:, -1]))


def build(config: dict, n_inputs: int, horizon: int) -> LSTMForecaster:
    return LSTMForecaster(n_inputs, horizon, int(config["layers"]), int(config["units"]), float(config["dropout"]),
                          float(config["recurrent_dropout"]))


def train(config: dict, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
          score: Callable[[np.ndarray], float], ctx: Any, *, evaluate_before: bool = True,
          keep_checkpoint: bool = False) -> Trained:
    """Train the twin with ``uqhpo.torch.fit`` (same contract as :func:`.keras_model.train`)."""
    n, batch, device = len(x_train), int(config["batch_size"]), ctx.device
    check_batches(n, batch)
    seed_everything(ctx.seed)
    model = build(config, x_train.shape[2], y_train.shape[1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(config["lr"]))
    x_all, y_all = torch.as_tensor(x_train, device=device), torch.as_tensor(y_train, device=device)
    order = torch.Generator(device="cpu").manual_seed(int(ctx.seed) + 1)

    def forward_chunks(m: nn.Module, x: np.ndarray) -> torch.Tensor:
        return torch.cat([m(torch.as_tensor(x[i:i + CHUNK], device=device)) for i in range(0, len(x), CHUNK)])

    def train_epoch(epoch: int) -> dict:
        perm = torch.randperm(n, generator=order).to(device)
        total = 0.0
        for b in range(n // batch):
            idx = perm[b * batch:(b + 1) * batch]
            loss = F.mse_loss(model(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
        return {"train_loss": total / (n // batch)}

    def evaluate(epoch: int) -> float:
        with torch.no_grad():
            return float(score(forward_chunks(model, x_val).float().cpu().numpy()))

    result = fit(ctx, models=model, optimizers=opt, train_epoch=train_epoch, evaluate=evaluate,
                 epochs=int(config["epochs"]), metric="val_rmse", generators={"batch_order": order},
                 evaluate_before=evaluate_before, keep_checkpoint=keep_checkpoint)

    def predict(x: np.ndarray, passes: int = 0) -> np.ndarray:
        if passes <= 0:
            model.eval()
            with torch.no_grad():
                return forward_chunks(model, x).float().cpu().numpy()[None]
        return mc_predict(model, lambda m: forward_chunks(m, x), passes=int(passes))

    return Trained(predict=predict, best_score=result.best_score, best_epoch=result.best_epoch,
                   history=result.history, resumed_from=result.resumed_from, framework="torch")
