"""The real single-node Slurm cluster of slurm/local-cluster.sh, for tests marked `slurm`."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def slurm_env() -> dict:
    """The environment for Slurm commands (``SLURM_CONF``), the cluster started if it is
    down; skips only where Slurm cannot be started here."""
    if shutil.which("slurmctld") is None or shutil.which("sbatch") is None:
        pytest.skip("Slurm is not installed (apt-get install slurm-wlm munge; .ci/run does it)")
    if os.geteuid() != 0:
        pytest.skip("starting the local Slurm cluster needs root")
    out = subprocess.run(["bash", str(REPO / "slurm" / "local-cluster.sh"), "start"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    conf = out.stdout.strip().split("SLURM_CONF=")[-1]
    return {**os.environ, "SLURM_CONF": conf, "OMP_NUM_THREADS": "1"}
