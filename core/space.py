"""Search spaces: the only place that maps configurations to the unit cube and back.

A configuration is a plain ``dict`` from parameter name to value. Surrogates and
acquisition functions work on encoded points in ``[0, 1]^d``:

* ``Real``: linear or log scale, one column.
* ``Integer``: one column; the unit interval is cut into ``high - low + 1`` equal
  bins (in log space when ``log=True``) and a value encodes to its bin centre, so
  uniform sampling in the cube is uniform over the integers.
* ``Categorical``: one-hot columns (decode = argmax); ``ordered=True`` uses a
  single column of bins over the choice index instead.
* ``Fixed``: no column; the value is re-inserted on decode.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["Parameter", "Real", "Integer", "Categorical", "Fixed", "Space", "Column"]


class Parameter:
    """Base class of one hyperparameter. Subclasses define the unit-cube mapping."""

    #: number of encoded columns
    width: int = 1
    name: str = ""

    def _bind(self, name: str) -> "Parameter":
        self.name = name
        self.validate()
        return self

    def validate(self) -> None:  # pragma: no cover - overridden
        pass

    def encode(self, value: Any) -> np.ndarray:
        """Value -> ``(width,)`` array in [0, 1]."""
        raise NotImplementedError

    def decode(self, u: np.ndarray) -> Any:
        """``(width,)`` array (any reals, clipped) -> valid value."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    def _err(self, msg: str) -> ValueError:
        return ValueError(f"parameter '{self.name}': {msg}")


@dataclass
class Real(Parameter):
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

    def contains(self, value: Any) -> bool:
        return any(c == value for c in self.choices)

    def to_dict(self) -> dict:
        return {"type": "categorical", "choices": list(self.choices), "ordered": self.ordered}


@dataclass
class Fixed(Parameter):
    value: Any
    width: int = field(default=0, init=False)

    def encode(self, value: Any) -> np.ndarray:
        return np.zeros(0)

    def decode(self, u: np.ndarray) -> Any:
        return self.value

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


@dataclass(frozen=True)
class Column:
    """Metadata of one encoded column: which parameter and what kind of step it takes."""

    param: str
    kind: str  # "real" | "integer" | "onehot" | "ordinal"
    #: size of one discrete step in the unit cube (0 for real columns)
    step: float


class Space:
    """An ordered set of named parameters.

    Args:
        params: mapping name -> Parameter (insertion order is the column order).
    """

    def __init__(self, params: Mapping[str, Parameter]):
        if isinstance(params, Space):
            params = params.params
        self.params: dict[str, Parameter] = {}
        for name, p in params.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"parameter names must be non-empty strings, got {name!r}")
            if name in self.params:
                raise ValueError(f"parameter '{name}': duplicate name")
            if not isinstance(p, Parameter):
                raise ValueError(f"parameter '{name}': expected Real/Integer/Categorical/Fixed, got {type(p).__name__}")
            self.params[name] = p._bind(name)
        self.columns: list[Column] = []
        self._slices: dict[str, slice] = {}
        for name, p in self.params.items():
            start = len(self.columns)
            for _ in range(p.width):
                if isinstance(p, Real):
                    col = Column(name, "real", 0.0)
                elif isinstance(p, Integer):
                    col = Column(name, "integer", 1.0 / p.n_values if not p.log else 0.0)
                elif p.ordered:  # type: ignore[union-attr]
                    col = Column(name, "ordinal", 1.0 / len(p.choices))  # type: ignore[union-attr]
                else:
                    col = Column(name, "onehot", 1.0)
                self.columns.append(col)
            self._slices[name] = slice(start, len(self.columns))

    # -- basic protocol -------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Number of encoded columns ``d``."""
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        return list(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self):
        return iter(self.params)

    def __getitem__(self, name: str) -> Parameter:
        return self.params[name]

    def __repr__(self) -> str:
        return f"Space({self.to_dict()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    # -- encoding -------------------------------------------------------------------------
    def encode(self, configs: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> np.ndarray:
        """Configs -> ``(n, d)`` array in the unit cube (a single dict gives ``(1, d)``)."""
        if isinstance(configs, Mapping):
            configs = [configs]
        rows = []
        for c in configs:
            missing = [n for n, p in self.params.items() if n not in c and not isinstance(p, Fixed)]
            if missing:
                raise ValueError(f"config is missing parameter(s) {missing}")
            parts = [p.encode(c[n]) for n, p in self.params.items() if p.width]
            rows.append(np.concatenate(parts) if parts else np.zeros(0))
        return np.asarray(rows, dtype=float).reshape(len(rows), self.dim)

    def decode(self, X: np.ndarray) -> list[dict]:
        """``(n, d)`` array (clipped to the cube) -> list of n valid configs."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        X = np.nan_to_num(X, nan=0.5, posinf=1.0, neginf=0.0)  # a surrogate's NaN must not crash decoding
        if X.shape[1] != self.dim:
            raise ValueError(f"expected {self.dim} columns, got {X.shape[1]}")
        return [{n: _plain(p.decode(row[self._slices[n]])) for n, p in self.params.items()} for row in X]

    def round(self, X: np.ndarray) -> np.ndarray:
        """Snap ``(n, d)`` points to the encodings of valid configs: ``encode(decode(X))``."""
        return self.encode(self.decode(X))

    def sample(self, rng: np.random.Generator, n: int = 1) -> list[dict]:
        """n uniformly random valid configs (uniform in the encoded cube)."""
        U = rng.random((n, self.dim))
        # one-hot blocks: uniform choice via argmax of uniform draws
        return self.decode(U)

    def contains(self, config: Mapping[str, Any]) -> bool:
        """True when config has exactly this space's parameters with valid values."""
        if set(config) != set(self.params):
            return False
        return all(p.contains(config[n]) for n, p in self.params.items())

    def slice_of(self, name: str) -> slice:
        """Columns of parameter ``name`` in the encoded array."""
        return self._slices[name]

    # -- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {n: p.to_dict() for n, p in self.params.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, Any]]) -> "Space":
        return cls({n: parameter_from_dict(n, spec) for n, spec in d.items()})

    def fingerprint(self) -> str:
        """Stable short hash of the definition. Order-sensitive: the order fixes the columns."""
        blob = json.dumps([[n, d] for n, d in self.to_dict().items()], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def config_key(self, config: Mapping[str, Any]) -> str:
        """Canonical string of a config, for de-duplication after rounding."""
        return json.dumps({n: _plain(config[n]) for n in self.params if n in config}, sort_keys=True, default=str)


def _plain(v: Any) -> Any:
    """numpy scalars -> Python scalars so configs serialise as JSON."""
    if isinstance(v, np.generic):
        return v.item()
    return v
