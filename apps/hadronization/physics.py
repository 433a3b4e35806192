"""Relativistic kinematics for two-body cluster decays, vectorised with numpy.

Four-vectors are arrays ``(n, 4)`` ordered ``(E, px, py, pz)`` in GeV. Every function
works on whole samples at once; none loops over clusters.
"""
from __future__ import annotations

import numpy as np

# PDG particle ids and masses (GeV)
PI_PLUS, PI_MINUS, PI_ZERO = 211, -211, 111
CLUSTER_PID = 81          # Herwig's id of a cluster
PLACEHOLDER_PID = 88      # placeholder records (quarks of fission products) in the public text samples
M_PI_CHARGED = 0.13957039
M_PI_ZERO = 0.1349768
M_CONSTITUENT = 0.325     # light constituent-quark mass (u, d)
PION_MASS = {PI_PLUS: M_PI_CHARGED, PI_MINUS: M_PI_CHARGED, PI_ZERO: M_PI_ZERO}


def mass(p: np.ndarray) -> np.ndarray:
    """Invariant mass of ``(n, 4)`` four-vectors -> ``(n,)`` (0 where slightly space-like)."""
    m2 = p[:, 0] ** 2 - np.sum(p[:, 1:] ** 2, axis=1)
    return np.sqrt(np.clip(m2, 0.0, None))


def two_body_momentum(M: np.ndarray, m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Momentum of either daughter in the rest frame of a parent of mass ``M``.

    p* = sqrt((M^2 - (m1+m2)^2) (M^2 - (m1-m2)^2)) / 2M, all arrays ``(n,)``.
    """
    lam = (M ** 2 - (m1 + m2) ** 2) * (M ** 2 - (m1 - m2) ** 2)
    return np.sqrt(np.clip(lam, 0.0, None)) / (2.0 * M)


def unit_vectors(cos_theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Polar/azimuthal angles ``(n,)`` -> unit vectors ``(n, 3)``."""
    sin_theta = np.sqrt(np.clip(1.0 - cos_theta ** 2, 0.0, None))
    return np.stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta], axis=1)


def isotropic(rng: np.random.Generator, n: int) -> np.ndarray:
    """n directions uniform on the sphere -> ``(n, 3)``."""
    return unit_vectors(rng.uniform(-1.0, 1.0, n), rng.uniform(-np.pi, np.pi, n))


