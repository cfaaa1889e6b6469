"""The state of a patch's units: phenology curves, spectra and radar offsets drawn per unit.

One generator draws, unit after unit, the phenology and the spectra, then the per-unit radar
offsets: both sensor models read the same state, so Sentinel-1 and Sentinel-2 see the same
parcels growing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy import ndimage

from sitsfusion.simulate.layout import FOREST, ROAD, URBAN, WATER, Layout
from sitsfusion.simulate.params import load_params
from sitsfusion.simulate.phenology import unit_curves
from sitsfusion.simulate.regions import Region
from sitsfusion.simulate.spectra import DRY_BRIGHTNESS, ENDMEMBERS, LEAF_NIR

__all__ = ["RADAR_SPREAD", "UnitState", "unit_state"]

RADAR_SPREAD: Mapping[str, float] = MappingProxyType(load_params("radar")["spread"])
"""Per-unit radar variability (dB) that says nothing about the class (``params/radar.json``)."""


@dataclass
class UnitState:
    """Per-unit state of a patch (U units, ``n_days`` days of the season)."""

    green: np.ndarray  # [U, n_days] green-vegetation fraction
    dry: np.ndarray  # [U, n_days]
    flower: np.ndarray  # [U, n_days]
    offset: np.ndarray  # [U] timing offset (days)
    veg: np.ndarray  # [U, 10] spectra
    dryspec: np.ndarray  # [U, 10]
    substrate: np.ndarray  # [U, 10]
    soil_like: np.ndarray  # [U] bool: substrate darkens when wet
    appearance: np.ndarray  # [U]
    rough: np.ndarray  # [U, 2] parcel soil roughness offset (dB), VV and VH
    vol: np.ndarray  # [U, 2] parcel volume offset (dB), VV and VH
    drain: np.ndarray  # [U] how strongly rain wets the soil
    urban: np.ndarray  # [U] urban double-bounce offset (dB)
    look: np.ndarray  # [U, 2, 2] offset (dB) of the ascending / descending orbit's view, VV / VH
    soil_noise: np.ndarray  # [U, n_days] the unit's own soil moisture / roughness changes (dB)


def unit_state(
    lay: Layout, rng: np.random.Generator, days: np.ndarray, reg: Region, shift: float
) -> UnitState:
    """Draw the state of every unit of ``lay`` over ``days [n_days]``.

    Args:
        lay: the patch layout.
        rng: the patch's unit generator.
        days: ``[n_days]`` days of the season.
        reg: the region (soil brightness, drought).
        shift: phenology shift of the region and year (days).
    """
    n = lay.appearance.size
    green = np.zeros((n, days.size))
    dry, flower = np.zeros_like(green), np.zeros_like(green)
    off = np.zeros(n)
    veg, dryspec, sub = np.zeros((n, 10)), np.zeros((n, 10)), np.zeros((n, 10))
    soil_like = np.zeros(n, dtype=bool)
    for u, app in enumerate(lay.appearance.tolist()):
        green[u], dry[u], flower[u], off[u] = unit_curves(app, rng, days, shift, reg.drought)
        nir = LEAF_NIR.get(app, 1.0) * rng.uniform(0.95, 1.05)
        leaf = ENDMEMBERS["green_leaf"].copy()
        leaf[5:8] *= nir
        leaf[4] *= 0.5 + 0.5 * nir
        leaf[:3] *= rng.uniform(0.9, 1.1)
        veg[u] = leaf
        dryspec[u] = ENDMEMBERS["dry_leaf"] * DRY_BRIGHTNESS.get(app, 1.0) * rng.uniform(0.9, 1.1)
        if app == URBAN:
            sub[u] = ENDMEMBERS["built"] * rng.uniform(0.7, 1.5)
        elif app == ROAD:
            sub[u] = ENDMEMBERS["asphalt"] * rng.uniform(0.85, 1.2)
        elif app == WATER:
            sub[u] = ENDMEMBERS["water"] * rng.uniform(0.7, 1.6)
        elif app == FOREST:
            sub[u] = ENDMEMBERS["forest_floor"] * rng.uniform(0.8, 1.2)
        else:
            redness = np.linspace(1.0 - 0.08 * rng.standard_normal(), 1.0, 10)
            sub[u] = ENDMEMBERS["soil"] * reg.soil * rng.uniform(0.85, 1.15) * redness
            soil_like[u] = True
    return UnitState(
        green,
        dry,
        flower,
        off,
        veg,
        dryspec,
        sub,
        soil_like,
        lay.appearance,
        rough=rng.normal(0.0, RADAR_SPREAD["rough"], (n, 2)),
        vol=rng.normal(0.0, RADAR_SPREAD["vol"], (n, 2)),
        drain=rng.uniform(0.7, 1.3, n),
        urban=rng.normal(0.0, 3.0, n),
        look=rng.normal(0.0, RADAR_SPREAD["look"], (n, 2, 2)),
        soil_noise=_soil_noise(rng, n, days.size),
    )


def _soil_noise(rng: np.random.Generator, units: int, n_days: int) -> np.ndarray:
    """``[units, n_days]`` smooth per-unit changes of the soil term (dB): local showers,
    irrigation, tillage; a Gaussian-filtered white noise of standard deviation
    ``RADAR_SPREAD["soil"]`` and correlation length ``RADAR_SPREAD["soil_days"]``."""
    days = RADAR_SPREAD["soil_days"]
    white = rng.standard_normal((units, n_days))
    smooth = ndimage.gaussian_filter1d(white, days, axis=1, mode="nearest")
    return smooth * (RADAR_SPREAD["soil"] / np.sqrt(1.0 / (2.0 * np.sqrt(np.pi) * days)))
