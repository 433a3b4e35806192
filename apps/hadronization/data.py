"""Synthetic two-body cluster decays (e+e- -> hadrons at 91.2 GeV, cluster model).

A colour-neutral cluster of a light quark and antiquark decays into two pions. The
generator follows the cluster model: mass spectrum, constituent quarks back-to-back in
the cluster frame, "perturbative" quarks whose hadron keeps the quark direction up to a
smearing, isotropic decay otherwise, boost to the lab. Everything is vectorised.

On disk (HDF5, one row per cluster, four-vectors ``(E, px, py, pz)`` in GeV):
``/cluster (N, 4)``, ``/q1 (N, 5)``, ``/q2 (N, 5)`` (pid + four-vector),
``/pert (N, 2)`` (perturbative flag of q1, q2), ``/h1 (N, 5)``, ``/h2 (N, 5)``.
h1 is the hadron that holds q1. The public text samples are read too (see
:func:`read_text`). Run ``python -m uqhpo.apps.hadronization.data --out FILE``.
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import physics as ph

GENERATOR_VERSION = "1"
KEYS = {"cluster": 4, "q1": 5, "q2": 5, "pert": 2, "h1": 5, "h2": 5}
DEFAULTS: dict[str, Any] = {
    "p_perturbative": 0.4,   # per quark
    "p_leading": 0.23,       # leading clusters carry a large share of the beam energy
    "p_pipm_neutral": 0.79,  # neutral clusters: pi+ pi- (else pi0 pi0)
    "smearing": 0.78,        # cos(theta_s) = 1 + smearing * ln U for perturbative quarks
}
_log = logging.getLogger("uqhpo")



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
        options: override ``p_perturbative``, ``p_leading``, ``p_pipm_neutral``.

    Returns:
        dict of arrays with the shapes of :data:`KEYS`.
    """
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

    M = 0.27 + 3.53 * rng.beta(2.1, 1.9, n)
    low = M <= (m1 + m2) * (1 + 1e-9)   # redraw below the two-pion threshold
    while low.any():
        M[low] = 0.27 + 3.53 * rng.beta(2.1, 1.9, int(low.sum()))
        low = M <= (m1 + m2) * (1 + 1e-9)

    leading = rng.random(n) < p["p_leading"]
    p_lab = np.where(leading, rng.uniform(30.0, 45.5, n),
                     np.clip(np.exp(rng.normal(np.log(4.0), 0.8, n)), 0.5, 30.0))
    flight = ph.unit_vectors(ph.sample_one_plus_cos2(rng, n), rng.uniform(-np.pi, np.pi, n))
    cluster = ph.four_vectors(flight, p_lab, M)
    beta = ph.velocity(cluster)

    # constituents back-to-back; below 2 * 0.325 GeV the mass is lowered to keep q1+q2 = cluster
    m_q = np.minimum(ph.M_CONSTITUENT, 0.4 * M)
    q_dir = ph.isotropic(rng, n)
    p_q = np.sqrt(M ** 2 / 4 - m_q ** 2)
    q1 = ph.boost(ph.four_vectors(q_dir, p_q, m_q), beta)
    q2 = ph.boost(ph.four_vectors(-q_dir, p_q, m_q), beta)
    pert = (rng.random((n, 2)) < p["p_perturbative"]).astype(np.int8)

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

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w", track_order=False) as f:
            for key in KEYS:
                dtype = np.int8 if key == "pert" else np.float64
                f.create_dataset(key, data=np.asarray(arrays[key], dtype=dtype), track_times=False)
            for k, v in attrs.items():
                f.attrs[k] = v
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def generate_file(path: str | os.PathLike, n: int = 500_000, seed: int = 0,
                  smearing: float = DEFAULTS["smearing"]) -> Path:
    """Generate ``n`` clusters and write them to ``path`` with their parameters as attributes."""
    arrays = generate(n, seed=seed, smearing=smearing)
    attrs = {"generator": "uqhpo.apps.hadronization.data", "generator_version": GENERATOR_VERSION,
             "n_clusters": int(n), "seed": int(seed), **{k: float(v) for k, v in DEFAULTS.items()},
             "smearing": float(smearing), "sqrt_s": 91.2, "layout": "E,px,py,pz in GeV; pid first"}
    return write_h5(path, arrays, attrs)


