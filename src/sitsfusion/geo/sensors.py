"""The sensors an area's imagery comes from, and how their values are read.

A :class:`SensorSpec` per sensor name of the shared contract: ``S2`` (Sentinel-2 L2A), ``S1A``
and ``S1D`` (Sentinel-1 ascending / descending orbits). The STAC and GeoTIFF readers
(``geo.stac``, ``geo.geotiff``) return every sensor as the same raw cube: a float32
``DataArray`` ``(time, band, y, x)`` in physical units (S2 reflectance, S1 linear backscatter),
NaN where there is no data; ``geo.imagery`` turns it into values + a validity mask.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = [
    "EARTH_SEARCH_S2_ASSETS",
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
        mask_asset: the STAC asset key of ``mask_band`` (None: the band's name).
        naming: who names the STAC assets so (for messages), e.g. ``Planetary Computer``.
        alternatives: other namings of the same assets, ``(naming, read_assets)`` pairs with
            the keys aligned with :attr:`read_bands` (see :meth:`namings`).
    """

    name: str
    bands: tuple[str, ...]
    asset_keys: tuple[str, ...]
    mask_band: str | None
    orbit_state: str | None
    platform: str
    mask_asset: str | None = None
    naming: str = "Planetary Computer"
    alternatives: tuple[tuple[str, tuple[str, ...]], ...] = ()

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
        mask = self.mask_asset or self.mask_band
        return self.asset_keys + ((mask,) if mask else ())

    def namings(self) -> list[SensorSpec]:
        """This spec, then one per alternative naming: the same bands (the cube's ``band``
        coordinate), read from other asset keys."""
        out = [self]
        n = len(self.bands)
        for naming, keys in self.alternatives:
            out.append(
                replace(
                    self,
                    asset_keys=keys[:n],
                    mask_asset=keys[n] if self.mask_band else None,
                    naming=naming,
                    alternatives=(),
                )
            )
        return out


# The ten 10 m and 20 m bands of Sentinel-2 used by PASTIS-R (seed 001, Sec. 3) and
# Sen4AgriNet models (seed 004): B02-B08, B8A, B11, B12.
_S2_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
_S1_BANDS = ("VV", "VH")  # seed 001, Sec. 3: VV, VH (and their ratio, computed downstream)

# Element 84 Earth Search v1, collection sentinel-2-l2a: the same COGs keyed by common name
# (its items' eo:bands and asset titles: blue = band 2, ..., nir08 = band 8A, swir16 = band 11,
# swir22 = band 12, scl = the scene classification), aligned with _S2_BANDS + SCL.
EARTH_SEARCH_S2_ASSETS = (
    "blue",
    "green",
    "red",
    "rededge1",
    "rededge2",
    "rededge3",
    "nir",
    "nir08",
    "swir16",
    "swir22",
    "scl",
)

SENSORS: dict[str, SensorSpec] = {
    "S2": SensorSpec(
        "S2",
        _S2_BANDS,
        _S2_BANDS,  # Microsoft Planetary Computer's keys (and the simulator's)
        "SCL",
        None,
        "sentinel-2",
        alternatives=(("Earth Search", EARTH_SEARCH_S2_ASSETS),),
    ),
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
