"""GPU meta-test: re-run the apps' CPU smoke tests with every training on CUDA.

``UQHPO_DEVICE=cuda`` makes ``TrialContext`` default to the GPU, so the same tests that
pass on CPU exercise the CUDA path of each app unchanged. Deselected by ``make test``
(marker ``gpu``); run it with ``pytest -m gpu`` on a machine with a GPU.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA device")
def test_app_smoke_tests_pass_on_cuda():
    apps = Path(__file__).parent / "apps"
    env = {**os.environ, "UQHPO_DEVICE": "cuda", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", str(apps)],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
