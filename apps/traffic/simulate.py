"""Hourly traffic on every directed link: gravity demands, daily cycles, elephants, outages.

Demand between sites o and d at hour t (Gbps)::

    D_od(t) = s * g_od * sqrt(a_o(t) a_d(t)) * growth(t) * exp(sigma * e_od(t) - sigma^2 / 2)

with the gravity term ``g_od = m_o m_d / (1 + km_od / 2000)``, a site's activity
``a(t)`` = a diurnal cycle in its local (standard) time times 0.7 on its local weekend,
and ``e_od`` an AR(1) series (hour-to-hour correlation ``rho``, unit variance). On top,
"elephant" science transfers arrive as a Poisson process between labs, centres and CERN,
with Pareto sizes, a rate of 10-40 Gbps (at most 40 % of the path's narrowest link) held
for hours. Link loads = routing matrix x demands, then multiplicative measurement noise,
saturation at capacity and rare outages (both directions of a link read 0 for hours).
The scale ``s`` is set so the busiest link averages ``peak_utilisation`` of its capacity.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .topology import Topology, great_circle_km

DEFAULTS: dict[str, Any] = {
    "days": 365,
    "start": "2024-01-01T00:00:00",   # UTC, a Monday
    "noise_sigma": 0.25,              # log-normal demand noise
    "noise_rho": 0.85,                # hour-to-hour AR(1) correlation
    "weekend_factor": 0.7,
    "growth_per_year": 0.15,          # research traffic grows year on year
    "peak_utilisation": 0.35,         # mean utilisation of the busiest link (without elephants)
    "elephants_per_day": 6.0,         # Poisson rate of science transfers
    "elephant_pareto_shape": 1.4,
    "elephant_min_tb": 15.0,          # Pareto scale (TB)
    "elephant_max_hours": 72,
    "measurement_noise": 0.02,        # relative
    "outages_per_link_year": 1.5,
    "outage_mean_hours": 5.0,
}
ELEPHANT_KINDS = ("lab", "university", "europe")


def diurnal(local_hour: np.ndarray) -> np.ndarray:
    """Activity over the local day: low near 04:00, high in the working afternoon, ``(...)``."""
    phase = 2 * np.pi * (local_hour - 15.0) / 24.0
    return 1.0 + 0.45 * np.cos(phase) + 0.12 * np.cos(2 * phase + 0.8)


def site_activity(hours_utc: np.ndarray, utc_offset: np.ndarray, weekend_factor: float) -> np.ndarray:
    """``(T,)`` hours since a Monday 00:00 UTC, ``(n,)`` offsets -> activity ``(T, n)``."""
    local = hours_utc[:, None] + utc_offset[None, :]
    day_of_week = np.floor_divide(local, 24) % 7          # 0 = Monday
    weekend = np.where(day_of_week >= 5, weekend_factor, 1.0)
    return diurnal(local % 24) * weekend


def gravity(topo: Topology) -> np.ndarray:
    """``(P,)`` gravity weight of every ordered pair (distance damps, but weakly)."""
    o, d = topo.pairs[:, 0], topo.pairs[:, 1]
    km = great_circle_km(topo.lat_lon[o], topo.lat_lon[d])
    return topo.mass[o] * topo.mass[d] / (1.0 + km / 2000.0)


def ar1_noise(rng: np.random.Generator, steps: int, width: int, rho: float) -> np.ndarray:
    """``(steps, width)`` stationary AR(1) series of unit variance."""
    from scipy.signal import lfilter  # noqa: PLC0415

    white = rng.standard_normal((steps, width))
    white[0] /= np.sqrt(1 - rho ** 2)                     # start in the stationary law
    return lfilter([np.sqrt(1 - rho ** 2)], [1.0, -rho], white, axis=0)


def elephants(rng: np.random.Generator, topo: Topology, steps: int, p: dict) -> np.ndarray:
    """``(steps, P)`` Gbps of elephant transfers per origin-destination pair."""
    out = np.zeros((steps, len(topo.pairs)))
    eligible = np.array([k in ELEPHANT_KINDS for k in topo.kinds]) & (topo.mass >= 1.0)
    weight = np.where(eligible[topo.pairs[:, 0]] & eligible[topo.pairs[:, 1]],
                      topo.mass[topo.pairs[:, 0]] * topo.mass[topo.pairs[:, 1]], 0.0)
    weight /= weight.sum()
    bottleneck = np.array([topo.capacity[topo.routing[:, q] == 1].min() for q in range(len(topo.pairs))])
    n = rng.poisson(p["elephants_per_day"] * steps / 24.0)
    starts = rng.integers(0, steps, n)
    pair = rng.choice(len(topo.pairs), n, p=weight)
    rate = np.minimum(rng.uniform(10.0, 40.0, n), 0.4 * bottleneck[pair])
    size_tb = p["elephant_min_tb"] * (1.0 + rng.pareto(p["elephant_pareto_shape"], n))
    hours = np.clip(np.ceil(size_tb * 8000.0 / (rate * 3600.0)), 1, p["elephant_max_hours"]).astype(int)
    for s, q, r, h in zip(starts, pair, rate, hours):
        out[s:s + h, q] += r
    return out


def outage_mask(rng: np.random.Generator, steps: int, n_pairs: int, p: dict) -> np.ndarray:
    """``(steps, 2 * n_pairs)`` bool, True while a physical link (both directions) is down."""
    down = np.zeros((steps, n_pairs), dtype=bool)
    years = steps / 8760.0
    for link in range(n_pairs):
        for _ in range(rng.poisson(p["outages_per_link_year"] * years)):
            start = int(rng.integers(0, steps))
            down[start:start + 1 + int(rng.exponential(p["outage_mean_hours"])), link] = True
    return np.repeat(down, 2, axis=1)


def simulate(topo: Topology, seed: int = 0, **options: Any) -> dict:
    """Simulate hourly link loads.

    Args:
        topo: the network (:func:`~.topology.build_topology`).
        seed: seeds the one numpy Generator used.
        options: override :data:`DEFAULTS` (e.g. ``days=30``).

    Returns:
        dict with ``traffic (T, L)`` Gbps, ``time (T,)`` int64 seconds since 1970 UTC,
        ``outage (T, L)`` bool, ``scale`` (Gbps per unit gravity) and ``params``.
    """
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"simulate: unknown option '{unknown[0]}'")
    p = {**DEFAULTS, **options}
    steps = int(p["days"]) * 24
    if steps < 24:
        raise ValueError(f"simulate: days must be at least 1, got {p['days']}")
    rng = np.random.default_rng(seed)
    start = np.datetime64(p["start"], "s")
    time = start.astype(np.int64) + 3600 * np.arange(steps, dtype=np.int64)
    monday = np.datetime64("1970-01-05T00:00:00", "s").astype(np.int64)   # weekday anchor
    hours = (time - monday) / 3600.0
    act = site_activity(hours, topo.utc_offset.astype(float), p["weekend_factor"])
    o, d = topo.pairs[:, 0], topo.pairs[:, 1]
    growth = 1.0 + p["growth_per_year"] * np.arange(steps) / 8760.0
    base = gravity(topo)[None, :] * np.sqrt(act[:, o] * act[:, d]) * growth[:, None]
    # scale: the busiest link's mean (noise-free) load is peak_utilisation of its capacity
    mean_load = topo.routing @ base.mean(axis=0)
    scale = p["peak_utilisation"] / np.max(mean_load / topo.capacity)
    sigma = p["noise_sigma"]
    noise = np.exp(sigma * ar1_noise(rng, steps, len(o), p["noise_rho"]) - sigma ** 2 / 2)
    demand = scale * base * noise + elephants(rng, topo, steps, p)
    load = demand @ topo.routing.T.astype(np.float64)
    load *= 1.0 + p["measurement_noise"] * rng.standard_normal(load.shape)
    load = np.clip(load, 0.0, topo.capacity[None, :])
    outage = outage_mask(rng, steps, topo.n_links // 2, p)
    load[outage] = 0.0
    return {"traffic": load, "time": time, "outage": outage, "scale": float(scale), "params": p}
