from __future__ import annotations

import math

import pytest

from uqhpo.task import TrialContext, normalize_result


def test_context_device_defaults_to_cpu_and_follows_environment(monkeypatch):
    monkeypatch.delenv("UQHPO_DEVICE", raising=False)
    assert TrialContext(seed=0).device == "cpu"
    monkeypatch.setenv("UQHPO_DEVICE", "cuda")
    assert TrialContext(seed=0).device == "cuda"
    assert TrialContext(seed=0, device="cpu").device == "cpu"


def test_normalize_result_forms_and_errors():
    assert normalize_result(0.5) == (0.5, {})
    assert normalize_result({"loss": 1, "acc": 0.9}) == (1.0, {"acc": 0.9})
    with pytest.raises(ValueError, match="without 'loss'"):
        normalize_result({"acc": 0.9})
    with pytest.raises(ValueError, match="non-finite"):
        normalize_result(math.inf)
