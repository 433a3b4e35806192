"""Seeded 2-D phantoms: modified Shepp–Logan, random ellipses, foams (NumPy).

Coordinates are normalised: the image is 2 wide, x runs along columns (left to right)
and y along rows (bottom to top), so a pixel is ``2 / size`` wide, and the origin is the
centre of pixel ``(size // 2, size // 2)``: the rotation axis of the projection geometry
(``recon.py``). Every phantom lies inside the scanned circle of radius ``size // 2``
pixels around it (what a parallel-beam scan over [0, π) sees from every angle). Values
are densities in [0, 1]; ``data.py`` multiplies them by the attenuation coefficient.
Pixels hold the mean over ``supersample²`` sub-pixel samples, so edges are
area-weighted rather than aliased.
"""
from __future__ import annotations

import math

import numpy as np

KINDS = ("shepp_logan", "ellipses", "foam")

#: The modified Shepp–Logan table (Toft's higher-contrast densities):
#: (density added, semi-axis a along x, semi-axis b along y, centre x, centre y, angle in degrees)
MODIFIED_SHEPP_LOGAN = np.array([
    [1.0, 0.6900, 0.9200, 0.00, 0.0000, 0.0],
    [-0.8, 0.6624, 0.8740, 0.00, -0.0184, 0.0],
    [-0.2, 0.1100, 0.3100, 0.22, 0.0000, -18.0],
    [-0.2, 0.1600, 0.4100, -0.22, 0.0000, 18.0],
    [0.1, 0.2100, 0.2500, 0.00, 0.3500, 0.0],
    [0.1, 0.0460, 0.0460, 0.00, 0.1000, 0.0],
    [0.1, 0.0460, 0.0460, 0.00, -0.1000, 0.0],
    [0.1, 0.0460, 0.0230, -0.08, -0.6050, 0.0],
    [0.1, 0.0230, 0.0230, 0.00, -0.6060, 0.0],
    [0.1, 0.0230, 0.0460, 0.06, -0.6050, 0.0],
])


