"""Sentinel-1 / Sentinel-2 time series of an area on one grid, lazily: :func:`load_sensor`.

The imagery comes from a static STAC catalog (``geo.stac``, odc-stac) or a folder of GeoTIFFs
(``geo.geotiff``, rasterio); both give the same raw cube, which is turned here into

* ``values``: float32 ``(time, band, y, x)`` — Sentinel-2 reflectance (B02 ... B12, B8A),
  Sentinel-1 backscatter in dB (10·log10 of the linear power), **0 where not valid** (never
  NaN: sitsfusion refuses NaN in training data);
* ``valid``: bool ``(time, y, x)`` — a clear view: for S2 the SCL class is not no data,
  saturated, cloud shadow, cloud (medium / high) or thin cirrus and every band has data; for S1
  every band has data and a positive linear power.

Each sensor keeps its own dates (days), sorted; observations of one sensor on the same day
(adjacent tiles, two orbits) are merged by the mean of their valid values. Everything stays a
Dask graph until computed, or is read at once into memory (``lazy=False``, no Dask: one
block of a map).
"""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sitsfusion.errors import DataWarning
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.raw import RawBlock, clear, merge_days
from sitsfusion.geo.sensors import SensorSpec, sensor_spec
from sitsfusion.optional import require

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["DEFAULT_CHUNKS", "SensorSource", "find_sensor", "in_db", "load_sensor", "read_raw"]

DEFAULT_CHUNKS = {"x": 1024, "y": 1024}  # pixels per Dask chunk (10 km at 10 m)
Composite = Literal["monthly"]
S1Units = Literal["linear", "db"]


def _date(value: str | _dt.date | None, name: str) -> _dt.date | None:
    if value is None or isinstance(value, _dt.date):
        return value.date() if isinstance(value, _dt.datetime) else value
    try:
        return _dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a date YYYY-MM-DD") from None


def _is_stac(source: str | Path) -> bool:
    from sitsfusion.geo.stac_api import api_url

    if api_url(source) is not None or str(source).endswith(".json"):
        return True
    path = Path(source)
    return path.is_dir() and any((path / n).is_file() for n in ("catalog.json", "collection.json"))


def _say_reprojected(
    source: str | Path, crs_list: Sequence[str], grid: Grid, resampling: str
) -> None:
    """A DataWarning when imagery in other CRSs than the grid's is reprojected onto it. The
    text names no sensor, so that the sensors of one source say it with the same words."""
    pyproj = require("pyproj", "geo", "loading imagery")
    target = pyproj.CRS.from_user_input(grid.crs)
    foreign = [c for c in crs_list if not pyproj.CRS.from_user_input(c).equals(target)]
    if foreign:
        warnings.warn(
            f"{source}: imagery in {', '.join(foreign)} reprojected onto the grid's "
            f"{grid.crs} (resampling {resampling})",
            DataWarning,
            stacklevel=4,
        )


