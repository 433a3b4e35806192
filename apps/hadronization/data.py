"""Synthetic two-body cluster decays (e+e- -> hadrons at 91.2 GeV, cluster model).

A colour-neutral cluster of a light quark and antiquark decays into two pions. The
generator follows the cluster model: mass spectrum, constituent quarks back-to-back in
the cluster frame, "perturbative" quarks whose hadron keeps the quark direction up to a
smearing, isotropic decay otherwise, boost to the lab. Everything is vectorised.

On disk (HDF5, one row per cluster, four-vectors ``(E, px, py, pz)`` in GeV):
``/cluster (N, 4)``, ``/q1 (N, 5)``, ``/q2 (N, 5)`` (pid + four-vector),
``/pert (N, 2)`` (perturbative flag of q1, q2), ``/h1 (N, 5)``, ``/h2 (N, 5)``.
h1 is the hadron that holds q1; quark rows with pid 88 are placeholders (no quark
record). The public text formats are read by ``formats.py``. Run ``python -m uqhpo.apps.hadronization.data --out FILE``.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from uqhpo.atomic_file import atomic_path

from . import physics as ph

GENERATOR_NAME = "uqhpo.apps.hadronization.data"
GENERATOR_VERSION = "2"
KEYS = {"cluster": 4, "q1": 5, "q2": 5, "pert": 2, "h1": 5, "h2": 5}
#: Named generator parameters, each calibrated to a number measured on a public Herwig 7
#: cluster sample (e+e- at 91.2 GeV, hep-lbdl/hadml ``AllClusters`` files); see datasets/README.md.
DEFAULTS: dict[str, Any] = {
    "aligned_fraction": 0.35,     # share of clusters whose decay follows a quark (Herwig: ~0.35)
    "quark_flight_a": 1.84,       # cos(q1, flight) ~ 1 + a c^2 in the cluster frame: E|c| = 0.595 (Herwig)
    "cluster_mass_min": 0.657,    # lowest cluster mass, ~2 m_q (Herwig sample starts at 0.657 GeV)
    "cluster_mass_max": 3.8,      # highest two-body cluster mass (GeV; shape Beta(2.1, 1.9), not calibrated)
    "p_soft_median": 5.52,        # log-normal median of non-leading |p| -> median |p| 7.5 GeV (Herwig)
    "p_leading": 0.23,            # leading clusters carry a large share of the beam energy
    "p_pipm_neutral": 0.79,       # neutral clusters: pi+ pi- (else pi0 pi0)
    "smearing": 0.78,             # cos(theta_s) = 1 + smearing * ln U (Herwig's rule and default)
}
_log = logging.getLogger("uqhpo")


def p_perturbative(aligned_fraction: float) -> float:
    """Per-quark probability of being perturbative so that ``1 - (1 - p)^2 = aligned_fraction``."""
    return 1.0 - float(np.sqrt(1.0 - aligned_fraction))


def _pion_pid(charge3: np.ndarray) -> np.ndarray:
    return np.where(charge3 > 0, ph.PI_PLUS, np.where(charge3 < 0, ph.PI_MINUS, ph.PI_ZERO))


def _charge3(pid: np.ndarray) -> np.ndarray:
    return np.select([pid == 1, pid == 2, pid == -1, pid == -2], [-1, 2, 1, -2], 0)


def decay(cluster: np.ndarray, q1: np.ndarray, pert: np.ndarray, m1: np.ndarray, m2: np.ndarray,
          smearing: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Decay clusters into two hadrons; h1 holds q1.

    Args:
        cluster: ``(n, 4)`` lab four-vectors; q1: ``(n, 4)`` lab four-vector of quark 1.
        pert: ``(n, 2)`` perturbative flags of (q1, q2).
        m1, m2: ``(n,)`` hadron masses (``m1 + m2`` below the cluster mass).
        smearing: the smearing parameter of perturbative quarks.

    Returns:
        (h1, h2), each ``(n, 4)`` in the lab.
    """
    n = len(cluster)
    M = ph.mass(cluster)
    beta = ph.velocity(cluster)
    q1_dir = ph.boost(q1, -beta)[:, 1:]
    q1_dir = q1_dir / np.linalg.norm(q1_dir, axis=1, keepdims=True)
    direction = ph.isotropic(rng, n)
    cos_s = ph.sample_smearing_cos(rng, n, smearing)
    follow1 = pert[:, 0].astype(bool)
    follow2 = pert[:, 1].astype(bool) & ~follow1   # h2 follows q2 = -q1 in this frame
    if follow1.any():
        direction[follow1] = ph.smear_around(q1_dir[follow1], cos_s[follow1], rng)
    if follow2.any():
        direction[follow2] = -ph.smear_around(-q1_dir[follow2], cos_s[follow2], rng)
    p_star = ph.two_body_momentum(M, m1, m2)
    h1 = ph.boost(ph.four_vectors(direction, p_star, m1), beta)
    h2 = ph.boost(ph.four_vectors(-direction, p_star, m2), beta)
    return h1, h2


