"""Conditional GAN for cluster decays: networks and one training (PyTorch).

Generator: condition ⊕ noise -> 2 scaled angles (tanh, the scaled range is [-1, 1]).
Discriminator: angles ⊕ condition -> one logit. Non-saturating GAN loss with an R1
gradient penalty on real samples (weight ``r1_weight``; 0 switches it off). The epoch
loop, best-epoch keeping, seeding and checkpoints come from the app kit (``uqhpo.torch``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from uqhpo.torch import fit, seed_everything

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
    """Outcome of one training: the generator holding the best epoch's weights, and its history."""

    generator: Generator
    best_score: float
    best_epoch: int
    history: list = field(default_factory=list)   # [{"epoch", "val_loss", "d_loss", "g_loss"}]
    resumed_from: Optional[int] = None            # checkpointed epoch this run continued after


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


def train_gan(config: dict, cond: np.ndarray, target: np.ndarray, *, ctx: Any,
              evaluate: Callable[[Generator, int], float], eval_every: int = 1) -> TrainResult:
    """Train a conditional GAN with the app kit's loop; keep the generator of the best epoch.

    Args:
        config: hyperparameters (see the task's search space).
        cond: ``(n, c)`` scaled training conditions; target: ``(n, 2)`` scaled angles.
        ctx: the trial context: ``seed`` (same seed -> same result on CPU), ``device``,
            ``report`` (called after each evaluation) and ``checkpoint_path`` (a killed
            training resumes after its last epoch).
        evaluate: ``(generator, epoch) -> score`` on held-out data (lower is better);
            called before training (epoch 0) and every ``eval_every`` epochs.
    """
    batch, n, device = int(config["batch_size"]), len(cond), ctx.device
    if n < batch:
        raise ValueError(f"batch_size {batch} exceeds the {n} training clusters; "
                         "lower batch_size or raise data.n_train")
    seed_everything(ctx.seed)
    gen, disc = build(config, cond.shape[1])
    gen.to(device)
    disc.to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=float(config["g_lr"]), betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=float(config["d_lr"]), betas=(0.5, 0.999))
    r1 = float(config.get("r1_weight", 0.0))
    c_all, x_all = torch.as_tensor(cond, device=device), torch.as_tensor(target, device=device)
    order_rng = torch.Generator(device="cpu").manual_seed(int(ctx.seed) + 1)

    def train_epoch(epoch: int) -> dict:
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
        return {"d_loss": d_sum / steps, "g_loss": g_sum / steps}

    result = fit(ctx, models={"generator": gen, "discriminator": disc},
                 optimizers={"generator": opt_g, "discriminator": opt_d}, train_epoch=train_epoch,
                 evaluate=lambda epoch: evaluate(gen, epoch), epochs=int(config["epochs"]), eval_every=eval_every,
                 metric="val_loss", generators={"batch_order": order_rng}, evaluate_before=True)
    return TrainResult(gen, result.best_score, result.best_epoch, result.history, result.resumed_from)
