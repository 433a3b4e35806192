"""Study names made safe to use as one folder or file name.

A study name is stored verbatim (any text is a valid name), but where it becomes part
of a path (``runs/<study>``, ``trials/<study>``) it must stay one component inside the
intended folder: ``../../x`` or ``/abs/path`` may not escape it.
"""
from __future__ import annotations

import hashlib
import re

__all__ = ["safe_component"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_component(name: str) -> str:
    """``name`` as a single, harmless path component.

    Letters, digits, ``.``, ``_`` and ``-`` are kept; any other run of characters becomes
    ``_``; leading dots are dropped (no ``..``, no hidden files). A name that had to
    change gets a short hash of the original, so two different names never share a folder.

    Args:
        name: a study name.

    Returns:
        A non-empty string without path separators, at most about 100 characters.
    """
    text = str(name)
    cleaned = _UNSAFE.sub("_", text).lstrip(".")[:80] or "study"
    if cleaned == text:
        return cleaned
    return f"{cleaned}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
