"""The sensors an area's imagery comes from, and how their values are read.

A :class:`SensorSpec` per sensor name of the shared contract: ``S2`` (Sentinel-2 L2A), ``S1A``
and ``S1D`` (Sentinel-1 ascending / descending orbits). The STAC and GeoTIFF readers
(``geo.stac``, ``geo.geotiff``) return every sensor as the same raw cube: a float32
``DataArray`` ``(time, band, y, x)`` in physical units (S2 reflectance, S1 linear backscatter),
NaN where there is no data; ``geo.imagery`` turns it into values + a validity mask.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "L2A_OFFSET",
    "L2A_SCALE",
    "S2_INVALID_SCL",
    "SENSORS",
    "SensorSpec",
    "date_span",
    "sensor_spec",
]

# Sentinel-2 L2A digital numbers to reflectance from processing baseline 04.00 (25 January
# 2022): reflectance = DN * 1e-4 - 0.1 (ESA, "Sentinel-2 L2A products: BOA_ADD_OFFSET"; the
# STAC raster:bands scale 0.0001, offset -0.1 of the shared contract).
L2A_SCALE = 1e-4
L2A_OFFSET = -0.1
# Scene classification (SCL) classes that are not a clear view of the ground (ESA Sen2Cor
# SCL legend): 0 no data, 1 saturated or defective, 3 cloud shadow, 8 cloud medium
# probability, 9 cloud high probability, 10 thin cirrus.
S2_INVALID_SCL = (0, 1, 3, 8, 9, 10)


@dataclass(frozen=True)
class SensorSpec:
    """What to read for one sensor.

    Attributes:
        name: ``S2``, ``S1A`` or ``S1D`` (the file-name prefix of a GeoTIFF folder).
        bands: the bands returned, in order (the channels C of the cube).
        asset_keys: the STAC asset key of each band, aligned with ``bands``.
        mask_band: the band read only for the validity mask (``SCL``), or None.
        orbit_state: ``ascending`` / ``descending`` for Sentinel-1 (``sat:orbit_state``).
        platform: the prefix of the STAC ``platform`` of the sensor's items.
    """

    name: str
    bands: tuple[str, ...]
    asset_keys: tuple[str, ...]
    mask_band: str | None
    orbit_state: str | None
    platform: str

    @property
    def is_optical(self) -> bool:
        return self.mask_band is not None

    @property
    def read_bands(self) -> tuple[str, ...]:
        """The bands read from a file: the returned ones, then the mask band."""
        return self.bands + ((self.mask_band,) if self.mask_band else ())

    @property
    def read_assets(self) -> tuple[str, ...]:
        """The STAC assets read: the bands', then the mask band's."""
        return self.asset_keys + ((self.mask_band,) if self.mask_band else ())


# The ten 10 m and 20 m bands of Sentinel-2 used by PASTIS-R (seed 001, Sec. 3) and
# Sen4AgriNet models (seed 004): B02-B08, B8A, B11, B12.
_S2_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
_S1_BANDS = ("VV", "VH")  # seed 001, Sec. 3: VV, VH (and their ratio, computed downstream)

SENSORS: dict[str, SensorSpec] = {
    "S2": SensorSpec("S2", _S2_BANDS, _S2_BANDS, "SCL", None, "sentinel-2"),
    "S1A": SensorSpec("S1A", _S1_BANDS, ("vv", "vh"), None, "ascending", "sentinel-1"),
    "S1D": SensorSpec("S1D", _S1_BANDS, ("vv", "vh"), None, "descending", "sentinel-1"),
}


def date_span(start: object, end: object) -> str:
    """``"from 2021-03-01 to 2021-10-31"`` for messages; an open end is left out."""
    parts = ([f"from {start}"] if start else []) + ([f"to {end}"] if end else [])
    return " ".join(parts) or "at any date"


def sensor_spec(sensor: str) -> SensorSpec:
    """The spec of ``sensor``; a ValueError naming the known sensors otherwise."""
    try:
        return SENSORS[sensor]
    except KeyError:
        known = sorted(SENSORS)
        raise ValueError(f"sensor {sensor!r} is unknown; expected one of {known}") from None
