"""A small real training shared by the kit's tests: an MLP with BatchNorm and dropout."""
from __future__ import annotations

from typing import Callable, Optional

import pytest
import torch
from torch import nn

from uqhpo.torch import fit, seed_everything


class Trainer:
    """Seeded model, optimizer, batch-order generator and the two callbacks :func:`fit` takes.

    ``fail_at``: ``train_epoch`` raises at the start of that epoch (a simulated crash).
    """

    def __init__(self, seed: int, fail_at: Optional[int] = None, noisy_eval: bool = True):
        seed_everything(seed)
        data = torch.Generator().manual_seed(0)               # the same table for every seed
        self.x = torch.randn(96, 3, generator=data)
        self.y = (self.x[:, :1] * 2 - self.x[:, 1:2]).sin()
        self.model = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=0.02)
        self.order = torch.Generator().manual_seed(seed + 1)
        self.fail_at, self.noisy_eval = fail_at, noisy_eval
        self.trained: list[int] = []

    def train_epoch(self, epoch: int) -> dict:
        if epoch == self.fail_at:
            raise RuntimeError(f"crash at epoch {epoch}")
        self.trained.append(epoch)
        total = 0.0
        for idx in torch.randperm(len(self.x), generator=self.order).split(16):
            loss = nn.functional.mse_loss(self.model(self.x[idx]), self.y[idx])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            total += float(loss.detach())
        return {"train_loss": total / 6}

    def evaluate(self, epoch: int) -> float:
        with torch.no_grad():
            mse = float(nn.functional.mse_loss(self.model(self.x), self.y))
        # a draw from the global RNG: a resumed run only matches if that state was restored
        return mse + (1e-3 * float(torch.rand(())) if self.noisy_eval else 0.0)

    def fit(self, ctx, **kwargs):
        options = dict(models=self.model, optimizers=self.opt, train_epoch=self.train_epoch,
                       evaluate=self.evaluate, epochs=6, generators={"order": self.order})
        return fit(ctx, **{**options, **kwargs})


@pytest.fixture
def make_trainer() -> Callable[..., Trainer]:
    return Trainer
