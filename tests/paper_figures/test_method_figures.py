"""The method figure scripts, end to end on their quick preset (a representative subset:
the timeline and loss-variability figures build their studies from scratch here; the
convergence, sensitivity and lr-sweep figures run in `make figures PRESET=quick`)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(name: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FIGURES_RUNS": str(tmp_path / "runs"), "PRESET": "quick", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(ROOT / "paper_figures" / name), "--out", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path)


def test_timeline_figure_builds_its_studies_and_shows_async_is_busier(tmp_path):
    done = run_script("fig_timeline.py", tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    for suffix in (".png", ".pdf"):
        assert (tmp_path / "out" / f"timeline{suffix}").stat().st_size > 5000
    util = {line.split(":")[0].strip(): float(line.split("utilization ")[1].split("%")[0])
            for line in done.stdout.splitlines() if "utilization" in line}
    assert util["asynchronous"] > util["synchronous"]
    assert (tmp_path / "runs" / "quick" / "studies.db").is_file()


def test_missing_study_with_no_build_names_the_command(tmp_path):
    done = run_script("fig_loss_variability.py", tmp_path, "--no-build")
    assert done.returncode != 0 and "python paper_figures/_studies.py --preset quick" in done.stderr


@pytest.mark.slow
def test_loss_variability_figure_builds_the_convergence_studies(tmp_path):
    done = run_script("fig_loss_variability.py", tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    assert (tmp_path / "out" / "loss_variability.png").stat().st_size > 5000
