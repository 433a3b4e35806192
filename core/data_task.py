"""A task base for tasks that read a data set: validated settings, a cached dataset, ``check``.

A subclass declares its data keys with defaults and says how to read and prepare the data;
the base does the rest::

    class MyTask(DataTask):
        data_defaults = {"path": "datasets/my/data.h5", "val_fraction": 0.2}

        def load(self, settings):             # read + split + scale, once per process
            return prepare(read(settings["path"]), settings["val_fraction"])

        def run(self, config, ctx):
            d = self.dataset()                # cached; reloaded when settings or the file change
            ...

The config's ``data:`` section reaches :meth:`DataTask.configure` (in the driver and in
every worker, with the job); keys it omits take their defaults. No torch import here.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, ClassVar, Optional

from .task import Task


class DataTask(Task):
    """A task whose data is described by a ``data:`` section with known keys and defaults.

    Attributes:
        data_defaults: every known data key -> its default (``None`` for "derived").
        data_path_key: the setting that names the data file (``None``: no file). Its file
            must exist after :meth:`ensure_data`; its modification time keys the cache.
    """

    data_defaults: ClassVar[dict[str, Any]] = {}
    data_path_key: ClassVar[Optional[str]] = "path"

    # -- settings ----------------------------------------------------------------------------
    def validate_data(self, data: dict) -> dict:
        """Check a ``data:`` section and return the cleaned dict.

        The base refuses unknown keys, naming the closest known one; subclasses check
        values and call ``super().validate_data(data)`` first.

        Raises:
            ValueError: one line naming the offending key.
        """
        if not isinstance(data, dict):
            raise ValueError(f"the data section of {self._task_name()} must be a mapping, got {type(data).__name__}")
        known = sorted(self.data_defaults)
        for key in sorted(data):
            if key not in self.data_defaults:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ValueError(f"unknown data key '{key}' for {self._task_name()}; {hint}"
                                 f"known: {', '.join(known) or '(none)'}")
        return dict(data)

    def configure(self, data: dict) -> None:
        """Take the config's ``data:`` section (paths already absolute); it replaces any
        earlier one and empties the dataset cache when the settings change."""
        self.__dict__["_configured"] = self.validate_data({} if data is None else data)

    def settings(self) -> dict:
        """The data settings in effect: ``{**data_defaults, **configured}`` (a new dict)."""
        return {**self.data_defaults, **self.__dict__.get("_configured", {})}

    def data_files(self, settings: dict) -> list[Path]:
        """Files the dataset is read from (their modification times key the cache).

        The base returns the file named by ``data_path_key``; override for several files.
        """
        if self.data_path_key is None or settings.get(self.data_path_key) is None:
            return []
        return [Path(settings[self.data_path_key])]

    # -- the dataset ---------------------------------------------------------------------------
    def ensure_data(self, settings: dict) -> None:
        """Create missing data before it is read (tasks with ``generates_missing_data``
        override this; it must write atomically, as several workers may call it at once)."""

    def load(self, settings: dict) -> Any:
        """Read and prepare the data set for ``settings`` (subclasses implement this)."""
        raise NotImplementedError(f"{type(self).__name__} must implement load(settings)")

    def dataset(self) -> Any:
        """``load(settings())``, cached per process; reloaded when the settings change or a
        data file is rewritten (its modification time or size changes).

        Raises:
            FileNotFoundError: naming the data file when it does not exist.
        """
        settings = self.settings()
        self.ensure_data(settings)
        stamps = []
        for path in self.data_files(settings):
            try:
                st = path.stat()
            except FileNotFoundError:
                key = f"data.{self.data_path_key}" if self.data_path_key else "data"
                raise FileNotFoundError(f"{key}: data file '{path}' does not exist") from None
            stamps.append((str(path.resolve()), st.st_mtime_ns, st.st_size))
        cache_key = (tuple(sorted((k, repr(v)) for k, v in settings.items())), tuple(stamps))
        cached = self.__dict__.get("_dataset_cache")
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        self.__dict__["_dataset_cache"] = None          # free the old data before loading anew
        value = self.load(settings)
        self.__dict__["_dataset_cache"] = (cache_key, value)
        return value

    def check(self) -> None:
        """Validate inputs before a study starts: the base loads the dataset (which names a
        missing file); subclasses add checks and call ``super().check()``."""
        self.dataset()

    def _task_name(self) -> str:
        return type(self).__name__
