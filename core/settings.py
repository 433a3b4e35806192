"""The settings of a study, as one frozen, typed record.

They are stored as JSON in the study's record (``StudyRecord.settings``) and read back
here once, so no other module reads a settings dict with ``.get``. Direction and seed
live on the record itself and are copied in for convenience.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, cast

Direction = Literal["minimize", "maximize"]
DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class StudySettings:
    """How a study searches and aggregates.

    Attributes:
        direction: "minimize" or "maximize".
        seed: the study seed every random stream derives from.
        strategy: strategy name ("rbf", "gp", "random", "grid", "evolution").
        strategy_options: options passed to the strategy's constructor.
        kappa: spread weight of the objective ``mean + kappa * std``.
        n_replicates: trainings per config (the target with adaptive replication).
        mc_dropout: Monte-Carlo dropout passes handed to the task (0 = off).
        adaptive: train new configs once and top the incumbent up to ``n_replicates``.
        n_trials: the trial budget of the last ``optimize`` call (None before any, or when
            that call had only a training budget).
        max_trainings: the training budget of the last ``optimize`` call (replicate
            attempts, see ``uqhpo.policy.trainings_spent``), or None.
        user: free JSON kept with the study (e.g. the CLI's YAML config).
    """

    direction: Direction = "minimize"
    seed: int = 0
    strategy: str = "rbf"
    strategy_options: dict = field(default_factory=dict)
    kappa: float = 1.0
    n_replicates: int = 1
    mc_dropout: int = 0
    adaptive: bool = False
    n_trials: Optional[int] = None
    max_trainings: Optional[int] = None
    user: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'minimize' or 'maximize', got {self.direction!r}")
        if not 0 <= int(self.seed) < 2 ** 63:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {self.seed}")
        if not math.isfinite(float(self.kappa)) or self.kappa < 0:
            raise ValueError(f"kappa must be a finite number >= 0, got {self.kappa}")
        if int(self.n_replicates) < 1:
            raise ValueError(f"n_replicates must be >= 1, got {self.n_replicates}")
        if int(self.mc_dropout) < 0:
            raise ValueError(f"mc_dropout must be >= 0, got {self.mc_dropout}")
        if self.n_trials is not None and int(self.n_trials) < 1:
            raise ValueError(f"n_trials must be >= 1, got {self.n_trials}")
        if self.max_trainings is not None and int(self.max_trainings) < 1:
            raise ValueError(f"max_trainings must be >= 1, got {self.max_trainings}")

    @property
    def sign(self) -> float:
        """+1 when minimising, -1 when maximising: ``sign * loss`` is always minimised."""
        return 1.0 if self.direction == "minimize" else -1.0

    @property
    def replicates_per_new_trial(self) -> int:
        """Trainings queued with a new config: one with adaptive replication, else all."""
        return 1 if self.adaptive else int(self.n_replicates)

    def replace(self, **changes: Any) -> StudySettings:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    # -- stored form --------------------------------------------------------------------------
    def to_stored(self) -> dict:
        """The JSON stored in ``StudyRecord.settings`` (direction and seed live on the record)."""
        return {"strategy": self.strategy, "strategy_options": dict(self.strategy_options),
                "kappa": float(self.kappa), "n_replicates": int(self.n_replicates),
                "mc_dropout": int(self.mc_dropout), "adaptive_replicates": bool(self.adaptive),
                "n_trials": None if self.n_trials is None else int(self.n_trials),
                "max_trainings": None if self.max_trainings is None else int(self.max_trainings),
                "user": dict(self.user)}

    @classmethod
    def from_stored(cls, stored: dict, *, direction: str, seed: int) -> StudySettings:
        """Read settings written by :meth:`to_stored` (or by an older version of uqhpo)."""
        n_trials, max_trainings = stored.get("n_trials"), stored.get("max_trainings")
        return cls(direction=cast(Direction, direction), seed=int(seed), strategy=str(stored.get("strategy", "rbf")),
                   strategy_options=dict(stored.get("strategy_options") or {}),
                   kappa=float(stored.get("kappa", 1.0)), n_replicates=int(stored.get("n_replicates", 1)),
                   mc_dropout=int(stored.get("mc_dropout", 0)),
                   adaptive=bool(stored.get("adaptive_replicates", False)),
                   n_trials=None if n_trials is None else int(n_trials),
                   max_trainings=None if max_trainings is None else int(max_trainings),
                   user=dict(stored.get("user") or {}))