def _clear(raw: np.ndarray, optical: bool, to_db: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(values, valid)`` of a raw block ``[T, C, h, w]`` (:func:`load_sensor`'s lazy cube,
    physical units, before any merge): ``values`` float32 ``[T, B, h, w]`` (S2: the bands
    without SCL; S1: dB when ``to_db``), NaN where not valid (for the merge of same-day
    items); ``valid`` bool ``[T, h, w]`` (:func:`~sitsfusion.geo.raw.clear`)."""
    ones = np.ones(raw.shape[:2], dtype=np.float32)
    values, valid = clear(
        list(raw.transpose(1, 0, 2, 3)),
        ones,
        np.zeros_like(ones),
        optical=optical,
        to_db=to_db,
        zero_is_nodata=False,
    )
    np.copyto(values, np.float32(np.nan), where=~valid[:, None])
    return values, valid


def _clear_values(raw: np.ndarray, optical: bool, to_db: bool) -> np.ndarray:
    """The ``values`` of :func:`_clear` (a Dask block function)."""
    return _clear(raw, optical, to_db)[0]


def _filled(values: np.ndarray, copy: bool = True) -> np.ndarray:
    """``values`` with 0 where NaN (a Dask block function: a copy; in place with ``copy``
    False)."""
    out = values.copy() if copy else values
    np.copyto(out, np.float32(0.0), where=np.isnan(out))
    return out


def _per_block(data: Any, fn: Any, bands: int, *args: Any) -> Any:
    """``fn(block, *args)`` on every block of ``data [T, C, h, w]`` (a Dask array, its bands
    in one chunk), or on ``data`` itself (numpy); the result has ``bands`` bands."""
    if isinstance(data, np.ndarray):
        return fn(data, *args)
    data = data.rechunk({1: -1})
    chunks = (data.chunks[0], (bands,), *data.chunks[2:])
    return data.map_blocks(fn, *args, chunks=chunks, dtype=np.float32)


def _merge_days(values: Any) -> Any:
    """One observation per day: the mean of the day's valid values (NaN = not valid)."""
    days = values["time"].dt.floor("D").values
    values = values.assign_coords(time=days)
    unique, first = np.unique(days, return_index=True)
    if len(unique) == len(days):
        return values
    items = values["item"].values[first] if "item" in values.coords else None
    merged = values.drop_vars("item", errors="ignore").groupby("time").mean(skipna=True)
    return merged if items is None else merged.assign_coords(item=("time", items))


def _monthly(values: Any) -> Any:
    """Per-pixel, per-band median of each calendar month's valid observations, dated on the
    15th (the semantics of ``sitsfusion.data.binning.monthly_median``, seed 004, Sec. VI); a
    month without a valid observation at a pixel stays not valid (its ``empty="mask"``)."""
    monthly = values.drop_vars("item", errors="ignore").resample(time="1MS").median(skipna=True)
    return monthly.assign_coords(time=monthly["time"].values + np.timedelta64(14, "D"))


@dataclass(frozen=True)
class SensorSource:
    """One sensor of an imagery source over an area, found once: its STAC items (read or
    searched, selected by sensor, dates, cloud cover and overlap) or its GeoTIFF files
    (opened). :func:`load_sensor` loads them onto the area's grid or onto any grid inside it
    without looking for them again (the blocks of ``sitsfusion map``)."""

    source: str | Path
    spec: SensorSpec
    kind: Literal["stac", "geotiff"]
    entries: tuple[Any, ...]


def find_sensor(
    source: str | Path,
    grid: Grid,
    sensor: str,
    *,
    start: str | _dt.date | None = None,
    end: str | _dt.date | None = None,
    max_cloud: float | None = None,
) -> SensorSource:
    """The items / files of ``sensor`` in ``source`` for ``grid`` (arguments and errors as
    :func:`load_sensor`)."""
    spec = sensor_spec(sensor)
    start_date, end_date = _date(start, "start"), _date(end, "end")
    if start_date and end_date and start_date > end_date:
        raise ValueError(f"start {start_date} is after end {end_date}")
    if _is_stac(source):
        from sitsfusion.geo.stac import read_items, select_items
        from sitsfusion.geo.stac_api import api_url, search_api

        url = api_url(source)
        if url is not None:
            items, where = search_api(url, spec, grid, start_date, end_date)
        else:
            items, where = read_items(source)
        items = select_items(items, spec, grid, where, start_date, end_date, max_cloud)
        return SensorSource(source, spec, "stac", tuple(items))
    from sitsfusion.geo.geotiff import find_geotiffs

    files = find_geotiffs(source, spec, grid, start_date, end_date)
    return SensorSource(source, spec, "geotiff", tuple(files))


def load_sensor(
    source: str | Path,
    grid: Grid,
    sensor: str,
    *,
    start: str | _dt.date | None = None,
    end: str | _dt.date | None = None,
    max_cloud: float | None = None,
    chunks: dict[str, int] | None = None,
    composite: Composite | None = None,
    resampling: str = "nearest",
    s1_units: S1Units = "linear",
    found: SensorSource | None = None,
    lazy: bool = True,
) -> xr.Dataset:
    """One sensor's time series on ``grid``, lazily: an ``xarray.Dataset``.

    Args:
        source: a static STAC catalog (``catalog.json`` or its folder), the ``http(s)://``
            URL of a STAC API (searched with pystac-client: ``geo.stac_api.search_api``) or a
            folder of ``<SENSOR>_<YYYYMMDD>.tif`` files.
        grid: the target grid; every sensor of an area is loaded onto the same one.
        sensor: ``S2``, ``S1A`` (ascending orbits) or ``S1D`` (descending orbits).
        start, end: the first / last date kept (inclusive), ``YYYY-MM-DD`` or a date.
        max_cloud: drop S2 items whose ``eo:cloud_cover`` (percent) is above it (STAC only; a
            GeoTIFF has no such property). Items without it are kept: SCL still masks clouds.
        chunks: Dask chunk sizes in pixels, ``{"x": ..., "y": ...}`` (default 1024 x 1024).
        composite: ``"monthly"`` for one observation per calendar month (the median of the
            valid ones, dated on the 15th); None keeps every date.
        resampling: rasterio / GDAL resampling of the bands onto the grid (``nearest``,
            ``bilinear``, ...); SCL is always resampled ``nearest``.
        s1_units: the units of the S1 files: ``linear`` power (the contract) or ``db`` (e.g.
            Google Earth Engine exports), which are kept as they are.
        found: the sensor's items / files found before (:func:`find_sensor`, for ``grid`` or a
            grid holding it): not looked for again (``start``, ``end`` and ``max_cloud`` were
            applied then).
        lazy: False reads the files now, into memory, without Dask (``chunks`` unused): for
            a block of ``sitsfusion map`` inside a worker, where a graph of thousands of
            small tasks would cost more than the reading.

    Returns:
        An ``xarray.Dataset`` on ``grid.coords()``, with ``values`` float32
        ``(time, band, y, x)`` (0 where not valid) and ``valid`` bool ``(time, y, x)``;
        coordinates ``time`` (datetime64, days), ``band`` (names), ``y``, ``x`` (pixel
        centres) and, without compositing, ``item`` (the item id / file name of each date);
        attributes ``sensor``, ``crs``, ``resolution``, ``transform`` (GDAL order) and
        ``synthetic`` (every STAC item is the simulator's).

    Raises:
        DatasetError: one line naming the catalog / folder / item / file: no item of the
            sensor (in the dates / cloud limit), none overlapping the grid, a missing band or
            SCL asset, a file name not following the pattern, an unreadable file, a STAC
            API that cannot be reached or is not one (the URL named).
        ValueError: an unknown sensor, composite or date.
    """
    if composite not in (None, "monthly"):
        raise ValueError(f"composite must be None or 'monthly', got {composite!r}")
    if s1_units not in ("linear", "db"):
        raise ValueError(f"s1_units must be 'linear' or 'db', got {s1_units!r}")
    if found is None:
        found = find_sensor(source, grid, sensor, start=start, end=end, max_cloud=max_cloud)
    spec = found.spec
    to_db = in_db(spec, s1_units)
    if lazy:
        values, valid, attrs = _load_lazy(found, grid, chunks, resampling, to_db, composite)
    else:
        values, valid, attrs = _read_now(found, grid, resampling, to_db, composite)
    xarray = require("xarray", "geo", "loading imagery")
    return xarray.Dataset(
        {"values": values, "valid": valid},
        attrs={
            "sensor": spec.name,
            "crs": grid.crs,
            "resolution": grid.resolution,
            "transform": tuple(grid.transform.to_gdal()),
            "synthetic": bool(attrs.get("synthetic", False)),
        },
    )


def _load_lazy(
    found: SensorSource,
    grid: Grid,
    chunks: dict[str, int] | None,
    resampling: str,
    to_db: bool,
    composite: Composite | None,
) -> tuple[Any, Any, dict[str, Any]]:
    """``(values, valid, attrs)`` of :func:`load_sensor`, a Dask graph."""
    spec, size = found.spec, dict(DEFAULT_CHUNKS if chunks is None else chunks)
    if found.kind == "stac":
        from sitsfusion.geo.stac import load_stac

        raw = load_stac(list(found.entries), spec, grid, size, resampling)
    else:
        from sitsfusion.geo.geotiff import stack_geotiffs

        raw = stack_geotiffs(found.entries, spec, grid, size, resampling)
    _say_reprojected(found.source, raw.attrs.get("source_crs", ()), grid, resampling)
    coords = grid.coords()
    raw = raw.assign_coords(y=coords["y"], x=coords["x"])
    values = raw.isel(band=slice(0, len(spec.bands))).copy(
        data=_per_block(raw.data, _clear_values, len(spec.bands), spec.is_optical, to_db)
    )
    values = _merge_days(values)
    if composite == "monthly":
        values = _monthly(values)
    valid = values.notnull().all("band")
    values = values.copy(data=_per_block(values.data, _filled, values.sizes["band"]))
    return values, valid, raw.attrs


def in_db(spec: SensorSpec, s1_units: S1Units = "linear") -> bool:
    """Whether the sensor's numbers become dB (10 log10): Sentinel-1 files of linear power."""
    return not spec.is_optical and s1_units == "linear"


def read_raw(found: SensorSource, grid: Grid, resampling: str = "nearest") -> RawBlock:
    """The digital numbers of ``found``'s items / files on ``grid``, read now into memory
    (each file once, only over the grid; no Dask): a :class:`~sitsfusion.geo.raw.RawBlock`,
    whose windows :func:`~sitsfusion.geo.raw.window_series` turns into values / valid (a
    block of ``sitsfusion map``), or :func:`load_sensor` (``lazy=False``) into the cube.
    Reprojection from other CRSs is said once (a :class:`DataWarning`)."""
    if found.kind == "stac":
        from sitsfusion.geo.stac import read_stac

        raw = read_stac(list(found.entries), found.spec, grid, resampling)
    else:
        from sitsfusion.geo.geotiff import read_geotiffs

        raw = read_geotiffs(found.entries, found.spec, grid, resampling)
    _say_reprojected(found.source, raw.source_crs, grid, resampling)
    return raw


def _read_now(
    found: SensorSource,
    grid: Grid,
    resampling: str,
    to_db: bool,
    composite: Composite | None,
) -> tuple[Any, Any, dict[str, Any]]:
    """``(values, valid, attrs)`` of :func:`load_sensor`, read now into numpy arrays: each
    file read once (:class:`~sitsfusion.geo.raw.RawBlock`), ``values`` / ``valid`` made in
    one pass per band (:func:`~sitsfusion.geo.raw.clear`), same-day items merged in place of
    the NaN round trip of the lazy path."""
    xarray = require("xarray", "geo", "loading imagery")
    spec = found.spec
    raw = read_raw(found, grid, resampling)
    values, valid = clear(
        raw.bands,
        raw.scales,
        raw.offsets,
        optical=spec.is_optical,
        to_db=to_db,
        zero_is_nodata=raw.zero_is_nodata,
    )
    times, items, attrs = raw.times, raw.items, {"synthetic": raw.synthetic}
    del raw  # the digital numbers, freed before the merge and the caller's work
    values, valid, times, items = merge_days(values, valid, times, items)
    coords = grid.coords()
    values = xarray.DataArray(
        values,
        dims=("time", "band", "y", "x"),
        coords={"time": times, "band": list(spec.bands), "y": coords["y"], "x": coords["x"]},
    ).assign_coords(item=("time", items))
    if composite == "monthly":  # the lazy path's median, on NaN where not valid
        values = _monthly(values.where(xarray.DataArray(valid, dims=("time", "y", "x"))))
        valid = values.notnull().all("band")
        return values.copy(data=_filled(values.data, copy=False), deep=False), valid, attrs
    return values, values.isel(band=0, drop=True).copy(data=valid), attrs
