"""Monte-Carlo dropout: predictions with dropout switched on and everything else in eval.

Calling ``model.train()`` to sample dropout masks also puts BatchNorm in training mode:
it then normalises with the batch's own statistics and *updates its running averages*
on every prediction, so the spread measured is not dropout's and the model changes.
:func:`mc_dropout` switches only dropout layers on.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

#: layer types that :func:`mc_dropout` switches to training mode
DROPOUT_TYPES: tuple[type, ...] = tuple(
    getattr(nn, name) for name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                                   "FeatureAlphaDropout") if hasattr(nn, name))


@contextmanager
def mc_dropout(model: nn.Module, types: tuple[type, ...] = DROPOUT_TYPES) -> Iterator[nn.Module]:
    """Within the block: ``model`` in eval mode except its dropout layers; then each
    module's previous mode is restored.

    Dropout called functionally (``F.dropout(x, training=self.training)``) follows its
    module's flag and stays off; use dropout layers, or pass their types in ``types``.

    Args:
        model: the network.
        types: module types counted as dropout.

    Yields:
        ``model``.
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    for m in model.modules():
        if isinstance(m, types):
            m.train()
    try:
        yield model
    finally:
        for m, was_training in modes:
            m.train(was_training)


def _to_numpy(out: Any) -> np.ndarray:
    if isinstance(out, torch.Tensor):
        return out.detach().float().cpu().numpy() if out.is_floating_point() else out.detach().cpu().numpy()
    return np.asarray(out)


def mc_predict(model: nn.Module, predict: Callable[[nn.Module], Any], passes: int) -> np.ndarray:
    """Stack ``passes`` predictions made with fresh dropout masks.

    Args:
        model: the network (its dropout layers draw from torch's global RNG, so the
            masks follow the seed given by :func:`~uqhpo.torch.seed_everything`).
        predict: ``predict(model) -> tensor or array`` of shape ``(...)``, e.g.
            ``lambda m: m(x_val)``; called without gradients.
        passes: number of forward passes (>= 1).

    Returns:
        ``(passes, ...)`` array of predictions (float32 for floating tensors).
    """
    if int(passes) < 1:
        raise ValueError(f"mc_predict: passes must be >= 1, got {passes}")
    with torch.no_grad(), mc_dropout(model):
        return np.stack([_to_numpy(predict(model)) for _ in range(int(passes))])
