"""The sinogram-inpainting U-Net and one training of it (PyTorch).

Input: the zero-filled sparse sinogram (divided by the data scale), the mask of measured
rows and the linear interpolation between measured angles, as three channels
``(b, 3, nθ, ndet)`` (the interpolation as an input made training converge in fewer
epochs); output: the full sinogram, or with ``residual`` the correction added to the
interpolation.
The input is padded (edge values) to a multiple of 2^depth and the output cropped back.
Each level has two convolutions (kernel ``kernel_size``) with batch norm and ReLU;
dropout follows every decoder block and the bottleneck, so MC dropout samples them.
The epoch loop, seeding, best-epoch keeping and checkpoints come from ``uqhpo.torch``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from uqhpo.torch import FitResult, fit, mc_predict, seed_everything

MAX_CHANNELS = 512
IN_CHANNELS = 3   # sparse sinogram, mask, linear interpolation


def _block(n_in: int, n_out: int, kernel: int) -> nn.Sequential:
    pad = kernel // 2
    return nn.Sequential(nn.Conv2d(n_in, n_out, kernel, padding=pad, bias=False), nn.BatchNorm2d(n_out),
                         nn.ReLU(inplace=True),
                         nn.Conv2d(n_out, n_out, kernel, padding=pad, bias=False), nn.BatchNorm2d(n_out),
                         nn.ReLU(inplace=True))


class UNet(nn.Module):
    """2-D U-Net for sinograms: ``(b, 3, nθ, ndet)`` (sparse, mask, interpolation) ->
    ``(b, 1, nθ, ndet)``.

    Args:
        depth: number of 2× down-samplings (2–5); base_channels: channels of the first level
            (doubled per level, at most 512); kernel_size: 3, 5 or 7; dropout: probability of
            the dropout layers; residual: output = interpolation + network.
    """

    def __init__(self, depth: int = 3, base_channels: int = 16, kernel_size: int = 3, dropout: float = 0.0,
                 residual: bool = True):
        super().__init__()
        if int(kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.depth, self.residual = int(depth), bool(residual)
        chans = [min(int(base_channels) * 2 ** level, MAX_CHANNELS) for level in range(self.depth + 1)]
        self.down = nn.ModuleList([_block(IN_CHANNELS if lv == 0 else chans[lv - 1], chans[lv], kernel_size)
                                   for lv in range(self.depth)])
        self.bottom = nn.Sequential(_block(chans[-2], chans[-1], kernel_size), nn.Dropout(float(dropout)))
        self.up = nn.ModuleList([nn.ConvTranspose2d(chans[lv + 1], chans[lv], 2, stride=2)
                                 for lv in reversed(range(self.depth))])
        self.dec = nn.ModuleList([nn.Sequential(_block(2 * chans[lv], chans[lv], kernel_size),
                                                nn.Dropout(float(dropout))) for lv in reversed(range(self.depth))])
        self.head = nn.Conv2d(chans[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        unit = 2 ** self.depth
        pad = (0, (-w) % unit, 0, (-h) % unit)
        y = F.pad(x, pad, mode="replicate")
        skips = []
        for block in self.down:
            y = block(y)
            skips.append(y)
            y = F.max_pool2d(y, 2)
        y = self.bottom(y)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            y = dec(torch.cat([up(y), skip], dim=1))
        y = self.head(y)[..., :h, :w]
        return y + x[:, 2:3] if self.residual else y


def build(config: dict) -> UNet:
    """The U-Net of a config (keys depth, base_channels, kernel_size, dropout, residual)."""
    return UNet(depth=int(config["depth"]), base_channels=int(config["base_channels"]),
                kernel_size=int(config["kernel_size"]), dropout=float(config.get("dropout", 0.0)),
                residual=bool(config.get("residual", True)))


def tensors(split: Any, scale: float, device: str) -> dict[str, torch.Tensor]:
    """A ``prep.Split`` as network tensors: ``x (n, 3, nθ, ndet)`` (sparse, mask, interpolation),
    ``full`` and ``missing`` ``(n, 1, nθ, ndet)`` (sinograms divided by ``scale``; ``missing``
    is 1 on missing rows)."""
    mask = torch.as_tensor(split.mask, dtype=torch.float32)[:, None, :, None].expand(-1, 1, -1, split.full.shape[2])
    sparse = torch.as_tensor(split.sparse / scale, dtype=torch.float32)[:, None]
    interp = torch.as_tensor(split.interp / scale, dtype=torch.float32)[:, None]
    return {"x": torch.cat([sparse, mask, interp], dim=1).contiguous().to(device),
            "full": torch.as_tensor(split.full / scale, dtype=torch.float32)[:, None].to(device),
            "missing": (1.0 - mask).contiguous().to(device)}


def _forward(model: UNet, t: dict, idx: Any) -> torch.Tensor:
    return model(t["x"][idx])


def _draws(model: UNet, t: dict, idx: Any, scale: float, passes: int) -> torch.Tensor:
    """``(max(passes, 1), b, nθ, ndet)`` CPU predictions in physical units, measured rows as measured."""
    if passes:
        draws = torch.as_tensor(mc_predict(model, lambda m: _forward(m, t, idx), passes))
    else:
        model.eval()
        with torch.no_grad():
            draws = _forward(model, t, idx).float().cpu()[None]
    keep = t["missing"][idx].cpu()
    draws = draws * keep + t["x"][idx, :1].cpu() * (1 - keep)    # data consistency on measured rows
    return draws[:, :, 0] * scale


def predict(model: UNet, t: dict, scale: float, passes: int = 0, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Inpainted sinograms of a whole split.

    Args:
        model: a trained U-Net; t: :func:`tensors` of a split; scale: the data scale.
        passes: 0 = one deterministic pass (eval mode); m > 0 = m MC-dropout passes.

    Returns:
        ``(mean, std)`` over the passes, each ``(n, nθ, ndet)`` float32 in physical units
        (std is 0 for a deterministic pass).
    """
    means, stds = [], []
    for start in range(0, len(t["x"]), batch):
        draws = _draws(model, t, slice(start, start + batch), scale, passes)
        means.append(draws.mean(0).numpy())
        stds.append(draws.std(0, unbiased=False).numpy())
    return np.concatenate(means).astype(np.float32), np.concatenate(stds).astype(np.float32)


