"""SIGTERM inside ``optimize``: the first one raises Terminated, later ones are ignored
until the block ends (so they cannot interrupt the re-queue the first one started)."""
from __future__ import annotations

import os
import signal
import time

import pytest

from uqhpo.lifecycle import Terminated, terminate_as_interrupt


def _sigterm_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)   # the handler runs in the main thread at the next bytecode boundary


def test_a_second_sigterm_does_not_interrupt_the_cleanup_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    second_raised = False
    with terminate_as_interrupt():
        with pytest.raises(Terminated):
            _sigterm_self()
        try:
            _sigterm_self()                 # the scheduler repeats itself during the re-queue
        except Terminated:
            second_raised = True
    assert not second_raised, "a second SIGTERM interrupted the cleanup"
    assert signal.getsignal(signal.SIGTERM) == before
