"""The target grid of an area: a CRS, a pixel size in metres and bounds snapped to it.

Every sensor of an area is loaded onto one :class:`Grid` (``sitsfusion.geo.imagery``), and the
parcels are rasterised onto it, so a pixel ``(row, col)`` is the same ground in every layer.
The grid is north-up: its affine transform is
``rasterio.transform.from_origin(minx, maxy, resolution, resolution)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sitsfusion.optional import require

if TYPE_CHECKING:
    from affine import Affine

__all__ = ["Grid", "window_starts"]

Bounds = tuple[float, float, float, float]

DEFAULT_RESOLUTION = 10.0  # metres: the 10 m bands of Sentinel-2 (seed 001, Sec. 3; seed 004)
_SNAP_TOLERANCE = 1e-6  # of a pixel: bounds this close to a multiple count as on it


def _crs(crs: Any) -> Any:
    """A ``rasterio.crs.CRS`` from an EPSG code, ``"EPSG:32630"``, WKT or a CRS object."""
    rasterio_crs = require("rasterio.crs", "geo", "a grid")
    try:
        return rasterio_crs.CRS.from_user_input(crs)
    except Exception as exc:  # rasterio raises CRSError, pyproj objects other errors
        raise ValueError(f"crs {crs!r} is not a coordinate reference system ({exc})") from None


def _snap_down(v: float, res: float) -> float:
    return math.floor(v / res + _SNAP_TOLERANCE) * res


def _snap_up(v: float, res: float) -> float:
    return math.ceil(v / res - _SNAP_TOLERANCE) * res


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid.

    Attributes:
        crs: the coordinate reference system, normalised to a string (``"EPSG:32630"``, or
            WKT when it has no EPSG code). It must be projected (metres).
        resolution: the pixel size in the CRS's units (metres), > 0.
        bounds: ``(minx, miny, maxx, maxy)``, multiples of ``resolution``.

    Use :meth:`from_bounds` or :meth:`from_aoi` to snap arbitrary bounds outward.
    """

    crs: str
    resolution: float
    bounds: Bounds

    def __post_init__(self) -> None:
        crs = _crs(self.crs)
        if crs.is_geographic:
            raise ValueError(
                f"crs {self.crs!r} is geographic (degrees); a grid needs a projected CRS in "
                "metres, e.g. the UTM zone of the area (Grid.from_aoi picks it when crs is None)"
            )
        res = float(self.resolution)
        if not math.isfinite(res) or res <= 0:
            raise ValueError(f"resolution must be a positive number of metres, got {res}")
        minx, miny, maxx, maxy = (float(b) for b in self.bounds)
        if not all(math.isfinite(b) for b in (minx, miny, maxx, maxy)):
            raise ValueError(f"bounds must be finite, got {self.bounds}")
        if not (minx < maxx and miny < maxy):
            raise ValueError(f"bounds {self.bounds} are empty: need minx < maxx and miny < maxy")
        for b in (minx, miny, maxx, maxy):
            if abs(b / res - round(b / res)) > _SNAP_TOLERANCE:
                raise ValueError(
                    f"bounds {self.bounds} are not multiples of the resolution {res}; "
                    "use Grid.from_bounds to snap them"
                )
        epsg = crs.to_epsg()
        object.__setattr__(self, "crs", f"EPSG:{epsg}" if epsg else crs.to_wkt())
        object.__setattr__(self, "resolution", res)
        snapped = tuple(round(b / res) * res for b in (minx, miny, maxx, maxy))
        object.__setattr__(self, "bounds", snapped)

    @classmethod
    def from_bounds(cls, bounds: Bounds, crs: Any, resolution: float = DEFAULT_RESOLUTION) -> Grid:
        """The smallest grid covering ``bounds`` (in ``crs``): bounds snapped outward."""
        res = float(resolution)
        if not math.isfinite(res) or res <= 0:
            raise ValueError(f"resolution must be a positive number of metres, got {res}")
        minx, miny, maxx, maxy = (float(b) for b in bounds)
        if not (minx < maxx and miny < maxy):
            raise ValueError(f"bounds {tuple(bounds)} are empty: need minx < maxx and miny < maxy")
        snapped = (
            _snap_down(minx, res),
            _snap_down(miny, res),
            _snap_up(maxx, res),
            _snap_up(maxy, res),
        )
        return cls(crs, res, snapped)

    @classmethod
    def from_aoi(
        cls,
        aoi: str | Path | Any,
        aoi_crs: Any = None,
        *,
        crs: Any = None,
        resolution: float = DEFAULT_RESOLUTION,
    ) -> Grid:
        """The grid covering an area of interest.

        Args:
            aoi: a vector file (any format geopandas reads: GeoPackage, GeoJSON, Shapefile ...;
                the union of its geometries) or a shapely geometry.
            aoi_crs: the CRS of a shapely ``aoi`` (required for one; a file carries its own).
            crs: the grid's CRS; None = the UTM zone of the AOI's centre (geographic CRSs are
                not accepted for a grid in metres: the AOI is reprojected instead).
            resolution: the pixel size in metres.
        """
        gpd = require("geopandas", "geo", "an area of interest")
        from sitsfusion.errors import DatasetError

        if isinstance(aoi, (str, Path)):
            path = Path(aoi)
            if not path.exists():
                raise DatasetError(path, "no such file; expected a vector file of the area")
            try:
                frame = gpd.read_file(path)
            except Exception as exc:  # pyogrio raises DataSourceError and others
                raise DatasetError(path, f"not a readable vector file ({exc})") from None
            if frame.crs is None:
                raise DatasetError(path, "has no CRS; set one (e.g. with ogr2ogr -a_srs)")
            where = str(path)
        else:
            if aoi_crs is None:
                raise ValueError("aoi_crs is required with a geometry (the CRS of its coordinates)")
            frame = gpd.GeoDataFrame(geometry=[aoi], crs=_crs(aoi_crs).to_wkt())
            where = "the AOI geometry"
        frame = frame[[g is not None and not g.is_empty for g in frame.geometry]]
        if frame.empty:
            raise ValueError(f"{where}: the area of interest is empty (no non-empty geometry)")
        target = _crs(crs) if crs is not None else frame.estimate_utm_crs()
        bounds = frame.to_crs(target).total_bounds
        if not (bounds[0] < bounds[2] and bounds[1] < bounds[3]):
            raise ValueError(f"{where}: the area of interest has no area (bounds {bounds})")
        return cls.from_bounds(tuple(float(b) for b in bounds), target, resolution)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        minx, miny, maxx, maxy = self.bounds
        return round((maxy - miny) / self.resolution), round((maxx - minx) / self.resolution)

    @property
    def transform(self) -> Affine:
        """The north-up affine transform (the upper-left corner at ``(minx, maxy)``)."""
        from rasterio.transform import from_origin

        return from_origin(self.bounds[0], self.bounds[3], self.resolution, self.resolution)

    def geobox(self) -> Any:
        """The grid as an ``odc.geo.geobox.GeoBox`` (what odc-stac loads onto)."""
        geobox = require("odc.geo.geobox", "geo", "loading STAC imagery")
        return geobox.GeoBox(self.shape, self.transform, self.crs)

    def coords(self) -> dict[str, Any]:
        """The pixel-centre coordinates ``{"y": [H], "x": [W]}`` (y decreasing), numpy."""
        import numpy as np

        h, w = self.shape
        minx, _, _, maxy = self.bounds
        res = self.resolution
        return {
            "y": maxy - res * (np.arange(h) + 0.5),
            "x": minx + res * (np.arange(w) + 0.5),
        }

    def part(self, r0: int, c0: int, r1: int, c1: int) -> Grid:
        """The grid of rows ``r0:r1`` and columns ``c0:c1`` of this one (same CRS and pixel
        size, its pixels exactly these)."""
        if not (0 <= r0 < r1 <= self.shape[0] and 0 <= c0 < c1 <= self.shape[1]):
            raise ValueError(f"rows {r0}:{r1}, cols {c0}:{c1} are not inside a {self.shape} grid")
        res, (minx, _, _, maxy) = self.resolution, self.bounds
        west, north = minx + c0 * res, maxy - r0 * res
        return Grid(self.crs, res, (west, north - (r1 - r0) * res, west + (c1 - c0) * res, north))

    def bounds_in(self, crs: Any) -> Bounds:
        """The grid's bounds transformed to another CRS (densified edges)."""
        from rasterio.warp import transform_bounds

        return tuple(transform_bounds(self.crs, _crs(crs), *self.bounds, densify_pts=21))


def window_starts(n: int, size: int, stride: int) -> list[int]:
    """First pixels of the windows along an axis of ``n >= size`` pixels: every ``stride``
    pixels, the last one shifted back to end at ``n``.

    Raises:
        ValueError: ``n < size``, ``stride < 1`` or ``stride > size`` (pixels left out).
    """
    if not 1 <= stride <= size:
        raise ValueError(f"the stride must be in [1, {size}] pixels, got {stride}")
    if n < size:
        raise ValueError(f"an axis of {n} pixels holds no window of {size}")
    starts = list(range(0, n - size + 1, stride))
    if starts[-1] + size < n:
        starts.append(n - size)
    return starts
