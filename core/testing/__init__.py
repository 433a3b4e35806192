"""What uqhpo ships for testing: small tasks, and suites a new back-end proves itself with.

- :mod:`uqhpo.testing.tasks`: importable tasks (``"uqhpo.testing.tasks:quadratic"``...);
- :mod:`uqhpo.testing.strategies`: invariants of a strategy (``check_strategy``);
- :mod:`uqhpo.testing.executors`: behaviour of an executor (``check_executor``);
- :mod:`uqhpo.testing.storage`: the storage conformance suite.

Nothing heavier than numpy is imported by the tasks and the strategy/executor suites.
"""
from __future__ import annotations

__all__ = ["tasks", "strategies", "executors", "storage"]
