"""A worker SIGKILLed mid-training: the retry resumes from the checkpoint, with the same seed,
and ends exactly where an uninterrupted training of the same config and seed ends."""
from __future__ import annotations

import uqhpo
from uqhpo.space import Fixed, Space
from uqhpo.trial import State

TASK = "uqhpo.testing.torch_tasks:tiny"
CONFIG = {"lr": 0.01, "width": 16, "dropout": 0.1, "batch_size": 32, "epochs": 6}


def _study(tmp_path, name: str, **extra) -> uqhpo.Study:
    space = Space({k: Fixed(v) for k, v in {**CONFIG, **extra}.items()})
    return uqhpo.create_study(space, strategy="random", seed=0, storage=f"sqlite:///{tmp_path}/{name}.db")


def test_killed_replicate_resumes_from_its_checkpoint(tmp_path):
    killed = _study(tmp_path, "killed", interrupt_after=3, interrupt="kill")
    killed.optimize(TASK, n_trials=1, n_replicates=1, executor="local", workers=1, workdir=tmp_path / "killed")
    (trial,) = killed.all_trials()
    attempts = sorted(trial.replicates, key=lambda r: r.attempt)
    assert [(r.attempt, r.state) for r in attempts] == [(0, State.FAILED), (1, State.COMPLETE)]
    lost, retry = attempts
    assert "worker lost" in lost.error and "-9" in lost.error       # SIGKILL, seen by the executor
    assert retry.seed == lost.seed
    assert [step for step, _ in retry.reports] == [4, 5, 6]      # resumed after epoch 3, not restarted
    assert retry.metrics["resumed_from"] == 3
    assert not list((tmp_path / "killed").rglob("*.ckpt"))       # removed once the training finished

    # the same config and seed, never interrupted, in the test process
    plain = _study(tmp_path, "plain")
    plain.optimize(TASK, n_trials=1, n_replicates=1, executor="serial", workdir=tmp_path / "plain")
    (reference,) = plain.all_trials()
    (ref,) = reference.replicates
    assert ref.seed == retry.seed and ref.metrics["resumed_from"] == -1
    assert [step for step, _ in ref.reports] == [1, 2, 3, 4, 5, 6]
    assert retry.loss == ref.loss and retry.metrics["best_epoch"] == ref.metrics["best_epoch"]
    assert retry.reports == ref.reports[3:]
