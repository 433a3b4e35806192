"""The network (an MLP with dropout), its training through the app kit, and prediction.

Every random draw (initial weights, batch order, dropout masks) comes from torch's
global generator, seeded from ``ctx.seed`` by :func:`uqhpo.torch.seed_everything`; the
kit's :func:`~uqhpo.torch.fit` saves and restores that state with each checkpoint, so a
replicate killed mid-training resumes where it stopped and ends with the same result.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from uqhpo.task import TrialContext
from uqhpo.torch import fit, mc_predict, seed_everything

if TYPE_CHECKING:
    from .task import Prepared


def build_mlp(n_in: int, n_out: int, layers: int, width: int, dropout: float) -> nn.Sequential:
    """``layers`` hidden blocks (Linear -> ReLU -> Dropout) of ``width`` units, then a linear output.

    Args:
        n_in: input features ``d``.
        n_out: outputs (1 for regression, the number of classes for classification).
        layers: hidden layers (>= 1).
        width: units per hidden layer.
        dropout: dropout probability after each hidden layer (also used by MC dropout).

    Returns:
        A module mapping ``(batch, d)`` to ``(batch, n_out)``.
    """
    blocks: list[nn.Module] = []
    size = n_in
    for _ in range(int(layers)):
        blocks += [nn.Linear(size, int(width)), nn.ReLU(), nn.Dropout(float(dropout))]
        size = int(width)
    blocks.append(nn.Linear(size, n_out))
    return nn.Sequential(*blocks)


def train(d: Prepared, config: dict, ctx: TrialContext) -> tuple[nn.Module, int]:
    """Train with Adam and keep the best epoch on the validation split.

    Reports ``train_loss`` and ``val_loss`` (MSE in target units, or cross-entropy) after
    every epoch through ``ctx.report`` and checkpoints to ``ctx.checkpoint_path``.

    Args:
        d: the prepared splits (``task.Prepared``).
        config: ``layers``, ``width``, ``dropout``, ``lr``, ``batch_size``, ``epochs``.
        ctx: seed, device, reports, checkpoint.

    Returns:
        The model holding its best-epoch weights, and that epoch.
    """
    seed_everything(ctx.seed)
    dev = torch.device(ctx.device)
    x_train, x_val = (torch.as_tensor(d.X[s], device=dev) for s in ("train", "val"))
    y_train, y_val = (torch.as_tensor(d.y[s], device=dev) for s in ("train", "val"))
    if d.kind == "regression":
        y_train, y_val = y_train[:, None], y_val[:, None]
        loss_fn: nn.Module = nn.MSELoss()
        scale = d.y_std ** 2               # standardised MSE -> MSE in target units
    else:
        loss_fn, scale = nn.CrossEntropyLoss(), 1.0
    model = build_mlp(x_train.shape[1], d.n_outputs, config["layers"], config["width"], config["dropout"]).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(config["lr"]))
    batch_size, n = int(config["batch_size"]), len(x_train)

    def train_epoch(epoch: int) -> dict[str, float]:
        model.train()
        total = 0.0
        for rows in torch.randperm(n).to(dev).split(batch_size):   # indexing whole batches: no per-row collation
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[rows]), y_train[rows])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        return {"train_loss": total / n * scale}

    def evaluate(epoch: int) -> float:
        model.eval()
        with torch.no_grad():
            return float(loss_fn(model(x_val), y_val)) * scale

    result = fit(ctx, models=model, optimizers=optimizer, train_epoch=train_epoch, evaluate=evaluate,
                 epochs=int(config["epochs"]), metric="val_loss")
    return model, int(result.best_epoch)


def predict(model: nn.Module, d: Prepared, split: str, passes: int, device: str) -> np.ndarray:
    """Predictions on one split, in target units (regression) or class probabilities.

    Args:
        passes: Monte-Carlo dropout passes (only dropout layers switched on); 0: one
            deterministic pass with dropout off.

    Returns:
        ``(max(passes, 1), n_split, outputs)`` float64.
    """
    x = torch.as_tensor(d.X[split], device=torch.device(device))

    def forward(m: nn.Module) -> torch.Tensor:
        out = m(x)
        return out.softmax(dim=1) if d.kind == "classification" else out

    if passes:
        raw = mc_predict(model, forward, int(passes))
    else:
        model.eval()
        with torch.no_grad():
            raw = forward(model).cpu().numpy()[None]
    raw = raw.astype(np.float64)
    return raw * d.y_std + d.y_mean if d.kind == "regression" else raw
