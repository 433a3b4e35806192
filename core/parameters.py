"""The four hyperparameter types and their map to and from the unit cube.

Each parameter owns its ``width`` encoded columns: ``encode`` / ``decode`` of one value,
``round_encoded`` (vectorised snapping of many points), ``cardinality``, and the column
``kind`` / ``step`` search moves use. :class:`~uqhpo.space.Space` strings them together.

* ``Real``: linear or log scale, one column.
* ``Integer``: one column; the unit interval is cut into ``high - low + 1`` equal
  bins (in log space when ``log=True``) and a value encodes to its bin centre, so
  uniform sampling in the cube is uniform over the integers.
* ``Categorical``: one-hot columns (decode = argmax); ``ordered=True`` uses a
  single column of bins over the choice index instead.
* ``Fixed``: no column; the value is re-inserted on decode.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["Parameter", "Real", "Integer", "Categorical", "Fixed", "parameter_from_dict"]


class Parameter:
    """Base class of one hyperparameter. Subclasses define the unit-cube mapping."""

    #: number of encoded columns
    width: int = 1
    #: column kind for search moves: "real", "integer", "ordinal", "onehot" or "fixed"
    kind: str = ""
    name: str = ""

    def _bind(self, name: str) -> Parameter:
        self.name = name
        self.validate()
        return self

    def validate(self) -> None:
        """Check and normalise the definition (one-line ``ValueError`` naming the parameter)."""

    def encode(self, value: Any) -> np.ndarray:
        """Value -> ``(width,)`` array in [0, 1]."""
        raise NotImplementedError

    def decode(self, u: np.ndarray) -> Any:
        """``(width,)`` array (any reals, clipped) -> valid value."""
        raise NotImplementedError

    def round_encoded(self, U: np.ndarray) -> np.ndarray:
        """``(n, width)`` finite points -> ``(n, width)`` encodings of the values they decode to."""
        raise NotImplementedError

    def cardinality(self) -> float:
        """Number of distinct values (``inf`` for a real parameter)."""
        raise NotImplementedError

    @property
    def step(self) -> float:
        """One discrete step in the cube (0 for continuous columns and log-scaled integers)."""
        return 0.0

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    def _err(self, msg: str) -> ValueError:
        return ValueError(f"parameter '{self.name}': {msg}")


def _bin_centres(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Snap ``x`` in [0, 1] (any shape) to the centre of its bin out of ``n_bins`` equal ones."""
    idx = np.minimum(np.floor(np.clip(x, 0.0, 1.0) * n_bins), n_bins - 1)
    return (idx + 0.5) / n_bins


@dataclass
class Real(Parameter):
    kind = "real"
    low: float
    high: float
    log: bool = False

    def validate(self) -> None:
        # float bounds so that `low: 1` and `low: 1.0` give the same fingerprint
        self.low, self.high = float(self.low), float(self.high)
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise self._err(f"bounds must be finite, got [{self.low}, {self.high}]")
        if self.low >= self.high:
            raise self._err(f"low ({self.low}) must be < high ({self.high})")
        if self.log and self.low <= 0:
            raise self._err(f"log scale needs low > 0, got low={self.low}")

    def _t(self, v: float) -> float:
        return math.log(v) if self.log else float(v)

    def encode(self, value: Any) -> np.ndarray:
        lo, hi = self._t(self.low), self._t(self.high)
        return np.array([(self._t(float(value)) - lo) / (hi - lo)])

    def decode(self, u: np.ndarray) -> float:
        x = float(np.clip(u[0], 0.0, 1.0))
        lo, hi = self._t(self.low), self._t(self.high)
        v = lo + x * (hi - lo)
        v = math.exp(v) if self.log else v
        return float(min(max(v, self.low), self.high))

    def round_encoded(self, U: np.ndarray) -> np.ndarray:
        # decode + encode is the identity on [0, 1] up to rounding error: keep the point exact
        return np.clip(U, 0.0, 1.0)

    def cardinality(self) -> float:
        return math.inf

    def contains(self, value: Any) -> bool:
        if isinstance(value, (bool, str)):
            return False
        try:
            v = float(value)
        except (TypeError, ValueError):
            return False
        return self.low <= v <= self.high

    def to_dict(self) -> dict:
        return {"type": "real", "low": self.low, "high": self.high, "log": self.log}


