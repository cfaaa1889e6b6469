"""Regions of the simulator: tile, place, climate, phenology timing and crop mix.

The four named regions (``west``, ``south``, ``east``, ``north``) are in ``params/regions.json``;
any other name is hashed onto one of them with its own timing shift and place
(:func:`region_config`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from sitsfusion.simulate.params import load_params
from sitsfusion.simulate.randomness import name_hash

__all__ = ["REGIONS", "S2_MONTHLY_KEEP", "Region", "grid_convergence", "region_config"]


@dataclass(frozen=True)
class Region:
    """One region (fields documented in ``params/regions.json``)."""

    tile: str
    center: tuple[float, float]  # Lambert-93 metres
    lonlat: tuple[float, float]
    utm_zone: int
    shift: float  # phenology shift (days, negative = earlier)
    soil: float  # soil brightness factor
    keep: float  # Sentinel-2 date keep-rate offset (sunnier = more dates)
    rain: float  # rain-event rate factor
    frost: float  # daily frost probability in Dec-Feb
    drought: float  # summer drought depth on grassland
    field_scale: float  # parcel size factor
    theta: tuple[float, float]  # incidence angle, ascending / descending (degrees)
    freq: Mapping[int, float] = field(default_factory=dict)  # class frequency multipliers


def _region(entry: Mapping[str, Any]) -> Region:
    values = dict(entry)
    for key in ("center", "lonlat", "theta"):
        values[key] = tuple(values[key])
    values["freq"] = MappingProxyType({int(k): v for k, v in values.get("freq", {}).items()})
    return Region(**values)


_TABLE = load_params("regions")
REGIONS: Mapping[str, Region] = MappingProxyType(
    {name: _region(entry) for name, entry in _TABLE["regions"].items()}
)
"""The named regions, in the file's order (the order hashed names are spread over)."""
S2_MONTHLY_KEEP: np.ndarray = np.array(_TABLE["s2_monthly_keep"])
"""Fraction of 5-day Sentinel-2 acquisitions kept per month, January..December, ``[12]``."""
S2_MONTHLY_KEEP.flags.writeable = False


def region_config(region: str) -> Region:
    """The named region (case and surrounding spaces ignored), or for any other name a copy of
    a named region chosen by the name's hash, with a timing shift of up to three weeks and a
    place up to 50 km away."""
    if region.strip().lower() in REGIONS:
        return REGIONS[region.strip().lower()]
    h = name_hash(region)
    base = list(REGIONS.values())[h % len(REGIONS)]
    shift = float((h // 4) % 43 - 21)  # any other string: a shift of up to three weeks
    dx = float((h // 200) % 101 - 50) * 1000.0
    dy = float((h // 20200) % 101 - 50) * 1000.0
    return Region(
        base.tile,
        (base.center[0] + dx, base.center[1] + dy),
        base.lonlat,
        base.utm_zone,
        shift,
        base.soil,
        base.keep,
        base.rain,
        base.frost,
        base.drought,
        base.field_scale,
        base.theta,
    )


def grid_convergence(reg: Region) -> float:
    """Rotation (degrees) of a UTM-aligned square seen in Lambert-93 (real PASTIS: ≈ −4.4°)."""
    lon, lat = reg.lonlat
    lambert = 0.7256 * (lon - 3.0)
    utm = (lon - (6 * reg.utm_zone - 183)) * math.sin(math.radians(lat))
    return lambert - utm
