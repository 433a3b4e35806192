"""Preprocessing shared by training and evaluation: decay angles, conditions, scaling.

Targets are the decay angles (phi*, theta*) of h1 in the cluster rest frame. Two frames:

* ``"quark"`` (default): z-axis = direction of q1 in the cluster rest frame, x-axis from
  the cluster's flight direction. theta* is the angle between hadron and quark, so the
  perturbative smearing is visible in the marginal distributions the Wasserstein
  distance compares.
* ``"lab"``: lab-oriented axes (the convention of the public samples). With isotropic
  quark directions the marginals are then isotropic whatever the smearing; only the
  joint (condition, angle) distribution carries the physics.

Conditions (8 columns): cluster ``(E, px, py, pz)``, q1 direction in the cluster rest
frame with lab axes ``(cos theta_q, phi_q)``, perturbative flags of q1 and q2.
Min-max scaling to [-1, 1] is fitted on the training split only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import physics as ph

FRAMES = ("quark", "lab")
SPLITS = ("train", "val", "test")
CONDITION_NAMES = ("E", "px", "py", "pz", "cos_theta_q", "phi_q", "pert_q1", "pert_q2")


def _rest_frame(arrays: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """h1 and q1 three-momenta in the cluster rest frame (lab axes), flight direction."""
    beta = ph.velocity(arrays["cluster"])
    h1 = ph.boost(arrays["h1"][:, 1:], -beta)[:, 1:]
    q1 = ph.boost(arrays["q1"][:, 1:], -beta)[:, 1:]
    return h1, q1, beta


def decay_angles(arrays: dict, frame: str = "quark") -> np.ndarray:
    """(phi*, theta*) of h1 in the cluster rest frame -> ``(n, 2)``."""
    if frame not in FRAMES:
        raise ValueError(f"data.frame: unknown frame {frame!r}; use one of {', '.join(FRAMES)}")
    h1, q1, beta = _rest_frame(arrays)
    if frame == "quark":
        rot = ph.orthonormal_frame(q1, reference=beta)
        h1 = np.einsum("nkj,nj->nk", rot, h1)
    phi, theta = ph.angles(h1)
    return np.column_stack([phi, theta])


def conditions(arrays: dict) -> np.ndarray:
    """GAN conditions -> ``(n, 8)`` (see :data:`CONDITION_NAMES`)."""
    _, q1, _ = _rest_frame(arrays)
    phi_q, theta_q = ph.angles(q1)
    return np.column_stack([arrays["cluster"], np.cos(theta_q), phi_q, arrays["pert"]])


@dataclass
class MinMaxScaler:
    """Column-wise affine map of the training range onto [-1, 1]."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> MinMaxScaler:
        """Fit on ``(n, d)`` training data; constant columns map to 0."""
        return cls(X.min(axis=0), X.max(axis=0))

    @property
    def _span(self) -> np.ndarray:
        span = self.high - self.low
        return np.where(span > 0, span, 1.0)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return 2.0 * (X - self.low) / self._span - 1.0

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        return (Z + 1.0) / 2.0 * self._span + self.low


@dataclass
class Prepared:
    """Split, scaled arrays ready for training.

    Attributes:
        cond: split -> ``(n_split, 8)`` float32 scaled conditions.
        target: split -> ``(n_split, 2)`` float32 scaled angles.
        angles: split -> ``(n_split, 2)`` true angles in radians.
        variation: split -> ``(n_split, 2)`` angles of the same clusters decayed with
            the variation smearing (val and test only; empty when disabled).
    """

    cond: dict
    target: dict
    angles: dict
    cond_scaler: MinMaxScaler
    target_scaler: MinMaxScaler
    frame: str
    variation: dict = field(default_factory=dict)

    @property
    def n_conditions(self) -> int:
        return self.cond["train"].shape[1]


def split_sizes(n: int, n_train: Optional[int], n_val: Optional[int], n_test: Optional[int]) -> tuple[int, int, int]:
    """Sizes of the three splits (70/15/15 by default); refuses more than ``n`` in total."""
    sizes = [n_train, n_val, n_test]
    defaults = [int(0.7 * n), int(0.15 * n), n - int(0.7 * n) - int(0.15 * n)]
    out = tuple(int(s) if s is not None else d for s, d in zip(sizes, defaults))
    for name, s in zip(("n_train", "n_val", "n_test"), out):
        if s < 1:
            raise ValueError(f"data.{name}: must be at least 1, got {s}")
    if sum(out) > n:
        raise ValueError(f"data: n_train + n_val + n_test = {sum(out)} exceeds the {n} clusters in the file")
    return out  # type: ignore[return-value]


def prepare(arrays: dict, *, n_train: Optional[int] = None, n_val: Optional[int] = None,
            n_test: Optional[int] = None, seed: int = 0, frame: str = "quark",
            variation_smearing: Optional[float] = None) -> Prepared:
    """Split (seeded permutation), compute angles and conditions, fit scalers on train."""
    from .data import redecay  # noqa: PLC0415 - data imports this module's siblings only

    n = len(arrays["cluster"])
    sizes = split_sizes(n, n_train, n_val, n_test)
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 7])).permutation(n)
    bounds = np.cumsum((0,) + sizes)
    index = {s: np.sort(order[bounds[i]:bounds[i + 1]]) for i, s in enumerate(SPLITS)}
    # only the rows in use are transformed (a quick study may use a few % of a big file)
    parts = {s: {k: v[i] for k, v in arrays.items()} for s, i in index.items()}
    angles = {s: decay_angles(part, frame) for s, part in parts.items()}
    cond = {s: conditions(part) for s, part in parts.items()}
    cond_scaler = MinMaxScaler.fit(cond["train"])
    target_scaler = MinMaxScaler.fit(angles["train"])
    prep = Prepared(
        cond={s: cond_scaler.transform(c).astype(np.float32) for s, c in cond.items()},
        target={s: target_scaler.transform(a).astype(np.float32) for s, a in angles.items()},
        angles=angles, cond_scaler=cond_scaler, target_scaler=target_scaler, frame=frame)
    if variation_smearing is not None:
        for s in ("val", "test"):
            varied = redecay(parts[s], float(variation_smearing), seed=int(seed) + 1)
            prep.variation[s] = decay_angles(varied, frame)
    return prep
