"""Regional weather (rain, soil moisture, frost) and the acquisition days of a season.

Weather and the tile's acquisition days are shared by every patch of a region, season and
seed; :func:`patch_s2_days` then drops a few Sentinel-2 dates per patch.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from sitsfusion.simulate.randomness import keyed_rng, name_hash
from sitsfusion.simulate.regions import S2_MONTHLY_KEEP, Region

__all__ = ["Weather", "patch_s2_days", "regional_weather", "season"]


@dataclass
class Weather:
    """A region's daily weather over a season (``n_days`` days from ``origin``)."""

    origin: dt.date  # day 0 of the simulated season (1 September of year - 1)
    days: np.ndarray  # [n_days] day index 0..n_days-1
    moisture: np.ndarray  # [n_days] rain-driven surface soil moisture excess in [0, 1]
    wet_season: np.ndarray  # [n_days] seasonal wetness in [0, 1]
    frost: np.ndarray  # [n_days] bool, morning frost
    dates: dict[str, np.ndarray]  # tile-level acquisition days (S2, S1A, S1D), [T] each


def season(year: int) -> tuple[dt.date, int, int]:
    """``(origin, start, end)`` of a harvest year's season: day 0 = 1 Sep ``year - 1``; the
    observed season runs from day ``start`` (15 Sep) to day ``end`` (31 Oct ``year``)."""
    origin = dt.date(year - 1, 9, 1)
    start = (dt.date(year - 1, 9, 15) - origin).days
    end = (dt.date(year, 10, 31) - origin).days
    return origin, start, end


def regional_weather(
    reg: Region, seed: int, rh: int, year: int, until: dt.date | None = None
) -> Weather:
    """Rain, frost and acquisition days of a region's season (1 Sep ``year - 1`` onwards),
    simulated at least until ``until`` (default: 40 days after 31 Oct ``year``).

    Args:
        reg: the region (climate, tile).
        seed: random seed.
        rh: the region's hash (another key of the random streams).
        year: harvest year.
        until: last day to simulate, if later than the default.
    """
    origin, start, end = season(year)
    n_days = end + 40 if until is None else max(end + 40, (until - origin).days + 1)
    rng = keyed_rng(seed, rh, year, 101)
    days = np.arange(n_days)
    month = np.array([(origin + dt.timedelta(days=int(k))).month for k in days])
    winter = 0.5 + 0.5 * np.cos(2 * np.pi * (days - 150) / 365.25)  # peaks early February
    p_rain = np.clip(reg.rain * (0.10 + 0.22 * winter), 0, 0.9)
    amount = rng.uniform(0.3, 1.0, n_days) * (rng.random(n_days) < p_rain)
    tau = 3.0 + 4.0 * winter
    moisture = np.zeros(n_days)
    level = 0.0
    for k in range(n_days):
        level = min(1.0, level * math.exp(-1.0 / tau[k]) + amount[k])
        moisture[k] = level
    frost = (rng.random(n_days) < reg.frost) & np.isin(month, (12, 1, 2))
    dates: dict[str, np.ndarray] = {}
    # Sentinel-2: one acquisition every 5 days, phase anchored so that the west tile has the
    # real PASTIS t30uxv dates (2018-09-24 + 5k); thinned by tile-level cloudiness.
    phase = 0 if reg.tile == "t30uxv" else name_hash(reg.tile) % 5
    anchor = (dt.date(2018, 9, 24) - origin).days + phase
    grid = np.arange(anchor % 5, end + 1, 5)
    grid = grid[grid >= start]
    gmonth = month[grid]
    keep = rng.random(grid.size) < np.clip(S2_MONTHLY_KEEP[gmonth - 1] + reg.keep, 0.05, 0.98)
    dates["S2"] = grid[keep]
    # Sentinel-1: regular 6-day revisit per orbit, orbits offset, a rare missing acquisition.
    for name, ph in (
        ("S1A", name_hash(reg.tile + "A") % 6),
        ("S1D", name_hash(reg.tile + "D") % 6),
    ):
        grid = np.arange(start + ph, end + 1, 6)
        missing = rng.random(grid.size) < 0.015
        dates[name] = grid[~missing]
    return Weather(origin, days, moisture, winter, frost, dates)


def patch_s2_days(
    tile_days: np.ndarray, rng: np.random.Generator, start: int, end: int
) -> np.ndarray:
    """Per-patch Sentinel-2 days ``[T]``: the tile's list minus a few patch-specific drops,
    between 38 and 61 dates (seed 001 Sec. 4.1)."""
    days = tile_days[rng.random(tile_days.size) >= 0.05]
    full = np.arange(start + (tile_days[0] - start) % 5, end + 1, 5)
    if days.size < 38:  # add back acquisitions of the full 5-day grid
        extra = rng.permutation(np.setdiff1d(full, days))[: 38 - days.size]
        days = np.union1d(days, extra)
    if days.size > 61:
        days = np.sort(rng.permutation(days)[:61])
    return np.asarray(days, dtype=np.int64)
