"""A synthetic basin: daily weather, river and pumping forcing, and well heads (NumPy only).

Forcing (one series per basin, day by day):

* precipitation: a wet/dry Markov chain whose transition probabilities follow a
  Mediterranean season (wet winters, dry summers); wet-day amounts are gamma distributed;
* temperature: a seasonal cycle plus AR(1) anomalies;
* streamflow: a linear reservoir fed by mountain rain and snowmelt (degree-day model on
  a catchment ``lapse`` degrees colder than the valley), in m³/s;
* pumping: irrigation in summer (mm/day over the basin) whose intensity varies from year
  to year, doubled in drought years.

In drought years the chance of a wet day after a dry one and the wet-day amounts drop and
the air is warmer. Heads follow a transfer-function model: the level of a well is a base
level plus recharge convolved with a gamma-shaped impulse response, minus pumping
convolved with another, plus AR(1) noise. The responses are normalised so that the
amplitude is the steady-state rise (m) per mm/day of sustained forcing.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

FORCING_NAMES = ("precipitation", "temperature", "streamflow", "pumping")
FORCING_UNITS = ("mm/day", "degC", "m3/s", "mm/day")
SPIN_UP_DAYS = 3 * 365        # the slowest responses need ~2 years to forget the start
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Climate:
    """Parameters of the forcing (defaults: a Central-Valley-like basin)."""

    p_wet_after_dry: tuple[float, float] = (0.02, 0.33)   # summer value, extra in mid-winter
    p_wet_after_wet: tuple[float, float] = (0.25, 0.45)
    gamma_shape: float = 0.75
    gamma_scale: tuple[float, float] = (4.0, 10.0)        # mm: summer value, extra in mid-winter
    temp_mean: float = 16.0
    temp_amplitude: float = 8.0                           # warmest near day-of-year 200
    temp_ar: float = 0.8
    temp_noise: float = 1.5
    lapse: float = 14.0                                   # the mountain catchment is colder
    mountain_precip_factor: float = 1.5
    degree_day: float = 3.0                               # snowmelt, mm/day per degC
    reservoir_days: float = 25.0
    catchment_km2: float = 2000.0
    evaporation_per_degc: float = 0.12                    # mm/day per degC above 0
    infiltration: float = 0.5
    river_leakage: float = 0.1                            # share of runoff that recharges
    pumping_peak: float = 1.5                             # mm/day in mid-July, normal years
    pumping_year_spread: float = 0.4                      # yearly factor uniform in 1 -+ spread
    drought_wet_factor: float = 0.5
    drought_amount_factor: float = 0.7
    drought_warming: float = 1.0
    drought_pumping_factor: float = 2.0


@dataclass(frozen=True)
class Well:
    """Transfer-function response of one well (amplitudes in m per mm/day, scales in days)."""

    base: float = 50.0
    recharge_amplitude: float = 1.0
    recharge_shape: float = 1.5
    recharge_scale: float = 60.0
    pumping_amplitude: float = 4.0
    pumping_shape: float = 1.0
    pumping_scale: float = 30.0
    noise_ar: float = 0.95
    noise_sd: float = 0.02

    @staticmethod
    def columns() -> tuple[str, ...]:
        return tuple(asdict(Well()))


def season(doy: np.ndarray) -> np.ndarray:
    """Wet-season index in [0, 1]: 1 in mid-January, 0 in mid-July; ``(T,)`` -> ``(T,)``."""
    return 0.5 * (1.0 + np.cos(2.0 * np.pi * (doy - 15.0) / DAYS_PER_YEAR))


def irrigation(doy: np.ndarray) -> np.ndarray:
    """Irrigation demand shape in [0, 1], peak in mid-July, zero from late October to April."""
    return np.maximum(0.0, np.cos(2.0 * np.pi * (doy - 200.0) / DAYS_PER_YEAR)) ** 2


def forcing(doy: np.ndarray, year: np.ndarray, drought: np.ndarray, climate: Climate,
            rng: np.random.Generator) -> dict:
    """Daily forcing of the basin.

    Args:
        doy: ``(T,)`` day of year (1..366); year: ``(T,)`` calendar year (the irrigation
            intensity varies from year to year); drought: ``(T,)`` bool, True in drought years.
        climate: forcing parameters; rng: the one generator drawn from (in a fixed order).

    Returns:
        dict of ``(T,)`` arrays: the :data:`FORCING_NAMES` plus ``recharge`` (mm/day).
    """
    c, n = climate, len(doy)
    w = season(doy)
    dry_factor = np.where(drought, c.drought_wet_factor, 1.0)
    p01 = (c.p_wet_after_dry[0] + c.p_wet_after_dry[1] * w) * dry_factor
    p11 = c.p_wet_after_wet[0] + c.p_wet_after_wet[1] * w
    u = rng.random(n)
    wet = np.zeros(n, dtype=bool)
    for t in range(1, n):   # the chain is sequential by nature
        wet[t] = u[t] < (p11[t] if wet[t - 1] else p01[t])
    scale = (c.gamma_scale[0] + c.gamma_scale[1] * w) * np.where(drought, c.drought_amount_factor, 1.0)
    precip = np.where(wet, rng.gamma(c.gamma_shape, 1.0, n) * scale, 0.0)

    eps = rng.normal(0.0, c.temp_noise, n)
    anomaly = np.zeros(n)
    for t in range(1, n):
        anomaly[t] = c.temp_ar * anomaly[t - 1] + eps[t]
    temp = (c.temp_mean + c.temp_amplitude * np.cos(2.0 * np.pi * (doy - 200.0) / DAYS_PER_YEAR)
            + anomaly + c.drought_warming * drought)

    # mountain snowpack and a linear reservoir -> runoff depth (mm/day) -> m3/s
    t_mtn = temp - c.lapse
    p_mtn = c.mountain_precip_factor * precip
    snow, storage = 0.0, 0.0
    runoff = np.empty(n)
    for t in range(n):
        if t_mtn[t] < 0.0:
            snow += p_mtn[t]
            water = 0.0
        else:
            melt = min(snow, c.degree_day * t_mtn[t])
            snow -= melt
            water = p_mtn[t] + melt
        storage += water
        runoff[t] = storage / c.reservoir_days
        storage -= runoff[t]
    streamflow = runoff * c.catchment_km2 * 1e3 / 86400.0    # mm/day over km2 -> m3/s

    years, year_index = np.unique(year, return_inverse=True)
    intensity = 1.0 + rng.uniform(-c.pumping_year_spread, c.pumping_year_spread, len(years))
    pumping = (c.pumping_peak * irrigation(doy) * intensity[year_index]
               * np.where(drought, c.drought_pumping_factor, 1.0))
    evaporation = c.evaporation_per_degc * np.maximum(temp, 0.0)
    recharge = c.infiltration * np.maximum(precip - evaporation, 0.0) + c.river_leakage * runoff
    return {"precipitation": precip, "temperature": temp, "streamflow": streamflow, "pumping": pumping,
            "recharge": recharge}


def impulse_response(amplitude: float, shape: float, scale: float, mass: float = 0.999) -> np.ndarray:
    """Daily gamma-shaped impulse response whose sum is ``amplitude``: ``(L,)``.

    Day ``k`` holds the gamma probability of ``[k, k + 1)``; the tail beyond the ``mass``
    quantile is cut off and the rest renormalised.
    """
    length = int(np.ceil(stats.gamma.ppf(mass, shape, scale=scale))) + 1
    cdf = stats.gamma.cdf(np.arange(length + 1), shape, scale=scale)
    weights = np.diff(cdf)
    return amplitude * weights / weights.sum()


def head(recharge: np.ndarray, pumping: np.ndarray, well: Well, rng: np.random.Generator) -> np.ndarray:
    """Head of one well, ``(T,)`` in metres: base + recharge response - pumping response + AR(1).

    The responses act on deviations from the mean forcing so that ``base`` is the typical
    level; a day's forcing starts to act on the next day's head.
    """
    n = len(recharge)
    g_r = impulse_response(well.recharge_amplitude, well.recharge_shape, well.recharge_scale)
    g_p = impulse_response(well.pumping_amplitude, well.pumping_shape, well.pumping_scale)
    r = np.convolve(recharge - recharge.mean(), g_r)[:n]
    p = np.convolve(pumping - pumping.mean(), g_p)[:n]
    eps = rng.normal(0.0, well.noise_sd, n)
    noise = np.zeros(n)
    for t in range(1, n):
        noise[t] = well.noise_ar * noise[t - 1] + eps[t]
    level = well.base + r - p
    return np.concatenate([[level[0]], level[:-1]]) + noise


def draw_wells(n: int, rng: np.random.Generator) -> list[Well]:
    """The first well has the reference response; the others are drawn around it."""
    wells = [Well()]
    for _ in range(1, n):
        wells.append(Well(base=float(rng.uniform(20, 80)), recharge_amplitude=float(rng.uniform(0.6, 1.4)),
                          recharge_shape=float(rng.uniform(1.2, 2.5)), recharge_scale=float(rng.uniform(30, 120)),
                          pumping_amplitude=float(rng.uniform(2.0, 6.0)), pumping_shape=float(rng.uniform(1.0, 1.5)),
                          pumping_scale=float(rng.uniform(15, 45)), noise_ar=float(rng.uniform(0.9, 0.98)),
                          noise_sd=float(rng.uniform(0.01, 0.03))))
    return wells
