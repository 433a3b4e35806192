"""Sparse-angle CT data: phantoms, noisy parallel-beam sinograms, angle masks, HDF5 files.

A sample is a phantom (attenuation coefficients, in units of 1 / length with the image
2 length units wide, so a pixel is ``pixel_size = 2 / size``), its full sinogram over
``n_angles`` angles in [0, π) (line integrals, scikit-image's ``radon`` geometry, see
``recon.py``), with Poisson noise: counts ~ Poisson(I0 · g_d · exp(−p)), where I0 is drawn
log-uniformly per sample and g_d are optional detector gains (ring artefacts: the flat
field assumes g_d = 1); measured p = −ln(counts / I0). The mask marks the measured angles
(every k-th, or a random subset of n_angles // k); the sparse sinogram is the full one
with unmeasured rows set to 0.

On disk (HDF5): ``/theta (nθ,)`` radians; per split ``train``, ``valid``, ``test``:
``phantom (N, H, W)``, ``sino_full (N, nθ, ndet)``, ``mask (N, nθ)``, ``sino_sparse (N, nθ, ndet)``
(plus ``kind (N,)`` and ``i0 (N,)`` from the generator); geometry and noise in the root
attributes. Run ``python -m uqhpo.apps.ct.data --out FILE``; :func:`read_h5` reads and checks a file.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from uqhpo.atomic_file import atomic_path

from . import phantoms
from .recon import project

GENERATOR_VERSION = "1"
SPLITS = ("train", "valid", "test")
SAMPLINGS = ("regular", "random")
_log = logging.getLogger("uqhpo")


@dataclass(frozen=True)
class Generation:
    """Everything that determines a generated file (all of it goes into its attributes)."""

    image_size: int = 128
    n_angles: int = 180
    n_train: int = 2000
    n_valid: int = 300
    n_test: int = 300
    kinds: tuple[str, ...] = phantoms.KINDS
    attenuation: float = 1.0          # density 1 -> mu = 1 per length unit (the image is 2 wide)
    i0_low: float = 1e3
    i0_high: float = 1e4
    ring_std: float = 0.0             # std of detector gains around 1 (0: no rings)
    sampling: str = "regular"
    k: int = 4
    seed: int = 0
    supersample: int = 4

    def validate(self) -> Generation:
        """One-line errors naming the parameter at fault."""
        for key in ("image_size", "n_angles", "n_train", "n_valid", "n_test", "k", "supersample"):
            v = getattr(self, key)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"data.{key} must be a positive integer, got {v!r}")
        if self.image_size < 8:
            raise ValueError(f"data.image_size must be at least 8, got {self.image_size}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"data.sampling must be one of {', '.join(SAMPLINGS)}, got {self.sampling!r}")
        if not 2 <= self.k <= self.n_angles // 2:
            raise ValueError(f"data.k must be between 2 and n_angles // 2 = {self.n_angles // 2}, got {self.k}")
        if not 0 < self.i0_low <= self.i0_high:
            raise ValueError(f"data.i0 must be a positive number or [low, high], got [{self.i0_low}, {self.i0_high}]")
        if self.ring_std < 0 or self.attenuation <= 0:
            raise ValueError("data.ring_std must be >= 0 and data.attenuation > 0")
        for kind in self.kinds:
            if kind not in phantoms.KINDS:
                raise ValueError(f"data.kinds: unknown phantom kind {kind!r}; use {', '.join(phantoms.KINDS)}")
        return self

    @property
    def pixel_size(self) -> float:
        return 2.0 / self.image_size

    def theta(self) -> np.ndarray:
        """``(n_angles,)`` equally spaced angles in [0, π), radians."""
        return np.arange(self.n_angles) * (np.pi / self.n_angles)

    def sizes(self) -> dict[str, int]:
        return {"train": self.n_train, "valid": self.n_valid, "test": self.n_test}


def angle_masks(n: int, n_angles: int, k: int, sampling: str, rng: np.random.Generator) -> np.ndarray:
    """``(n, n_angles)`` uint8 masks of measured angles: every k-th from angle 0, or a random
    sorted subset of ``n_angles // k`` angles per sample."""
    mask = np.zeros((n, n_angles), dtype=np.uint8)
    if sampling == "regular":
        mask[:, ::k] = 1
        return mask
    m = max(2, n_angles // k)
    for row in mask:
        row[rng.choice(n_angles, m, replace=False)] = 1
    return mask


def measure(sino: np.ndarray, i0: np.ndarray, ring_std: float, rng: np.random.Generator) -> np.ndarray:
    """Noisy line integrals from clean ones.

    Args:
        sino: ``(n, nθ, ndet)`` clean line integrals; i0: ``(n,)`` incident counts.
        ring_std: std of per-detector gains (fixed per sample across angles).

    Returns:
        ``(n, nθ, ndet)`` float32: −ln(counts / I0) (a zero count is read as 0.5).
    """
    gains = 1.0 + ring_std * rng.standard_normal((len(sino), 1, sino.shape[2])) if ring_std > 0 else 1.0
    expected = i0[:, None, None] * gains * np.exp(-sino)
    counts = rng.poisson(np.clip(expected, 0.0, None))
    return (-np.log(np.maximum(counts, 0.5) / i0[:, None, None])).astype(np.float32)


def generate_split(gen: Generation, n: int, seed_seq: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """One split: phantoms, sinograms, masks, per-sample I0 and kind (arrays of the layout)."""
    phantom_rng, noise_rng, mask_rng = (np.random.default_rng(s) for s in seed_seq.spawn(3))
    density, kind = phantoms.make_phantoms(n, gen.image_size, gen.kinds, phantom_rng, gen.supersample)
    mu = density * np.float32(gen.attenuation)
    clean = project(mu, gen.theta()) * gen.pixel_size if n else np.zeros((0, gen.n_angles, gen.image_size))
    i0 = np.exp(noise_rng.uniform(np.log(gen.i0_low), np.log(gen.i0_high), n))
    full = measure(clean, i0, gen.ring_std, noise_rng)
    mask = angle_masks(n, gen.n_angles, gen.k, gen.sampling, mask_rng)
    return {"phantom": mu.astype(np.float32), "sino_full": full, "mask": mask,
            "sino_sparse": full * mask[:, :, None].astype(np.float32), "kind": kind, "i0": i0}


def generate(gen: Generation) -> dict[str, dict[str, np.ndarray]]:
    """All three splits, each from its own child of ``SeedSequence(seed)``."""
    gen.validate()
    children = np.random.SeedSequence(int(gen.seed)).spawn(len(SPLITS))
    return {split: generate_split(gen, gen.sizes()[split], child) for split, child in zip(SPLITS, children)}


def attributes(gen: Generation) -> dict:
    """Root attributes: generator, version, seed, parameters (JSON), geometry and noise."""
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(gen).items()}
    return {"generator": "uqhpo.apps.ct.data", "generator_version": GENERATOR_VERSION, "seed": int(gen.seed),
            "parameters": json.dumps(params, sort_keys=True), "geometry": "parallel beam, scikit-image radon "
            "circle=True: detector bin i at s = i - ndet//2 pixels, rotation axis at pixel ndet//2",
            "angle_unit": "rad", "pixel_size": gen.pixel_size, "length_unit": "image width = 2",
            "noise": "counts ~ Poisson(I0 * gain * exp(-p)), p = -ln(counts / I0)",
            "i0_low": gen.i0_low, "i0_high": gen.i0_high, "ring_std": gen.ring_std, "sampling": gen.sampling,
            "k": int(gen.k), "kinds": ",".join(gen.kinds)}


def write_h5(path: str | os.PathLike, theta: np.ndarray, splits: dict, attrs: dict) -> Path:
    """Write the layout atomically (temporary name in the same folder, then rename);
    modification times are off, so the same content gives the same bytes."""
    import h5py  # noqa: PLC0415 - optional dependency, only for files

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("theta", data=np.asarray(theta, dtype=np.float64), track_times=False)
        for split, arrays in splits.items():
            group = f.create_group(split, track_order=False)
            for key, value in arrays.items():
                # gzip level 1: the sparse sinograms are mostly zeros (deterministic, so still byte-identical)
                packed = {"compression": "gzip", "compression_opts": 1} if np.ndim(value) > 1 else {}
                group.create_dataset(key, data=value, track_times=False, **packed)
        for key, value in attrs.items():
            f.attrs[key] = value
    return Path(path)


def generate_file(path: str | os.PathLike, gen: Generation) -> Path:
    """Generate every split of ``gen`` and write it to ``path``."""
    return write_h5(path, gen.theta(), generate(gen), attributes(gen))


def ensure_file(path: str | os.PathLike, gen: Generation) -> Path:
    """Generate ``path`` when it is missing (atomic, so concurrent workers are safe)."""
    path = Path(path)
    if not path.exists():
        _log.info("ct: generating %s into %s", gen.sizes(), path)
        generate_file(path, gen)
    return path


def read_h5(path: str | os.PathLike, splits: tuple[str, ...] = SPLITS) -> dict:
    """Read and check the layout.

    Returns:
        ``{"theta": (nθ,), "pixel_size": float, "attrs": dict, <split>: {"phantom", "sino_full",
        "mask", "sino_sparse"}}`` (float32 arrays, the mask as bool). ``pixel_size`` (length
        per pixel, dividing the line integrals before reconstruction) is 1 when the file
        has no such attribute (sinograms in pixel units).

    Raises:
        FileNotFoundError / ValueError: one line naming the file and the key or shape at fault.
    """
    import h5py  # noqa: PLC0415

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"ct data file not found: {path}")
    out: dict = {}
    with h5py.File(path, "r") as f:
        if "theta" not in f:
            raise ValueError(f"{path}: missing dataset '/theta' (angles in radians, shape (n_angles,))")
        theta = np.asarray(f["theta"][...], dtype=np.float64)
        if theta.ndim != 1 or len(theta) < 2 or not np.all(np.isfinite(theta)):
            raise ValueError(f"{path}: '/theta' must be finite angles of shape (n_angles,), got {theta.shape}")
        out.update(theta=theta, pixel_size=float(f.attrs.get("pixel_size", 1.0)),
                   attrs={k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()})
        for split in splits:
            arrays = {}
            for key in ("phantom", "sino_full", "mask", "sino_sparse"):
                if f"{split}/{key}" not in f:
                    raise ValueError(f"{path}: missing dataset '/{split}/{key}'")
                arrays[key] = np.asarray(f[f"{split}/{key}"][...])
            out[split] = _check_split(arrays, len(theta), f"{path}: /{split}")
    return out


