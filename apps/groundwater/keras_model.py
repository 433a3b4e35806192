"""The reference model in TensorFlow/Keras, trained the way the app kit trains torch models.

``uqhpo.torch`` is PyTorch-only, so this module mirrors its behaviour with Keras means:
seeding through ``keras.utils.set_random_seed`` plus TensorFlow op determinism, an epoch
loop that reports every evaluation through ``ctx.report``, keeps the best epoch's weights
and restores them at the end, writes a checkpoint to ``ctx.checkpoint_path`` after every
epoch (all model variables including the dropout seed states, the optimizer state, the
best weights, the history and the batch-order generator) and resumes from it, and
Monte-Carlo dropout that calls only the dropout-carrying layers with ``training=True``.

TensorFlow is imported when this module is (the task imports it only for
``framework: keras``), with one intra-op and one inter-op thread: workers share the CPU.
"""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .model import CHUNK, Trained, check_batches

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # TensorFlow's start-up chatter
try:
    import tensorflow as tf
except ImportError:  # pragma: no cover - depends on the installation
    raise ImportError("the Keras model needs TensorFlow: pip install 'uqhpo[tf]'") from None
try:
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:   # the runtime already started in this process; its setting stays
    pass
import keras  # noqa: E402 - after the thread setting

log = logging.getLogger("uqhpo")
CHECKPOINT_FORMAT = 1


def build(config: dict, lag: int, n_inputs: int, horizon: int) -> keras.Sequential:
    """Stacked LSTM -> dropout -> dense: ``(b, lag, n_inputs)`` -> ``(b, horizon)``."""
    n_layers, units = int(config["layers"]), int(config["units"])
    drop, rec = float(config["dropout"]), float(config["recurrent_dropout"])
    stack: list[Any] = [keras.Input((int(lag), int(n_inputs)))]
    stack += [keras.layers.LSTM(units, return_sequences=i < n_layers - 1, dropout=drop, recurrent_dropout=rec)
              for i in range(n_layers)]
    stack += [keras.layers.Dropout(drop), keras.layers.Dense(int(horizon))]
    return keras.Sequential(stack)


def _device(device: str) -> str:
    if str(device).startswith("cuda"):
        if tf.config.list_physical_devices("GPU"):
            return "/GPU:0"
        log.info("groundwater: TensorFlow sees no GPU, the Keras model trains on the CPU")
    return "/CPU:0"


def _predictors(model: keras.Sequential) -> tuple[Callable, Callable]:
    """Compiled forward passes: deterministic, and Monte-Carlo (dropout layers in training mode).

    An LSTM layer's only training-mode behaviour is its input and recurrent dropout, so
    it is called with ``training=True`` together with the Dropout layer; the Dense layer
    always runs in inference mode.
    """
    dropout_layers = (keras.layers.Dropout, keras.layers.LSTM)

    @tf.function(reduce_retracing=True)
    def plain(x):
        return model(x, training=False)

    @tf.function(reduce_retracing=True)
    def mc(x):
        for layer in model.layers:
            x = layer(x, training=isinstance(layer, dropout_layers))
        return x

    return plain, mc


def _run_chunks(fn: Callable, x: np.ndarray) -> np.ndarray:
    return np.concatenate([fn(tf.constant(x[i:i + CHUNK])).numpy() for i in range(0, len(x), CHUNK)])


class _Checkpoint:
    """One ``.npz`` file (no pickles), written atomically: variables, optimizer, best weights, meta."""

    def __init__(self, path: Optional[Path], seed: int, signature: dict):
        self.path, self.seed, self.signature = path, seed, signature

    def save(self, model: Any, opt: Any, best: Optional[list], meta: dict) -> None:
        if self.path is None:
            return
        arrays = {f"model_{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
        arrays.update({f"opt_{i}": np.asarray(v.numpy()) for i, v in enumerate(opt.variables)})
        arrays.update({f"best_{i}": w for i, w in enumerate(best or [])})
        info = {"format": CHECKPOINT_FORMAT, "seed": self.seed, "signature": self.signature, **meta}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(info)), **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def load(self, model: Any, opt: Any) -> Optional[tuple[dict, Optional[list]]]:
        """Restore a matching checkpoint into model and optimizer -> (meta, best weights)."""
        if self.path is None or not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as f:
                info = json.loads(str(f["meta"]))
                arrays = {k: f[k] for k in f.files if k != "meta"}
        except Exception as e:  # noqa: BLE001 - unreadable means "start afresh"
            log.warning("ignoring unreadable checkpoint '%s': %s", self.path, e)
            return None
        if info.get("format") != CHECKPOINT_FORMAT or info.get("seed") != self.seed:
            log.info("checkpoint '%s' is of seed %s, not %s: starting afresh", self.path, info.get("seed"), self.seed)
            return None
        if info.get("signature") != self.signature:
            log.warning("checkpoint '%s' was written by another setup: starting afresh", self.path)
            return None
        targets = [(v, arrays.get(f"model_{i}")) for i, v in enumerate(model.variables)]
        targets += [(v, arrays.get(f"opt_{i}")) for i, v in enumerate(opt.variables)]
        if any(a is None or tuple(a.shape) != tuple(v.shape) for v, a in targets):
            log.warning("checkpoint '%s' does not fit this model: starting afresh", self.path)
            return None
        for v, a in targets:
            v.assign(a)
        best = [arrays[f"best_{i}"] for i in range(len(model.get_weights()))] if "best_0" in arrays else None
        log.info("resuming from checkpoint '%s' after epoch %d", self.path, info["epoch"])
        return info, best


