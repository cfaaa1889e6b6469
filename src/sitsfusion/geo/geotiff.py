"""A folder of GeoTIFFs, one multi-band file per sensor and date, loaded onto a grid.

The layout of the shared contract: ``<folder>/<SENSOR>_<YYYYMMDD>.tif``, SENSOR ``S2``, ``S1A``
(ascending) or ``S1D`` (descending); the bands named by their descriptions (``B02`` ... ``B12``,
``SCL``; ``VV``, ``VH``), the units of the STAC items (S2 digital numbers, nodata 0, the L2A
offset convention unless the file gives scales / offsets; S1 linear backscatter).

Each file is reprojected onto the grid by a ``rasterio.vrt.WarpedVRT`` (files of one folder may
be in different CRSs), read lazily (one Dask task per file and spatial chunk:
:func:`stack_geotiffs`) or now (a map block: :func:`read_geotiffs`).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sitsfusion.errors import DatasetError
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.raw import RawBlock
from sitsfusion.geo.sensors import L2A_OFFSET, L2A_SCALE, SENSORS, SensorSpec, date_span
from sitsfusion.optional import require

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "FILE_PATTERN",
    "GeoTiff",
    "find_geotiffs",
    "list_folder",
    "load_geotiffs",
    "read_geotiffs",
    "stack_geotiffs",
]

FILE_PATTERN = re.compile(r"^(?P<sensor>S2|S1A|S1D)_(?P<date>\d{8})\.tiff?$")


@dataclass(frozen=True)
class GeoTiff:
    """One file of the folder: its path, sensor, date and, once opened, the 1-based indexes of
    the bands read (in ``SensorSpec.read_bands`` order), per-band scale / offset, nodata and
    the file's CRS."""

    path: Path
    sensor: str
    date: _dt.date
    indexes: tuple[int, ...] = ()
    scales: tuple[float, ...] = ()
    offsets: tuple[float, ...] = ()
    nodata: float | None = None
    crs: str | None = None