def _offset(size: int) -> float:
    """x of the left image edge: pixel ``size // 2`` is centred on 0."""
    return -(int(size) // 2 + 0.5) * 2.0 / int(size)


def pixel_grid(size: int, supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sample-point coordinates ``(size*s, size*s)`` x and y (row 0 is the top)."""
    n = int(size) * int(supersample)
    centres = (np.arange(n) + 0.5) * (2.0 / n) + _offset(size)
    return np.meshgrid(centres, -centres)


def scanned_circle(size: int) -> np.ndarray:
    """``(size, size)`` bool: the pixels inside the scanned circle (radius ``size // 2``)."""
    i = np.arange(int(size)) - int(size) // 2
    return i[:, None] ** 2 + i[None, :] ** 2 <= (int(size) // 2) ** 2


def rasterize(ellipses: np.ndarray, size: int, supersample: int = 4, mode: str = "add") -> np.ndarray:
    """Area-weighted image of a list of ellipses.

    Args:
        ellipses: ``(m, 6)`` rows ``(value, a, b, x0, y0, angle_deg)``.
        size: image side in pixels; supersample: sub-samples per pixel side.
        mode: "add" sums the values of overlapping ellipses (Shepp–Logan convention);
            "set" paints them in order, a later one replacing what lies below.

    Returns:
        ``(size, size)`` float64 image.
    """
    s = int(supersample)
    n = int(size) * s
    image = np.zeros((n, n))
    step, left = 2.0 / n, _offset(size)     # sample q sits at x = left + (q + 0.5) step, y = -x
    for value, a, b, x0, y0, angle in np.asarray(ellipses, dtype=float).reshape(-1, 6):
        r = max(a, b)   # bounding box of the ellipse, in sample indices
        c0, c1 = max(0, int((x0 - r - left) / step) - 1), min(n, int(math.ceil((x0 + r - left) / step)) + 1)
        r0, r1 = max(0, int((-y0 - r - left) / step) - 1), min(n, int(math.ceil((-y0 + r - left) / step)) + 1)
        if c0 >= c1 or r0 >= r1:
            continue
        x = left + (np.arange(c0, c1) + 0.5) * step - x0
        y = -(left + (np.arange(r0, r1) + 0.5) * step) - y0
        xx, yy = np.meshgrid(x, y)
        cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        inside = ((xx * cos + yy * sin) / a) ** 2 + ((-xx * sin + yy * cos) / b) ** 2 <= 1.0
        block = image[r0:r1, c0:c1]
        if mode == "add":
            block[inside] += value
        else:
            block[inside] = value
    return image.reshape(size, s, size, s).mean(axis=(1, 3)) * scanned_circle(size)


def shepp_logan(size: int, supersample: int = 4) -> np.ndarray:
    """The modified Shepp–Logan phantom, ``(size, size)``, densities in [0, 1]."""
    return np.clip(rasterize(MODIFIED_SHEPP_LOGAN, size, supersample), 0.0, None)


def shepp_logan_variant(size: int, rng: np.random.Generator, supersample: int = 4) -> np.ndarray:
    """The Shepp–Logan table under a random rotation, scaling (0.8–0.95) and shift, with the
    inner densities jittered by ±30 %: many distinct heads of one anatomy."""
    table = MODIFIED_SHEPP_LOGAN.copy()
    scale, turn = rng.uniform(0.8, 0.95), rng.uniform(-30.0, 30.0)
    shift = rng.uniform(-0.03, 0.03, 2)
    c, s = math.cos(math.radians(turn)), math.sin(math.radians(turn))
    x, y = table[:, 3].copy(), table[:, 4].copy()
    table[:, 3] = scale * (c * x - s * y) + shift[0]
    table[:, 4] = scale * (s * x + c * y) + shift[1]
    table[:, 1:3] *= scale
    table[:, 5] += turn
    table[2:, 0] *= rng.uniform(0.7, 1.3, len(table) - 2)
    return np.clip(rasterize(table, size, supersample), 0.0, 1.0)


def random_ellipses(size: int, rng: np.random.Generator, supersample: int = 4) -> np.ndarray:
    """A body ellipse plus 5–15 inner ellipses of random size, position, angle and density."""
    a, b = rng.uniform(0.6, 0.9), rng.uniform(0.6, 0.9)
    body = [rng.uniform(0.4, 0.7), a, b, 0.0, 0.0, rng.uniform(0.0, 180.0)]
    rows = [body]
    for _ in range(int(rng.integers(5, 16))):
        # centre at a random point well inside the body (polar, in the body's own frame)
        rad, phi = 0.75 * math.sqrt(rng.uniform()), rng.uniform(0.0, 2 * math.pi)
        px, py = rad * a * math.cos(phi), rad * b * math.sin(phi)
        c, s = math.cos(math.radians(body[5])), math.sin(math.radians(body[5]))
        rows.append([rng.uniform(-0.35, 0.45), rng.uniform(0.03, 0.25), rng.uniform(0.03, 0.25),
                     c * px - s * py, s * px + c * py, rng.uniform(0.0, 180.0)])
    image = rasterize(np.array(rows), size, supersample)
    body_mask = rasterize(np.array([[1.0, *body[1:]]]), size, supersample)
    return np.clip(image, 0.0, 1.0) * (body_mask > 0)


def foam(size: int, rng: np.random.Generator, supersample: int = 4, max_tries: int = 4000) -> np.ndarray:
    """A disc of solid (density 1) holding non-overlapping circular pores.

    Pore radii are log-uniform in [0.02, 0.15]; the target porosity (pore area / disc
    area) is drawn per phantom in [0.15, 0.45]; pores are placed by rejection sampling
    until it is reached or ``max_tries`` candidates were refused.
    """
    disc_r = rng.uniform(0.8, 0.92)
    porosity = rng.uniform(0.15, 0.45)
    target, area = porosity * disc_r ** 2, 0.0
    centres, radii = np.zeros((0, 2)), np.zeros(0)
    for _ in range(int(max_tries)):
        if area >= target:
            break
        r = math.exp(rng.uniform(math.log(0.02), math.log(0.15)))
        rad, phi = (disc_r - r - 0.01) * math.sqrt(rng.uniform()), rng.uniform(0.0, 2 * math.pi)
        c = np.array([rad * math.cos(phi), rad * math.sin(phi)])
        if len(radii) and np.any(np.hypot(*(centres - c).T) < radii + r + 0.005):
            continue
        centres, radii = np.vstack([centres, c]), np.append(radii, r)
        area += r ** 2
    rows = [[1.0, disc_r, disc_r, 0.0, 0.0, 0.0]]
    rows += [[0.0, r, r, x, y, 0.0] for (x, y), r in zip(centres, radii)]
    return rasterize(np.array(rows), size, supersample, mode="set")


def make_phantoms(n: int, size: int, kinds: tuple[str, ...] | list[str], rng: np.random.Generator,
                  supersample: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``n`` phantoms cycling through ``kinds`` (in a seeded random order).

    Returns:
        ``(n, size, size)`` float32 densities and ``(n,)`` int8 kind indices into :data:`KINDS`.
    """
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown phantom kind {kind!r}; use {', '.join(KINDS)}")
    order = np.array([KINDS.index(k) for k in kinds], dtype=np.int8)[np.arange(n) % len(kinds)]
    order = rng.permutation(order)
    makers = {0: shepp_logan_variant, 1: random_ellipses, 2: foam}
    images = np.stack([makers[int(k)](size, rng, supersample) for k in order]) if n else np.zeros((0, size, size))
    return images.astype(np.float32), order