def train(config: dict, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
          score: Callable[[np.ndarray], float], ctx: Any, *, evaluate_before: bool = True,
          keep_checkpoint: bool = False) -> Trained:
    """Train the Keras LSTM; keep the epoch with the lowest ``score`` of the validation forecast.

    Args:
        config: hyperparameters (layers, units, dropout, recurrent_dropout, lr, batch_size, epochs).
        x_train: ``(n, lag, F)``; y_train: ``(n, H)`` scaled targets; x_val: ``(m, lag, F)``.
        score: ``score(pred (m, H)) -> float`` in metres, lower is better (reported as ``val_rmse``).
        ctx: trial context: ``seed``, ``device``, ``report``, ``checkpoint_path``.
        evaluate_before: also score the untrained network, as epoch 0.
        keep_checkpoint: keep the checkpoint file after a finished training.
    """
    n, batch, epochs = len(x_train), int(config["batch_size"]), int(config["epochs"])
    check_batches(n, batch)
    seed = int(ctx.seed)
    keras.utils.set_random_seed(seed % 2**32)
    tf.config.experimental.enable_op_determinism()
    order = np.random.default_rng([seed, 1])   # batch order, checkpointed
    signature = {"epochs": epochs, "batch_size": batch, "evaluate_before": bool(evaluate_before),
                 "shape": [int(s) for s in x_train.shape[1:]] + [int(y_train.shape[1])]}
    with tf.device(_device(ctx.device)):
        model = build(config, x_train.shape[1], x_train.shape[2], y_train.shape[1])
        opt = keras.optimizers.Adam(float(config["lr"]))
        model.compile(optimizer=opt, loss="mse")
        opt.build(model.trainable_variables)
        plain, mc = _predictors(model)
        ckpt = _Checkpoint(ctx.checkpoint_path, seed, signature)
        resumed = ckpt.load(model, opt)
        meta: dict = {"epoch": 0, "history": [], "best_score": math.inf, "best_epoch": None}
        best: Optional[list] = None
        if resumed is not None:
            meta, best = {k: resumed[0][k] for k in meta}, resumed[1]
            order.bit_generator.state = resumed[0]["order"]

        def evaluate_now(epoch: int, train_metrics: dict) -> None:
            nonlocal best
            value = float(score(_run_chunks(plain, x_val)))
            row = {"epoch": epoch, **train_metrics, "val_rmse": value}
            meta["history"].append(row)
            ctx.report(epoch, **{k: v for k, v in row.items() if k != "epoch"})
            if math.isfinite(value) and value < meta["best_score"]:
                meta.update(best_score=value, best_epoch=epoch)
                best = [np.array(w) for w in model.get_weights()]

        def checkpoint(epoch: int) -> None:
            meta["epoch"] = epoch
            ckpt.save(model, opt, best, {**meta, "order": order.bit_generator.state})

        if resumed is None and evaluate_before:
            evaluate_now(0, {})
            checkpoint(0)
        for epoch in range(int(meta["epoch"]) + 1, epochs + 1):
            perm = order.permutation(n)
            losses = [float(model.train_on_batch(x_train[idx], y_train[idx]))
                      for idx in (perm[b * batch:(b + 1) * batch] for b in range(n // batch))]
            evaluate_now(epoch, {"train_loss": float(np.mean(losses))})
            checkpoint(epoch)
        if best is not None:
            model.set_weights(best)
    if ctx.checkpoint_path is not None and not keep_checkpoint:
        Path(ctx.checkpoint_path).unlink(missing_ok=True)

    def predict(x: np.ndarray, passes: int = 0) -> np.ndarray:
        with tf.device(_device(ctx.device)):
            if passes <= 0:
                return _run_chunks(plain, x)[None]
            return np.stack([_run_chunks(mc, x) for _ in range(int(passes))])

    best_epoch = meta["best_epoch"]
    return Trained(predict=predict, best_score=float(meta["best_score"]) if best_epoch is not None else math.nan,
                   best_epoch=-1 if best_epoch is None else int(best_epoch), history=meta["history"],
                   resumed_from=None if resumed is None else int(resumed[0]["epoch"]), framework="keras")