def sample_passes(model: UNet, t: dict, idx: np.ndarray, scale: float, passes: int) -> np.ndarray:
    """Every MC-dropout pass of the samples ``idx``: ``(max(passes, 1), len(idx), nθ, ndet)``."""
    return _draws(model, t, torch.as_tensor(np.asarray(idx), dtype=torch.long), scale, passes).numpy()


def train(config: dict, train_t: dict, valid_t: dict, scale: float, ctx: Any,
          eval_every: int = 1) -> tuple[UNet, FitResult]:
    """Train with ``ctx.seed``: Adam on the MSE of the missing rows (scaled units); the score
    of an epoch is the same MSE on the validation split in physical units.

    Returns:
        the model holding the best epoch's weights, and the kit's :class:`FitResult`.
    """
    n, batch = len(train_t["x"]), int(config["batch_size"])
    if n < batch:
        raise ValueError(f"batch_size {batch} exceeds the {n} training sinograms; lower batch_size or use more data")
    seed_everything(ctx.seed)
    model = build(config).to(ctx.device)
    opt = torch.optim.Adam(model.parameters(), lr=float(config["lr"]))
    order_rng = torch.Generator(device="cpu").manual_seed(int(ctx.seed) + 1)

    def missing_loss(pred: torch.Tensor, target: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        return ((pred - target) ** 2 * missing).sum() / missing.sum().clamp_min(1.0)

    def train_epoch(epoch: int) -> dict:
        perm = torch.randperm(n, generator=order_rng).to(ctx.device)
        total, steps = 0.0, n // batch     # drop the last partial batch (batch norm needs > 1 sample)
        for b in range(steps):
            idx = perm[b * batch:(b + 1) * batch]
            loss = missing_loss(_forward(model, train_t, idx), train_t["full"][idx], train_t["missing"][idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
        return {"train_loss": total / steps * scale ** 2}

    def evaluate(epoch: int) -> float:
        err = den = 0.0
        with torch.no_grad():
            for start in range(0, len(valid_t["x"]), 64):
                idx = slice(start, start + 64)
                miss = valid_t["missing"][idx]
                err += float((((_forward(model, valid_t, idx) - valid_t["full"][idx]) ** 2) * miss).sum())
                den += float(miss.sum())
        return err / max(den, 1.0) * scale ** 2

    result = fit(ctx, models=model, optimizers=opt, train_epoch=train_epoch, evaluate=evaluate,
                 epochs=int(config["epochs"]), eval_every=eval_every, metric="val_mse",
                 generators={"batch_order": order_rng})
    return model, result
