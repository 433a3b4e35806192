"""Conditional GAN for cluster decays: networks and the training loop (PyTorch).

Generator: condition ⊕ noise -> 2 scaled angles (tanh, the scaled range is [-1, 1]).
Discriminator: angles ⊕ condition -> one logit. Non-saturating GAN loss with an R1
gradient penalty on real samples (weight ``r1_weight``; 0 switches it off).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "elu": nn.ELU,
    "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU,
}
G_NORMS = ("none", "batch", "layer")
D_NORMS = ("none", "layer", "spectral")


def mlp(n_in: int, n_out: int, width: int, depth: int, norm: str, activation: str) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units, each Linear -> norm -> activation."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation: unknown {activation!r}; use one of {', '.join(ACTIVATIONS)}")
    if norm not in set(G_NORMS) | set(D_NORMS):
        raise ValueError(f"normalization: unknown {norm!r}")
    wrap = nn.utils.parametrizations.spectral_norm if norm == "spectral" else (lambda m: m)
    layers: list[nn.Module] = []
    for i in range(int(depth)):
        layers.append(wrap(nn.Linear(n_in if i == 0 else width, width)))
        if norm == "batch":
            layers.append(nn.BatchNorm1d(width))
        elif norm == "layer":
            layers.append(nn.LayerNorm(width))
        layers.append(ACTIVATIONS[activation]())
    layers.append(wrap(nn.Linear(width if depth else n_in, n_out)))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """(cond ``(b, c)``, noise ``(b, z)``) -> scaled angles ``(b, 2)`` in (-1, 1)."""

    def __init__(self, n_cond: int, noise_dim: int, width: int, depth: int, norm: str, activation: str):
        super().__init__()
        self.noise_dim = int(noise_dim)
        self.net = mlp(n_cond + self.noise_dim, 2, width, depth, norm, activation)

    def forward(self, cond: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([cond, noise], dim=1)))


class Discriminator(nn.Module):
    """(angles ``(b, 2)``, cond ``(b, c)``) -> logits ``(b,)``."""

    def __init__(self, n_cond: int, width: int, depth: int, norm: str, activation: str):
        super().__init__()
        self.net = mlp(2 + n_cond, 1, width, depth, norm, activation)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, cond], dim=1)).squeeze(1)


@dataclass
class TrainResult:
    """Outcome of one training: the best generator (by validation score) and its history."""

    generator: Generator
    best_score: float
    best_epoch: int
    history: list = field(default_factory=list)   # [{"epoch", "score", "d_loss", "g_loss"}]


def build(config: dict, n_cond: int) -> tuple[Generator, Discriminator]:
    """Networks from a config with keys noise_dim, g_width, g_depth, d_width, d_depth, ..."""
    act = config.get("activation", "leaky_relu")
    g = Generator(n_cond, config["noise_dim"], config["g_width"], config["g_depth"], config.get("g_norm", "none"), act)
    d = Discriminator(n_cond, config["d_width"], config["d_depth"], config.get("d_norm", "none"), act)
    return g, d


@torch.no_grad()
def sample(gen: Generator, cond: np.ndarray, seed: int, device: str = "cpu", chunk: int = 65536) -> np.ndarray:
    """One generated (scaled) angle pair per condition row: ``(n, c)`` -> ``(n, 2)``."""
    was_training = gen.training
    gen.eval()
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    out = []
    for start in range(0, len(cond), chunk):
        c = torch.as_tensor(cond[start:start + chunk], device=device)
        z = torch.randn(len(c), gen.noise_dim, generator=g).to(device)
        out.append(gen(c, z).float().cpu().numpy())
    gen.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def train_gan(config: dict, cond: np.ndarray, target: np.ndarray, *, seed: int,
              evaluate: Callable[[Generator, int], float], device: str = "cpu", eval_every: int = 1,
              report: Optional[Callable[..., None]] = None) -> TrainResult:
    """Train a conditional GAN and keep the generator of the best evaluated epoch.

    Args:
        config: hyperparameters (see the task's search space).
        cond: ``(n, c)`` scaled training conditions; target: ``(n, 2)`` scaled angles.
        seed: seeds torch and the batch order (same seed -> same result on CPU).
        evaluate: ``(generator, epoch) -> score`` on held-out data (lower is better);
            called before training (epoch 0) and every ``eval_every`` epochs.
        report: ``report(step, **metrics)`` called after each evaluation.
    """
    torch.manual_seed(int(seed))
    batch = int(config["batch_size"])
    n = len(cond)
    if n < batch:
        raise ValueError(f"batch_size {batch} exceeds the {n} training clusters; lower batch_size or raise data.n_train")
    gen, disc = build(config, cond.shape[1])
    gen.to(device)
    disc.to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=float(config["g_lr"]), betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=float(config["d_lr"]), betas=(0.5, 0.999))
    r1 = float(config.get("r1_weight", 0.0))
    c_all = torch.as_tensor(cond, device=device)
    x_all = torch.as_tensor(target, device=device)
    order_rng = torch.Generator(device="cpu").manual_seed(int(seed) + 1)

    best = TrainResult(copy.deepcopy(gen), evaluate(gen, 0), 0)
    best.history.append({"epoch": 0, "score": best.best_score, "d_loss": float("nan"), "g_loss": float("nan")})
    if report is not None:
        report(0, w1=best.best_score)
    epochs = int(config["epochs"])
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=order_rng).to(device)
        d_sum = g_sum = 0.0
        steps = n // batch
        for b in range(steps):
            idx = perm[b * batch:(b + 1) * batch]
            c, x = c_all[idx], x_all[idx]
            z = torch.randn(batch, gen.noise_dim, device=device)
            fake = gen(c, z)
            # discriminator step
            x_req = x.requires_grad_(r1 > 0)
            real_logit = disc(x_req, c)
            d_loss = F.softplus(-real_logit).mean() + F.softplus(disc(fake.detach(), c)).mean()
            if r1 > 0:
                (grad,) = torch.autograd.grad(real_logit.sum(), x_req, create_graph=True)
                d_loss = d_loss + 0.5 * r1 * grad.pow(2).sum(1).mean()
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            # generator step (non-saturating loss)
            g_loss = F.softplus(-disc(fake, c)).mean()
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            d_sum += float(d_loss.detach())
            g_sum += float(g_loss.detach())
        if epoch % eval_every == 0 or epoch == epochs:
            score = evaluate(gen, epoch)
            row = {"epoch": epoch, "score": score, "d_loss": d_sum / steps, "g_loss": g_sum / steps}
            best.history.append(row)
            if report is not None:
                report(epoch, w1=score, d_loss=row["d_loss"], g_loss=row["g_loss"])
            if np.isfinite(score) and score < best.best_score:
                best.generator, best.best_score, best.best_epoch = copy.deepcopy(gen), score, epoch
    return best