def generate(n: int, seed: int = 0, smearing: float = DEFAULTS["smearing"], **options: float) -> dict:
    """Simulate ``n`` cluster decays.

    Args:
        n: number of clusters; seed: seeds the one numpy Generator used.
        smearing: spread of hadrons around perturbative quarks (0.78 nominal).
        options: override any other key of :data:`DEFAULTS`.

    Returns:
        dict of arrays with the shapes of :data:`KEYS`.
    """
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"generate: unknown parameter '{unknown[0]}'; known: {', '.join(DEFAULTS)}")
    p = {**DEFAULTS, **options, "smearing": smearing}
    rng = np.random.default_rng(seed)
    q1_pid = rng.choice([2, 1], n)          # q1 is the quark (u, d), q2 the antiquark
    q2_pid = rng.choice([-2, -1], n)
    # the vacuum pair f fbar: h1 = q1 fbar, h2 = f q2
    same_flavour = np.abs(q1_pid) == np.abs(q2_pid)
    f_is_q1 = np.where(same_flavour, rng.random(n) >= p["p_pipm_neutral"], rng.random(n) < 0.5)
    f_pid = np.where(f_is_q1, np.abs(q1_pid), 3 - np.abs(q1_pid))
    h1_pid = _pion_pid(_charge3(q1_pid) - _charge3(f_pid))
    h2_pid = _pion_pid(_charge3(f_pid) + _charge3(q2_pid))
    m1 = np.where(h1_pid == ph.PI_ZERO, ph.M_PI_ZERO, ph.M_PI_CHARGED)
    m2 = np.where(h2_pid == ph.PI_ZERO, ph.M_PI_ZERO, ph.M_PI_CHARGED)

    # M >= 2 m_q: both constituents stay on shell, no mass is lowered
    M = p["cluster_mass_min"] + (p["cluster_mass_max"] - p["cluster_mass_min"]) * rng.beta(2.1, 1.9, n)
    leading = rng.random(n) < p["p_leading"]
    p_lab = np.where(leading, rng.uniform(30.0, 45.5, n),
                     np.clip(np.exp(rng.normal(np.log(p["p_soft_median"]), 0.8, n)), 0.5, 30.0))
    flight = ph.unit_vectors(ph.sample_one_plus_cos2(rng, n), rng.uniform(-np.pi, np.pi, n))
    cluster = ph.four_vectors(flight, p_lab, M)
    beta = ph.velocity(cluster)

    # constituents back-to-back in the cluster frame, q1 correlated with the flight direction
    m_q = np.full(n, ph.M_CONSTITUENT)
    q_dir = ph.smear_around(flight, ph.sample_one_plus_a_cos2(rng, n, p["quark_flight_a"]), rng)
    p_q = np.sqrt(M ** 2 / 4 - m_q ** 2)
    q1 = ph.boost(ph.four_vectors(q_dir, p_q, m_q), beta)
    q2 = ph.boost(ph.four_vectors(-q_dir, p_q, m_q), beta)
    pert = (rng.random((n, 2)) < p_perturbative(p["aligned_fraction"])).astype(np.int8)

    h1, h2 = decay(cluster, q1, pert, m1, m2, p["smearing"], rng)
    return {"cluster": cluster, "q1": np.column_stack([q1_pid, q1]), "q2": np.column_stack([q2_pid, q2]),
            "pert": pert, "h1": np.column_stack([h1_pid, h1]), "h2": np.column_stack([h2_pid, h2])}


def redecay(arrays: dict, smearing: float, seed: int) -> dict:
    """The same clusters decayed again with another smearing (the "variation" sample)."""
    rng = np.random.default_rng(seed)
    m1, m2 = ph.mass(arrays["h1"][:, 1:]), ph.mass(arrays["h2"][:, 1:])
    h1, h2 = decay(arrays["cluster"], arrays["q1"][:, 1:], arrays["pert"], m1, m2, smearing, rng)
    return {**arrays, "h1": np.column_stack([arrays["h1"][:, 0], h1]),
            "h2": np.column_stack([arrays["h2"][:, 0], h2])}


# -- files -----------------------------------------------------------------------------------
def write_h5(path: str | os.PathLike, arrays: dict, attrs: dict) -> Path:
    """Write the HDF5 layout atomically (temporary name, then rename); byte-reproducible."""
    import h5py  # noqa: PLC0415 - optional dependency, only for files

    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=False) as f:
        for key in KEYS:
            dtype = np.int8 if key == "pert" else np.float64
            f.create_dataset(key, data=np.asarray(arrays[key], dtype=dtype), track_times=False)
        for k, v in attrs.items():
            f.attrs[k] = v
    return Path(path)


