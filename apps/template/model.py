"""PyTorch MLP regressor with dropout, and its seeded training loop.

Inputs here are already standardised (see ``task.py``); this module knows nothing about
files or studies. Every random draw (initial weights, batch order, dropout masks) comes
from the ``seed`` argument, so one seed gives one training.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn


def build_mlp(n_in: int, layers: int, width: int, dropout: float) -> nn.Sequential:
    """``layers`` hidden blocks (Linear -> ReLU -> Dropout) of ``width`` units, then one output.

    Args:
        n_in: number of input features ``d``.
        layers: hidden layers (>= 1).
        width: units per hidden layer.
        dropout: dropout probability after each hidden layer (also used by MC dropout).

    Returns:
        A module mapping ``(batch, d)`` to ``(batch, 1)``.
    """
    blocks: list[nn.Module] = []
    size = n_in
    for _ in range(int(layers)):
        blocks += [nn.Linear(size, int(width)), nn.ReLU(), nn.Dropout(float(dropout))]
        size = int(width)
    blocks.append(nn.Linear(size, 1))
    return nn.Sequential(*blocks)


@dataclass
class TrainResult:
    """Outcome of one training (validation values in standardised target units).

    Attributes:
        best_epoch: epoch (0-based) with the lowest validation MSE; its weights are kept.
        val_mse_history: ``(epochs,)`` validation MSE after each epoch.
        val_pred: ``(n_val,)`` deterministic prediction (dropout off) of the best weights.
        mc_pred: ``(m, n_val)`` predictions with dropout on, one row per mask; None if m = 0.
    """

    best_epoch: int
    val_mse_history: np.ndarray
    val_pred: np.ndarray
    mc_pred: Optional[np.ndarray]


def train_regressor(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
                    layers: int, width: int, dropout: float, lr: float, batch_size: int, epochs: int,
                    seed: int, device: str = "cpu", mc_passes: int = 0,
                    on_epoch: Optional[Callable[[int, float], None]] = None) -> TrainResult:
    """Train an MLP with Adam on mean squared error and keep the best epoch.

    Args:
        X_train: ``(n, d)`` standardised features; y_train: ``(n,)`` standardised target.
        X_val: ``(n_val, d)``; y_val: ``(n_val,)``.
        layers, width, dropout, lr, batch_size, epochs: the hyperparameters.
        seed: seeds weights, batch order and dropout masks.
        device: "cpu" or "cuda".
        mc_passes: Monte-Carlo dropout passes on the validation set after training.
        on_epoch: called with (epoch, validation MSE) after each epoch.
    """
    torch.manual_seed(int(seed))
    dev = torch.device(device)
    xt = torch.as_tensor(X_train, dtype=torch.float32, device=dev)
    yt = torch.as_tensor(y_train, dtype=torch.float32, device=dev).reshape(-1, 1)
    xv = torch.as_tensor(X_val, dtype=torch.float32, device=dev)
    yv = torch.as_tensor(y_val, dtype=torch.float32, device=dev).reshape(-1, 1)
    model = build_mlp(xt.shape[1], layers, width, dropout).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(lr))
    loss_fn = nn.MSELoss()

    # Whole batches are indexed at once (BatchSampler as sampler): far cheaper than per-row collation.
    dataset = torch.utils.data.TensorDataset(xt, yt)
    order = torch.utils.data.RandomSampler(dataset, generator=torch.Generator().manual_seed(int(seed)))
    batches = torch.utils.data.BatchSampler(order, batch_size=int(batch_size), drop_last=False)
    loader = torch.utils.data.DataLoader(dataset, sampler=batches, batch_size=None)

    history = np.zeros(int(epochs))
    best_state, best_mse, best_epoch = None, float("inf"), 0
    for epoch in range(int(epochs)):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            mse = float(loss_fn(model(xv), yv))
        history[epoch] = mse
        if on_epoch is not None:
            on_epoch(epoch, mse)
        if mse < best_mse or best_state is None:
            best_mse, best_epoch = mse, epoch
            best_state = copy.deepcopy(model.state_dict())

    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        val_pred = model(xv).squeeze(1).cpu().numpy()
        mc_pred = None
        if mc_passes > 0:
            model.train()  # dropout on: each pass draws a new mask from the seeded generator
            mc_pred = np.stack([model(xv).squeeze(1).cpu().numpy() for _ in range(int(mc_passes))])
            model.eval()
    return TrainResult(best_epoch=best_epoch, val_mse_history=history, val_pred=val_pred, mc_pred=mc_pred)