def ensure_file(path: str | os.PathLike, n: int, seed: int, smearing: float) -> Path:
    """Generate ``path`` when it is missing (atomic, so concurrent workers are safe)."""
    path = Path(path)
    if not path.exists():
        _log.info("hadronization: generating %d clusters into %s", n, path)
        generate_file(path, n=n, seed=seed, smearing=smearing)
    return path


def _check(arrays: dict, source: str) -> dict:
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


def read_h5(path: str | os.PathLike) -> dict:
    """Read the HDF5 layout -> dict of arrays (validated)."""
    import h5py  # noqa: PLC0415

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"hadronization data file not found: {path}")
    with h5py.File(path, "r") as f:
        missing = [k for k in KEYS if k not in f]
        if missing:
            raise ValueError(f"{path}: missing dataset '/{missing[0]}' (need {', '.join('/' + k for k in KEYS)})")
        arrays = {k: np.asarray(f[k][...], dtype=np.float64) for k in KEYS}
    return _check(arrays, str(path))


def read_text(path: str | os.PathLike) -> dict:
    """Read the public text format.

    One event per line; clusters separated by ``|``; a cluster is ``q1;q2;cluster;h1;h2``
    and each object ``pid,E,px,py,pz``. Clusters holding an object with pid 88 are
    placeholders and are skipped. The text format has no perturbative flags (set to 0).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"hadronization data file not found: {path}")
    rows = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            for chunk in line.strip().split("|"):
                if not chunk.strip():
                    continue
                objects = [o for o in chunk.strip().strip(";").split(";")]
                values = [v for o in objects for v in o.split(",")]
                if len(objects) != 5 or len(values) != 25:
                    raise ValueError(f"{path}:{line_no}: a cluster needs 5 objects 'pid,E,px,py,pz' "
                                     f"separated by ';', got {chunk.strip()[:60]!r}")
                try:
                    row = np.array(values, dtype=float)
                except ValueError:
                    raise ValueError(f"{path}:{line_no}: non-numeric value in {chunk.strip()[:60]!r}") from None
                if np.any(row[::5] == ph.PLACEHOLDER_PID):
                    continue
                rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no clusters found")
    table = np.array(rows).reshape(-1, 5, 5)
    arrays = {"q1": table[:, 0], "q2": table[:, 1], "cluster": table[:, 2, 1:],
              "pert": np.zeros((len(table), 2)), "h1": table[:, 3], "h2": table[:, 4]}
    return _check(arrays, str(path))


def write_text(path: str | os.PathLike, arrays: dict, clusters_per_event: int = 3,
               placeholder_every: int = 0) -> Path:
    """Write ``arrays`` in the public text format (a placeholder after every k clusters)."""
    lines, n = [], len(arrays["cluster"])
    fmt = lambda v: ",".join(f"{x:.10g}" for x in v)  # noqa: E731
    for start in range(0, n, clusters_per_event):
        chunks = []
        for i in range(start, min(n, start + clusters_per_event)):
            cl = np.concatenate([[ph.CLUSTER_PID], arrays["cluster"][i]])
            chunks.append(";".join(fmt(v) for v in (arrays["q1"][i], arrays["q2"][i], cl,
                                                    arrays["h1"][i], arrays["h2"][i])))
            if placeholder_every and (i + 1) % placeholder_every == 0:
                chunks.append(";".join(["88,0,0,0,0"] * 5))
        lines.append("|".join(chunks))
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def load_clusters(path: str | os.PathLike) -> dict:
    """HDF5 (``.h5``/``.hdf5``) or the text format (anything else) -> dict of arrays."""
    suffix = Path(path).suffix.lower()
    return read_h5(path) if suffix in (".h5", ".hdf5") else read_text(path)


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
