"""The epoch loop every app needs: train, evaluate, report, keep the best, checkpoint, resume.

:func:`fit` owns the loop and nothing else: the task keeps its own training step
(``train_epoch``) and its own score (``evaluate``). After every epoch the whole training
state goes to ``ctx.checkpoint_path``: models, optimizers, schedulers, the best state so
far, the history, the epoch, every random state and the seed. A replicate restarted with
the same seed (a worker was killed, the study was resumed) continues after the last
checkpointed epoch and ends, on CPU, exactly as a run that never stopped. A checkpoint
of another seed, or of another loop setup (epochs, names), is ignored and overwritten.

Disk use: the checkpoint holds about four copies of the weights (model, Adam's two
moments, best state). By default it is deleted when :func:`fit` returns, because the
best weights are then in the models and the task saves what it wants to keep; pass
``keep_checkpoint=True`` to keep it (a re-run then skips training and restores the best).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from ..task import TrialPruned
from .checkpoint import (
    copy_state_dicts,
    load_checkpoint,
    load_state_dicts,
    named,
    remove_checkpoint,
    save_checkpoint,
    state_dicts,
)
from .seeding import capture_rng_state, check_generators, restore_rng_state

log = logging.getLogger("uqhpo")

CHECKPOINT_FORMAT = 1


@dataclass
class FitResult:
    """Outcome of :func:`fit`.

    Attributes:
        best_score: lowest finite evaluation score (NaN when none was finite).
        best_epoch: the epoch that scored it (-1 when none); its weights are in the models.
        history: one row per evaluation, ``{"epoch", <metric>, **train_epoch metrics}``.
        resumed_from: the checkpointed epoch this run continued after; None = fresh start.
    """

    best_score: float
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    resumed_from: Optional[int] = None


@dataclass
class _State:
    """What a checkpoint carries besides the objects' own states."""

    epoch: int = 0
    history: list = field(default_factory=list)
    best_score: float = math.inf
    best_epoch: Optional[int] = None
    best_models: Optional[dict] = None