def angles(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Three-vectors ``(n, 3)`` -> (phi in [-pi, pi], theta in [0, pi]), each ``(n,)``."""
    r = np.linalg.norm(v, axis=1)
    cos_theta = np.divide(v[:, 2], r, out=np.ones_like(r), where=r > 0)
    return np.arctan2(v[:, 1], v[:, 0]), np.arccos(np.clip(cos_theta, -1.0, 1.0))


def orthonormal_frame(axis: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Right-handed frames whose z-axis is ``axis``.

    Args:
        axis: ``(n, 3)`` directions (need not be normalised).
        reference: ``(n, 3)`` vectors whose component orthogonal to ``axis`` fixes the
            x-axis; where it is (anti)parallel to ``axis`` or None, a lab axis is used.

    Returns:
        ``(n, 3, 3)`` rotation matrices; row k is the frame's k-th axis in lab components.
    """
    z = axis / np.linalg.norm(axis, axis=1, keepdims=True)
    # fall-back reference: the lab axis least aligned with z
    fallback = np.where(np.abs(z[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    ref = fallback if reference is None else reference
    x = ref - np.sum(ref * z, axis=1, keepdims=True) * z
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    bad = norm[:, 0] < 1e-9
    if bad.any():
        fb = fallback[bad] - np.sum(fallback[bad] * z[bad], axis=1, keepdims=True) * z[bad]
        x[bad], norm[bad] = fb, np.linalg.norm(fb, axis=1, keepdims=True)
    x = x / norm
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def smear_around(axis: np.ndarray, cos_spread: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Directions at polar angle ``arccos(cos_spread)`` around ``axis`` with uniform azimuth.

    Args:
        axis: ``(n, 3)`` unit vectors; cos_spread: ``(n,)`` cosines in [-1, 1].

    Returns:
        ``(n, 3)`` unit vectors in lab components.
    """
    local = unit_vectors(cos_spread, rng.uniform(-np.pi, np.pi, len(axis)))
    frame = orthonormal_frame(axis)
    return np.einsum("nk,nkj->nj", local, frame)


def sample_smearing_cos(rng: np.random.Generator, n: int, smearing: float) -> np.ndarray:
    """cos(theta_s) = 1 + smearing * ln(U), redrawn where it falls below -1 -> ``(n,)``."""
    out = 1.0 + smearing * np.log(rng.uniform(1e-300, 1.0, n))
    bad = out < -1.0
    while bad.any():
        out[bad] = 1.0 + smearing * np.log(rng.uniform(1e-300, 1.0, int(bad.sum())))
        bad = out < -1.0
    return out


def sample_one_plus_a_cos2(rng: np.random.Generator, n: int, a: float) -> np.ndarray:
    """cos(theta) with density proportional to 1 + a cos^2(theta) on [-1, 1] -> ``(n,)``.

    ``a > 0`` gives a U shape (E|c| = (1/2 + a/4) / (1 + a/3)); ``a = 0`` is isotropic.
    Inverts the CDF: c^3 + (3/a) c + (3/a + 1)(1 - 2u) = 0 has exactly one real root
    for ``a > 0`` (Cardano).
    """
    u = rng.uniform(0.0, 1.0, n)
    if a <= 0:
        return 2.0 * u - 1.0
    p = 3.0 / a
    q = (p + 1.0) * (1.0 - 2.0 * u)
    s = np.sqrt(q ** 2 / 4.0 + p ** 3 / 27.0)
    return np.clip(np.cbrt(-q / 2.0 + s) + np.cbrt(-q / 2.0 - s), -1.0, 1.0)


def sample_one_plus_cos2(rng: np.random.Generator, n: int) -> np.ndarray:
    """cos(theta) with density proportional to 1 + cos^2(theta) on [-1, 1] -> ``(n,)``."""
    return sample_one_plus_a_cos2(rng, n, 1.0)


def helicity_frame(beta: np.ndarray) -> np.ndarray:
    """Frames ``(n, 3, 3)`` with z along the cluster's flight direction ``beta`` ``(n, 3)``
    and x in the plane of z and the beam (lab z) axis."""
    beam = np.broadcast_to([0.0, 0.0, 1.0], beta.shape)
    return orthonormal_frame(beta, reference=beam)


def boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost four-vectors ``(n, 4)`` by velocities ``beta`` ``(n, 3)`` (|beta| < 1).

    A particle at rest ends up moving with velocity ``beta``; ``boost(p, -beta)`` undoes it.
    """
    b2 = np.sum(beta ** 2, axis=1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p[:, 1:], axis=1)
    # gamma^2/(gamma+1) is the stable form of (gamma-1)/beta^2 (finite at beta -> 0)
    coeff = gamma ** 2 / (gamma + 1.0) * bp + gamma * p[:, 0]
    out = np.empty_like(p)
    out[:, 0] = gamma * (p[:, 0] + bp)
    out[:, 1:] = p[:, 1:] + coeff[:, None] * beta
    return out


def velocity(p: np.ndarray) -> np.ndarray:
    """Velocity ``(n, 3)`` of four-vectors ``(n, 4)``."""
    return p[:, 1:] / p[:, :1]


def four_vectors(direction: np.ndarray, momentum: np.ndarray, m: np.ndarray) -> np.ndarray:
    """On-shell four-vectors ``(n, 4)`` from unit directions ``(n, 3)``, |p| and masses ``(n,)``."""
    return np.column_stack([np.sqrt(momentum ** 2 + m ** 2), direction * momentum[:, None]])