def list_folder(folder: str | Path) -> list[GeoTiff]:
    """The GeoTIFFs of ``folder`` by name (not opened). Files of other types are ignored; a
    ``.tif`` whose name does not follow the pattern is refused, all such names listed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(folder, "no such folder; expected a folder of <SENSOR>_<YYYYMMDD>.tif")
    out, bad = [], []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".tif", ".tiff"):
            continue
        match = FILE_PATTERN.match(path.name)
        date = None
        if match:
            try:
                date = _dt.datetime.strptime(match["date"], "%Y%m%d").date()
            except ValueError:
                date = None
        if date is None:
            bad.append(path.name)
            continue
        out.append(GeoTiff(path, match["sensor"], date))
    if bad:
        raise DatasetError(
            folder,
            f"file name(s) {', '.join(bad)} do not follow <SENSOR>_<YYYYMMDD>.tif with SENSOR in "
            f"{', '.join(SENSORS)}; rename or move them",
        )
    return out


def _inspect(tif: GeoTiff, spec: SensorSpec, grid: Grid) -> GeoTiff | None:
    """The file with its band indexes and scales; None when it does not overlap the grid."""
    rasterio = require("rasterio", "geo", "reading GeoTIFFs")
    from rasterio.warp import transform_bounds

    try:
        with rasterio.open(tif.path) as src:
            names = [d.upper() if d else "" for d in src.descriptions]
            if src.crs is None:
                raise DatasetError(tif.path, "has no CRS; set one (e.g. gdal_edit.py -a_srs)")
            bounds = transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
            file_scales, file_offsets, nodata = src.scales, src.offsets, src.nodata
            crs = src.crs.to_string()
    except rasterio.errors.RasterioError as exc:
        raise DatasetError(tif.path, f"not a readable GeoTIFF ({exc})") from None
    missing = [b for b in spec.read_bands if b not in names]
    if missing:
        raise DatasetError(
            tif.path,
            f"has no band described {', '.join(missing)} (band descriptions: {names}); "
            f"expected {', '.join(spec.read_bands)}",
        )
    minx, miny, maxx, maxy = grid.bounds
    if not (bounds[0] < maxx and minx < bounds[2] and bounds[1] < maxy and miny < bounds[3]):
        return None
    indexes = tuple(names.index(b) + 1 for b in spec.read_bands)
    scales, offsets = [], []
    for band, i in zip(spec.read_bands, indexes, strict=True):
        s, o = float(file_scales[i - 1]), float(file_offsets[i - 1])
        if spec.is_optical and band != spec.mask_band and (s, o) == (1.0, 0.0):
            s, o = L2A_SCALE, L2A_OFFSET  # digital numbers: the contract's L2A convention
        scales.append(s)
        offsets.append(o)
    if nodata is None:
        nodata = 0.0 if spec.is_optical else float("nan")
    return GeoTiff(
        tif.path, tif.sensor, tif.date, indexes, tuple(scales), tuple(offsets), nodata, crs
    )


def _read_block(
    tif: GeoTiff, grid: Grid, resampling: str, mask_band: str | None, window: tuple[int, ...]
) -> np.ndarray:
    """``[C, h, w]`` float32 of ``tif`` warped onto the window ``(row, col, h, w)`` of the
    grid; no data NaN, scales and offsets applied (the mask band warped nearest, unscaled)."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.windows import Window

    row, col, h, w = window
    h_all, w_all = grid.shape
    n = len(tif.indexes)
    groups = [(list(range(n - 1)), resampling), ([n - 1], "nearest")] if mask_band else []
    groups = groups or [(list(range(n)), resampling)]
    out = np.empty((n, h, w), dtype="float32")
    with rasterio.open(tif.path) as src:
        for ks, method in groups:  # the bands, then the mask band (classes: nearest)
            with WarpedVRT(
                src,
                crs=grid.crs,
                transform=grid.transform,
                width=w_all,
                height=h_all,
                resampling=Resampling[method],
                src_nodata=tif.nodata,
                nodata=tif.nodata,
            ) as vrt:
                indexes = [tif.indexes[k] for k in ks]
                out[ks] = vrt.read(indexes, window=Window(col, row, w, h)).astype("float32")
    nodata = tif.nodata
    bad = ~np.isfinite(out) if nodata is None or np.isnan(nodata) else out == nodata
    scaled = n - 1 if mask_band else n  # the mask band keeps its class numbers
    scales = np.asarray(tif.scales[:scaled], dtype="float32")[:, None, None]
    offsets = np.asarray(tif.offsets[:scaled], dtype="float32")[:, None, None]
    out[:scaled] = out[:scaled] * scales + offsets
    out[bad] = np.nan
    return out


def _lazy(tif: GeoTiff, grid: Grid, resampling: str, spec: SensorSpec, chunks: dict) -> Any:
    """``[C, H, W]`` Dask array of one file on the grid, one task per spatial chunk."""
    da = require("dask.array", "geo", "reading GeoTIFFs lazily")
    from dask import delayed

    h_all, w_all = grid.shape
    ch, cw = int(chunks.get("y", h_all)), int(chunks.get("x", w_all))
    rows = []
    for row in range(0, h_all, ch):
        cols = []
        for col in range(0, w_all, cw):
            h, w = min(ch, h_all - row), min(cw, w_all - col)
            block = delayed(_read_block)(tif, grid, resampling, spec.mask_band, (row, col, h, w))
            cols.append(da.from_delayed(block, (len(tif.indexes), h, w), dtype="float32"))
        rows.append(da.concatenate(cols, axis=2))
    return da.concatenate(rows, axis=1)


