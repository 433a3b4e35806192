"""The forecasting LSTM, one architecture in two frameworks, behind one ``train`` call.

Architecture (both frameworks, same hyperparameters): ``layers`` stacked LSTM layers of
``units`` cells over the ``lag``-day input window, each with input dropout ``dropout``
and recurrent dropout ``recurrent_dropout`` (masks drawn once per sequence), the last
state -> dropout ``dropout`` -> dense layer -> the ``H`` scaled head changes. Adam with
learning rate ``lr``, mean squared error on the scaled targets, ``batch_size`` windows a
step (the last incomplete batch of an epoch is dropped; the order is reshuffled each
epoch), ``epochs`` epochs; the epoch with the lowest validation RMSE (m) is kept.

``framework: keras`` (the reference, :mod:`.keras_model`, TensorFlow) or ``torch`` (the
twin, :mod:`.torch_model`, trained by the app kit ``uqhpo.torch``). Neither is imported
before a training asks for it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

FRAMEWORKS = ("keras", "torch")
CHUNK = 2048   # windows per forward pass when predicting


@dataclass
class Trained:
    """A trained network holding its best epoch's weights.

    Attributes:
        predict: ``predict(x (n, lag, F), passes=0) -> (max(passes, 1), n, H)`` scaled
            forecasts; ``passes > 0`` draws that many Monte-Carlo dropout masks.
        best_score: validation RMSE (m) of the best epoch; best_epoch: its number.
        history: one row per evaluated epoch (``epoch``, ``val_rmse``, ``train_loss``).
        resumed_from: the checkpointed epoch this training continued after (None: fresh).
        framework: "keras" or "torch".
    """

    predict: Callable[..., np.ndarray]
    best_score: float
    best_epoch: int
    history: list = field(default_factory=list)
    resumed_from: Optional[int] = None
    framework: str = ""


def check_batches(n: int, batch: int) -> None:
    """One-line error when there are fewer training windows than one batch."""
    if n < batch:
        raise ValueError(f"batch_size {batch} exceeds the {n} training windows; lower batch_size or lag, "
                         "or move data.val_start later")


def train(framework: str, config: dict, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
          score: Callable[[np.ndarray], float], ctx: Any, **options: Any) -> Trained:
    """Train with the chosen framework (see the module docstring).

    Args:
        framework: "keras" or "torch".
        config: hyperparameters; x_train ``(n, lag, F)``, y_train ``(n, H)``, x_val ``(m, lag, F)``.
        score: validation forecast ``(m, H)`` (scaled) -> RMSE in metres.
        ctx: the trial context (seed, device, report, checkpoint_path).
        options: ``evaluate_before``, ``keep_checkpoint``.
    """
    if framework == "keras":
        from .keras_model import train as impl  # noqa: PLC0415 - TensorFlow only for Keras runs
    elif framework == "torch":
        from .torch_model import train as impl  # noqa: PLC0415 - torch only for torch runs
    else:
        raise ValueError(f"data.framework must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
    return impl(config, x_train, y_train, x_val, score, ctx, **options)