def fit(ctx: Any, *, models: Any, optimizers: Any, train_epoch: Callable[[int], Optional[Mapping[str, float]]],
        evaluate: Callable[[int], float], epochs: int, eval_every: int = 1, metric: str = "val_loss",
        schedulers: Any = None, generators: Optional[Mapping[str, Any]] = None, evaluate_before: bool = False,
        checkpoint_every: int = 1, keep_checkpoint: bool = False) -> FitResult:
    """Train for ``epochs`` epochs; return the best evaluated epoch, its weights restored.

    Seed first (:func:`~uqhpo.torch.seed_everything`), build the models, then call this.
    Models are in train mode during ``train_epoch`` and in eval mode during ``evaluate``
    and after the return.

    Args:
        ctx: the trial context (``seed``, ``report``, ``checkpoint_path``).
        models: an ``nn.Module`` or ``{name: module}``; optimizers, schedulers: likewise
            (anything with ``state_dict``/``load_state_dict``).
        train_epoch: ``train_epoch(epoch) -> {metric: float}`` (or None) for epochs 1..epochs.
        evaluate: ``evaluate(epoch) -> score``, lower is better; after every ``eval_every``
            epochs and after the last one.
        epochs: number of training epochs.
        eval_every: epochs between evaluations.
        metric: the name the score is reported and stored under.
        generators: ``{name: generator}`` the task draws from besides the global RNGs
            (``torch.Generator``, NumPy ``Generator``/``RandomState``, ``random.Random``);
            checkpointed so a resumed run draws the same numbers.
        evaluate_before: also evaluate the untrained models, as epoch 0.
        checkpoint_every: epochs between checkpoints (the last epoch always); 0 = never.
        keep_checkpoint: keep the checkpoint after a successful return (see module doc).

    Returns:
        :class:`FitResult`. Each evaluation was also sent as ``ctx.report(epoch, ...)``.
    """
    nets, opts, scheds = named(models, "model"), named(optimizers, "optimizer"), named(schedulers, "scheduler")
    gens = check_generators(generators)
    epochs, eval_every, checkpoint_every = int(epochs), int(eval_every), int(checkpoint_every)
    if not nets:
        raise ValueError("fit: no models given")
    if epochs < 0 or eval_every < 1 or checkpoint_every < 0:
        raise ValueError(f"fit: need epochs >= 0, eval_every >= 1, checkpoint_every >= 0 "
                         f"(got {epochs}, {eval_every}, {checkpoint_every})")
    signature = {"epochs": epochs, "eval_every": eval_every, "metric": metric, "evaluate_before": bool(evaluate_before),
                 "models": sorted(nets), "optimizers": sorted(opts), "schedulers": sorted(scheds),
                 "generators": sorted(gens)}
    objects = {"models": nets, "optimizers": opts, "schedulers": scheds}
    path = ctx.checkpoint_path if checkpoint_every else None
    state = _resume(path, int(ctx.seed), signature, objects, gens) if path is not None else None
    resumed_from = None if state is None else state.epoch
    state = state or _State()

    def evaluate_now(epoch: int, train_metrics: dict) -> None:
        for m in nets.values():
            m.eval()
        score = float(evaluate(epoch))
        row = {"epoch": epoch, **train_metrics, metric: score}
        state.history.append(row)
        ctx.report(epoch, **{k: v for k, v in row.items() if k != "epoch"})
        if math.isfinite(score) and score < state.best_score:
            state.best_score, state.best_epoch, state.best_models = score, epoch, copy_state_dicts(nets)

    def checkpoint(epoch: int) -> None:
        state.epoch = epoch
        if path is not None and (epoch % checkpoint_every == 0 or epoch == epochs):
            save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "seed": int(ctx.seed), "signature": signature,
                                   "epoch": epoch, "history": state.history,
                                   "best": {"score": state.best_score, "epoch": state.best_epoch,
                                            "models": state.best_models},
                                   **{kind: state_dicts(objs) for kind, objs in objects.items()},
                                   "rng": capture_rng_state(gens)})

    try:
        if resumed_from is None and evaluate_before:
            evaluate_now(0, {})
            checkpoint(0)
        for epoch in range(state.epoch + 1, epochs + 1):
            for m in nets.values():
                m.train()
            train_metrics = {str(k): float(v) for k, v in (train_epoch(epoch) or {}).items()}
            if epoch % eval_every == 0 or epoch == epochs:
                evaluate_now(epoch, train_metrics)
            checkpoint(epoch)
    except TrialPruned:
        if path is not None and not keep_checkpoint:
            remove_checkpoint(path)  # a pruned training is finished: nothing will continue it
        raise

    if state.best_models is not None:
        load_state_dicts(nets, state.best_models)
    for m in nets.values():
        m.eval()
    if path is not None and not keep_checkpoint:
        remove_checkpoint(path)
    if state.best_epoch is None:
        return FitResult(best_score=math.nan, best_epoch=-1, history=state.history, resumed_from=resumed_from)
    return FitResult(best_score=state.best_score, best_epoch=state.best_epoch, history=state.history,
                     resumed_from=resumed_from)


def _resume(path: Any, seed: int, signature: dict, objects: dict, gens: dict) -> Optional[_State]:
    """Load a matching checkpoint into the objects and RNGs; None (nothing changed) otherwise."""
    ckpt = load_checkpoint(path)
    if ckpt is None:
        return None
    if ckpt.get("format") != CHECKPOINT_FORMAT or ckpt.get("seed") != seed:
        log.info("checkpoint '%s' is of seed %s, not %s: starting afresh", path, ckpt.get("seed"), seed)
        return None
    if ckpt.get("signature") != signature:
        log.warning("checkpoint '%s' was written by another loop setup (%s, now %s): starting afresh",
                    path, ckpt.get("signature"), signature)
        return None
    before = {kind: copy_state_dicts(objs) for kind, objs in objects.items()}
    rng_before = capture_rng_state(gens)
    try:
        for kind, objs in objects.items():
            load_state_dicts(objs, ckpt[kind])
        restore_rng_state(ckpt["rng"], gens)
    except Exception as e:  # noqa: BLE001 - e.g. shapes changed: roll back, start afresh
        for kind, objs in objects.items():
            load_state_dicts(objs, before[kind])
        restore_rng_state(rng_before, gens)
        log.warning("checkpoint '%s' does not fit these models (%s): starting afresh", path,
                    str(e).splitlines()[0] if str(e) else type(e).__name__)
        return None
    best = ckpt["best"]
    log.info("resuming from checkpoint '%s' after epoch %d", path, ckpt["epoch"])
    return _State(epoch=int(ckpt["epoch"]), history=list(ckpt["history"]), best_score=float(best["score"]),
                  best_epoch=best["epoch"], best_models=best["models"])
