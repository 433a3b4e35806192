"""The executor conformance suite on the DDP step executor with the real `srun` launcher:
every replicate one Slurm job step of 2 tasks on the local cluster."""
from __future__ import annotations

import pytest

from uqhpo.slurm_steps import StepExecutor
from uqhpo.testing.executors import EXECUTOR_CHECKS


@pytest.mark.slurm
@pytest.mark.parametrize("check", EXECUTOR_CHECKS, ids=lambda c: c.__name__)
def test_step_executor_with_srun_passes_the_executor_suite(check, slurm_env, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", slurm_env["SLURM_CONF"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    check(lambda: StepExecutor(workers=1, processes=2, launcher="srun"))
