"""Preprocessing shared by training and evaluation: decay angles, conditions, strata, scaling.

Targets are the decay angles (phi*, theta*) of h1 in the cluster rest frame, in one of
three frames (``data.frame``):

* ``"quark"`` (default): z along q1 in the cluster rest frame, x from the flight direction.
  theta* is the angle between hadron and quark; phi* is uniform by construction. Needs
  quark records: clusters with placeholder quarks are left out.
* ``"helicity"``: z along the cluster's flight direction, x towards the beam axis. Needs
  no quark record, so every cluster is usable.
* ``"lab"``: lab-oriented axes (kept for comparison; its marginals hide the physics).

Conditions (9 columns, :data:`CONDITION_NAMES`): cluster ``(E, px, py, pz)``, the q1
direction in the helicity frame ``(cos theta_q, phi_q)`` (0 without quarks), the
perturbative flags and ``has_quarks``. Each cluster gets a perturbative class
(:data:`CLASS_NAMES`) and a (mass, momentum) bin; the strata and their weights, like the
min-max scalers to [-1, 1], are fitted on the training split only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import physics as ph

FRAMES = ("quark", "helicity", "lab")
SPLITS = ("train", "val", "test")
CONDITION_NAMES = ("E", "px", "py", "pz", "cos_theta_q", "phi_q", "pert_q1", "pert_q2", "has_quarks")
#: perturbative classes: what the hadron h1 follows
CLASS_NAMES = ("isotropic", "q1_aligned", "q2_aligned", "no_quarks")
MIN_CLASS_ROWS = 50   # a class with fewer training clusters is not a stratum of its own


def _rest_frame(arrays: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """h1 and q1 three-momenta ``(n, 3)`` in the cluster rest frame (lab axes), velocity ``(n, 3)``."""
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
        h1 = np.einsum("nkj,nj->nk", ph.orthonormal_frame(q1, reference=beta), h1)
    elif frame == "helicity":
        h1 = np.einsum("nkj,nj->nk", ph.helicity_frame(beta), h1)
    phi, theta = ph.angles(h1)
    return np.column_stack([phi, theta])


def has_quarks(arrays: dict) -> np.ndarray:
    """``(n,)`` bool: real quark records (not pid-88 placeholders)."""
    return (arrays["q1"][:, 0] != ph.PLACEHOLDER_PID) & (arrays["q2"][:, 0] != ph.PLACEHOLDER_PID)


def conditions(arrays: dict) -> np.ndarray:
    """GAN conditions -> ``(n, 9)`` (see :data:`CONDITION_NAMES`)."""
    _, q1, beta = _rest_frame(arrays)
    quarks = has_quarks(arrays)
    q1_h = np.einsum("nkj,nj->nk", ph.helicity_frame(beta), np.where(quarks[:, None], q1, [[0.0, 0.0, 1.0]]))
    phi_q, theta_q = ph.angles(q1_h)
    return np.column_stack([arrays["cluster"], np.where(quarks, np.cos(theta_q), 0.0), np.where(quarks, phi_q, 0.0),
                            arrays["pert"], quarks.astype(float)])


def perturbative_class(arrays: dict) -> np.ndarray:
    """``(n,)`` index into :data:`CLASS_NAMES`: q1 perturbative -> 1, else q2 -> 2, else 0; 3 without quarks."""
    pert = arrays["pert"]
    cls = np.where(pert[:, 0] > 0, 1, np.where(pert[:, 1] > 0, 2, 0))
    return np.where(has_quarks(arrays), cls, 3)


@dataclass
class Strata:
    """Perturbative class x quark hemisphere x mass bin x momentum bin, with the loss weights.

    The quark hemisphere (q1 forward or backward along the flight direction; 2 bins) is
    used in the helicity and lab frames, where the aligned decays follow the quark's
    direction; the quark frame measures angles from the quark already (1 bin). Weights
    (fitted on the training split): every class with at least :data:`MIN_CLASS_ROWS`
    clusters weighs the same; within a class, each bin weighs by its share of the
    class's training clusters. Mass and |p| edges are training quantiles.
    """

    mass_edges: np.ndarray
    momentum_edges: np.ndarray
    quark_bins: int = 1
    weights: dict = field(default_factory=dict)     # stratum id -> weight (sum 1)

    @property
    def n_bins(self) -> int:
        """Strata per class."""
        return self.quark_bins * (len(self.mass_edges) + 1) * (len(self.momentum_edges) + 1)

    def assign(self, arrays: dict) -> np.ndarray:
        """``(n,)`` stratum ids: ``((class * n_q + q_bin) * n_m + mass_bin) * n_p + momentum_bin``."""
        m_bin = np.searchsorted(self.mass_edges, ph.mass(arrays["cluster"]))
        p_bin = np.searchsorted(self.momentum_edges, np.linalg.norm(arrays["cluster"][:, 1:], axis=1))
        q_bin = (conditions(arrays)[:, 4] > 0).astype(int) if self.quark_bins == 2 else 0
        n_m, n_p = len(self.mass_edges) + 1, len(self.momentum_edges) + 1
        return ((perturbative_class(arrays) * self.quark_bins + q_bin) * n_m + m_bin) * n_p + p_bin

    @classmethod
    def fit(cls, train: dict, mass_bins: int, momentum_bins: int, quark_bins: int = 1) -> Strata:
        q = lambda x, k: np.quantile(x, np.arange(1, k) / k)  # noqa: E731
        s = cls(q(ph.mass(train["cluster"]), mass_bins), q(np.linalg.norm(train["cluster"][:, 1:], axis=1),
                                                           momentum_bins), quark_bins)
        ids, classes = s.assign(train), perturbative_class(train)
        kept = [c for c in range(len(CLASS_NAMES)) if np.sum(classes == c) >= MIN_CLASS_ROWS]
        for c in kept or sorted(set(classes.tolist())):
            in_class = ids[classes == c]
            for stratum, count in zip(*np.unique(in_class, return_counts=True)):
                s.weights[int(stratum)] = count / len(in_class)
        total = sum(s.weights.values())
        s.weights = {k: float(w / total) for k, w in s.weights.items()}
        return s

    def class_of(self, stratum: int) -> int:
        return stratum // self.n_bins


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
    """Split, scaled arrays ready for training, with everything the scores need.

    Attributes:
        cond: split -> ``(n_split, 9)`` float32 scaled conditions.
        target: split -> ``(n_split, 2)`` float32 scaled angles.
        angles: split -> ``(n_split, 2)`` true angles (phi*, theta*) in radians.
        strata: split -> ``(n_split,)`` stratum ids; classes: split -> ``(n_split,)`` class ids.
        redecayed: split -> ``(k, n_split, 2)`` angles of the same clusters decayed again by
            the generator, k independent draws (val/test; only for files of this generator:
            the perfect generator).
        variation: likewise with the variation smearing (empty when disabled).
        references: the non-learned reference scores (filled by ``scores.references``).
    """

    cond: dict
    target: dict
    angles: dict
    strata: dict
    classes: dict
    strata_fit: Strata
    cond_scaler: MinMaxScaler
    target_scaler: MinMaxScaler
    frame: str
    redecayed: dict = field(default_factory=dict)
    variation: dict = field(default_factory=dict)
    references: dict = field(default_factory=dict)

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
        raise ValueError(f"data: n_train + n_val + n_test = {sum(out)} exceeds the {n} usable clusters in the file")
    return out  # type: ignore[return-value]


def prepare(arrays: dict, *, n_train: Optional[int] = None, n_val: Optional[int] = None,
            n_test: Optional[int] = None, seed: int = 0, frame: str = "quark",
            variation_smearing: Optional[float] = None, redecay_smearing: Optional[float] = None,
            mass_bins: int = 2, momentum_bins: int = 2, floor_draws: int = 4) -> Prepared:
    """Split (seeded permutation), compute angles, conditions and strata, fit scalers on train.

    Args:
        arrays: the file's dict of arrays (see ``data.KEYS``).
        redecay_smearing: the smearing the file was generated with (files of this
            generator only): val/test are decayed again with it ``floor_draws`` times,
            the perfect generator.
    """
    from .data import redecay  # noqa: PLC0415 - data imports this module's siblings only

    if frame not in FRAMES:
        raise ValueError(f"data.frame: unknown frame {frame!r}; use one of {', '.join(FRAMES)}")
    usable = np.flatnonzero(has_quarks(arrays)) if frame == "quark" else np.arange(len(arrays["cluster"]))
    if len(usable) == 0:
        raise ValueError("data.frame: 'quark' needs quark records, but every cluster in the file has placeholder "
                         "quarks (pid 88); use data.frame: helicity")
    sizes = split_sizes(len(usable), n_train, n_val, n_test)
    order = usable[np.random.default_rng(np.random.SeedSequence([int(seed), 7])).permutation(len(usable))]
    bounds = np.cumsum((0,) + sizes)
    index = {s: np.sort(order[bounds[i]:bounds[i + 1]]) for i, s in enumerate(SPLITS)}
    # only the rows in use are transformed (a quick study may use a few % of a big file)
    parts = {s: {k: v[i] for k, v in arrays.items()} for s, i in index.items()}
    angles = {s: decay_angles(part, frame) for s, part in parts.items()}
    cond = {s: conditions(part) for s, part in parts.items()}
    strata = Strata.fit(parts["train"], int(mass_bins), int(momentum_bins), 1 if frame == "quark" else 2)
    cond_scaler, target_scaler = MinMaxScaler.fit(cond["train"]), MinMaxScaler.fit(angles["train"])
    prep = Prepared(
        cond={s: cond_scaler.transform(c).astype(np.float32) for s, c in cond.items()},
        target={s: target_scaler.transform(a).astype(np.float32) for s, a in angles.items()},
        angles=angles, strata={s: strata.assign(p) for s, p in parts.items()},
        classes={s: perturbative_class(p) for s, p in parts.items()}, strata_fit=strata,
        cond_scaler=cond_scaler, target_scaler=target_scaler, frame=frame)
    can_redecay = bool(np.all(has_quarks(arrays)))
    for s in ("val", "test"):
        if redecay_smearing is not None and can_redecay:
            prep.redecayed[s] = np.stack([decay_angles(redecay(parts[s], float(redecay_smearing),
                                                               seed=int(seed) + 100 + k), frame)
                                          for k in range(int(floor_draws))])
        if variation_smearing is not None and can_redecay:
            prep.variation[s] = decay_angles(redecay(parts[s], float(variation_smearing), seed=int(seed) + 1), frame)
    return prep
