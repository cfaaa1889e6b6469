"""A class map as the assessment reads it: the ``class`` band of a GeoTIFF / COG, streamed.

``sitsfusion predict`` writes band 1 ``class`` (uint8, 255 = no data) with the tag
``classes`` (JSON ``{"0": "name", ...}``); any single-band integer raster with that tag
works. Everything here reads the raster block by block (rasterio windows), so a map of a
whole Sentinel-2 tile never sits in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.errors import DatasetError
from sitsfusion.io import require_regular_file
from sitsfusion.optional import require

__all__ = ["NODATA", "ClassMap", "class_counts", "iter_blocks", "open_class_map"]

NODATA = 255
"""The no-data class value of the maps sitsfusion writes (``sitsfusion.inference``)."""


@dataclass(frozen=True)
class ClassMap:
    """What the assessment needs to know of a class map (nothing is held open).

    Attributes:
        path: the raster.
        class_names: class ``k`` is pixel value ``k``.
        nodata: the value of pixels outside the map (excluded everywhere).
        crs: the raster's CRS as WKT (or "" when it has none).
        transform: rasterio's affine ``(a, b, c, d, e, f)``.
        height, width: the raster's size in pixels.
        synthetic: the map's ``synthetic`` tag says it maps simulated data.
    """

    path: Path
    class_names: tuple[str, ...]
    nodata: int
    crs: str
    transform: tuple[float, float, float, float, float, float]
    height: int
    width: int
    synthetic: bool = False

    @property
    def pixel_area(self) -> float:
        """The area of one pixel in the CRS's units squared (m² for a projected CRS)."""
        a, b, _, d, e, _ = self.transform
        return abs(a * e - b * d)


def _class_names(path: Path, tags: dict[str, str]) -> tuple[str, ...]:
    raw = tags.get("classes")
    if raw is None:
        raise DatasetError(
            path, "has no 'classes' tag; expected a class map written by sitsfusion predict / map"
        )
    try:
        table = json.loads(raw)
        names = {int(k): str(v) for k, v in table.items()}
    except (ValueError, AttributeError, TypeError):
        raise DatasetError(
            path, '\'classes\' tag is not a JSON object {"0": "name", ...}'
        ) from None
    if sorted(names) != list(range(len(names))) or not names:
        raise DatasetError(path, "'classes' tag must number the classes 0, 1, ..., K-1")
    if len(names) >= NODATA:
        raise DatasetError(path, f"'classes' tag lists {len(names)} classes; at most 255 fit")
    return tuple(names[k] for k in range(len(names)))


def open_class_map(path: str | Path) -> ClassMap:
    """Read the header of a class map (band 1, its ``classes`` tag, nodata, georeferencing).

    Raises:
        DatasetError: missing or unreadable file, no / bad ``classes`` tag, a float band.
    """
    rasterio = require("rasterio", "raster", "reading a class map")
    path = Path(path)
    require_regular_file(path)
    try:
        with rasterio.open(path) as src:
            tags = src.tags()
            dtype = np.dtype(src.dtypes[0])
            nodata = src.nodata
            crs = src.crs.to_wkt() if src.crs else ""
            transform = tuple(float(v) for v in tuple(src.transform)[:6])
            height, width = src.height, src.width
    except rasterio.errors.RasterioError as exc:
        raise DatasetError(path, f"not a readable raster ({exc})") from None
    if dtype.kind not in "iu":
        raise DatasetError(path, f"band 1 is {dtype}; a class map holds integer class values")
    names = _class_names(path, tags)
    value = NODATA if nodata is None else int(nodata)
    synthetic = str(tags.get("synthetic", "")).lower() == "true"
    return ClassMap(path, names, value, crs, transform, height, width, synthetic)  # type: ignore[arg-type]


def iter_blocks(cmap: ClassMap) -> Iterator[tuple[Any, np.ndarray]]:
    """``(window, classes [h, w])`` for each internal block of band 1, in a fixed order
    (row-major over the raster's block grid)."""
    rasterio = require("rasterio", "raster", "reading a class map")
    with rasterio.open(cmap.path) as src:
        for _, window in src.block_windows(1):
            yield window, src.read(1, window=window)


def class_counts(cmap: ClassMap) -> np.ndarray:
    """``[K]`` int64: the pixels of each class (nodata excluded), counted block by block.

    Raises:
        DatasetError: a pixel value that is neither a class nor nodata.
    """
    k = len(cmap.class_names)
    total = np.zeros(k, dtype=np.int64)
    for _, block in iter_blocks(cmap):
        values = block[block != cmap.nodata].astype(np.int64)
        if values.size and (values.min() < 0 or values.max() >= k):
            bad = int(values[(values < 0) | (values >= k)][0])
            raise DatasetError(
                cmap.path,
                f"pixel value {bad} is neither one of the {k} classes of its 'classes' tag nor "
                f"nodata ({cmap.nodata})",
            )
        total += np.bincount(values, minlength=k)
    return total
