"""Parallel-beam projection and filtered back-projection, one geometry for every back-end.

The geometry is scikit-image's ``radon`` with ``circle=True``: an image of ``n × n``
pixels, a detector of ``n`` bins of one pixel, the rotation axis at pixel ``n // 2``,
angles ``theta`` in radians over [0, π). Sinograms are ``(n_angles, n_det)`` (angle rows,
as stored on disk), images ``(n, n)``; a leading batch axis is allowed everywhere.

Back-ends of :func:`reconstruct` (by name):

- ``skimage``: ``skimage.transform.iradon`` (always available; ramp filter by default).
- ``tomopy``: ``tomopy.recon(algorithm="gridrec")`` when tomopy is importable (conda).
- ``astra``: astra-toolbox's CPU ``FBP`` when astra is importable.
- ``auto``: tomopy when importable, else skimage.

tomopy and astra have their own axis and angle conventions. Their output is matched
to this geometry once per process and size: a known asymmetric phantom is projected
here and reconstructed by the back-end and by skimage, and the flip/rotation of the eight
that maps the first onto the second best (plus a least-squares intensity scale) is applied
from then on. So all back-ends
reconstruct the same sinogram into the same orientation and units.
"""
from __future__ import annotations

import functools
import importlib.util
from typing import Callable

import numpy as np

BACKENDS = ("auto", "skimage", "tomopy", "astra")
FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")


