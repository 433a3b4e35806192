"""Shared helpers of the method figures: presets, where studies live, building missing ones.

``PRESET=quick`` (default) runs end to end on 2 CPU cores in minutes; ``PRESET=paper`` is
the full size for a GPU allocation. Studies of a preset live in one storage,
``runs/figures/<preset>/studies.db``; figures go to ``paper_figures/out/``. A figure
script only reads stored studies; when one is missing it builds it (``_studies.py``)
unless ``--no-build`` is given.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "paper_figures" / "out"
PRESETS = ("quick", "paper")


def runs_dir(preset: str) -> Path:
    """Where a preset's studies live (``$FIGURES_RUNS/<preset>``, default runs/figures/<preset>)."""
    return Path(os.environ.get("FIGURES_RUNS") or ROOT / "runs" / "figures") / preset


def storage(preset: str) -> str:
    return f"sqlite:///{runs_dir(preset) / 'studies.db'}"


def parse_args(doc: str, argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--preset", choices=PRESETS, default=os.environ.get("PRESET") or "quick")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default paper_figures/out)")
    parser.add_argument("--no-build", action="store_true", help="fail instead of building missing studies")
    return parser.parse_args(argv)


def stored_names(preset: str) -> list[str]:
    from uqhpo.storage import get_storage  # noqa: PLC0415

    path = Path(storage(preset)[len("sqlite:///"):])
    return get_storage(storage(preset)).list_studies() if path.exists() else []


def load(preset: str, name: str) -> Any:
    import uqhpo  # noqa: PLC0415

    return uqhpo.load_study(storage(preset), name)


def require(preset: str, names: list[str], build: Callable[[str], None], no_build: bool) -> list[Any]:
    """The studies ``names`` of a preset, built first (by ``build(preset)``) when missing
    or unfinished."""
    missing = [n for n in names if n not in stored_names(preset) or not _finished(load(preset, n))]
    if missing:
        if no_build:
            sys.exit(f"missing studies {', '.join(missing)}; build them with: "
                     f"python paper_figures/_studies.py --preset {preset}")
        print(f"   building {len(missing)} missing {preset} studies: {', '.join(missing)}")
        build(preset)
    return [load(preset, n) for n in names]


def _finished(study: Any) -> bool:
    trials = study.all_trials()
    budget = study.settings.n_trials or 0
    return bool(trials) and len(trials) >= budget and all(t.finished for t in trials)