@dataclass
class Integer(Parameter):
    kind = "integer"
    low: int
    high: int
    log: bool = False

    def validate(self) -> None:
        if int(self.low) != self.low or int(self.high) != self.high:
            raise self._err(f"bounds must be integers, got [{self.low}, {self.high}]")
        self.low, self.high = int(self.low), int(self.high)
        if self.low > self.high:
            raise self._err(f"low ({self.low}) must be <= high ({self.high})")
        if self.log and self.low <= 0:
            raise self._err(f"log scale needs low >= 1, got low={self.low}")

    # Bin edges in the transformed scale: [low - 0.5, high + 0.5].
    def _edges(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.low - 0.5) if self.low > 0.5 else math.log(0.5), math.log(self.high + 0.5)
        return self.low - 0.5, self.high + 0.5

    def encode(self, value: Any) -> np.ndarray:
        v = int(value)
        if not self.log:
            return np.array([(v - self.low + 0.5) / (self.high - self.low + 1)])
        lo, hi = self._edges()
        # centre of the log-bin of v: geometric centre of [v-0.5, v+0.5] clipped to edges
        a = max(math.log(v - 0.5), lo) if v - 0.5 > 0 else lo
        b = min(math.log(v + 0.5), hi)
        return np.array([((a + b) / 2 - lo) / (hi - lo)])

    def decode(self, u: np.ndarray) -> int:
        x = float(np.clip(u[0], 0.0, 1.0))
        if not self.log:
            n = self.high - self.low + 1
            return int(min(self.low + math.floor(x * n), self.high))
        lo, hi = self._edges()
        v = int(round(math.exp(lo + x * (hi - lo))))
        return int(min(max(v, self.low), self.high))

    def round_encoded(self, U: np.ndarray) -> np.ndarray:
        if not self.log:
            return _bin_centres(U, self.n_values)
        # uneven log bins: map each distinct point through decode + encode once
        uniq, inverse = np.unique(np.clip(U[:, 0], 0.0, 1.0), return_inverse=True)
        snapped = np.array([self.encode(self.decode(np.array([u])))[0] for u in uniq])
        return snapped[inverse.ravel()].reshape(-1, 1)

    def cardinality(self) -> float:
        return self.n_values

    @property
    def step(self) -> float:
        return 0.0 if self.log else 1.0 / self.n_values

    def contains(self, value: Any) -> bool:
        if isinstance(value, (bool, str)):
            return False
        try:
            return float(value) == int(value) and self.low <= int(value) <= self.high
        except (TypeError, ValueError):
            return False

    @property
    def n_values(self) -> int:
        return self.high - self.low + 1

    def to_dict(self) -> dict:
        return {"type": "integer", "low": self.low, "high": self.high, "log": self.log}


@dataclass
class Categorical(Parameter):
    choices: Sequence[Any]
    ordered: bool = False

    def validate(self) -> None:
        self.choices = list(self.choices)
        if len(self.choices) == 0:
            raise self._err("choices must not be empty")
        keys = [json.dumps(c, sort_keys=True, default=str) for c in self.choices]
        if len(set(keys)) != len(keys):
            raise self._err(f"choices must be distinct, got {self.choices}")
        self.width = 1 if self.ordered else len(self.choices)
        self.kind = "ordinal" if self.ordered else "onehot"

    def _index(self, value: Any) -> int:
        # exact type first, so that choices 1 and 1.0 (or 0 and False) stay distinct
        for i, c in enumerate(self.choices):
            if type(c) is type(value) and c == value:
                return i
        for i, c in enumerate(self.choices):
            if c == value:
                return i
        raise self._err(f"{value!r} is not one of {self.choices}")

    def encode(self, value: Any) -> np.ndarray:
        i = self._index(value)
        if self.ordered:
            return np.array([(i + 0.5) / len(self.choices)])
        out = np.zeros(len(self.choices))
        out[i] = 1.0
        return out

    def decode(self, u: np.ndarray) -> Any:
        if self.ordered:
            x = float(np.clip(u[0], 0.0, 1.0))
            return self.choices[min(int(math.floor(x * len(self.choices))), len(self.choices) - 1)]
        return self.choices[int(np.argmax(u))]

    def round_encoded(self, U: np.ndarray) -> np.ndarray:
        if self.ordered:
            return _bin_centres(U, len(self.choices))
        out = np.zeros_like(U)
        out[np.arange(len(U)), np.argmax(U, axis=1)] = 1.0  # argmax of the unclipped point, as decode
        return out

    def cardinality(self) -> float:
        return len(self.choices)

    @property
    def step(self) -> float:
        return 1.0 / len(self.choices) if self.ordered else 1.0

    def contains(self, value: Any) -> bool:
        return any(c == value for c in self.choices)

    def to_dict(self) -> dict:
        return {"type": "categorical", "choices": list(self.choices), "ordered": self.ordered}


@dataclass
class Fixed(Parameter):
    kind = "fixed"
    value: Any
    width: int = field(default=0, init=False)

    def encode(self, value: Any) -> np.ndarray:
        return np.zeros(0)

    def decode(self, u: np.ndarray) -> Any:
        return self.value

    def round_encoded(self, U: np.ndarray) -> np.ndarray:
        return U

    def cardinality(self) -> float:
        return 1

    def contains(self, value: Any) -> bool:
        return value == self.value

    def to_dict(self) -> dict:
        return {"type": "fixed", "value": self.value}


_TYPES = {"real": Real, "float": Real, "integer": Integer, "int": Integer,
          "categorical": Categorical, "fixed": Fixed}


def parameter_from_dict(name: str, d: Mapping[str, Any]) -> Parameter:
    """Build a parameter from its ``to_dict`` form (also the YAML form)."""
    d = dict(d)
    kind = str(d.pop("type", "")).lower()
    if kind not in _TYPES:
        raise ValueError(f"parameter '{name}': unknown type {kind!r}; use one of real, integer, categorical, fixed")
    try:
        p = _TYPES[kind](**d)
    except TypeError as e:
        raise ValueError(f"parameter '{name}': {e}") from None
    return p._bind(name)
