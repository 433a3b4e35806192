"""The storage conformance suite: a new backend proves itself with one import.

Subclass :class:`StorageConformance` (one process) or :class:`MultiProcessConformance`
(a storage that several processes share, e.g. a file) in a pytest file and say how to
make an empty storage::

    from uqhpo.testing.storage import MultiProcessConformance

    class TestMyStorage(MultiProcessConformance):
        def make_storage(self, tmp_path):
            return MyStorage(tmp_path / "study.db")

Every rule of :class:`uqhpo.storage.Storage` is checked: contiguous trial numbers,
claims that never hand out one attempt twice (threads and processes), finished records
that never change, retries and stale re-queues as new attempts, JSON round trips, copies
returned to callers, and a writer killed mid-write (SIGKILL) that leaves a storage that
reads back whole and accepts new writes. The multi-process tests hand the storage to
spawned processes by pickling it: pickling must give a handle on the same data.

This package imports pytest; ``import uqhpo`` never imports it.
"""
from __future__ import annotations

from .processes import MultiProcessConformance
from .suite import StorageConformance, study_record

__all__ = ["StorageConformance", "MultiProcessConformance", "study_record"]