def generate_file(path: str | os.PathLike, n: int = 500_000, seed: int = 0,
                  smearing: float = DEFAULTS["smearing"]) -> Path:
    """Generate ``n`` clusters and write them to ``path`` with their parameters as attributes."""
    arrays = generate(n, seed=seed, smearing=smearing)
    attrs = {"generator": GENERATOR_NAME, "generator_version": GENERATOR_VERSION,
             "n_clusters": int(n), "seed": int(seed), **{k: float(v) for k, v in DEFAULTS.items()},
             "p_perturbative": p_perturbative(DEFAULTS["aligned_fraction"]),
             "smearing": float(smearing), "sqrt_s": 91.2, "layout": "E,px,py,pz in GeV; pid first"}
    return write_h5(path, arrays, attrs)


def ensure_file(path: str | os.PathLike, n: int, seed: int, smearing: float) -> Path:
    """Generate ``path`` when it is missing (atomic, so concurrent workers are safe)."""
    path = Path(path)
    if not path.exists():
        _log.info("hadronization: generating %d clusters into %s", n, path)
        generate_file(path, n=n, seed=seed, smearing=smearing)
    return path


def check_arrays(arrays: dict, source: str) -> dict:
    """Validate shapes, lengths and finiteness; one-line ``ValueError`` naming ``source`` and the key."""
    if len({len(a) for a in arrays.values()}) != 1:
        raise ValueError(f"{source}: datasets have different lengths {({k: len(a) for k, a in arrays.items()})}")
    for key, width in KEYS.items():
        a = arrays[key]
        if a.ndim != 2 or a.shape[1] != width:
            raise ValueError(f"{source}: dataset '/{key}' has shape {a.shape}, expected (N, {width})")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{source}: dataset '/{key}' contains NaN or inf")
    if len(arrays["cluster"]) == 0:
        raise ValueError(f"{source}: no clusters")
    return arrays


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def _existing_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"hadronization data file not found: {path}")
    if path.is_dir():
        raise ValueError(f"data.path: '{path}' is a directory, not a data file")
    return path


def read_h5(path: str | os.PathLike) -> dict:
    """Read the HDF5 layout -> dict of arrays (validated).

    A corrupt or truncated file, a missing or unreadable dataset, a wrong shape or NaNs
    raise a one-line ``ValueError`` naming the file and the dataset.
    """
    import h5py  # noqa: PLC0415

    path = _existing_file(path)
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in KEYS if not isinstance(f.get(k), h5py.Dataset)]
            if missing:
                raise ValueError(f"{path}: missing dataset '/{missing[0]}' (need {', '.join('/' + k for k in KEYS)})")
            arrays = {}
            for key in KEYS:
                try:
                    arrays[key] = np.asarray(f[key][...], dtype=np.float64)
                except (OSError, TypeError, ValueError) as e:
                    raise ValueError(f"{path}: dataset '/{key}' cannot be read ({_first_line(e)})") from None
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({_first_line(e)})") from None
    return check_arrays(arrays, str(path))


def file_attrs(path: str | os.PathLike) -> dict:
    """The attributes of an HDF5 file written by :func:`generate_file` (``{}`` for other files)."""
    import h5py  # noqa: PLC0415

    if Path(path).suffix.lower() not in (".h5", ".hdf5"):
        return {}
    try:
        with h5py.File(path, "r") as f:
            return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    except OSError:
        return {}


def is_synthetic(attrs: dict) -> bool:
    """Whether ``attrs`` come from this generator's current version (then re-decays are exact)."""
    return attrs.get("generator") == GENERATOR_NAME and str(attrs.get("generator_version")) == GENERATOR_VERSION


def load_clusters(path: str | os.PathLike) -> dict:
    """HDF5 (``.h5``/``.hdf5``) or a public text format (anything else, see ``formats.py``)."""
    from .formats import read_text  # noqa: PLC0415

    path = _existing_file(path)
    return read_h5(path) if path.suffix.lower() in (".h5", ".hdf5") else read_text(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate synthetic two-body cluster decays (HDF5).")
    parser.add_argument("--out", default="datasets/hadronization/clusters.h5")
    parser.add_argument("--n", type=int, default=500_000, help="number of clusters")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smearing", type=float, default=DEFAULTS["smearing"],
                        help="smearing of perturbative quarks (0.78 nominal, e.g. 0.3 for the variation)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be positive")
    path = generate_file(args.out, n=args.n, seed=args.seed, smearing=args.smearing)
    print(f"wrote {args.n} clusters to {path}")


if __name__ == "__main__":
    main()
