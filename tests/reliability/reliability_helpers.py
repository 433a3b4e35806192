"""Helpers of the fault-injection suite (``tests/reliability``): run the real ``uqhpo`` CLI in a subprocess on
configs and files written by the tests, and check its output is one clear line."""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import yaml

HERE = Path(__file__).resolve().parent


class Workspace:
    """A folder with ``hostile_tasks.py`` in it, where configs are written and ``uqhpo`` runs."""

    def __init__(self, root: Path):
        self.root = root
        shutil.copy(HERE / "hostile_tasks.py", root / "hostile_tasks.py")

    def config(self, name: str = "study", **sections: Any) -> Path:
        """Write ``<name>.yaml``: a 2-trial serial study of ``hostile_tasks:well_behaved``
        with storage ``<name>.db`` unless ``sections`` say otherwise."""
        doc: dict[str, Any] = {"task": "hostile_tasks:well_behaved", "strategy": {"name": "random"},
                               "budget": {"trials": 2}, "uq": {"replicates": 1}, "storage": f"{name}.db",
                               "seed": 0}
        doc.update(sections)
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def cli(self, *args: str, timeout: float = 240, check_rc: Optional[int] = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        env.pop("UQHPO_DEBUG", None)
        proc = subprocess.run([sys.executable, "-m", "uqhpo.cli", *map(str, args)], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=timeout)
        if check_rc is not None:
            assert proc.returncode == check_rc, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
        return proc

    def popen(self, *args: str) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen([sys.executable, "-m", "uqhpo.cli", *map(str, args)], cwd=self.root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def one_line_error(proc: subprocess.CompletedProcess, *needles: str, rc: int = 2) -> str:
    """Assert the command failed with exit status ``rc`` and exactly one ``error:`` line on
    stderr, no traceback, containing every needle. Returns the line."""
    assert proc.returncode == rc, (proc.returncode, proc.stdout[-1000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def digest(path: Path) -> str:
    """SHA-256 of a file's bytes (a foreign file must not change)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def replicate_states(db: Path, study: Optional[str] = None) -> list[tuple]:
    """(trial, index, attempt, state, error) of every replicate, read with plain sqlite3."""
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        where, args = ("WHERE study = ?", (study,)) if study else ("", ())
        return con.execute(f"SELECT trial, idx, attempt, state, error FROM replicates {where} "
                           "ORDER BY trial, idx, attempt", args).fetchall()
    finally:
        con.close()


def n_complete(db: Path) -> int:
    return sum(1 for r in replicate_states(db) if r[3] == "COMPLETE")
