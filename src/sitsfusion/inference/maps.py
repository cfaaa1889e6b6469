"""Writing maps: Cloud-Optimized GeoTIFF rasters and GeoPackage parcels, atomically.

Pure I/O on numpy arrays and georeferencing (CRS + affine); no model here. Rasters use
rasterio's COG driver (tiled, overviews, deflate); vectors use geopandas with pyogrio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.io import atomic_path
from sitsfusion.optional import require

__all__ = ["AffineTuple", "parcel_polygons", "window_origin", "write_cog", "write_parcels"]

AffineTuple = tuple[float, float, float, float, float, float]
"""rasterio's affine ``(a, b, c, d, e, f)``: ``x = a·col + b·row + c``, ``y = d·col + e·row + f``
(pixel corners)."""


def window_origin(transform: Sequence[float], row: int, col: int) -> AffineTuple:
    """The affine of the grid whose pixel ``(row, col)`` is pixel ``(0, 0)`` of ``transform``'s
    grid, i.e. the patch's transform from one of its windows' transforms."""
    a, b, c, d, e, f = (float(v) for v in transform)
    return (a, b, c - a * col - b * row, d, e, f - d * col - e * row)


def write_cog(
    path: str | Path,
    bands: np.ndarray,
    crs: str,
    transform: Sequence[float],
    nodata: float | None = None,
    band_names: Sequence[str] = (),
    tags: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``bands [N, H, W]`` as a Cloud-Optimized GeoTIFF, atomically.

    Args:
        path: the ``.tif`` to write (its folder is created).
        bands: one array per band, one dtype (e.g. uint8 classes and confidences).
        crs: anything rasterio reads (``"EPSG:32631"``, WKT).
        transform: the affine ``(a, b, c, d, e, f)``.
        nodata: the no-data value of every band, or None.
        band_names: band descriptions (e.g. ``["class", "confidence"]``).
        tags: dataset metadata written as GeoTIFF tags (e.g. the class names, "synthetic").
    """
    rasterio = require("rasterio", "raster", "writing GeoTIFF maps")
    from affine import Affine

    bands = np.asarray(bands)
    if bands.ndim != 3:
        raise ValueError(f"write_cog: bands must be [N, H, W], got shape {bands.shape}")
    n, h, w = bands.shape
    profile = {
        "driver": "COG",
        "width": w,
        "height": h,
        "count": n,
        "dtype": bands.dtype.name,
        "crs": crs,
        "transform": Affine(*transform),
        "nodata": nodata,
        "compress": "DEFLATE",
        "blocksize": 256,
        "overview_resampling": "nearest",  # classes: never averaged
    }
    path = Path(path)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(bands)
        for k, name in enumerate(band_names, start=1):
            dst.set_band_description(k, str(name))
        if tags:
            dst.update_tags(**{str(k): str(v) for k, v in tags.items()})
    return path


def parcel_polygons(
    parcels: np.ndarray, crs: str, transform: Sequence[float]
) -> Any:  # geopandas.GeoDataFrame
    """One (multi)polygon per parcel id of ``parcels [H, W]`` (0 = no parcel), as a
    GeoDataFrame with a ``parcel`` column, in ``crs``."""
    import geopandas as gpd
    from affine import Affine
    from shapely.geometry import shape

    features = require("rasterio.features", "raster", "polygonising parcels")

    ids = np.asarray(parcels)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"parcel_polygons: parcel ids must be integers, got {ids.dtype}")
    small = ids.astype(np.int64)
    # rasterio polygonises int32 rasters: map the (possibly 64-bit) ids to 1..P first.
    uniq, inverse = np.unique(small, return_inverse=True)
    codes = inverse.reshape(small.shape).astype(np.int32)
    mask = small != 0
    geoms, values = [], []
    for geom, value in features.shapes(codes, mask=mask, transform=Affine(*transform)):
        geoms.append(shape(geom))
        values.append(int(uniq[int(value)]))
    frame = gpd.GeoDataFrame({"parcel": values}, geometry=geoms, crs=crs)
    return frame.dissolve(by="parcel", as_index=False)


def write_parcels(path: str | Path, layers: Mapping[str, Any]) -> Path:
    """Write GeoDataFrames as the layers ``{name: frame}`` of one GeoPackage, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.unlink()  # the GeoPackage driver creates its own file
        for layer, frame in layers.items():
            frame.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
    return path
