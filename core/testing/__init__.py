"""Small importable tasks for tests and demos across the project.

Use them by path, e.g. ``"uqhpo.testing.tasks:quadratic"``; see :mod:`uqhpo.testing.tasks`.
They import nothing heavier than numpy.
"""
from __future__ import annotations

__all__ = ["tasks"]
