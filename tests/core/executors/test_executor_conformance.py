"""Every shipped executor passes the suite in uqhpo.testing.executors; the suite can fail."""
from __future__ import annotations

import pytest

from uqhpo.executors import make_executor
from uqhpo.executors.serial import SerialExecutor
from uqhpo.slurm_steps import StepExecutor
from uqhpo.testing.executors import EXECUTOR_CHECKS, check_every_slot_once, check_task_reference_matches_capability

FACTORIES = {
    "serial": lambda: make_executor("serial"),
    "local": lambda: make_executor("local", workers=2),
    "simulated": lambda: make_executor("simulated", workers=3, seed=1),
    # each replicate a step of 2 ranks (DDP layout), launched as local processes; the srun
    # launcher runs the same suite in tests/slurm/test_slurm_step_conformance.py
    "ddp-steps": lambda: StepExecutor(workers=2, processes=2, launcher="local"),
}


@pytest.mark.parametrize("check", EXECUTOR_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_executor_conformance(name, check):
    check(FACTORIES[name])


class DropsSecondSlot(SerialExecutor):
    """Broken on purpose: loses the second slot of every job."""

    def submit(self, job):
        job.slots = job.slots[:1]
        super().submit(job)


class ClaimsToBeInProcessButIsNot(SerialExecutor):
    in_process = False


def test_the_suite_catches_a_lost_slot():
    with pytest.raises(AssertionError, match="reported"):
        check_every_slot_once(DropsSecondSlot)


def test_the_suite_catches_a_wrong_capability_flag():
    with pytest.raises(AssertionError, match="not in_process"):
        check_task_reference_matches_capability(ClaimsToBeInProcessButIsNot)