def _check_split(a: dict, n_angles: int, where: str) -> dict:
    n = len(a["phantom"])
    if a["phantom"].ndim != 3 or a["phantom"].shape[1] != a["phantom"].shape[2]:
        raise ValueError(f"{where}/phantom has shape {a['phantom'].shape}, expected (N, H, H)")
    size = a["phantom"].shape[1]
    for key in ("sino_full", "sino_sparse"):
        if a[key].shape != (n, n_angles, size):
            raise ValueError(f"{where}/{key} has shape {a[key].shape}, expected (N, n_angles, ndet) = "
                             f"{(n, n_angles, size)} (ndet must equal the image size)")
    if a["mask"].shape != (n, n_angles):
        raise ValueError(f"{where}/mask has shape {a['mask'].shape}, expected (N, n_angles) = {(n, n_angles)}")
    for key, value in a.items():
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{where}/{key} contains NaN or inf")
    mask = a["mask"].astype(bool)
    if n and (mask.sum(axis=1).min() < 2 or mask.all(axis=1).any()):
        raise ValueError(f"{where}/mask: every sample needs at least 2 measured and 1 missing angle")
    return {"phantom": a["phantom"].astype(np.float32), "sino_full": a["sino_full"].astype(np.float32),
            "mask": mask, "sino_sparse": a["sino_sparse"].astype(np.float32)}