def find_geotiffs(
    folder: str | Path,
    spec: SensorSpec,
    grid: Grid,
    start: _dt.date | None,
    end: _dt.date | None,
) -> list[GeoTiff]:
    """``spec``'s files of ``folder`` dated in ``[start, end]`` that overlap ``grid``, opened
    (band indexes, scales, CRS), sorted by date then name. One-line DatasetErrors naming the
    folder or file on bad input."""
    files = [t for t in list_folder(folder) if t.sensor == spec.name]
    if not files:
        raise DatasetError(folder, f"no {spec.name}_<YYYYMMDD>.tif file")
    files = [
        t for t in files if (start is None or t.date >= start) and (end is None or t.date <= end)
    ]
    if not files:
        raise DatasetError(folder, f"no {spec.name} file dated {date_span(start, end)}")
    inspected = [_inspect(t, spec, grid) for t in files]
    files = [t for t in inspected if t is not None]
    if not files:
        raise DatasetError(
            folder,
            f"no {spec.name} file overlaps the grid (bounds {grid.bounds} in {grid.crs}): check "
            "the area of interest and the parcels' CRS, or give imagery of this area",
        )
    files.sort(key=lambda t: (t.date, t.path.name))
    return files


def read_geotiffs(
    files: Sequence[GeoTiff], spec: SensorSpec, grid: Grid, resampling: str
) -> RawBlock:
    """``files`` (:func:`find_geotiffs`, for ``grid`` or a larger grid holding it) read now
    onto ``grid``, without Dask (a block of a map): float32 bands in physical units, NaN
    where no data (scales and offsets applied: 1 and 0 in the block)."""
    whole = (0, 0, *grid.shape)
    stack = np.stack([_read_block(t, grid, resampling, spec.mask_band, whole) for t in files])
    ones = np.ones((len(files), len(spec.read_bands)), dtype="float32")
    return RawBlock(
        bands=tuple(stack[:, j] for j in range(stack.shape[1])),
        scales=ones,
        offsets=np.zeros_like(ones),
        zero_is_nodata=False,
        times=np.array([np.datetime64(t.date, "ns") for t in files]),
        items=tuple(t.path.name for t in files),
        source_crs=tuple(sorted({t.crs for t in files if t.crs})),
        synthetic=False,
    )


def stack_geotiffs(
    files: Sequence[GeoTiff],
    spec: SensorSpec,
    grid: Grid,
    chunks: dict[str, int],
    resampling: str,
) -> xr.DataArray:
    """The raw cube of ``files`` (:func:`find_geotiffs`, for ``grid`` or a larger grid holding
    it) on ``grid``, lazily: float32 ``(time, band, y, x)``, a Dask array of ``chunks``
    pixels, physical units, NaN where no data (SCL kept as class numbers); ``item`` holds each
    file's name, ``attrs["source_crs"]`` the files' CRSs (:func:`read_geotiffs` reads a block
    now)."""
    xarray = require("xarray", "geo", "loading imagery")
    dask_array = require("dask.array", "geo", "reading GeoTIFFs lazily")
    stack = dask_array.stack([_lazy(t, grid, resampling, spec, chunks) for t in files])
    coords = grid.coords()
    return xarray.DataArray(
        stack,
        dims=("time", "band", "y", "x"),
        coords={
            "time": [np.datetime64(t.date, "ns") for t in files],
            "band": list(spec.read_bands),
            "y": coords["y"],
            "x": coords["x"],
            "item": ("time", [t.path.name for t in files]),
        },
        attrs={"source_crs": sorted({t.crs for t in files if t.crs})},
    )


def load_geotiffs(
    folder: str | Path,
    spec: SensorSpec,
    grid: Grid,
    start: _dt.date | None,
    end: _dt.date | None,
    chunks: dict[str, int],
    resampling: str,
) -> xr.DataArray:
    """The raw cube of ``spec``'s files in ``folder`` (:func:`find_geotiffs` then
    :func:`stack_geotiffs`)."""
    return stack_geotiffs(
        find_geotiffs(folder, spec, grid, start, end), spec, grid, chunks, resampling
    )