def project(images: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Line integrals (in pixel units) of ``(n, n)`` or ``(b, n, n)`` images -> sinograms
    ``(n_angles, n)`` or ``(b, n_angles, n)``. Content outside the inscribed circle is ignored."""
    from skimage.transform import radon  # noqa: PLC0415

    images = np.asarray(images, dtype=np.float64)
    deg = np.degrees(np.asarray(theta, dtype=np.float64))
    if images.ndim == 2:
        return radon(images, deg, circle=True).T
    return np.stack([radon(im, deg, circle=True).T for im in images])


def flip_detector(rows: np.ndarray) -> np.ndarray:
    """The projection at θ + π from the one at θ: p(θ + π, s) = p(θ, −s), ``(..., n_det)``.

    Detector bin i sits at s = i − n_det // 2, so s ↦ −s maps bin i to 2·(n_det // 2) − i;
    a bin whose mirror falls off the detector gets 0 (it lies outside the scanned circle).
    """
    n = rows.shape[-1]
    mirror = 2 * (n // 2) - np.arange(n)
    valid = (mirror >= 0) & (mirror < n)
    out = np.zeros_like(rows)
    out[..., valid] = rows[..., mirror[valid]]
    return out


def available_backends() -> list[str]:
    """Back-end names usable in this environment (``auto`` and ``skimage`` always)."""
    return ["auto", "skimage"] + [b for b in ("tomopy", "astra") if importlib.util.find_spec(b) is not None]


def resolve_backend(name: str) -> str:
    """``auto`` -> tomopy when importable, else skimage; an unavailable name -> one-line error."""
    if name not in BACKENDS:
        raise ValueError(f"recon backend {name!r} is unknown; use one of {', '.join(BACKENDS)}")
    if name == "auto":
        return "tomopy" if importlib.util.find_spec("tomopy") is not None else "skimage"
    if name != "skimage" and importlib.util.find_spec(name) is None:
        hint = f"conda install -c {'conda-forge tomopy' if name == 'tomopy' else 'astra-toolbox astra-toolbox'}"
        raise ValueError(f"recon backend '{name}' is not importable here ({hint}); use 'skimage'")
    return name


def reconstruct(sinograms: np.ndarray, theta: np.ndarray, backend: str = "auto",
                filter_name: str = "ramp") -> np.ndarray:
    """Filtered back-projection of ``(n_angles, n_det)`` or ``(b, n_angles, n_det)`` sinograms.

    Args:
        sinograms: line integrals in pixel units (what :func:`project` gives).
        theta: ``(n_angles,)`` angles in radians.
        backend: see the module docstring.
        filter_name: the FBP filter (``ramp`` by default).

    Returns:
        ``(n_det, n_det)`` or ``(b, n_det, n_det)`` float32 images.
    """
    if filter_name not in FILTERS:
        raise ValueError(f"recon filter {filter_name!r} is unknown; use one of {', '.join(FILTERS)}")
    sino = np.asarray(sinograms, dtype=np.float64)
    single = sino.ndim == 2
    sino = sino[None] if single else sino
    theta = np.asarray(theta, dtype=np.float64)
    if sino.ndim != 3 or sino.shape[1] != len(theta):
        raise ValueError(f"sinograms of shape {np.shape(sinograms)} do not match {len(theta)} angles")
    name = resolve_backend(backend)
    raw = _RAW[name](sino, theta, filter_name)
    if name != "skimage":
        index, scale = _alignment(name, sino.shape[2], len(theta), filter_name)
        raw = scale * orient(raw, index)
    out = raw.astype(np.float32)
    return out[0] if single else out


def _skimage(sino: np.ndarray, theta: np.ndarray, filter_name: str) -> np.ndarray:
    from skimage.transform import iradon  # noqa: PLC0415

    deg = np.degrees(theta)
    return np.stack([iradon(s.T, deg, circle=True, filter_name=filter_name) for s in sino])


def _tomopy(sino: np.ndarray, theta: np.ndarray, filter_name: str) -> np.ndarray:
    import tomopy  # noqa: PLC0415

    n = sino.shape[2]
    tomo = np.ascontiguousarray(sino.transpose(1, 0, 2), dtype=np.float32)   # (angles, slices, det)
    names = {"ramp": "ramlak", "shepp-logan": "shepp", "cosine": "cosine", "hamming": "hamming", "hann": "hann"}
    rec = tomopy.recon(tomo, theta, center=float(n // 2), algorithm="gridrec", filter_name=names[filter_name],
                       ncore=1)
    return np.asarray(rec, dtype=np.float64)[:, :n, :n]


def _astra(sino: np.ndarray, theta: np.ndarray, filter_name: str) -> np.ndarray:
    import astra  # noqa: PLC0415

    n = sino.shape[2]
    vol = astra.create_vol_geom(n, n)
    proj = astra.create_proj_geom("parallel", 1.0, n, theta)
    projector = astra.create_projector("linear", proj, vol)
    names = {"ramp": "ram-lak", "shepp-logan": "shepp-logan", "cosine": "cosine", "hamming": "hamming",
             "hann": "hann"}
    out = []
    try:
        for s in sino:
            sid = astra.data2d.create("-sino", proj, s)
            rid = astra.data2d.create("-vol", vol, 0.0)
            cfg = astra.astra_dict("FBP")
            cfg.update(ReconstructionDataId=rid, ProjectionDataId=sid, ProjectorId=projector,
                       FilterType=names[filter_name])
            alg = astra.algorithm.create(cfg)
            astra.algorithm.run(alg)
            out.append(astra.data2d.get(rid))
            astra.algorithm.delete(alg)
            astra.data2d.delete([sid, rid])
    finally:
        astra.projector.delete(projector)
    return np.stack(out).astype(np.float64)


_RAW: dict[str, Callable[[np.ndarray, np.ndarray, str], np.ndarray]] = {
    "skimage": _skimage, "tomopy": _tomopy, "astra": _astra}

def orient(images: np.ndarray, index: int) -> np.ndarray:
    """One of the eight flips/rotations of ``(..., n, n)`` images: index 0–3 rotate by
    index × 90°, 4–7 mirror left-right first."""
    return np.rot90(images[..., ::-1] if index >= 4 else images, index % 4, axes=(-2, -1))


@functools.cache
def _alignment(name: str, n: int, n_angles: int, filter_name: str) -> tuple[int, float]:
    """The flip/rotation and scale that map back-end ``name``'s output onto this geometry."""
    from .phantoms import random_ellipses  # noqa: PLC0415

    theta = np.arange(n_angles) * np.pi / n_angles
    sino = project(random_ellipses(n, np.random.default_rng(12345), supersample=2), theta)[None]
    truth = _skimage(sino, theta, filter_name)[0]           # the reference geometry and units
    raw = _RAW[name](sino, theta, filter_name)[0]
    best: tuple[float, int, float] = (np.inf, 0, 1.0)
    for index in range(8):
        image = orient(raw, index)
        scale = float(np.sum(image * truth) / max(float(np.sum(image * image)), 1e-12))
        error = float(np.mean((scale * image - truth) ** 2))
        if error < best[0]:
            best = (error, index, scale)
    return best[1], best[2]