def main(argv: list[str] | None = None) -> None:
    d = Generation()
    p = argparse.ArgumentParser(description="Generate sparse-angle CT phantoms and sinograms (HDF5).")
    p.add_argument("--out", default="datasets/ct/sinograms.h5")
    for key in ("image_size", "n_angles", "n_train", "n_valid", "n_test", "k", "seed"):
        p.add_argument(f"--{key.replace('_', '-')}", type=int, default=getattr(d, key))
    p.add_argument("--sampling", choices=SAMPLINGS, default=d.sampling)
    p.add_argument("--i0", type=float, nargs=2, default=[d.i0_low, d.i0_high], metavar=("LOW", "HIGH"))
    p.add_argument("--ring-std", type=float, default=d.ring_std)
    p.add_argument("--kinds", nargs="+", choices=phantoms.KINDS, default=list(d.kinds))
    a = p.parse_args(argv)
    gen = Generation(image_size=a.image_size, n_angles=a.n_angles, n_train=a.n_train, n_valid=a.n_valid,
                     n_test=a.n_test, kinds=tuple(a.kinds), i0_low=a.i0[0], i0_high=a.i0[1], ring_std=a.ring_std,
                     sampling=a.sampling, k=a.k, seed=a.seed)
    try:
        gen.validate()
    except ValueError as e:
        p.error(str(e).replace("data.", "--"))
    path = generate_file(a.out, gen)
    print(f"wrote {gen.sizes()} samples ({gen.image_size}x{gen.image_size}, {gen.n_angles} angles) to {path}")


if __name__ == "__main__":
    main()
