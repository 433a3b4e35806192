"""Files a trial's replicates saved (forecasts, examples, histograms) for the app figures."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable


def replicate_files(trial: Any, metric: str, pattern: str,
                    search_dirs: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """The existing files of ``trial``'s completed replicates, sorted (maybe empty).

    Args:
        trial: a ``uqhpo.trial.Trial`` (each completed replicate's ``metrics[metric]`` names
            its file) or a folder, globbed with ``pattern``.
        metric: the replicate metric holding the file's path, e.g. ``"forecast_path"``.
        pattern: the file names, e.g. ``"replicate*_forecast.npz"``.
        search_dirs: fallback folders searched for ``trial<N>/<pattern>`` when the stored
            paths no longer exist (the study was moved or run elsewhere).
    """
    if isinstance(trial, (str, os.PathLike)):
        return sorted(Path(trial).glob(pattern))
    found = []
    for rep in trial.latest().values():
        path = (rep.metrics or {}).get(metric)
        if path and Path(path).exists() and getattr(rep.state, "value", rep.state) == "COMPLETE":
            found.append(Path(path))
    if not found:
        for folder in search_dirs:
            found.extend(Path(folder).glob(f"**/trial{trial.number}/{pattern}"))
    return sorted(set(found))
