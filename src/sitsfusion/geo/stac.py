"""Sentinel-1 / Sentinel-2 items of a STAC catalog, loaded onto a grid with odc-stac.

The items (of a static catalog on disk, or found on a STAC API by :mod:`.stac_api`) are picked
by sensor (``platform``, and ``sat:orbit_state`` for Sentinel-1), date and cloud cover,
checked (every band asset and its local file present, some overlap with the grid), and loaded
with ``odc.stac.load`` onto :meth:`Grid.geobox`, one time step per item, lazily (Dask:
:func:`load_stac`) or now (a map block: :func:`read_stac`); items of one sensor on different
grids or CRSs are reprojected by odc-stac.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sitsfusion.errors import DatasetError
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.raw import RawBlock
from sitsfusion.geo.sensors import L2A_OFFSET, L2A_SCALE, SensorSpec, date_span
from sitsfusion.geo.stac_api import api_url
from sitsfusion.optional import require

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["asset_naming", "item_crs", "load_stac", "read_items", "read_stac", "select_items"]


def read_items(source: str | Path) -> tuple[list[Any], str]:
    """The items of a static catalog (a ``catalog.json`` / ``collection.json`` or its folder),
    and a name of the source for messages."""
    url = api_url(source)
    if url is not None:
        raise ValueError(f"{url}: a STAC API URL is searched by geo.stac_api.search_api, not read")
    pystac = require("pystac", "geo", "reading a STAC catalog")
    path = Path(source)
    if path.is_dir():
        candidates = [path / "catalog.json", path / "collection.json"]
        found = [p for p in candidates if p.is_file()]
        if not found:
            raise DatasetError(path, "no catalog.json or collection.json in this folder")
        path = found[0]
    if not path.is_file():
        raise DatasetError(path, "no such STAC catalog; expected a catalog.json or its folder")
    try:
        catalog = pystac.read_file(str(path))
        items = list(catalog.get_items(recursive=True))
    except Exception as exc:  # pystac raises STACTypeError, JSON and OS errors
        raise DatasetError(path, f"not a readable STAC catalog ({exc})") from None
    return items, str(path)


def _item_date(item: Any) -> _dt.date:
    when = item.datetime or item.common_metadata.start_datetime
    if when is None:
        raise DatasetError(item.get_self_href() or item.id, f"item {item.id!r} has no datetime")
    return when.date()


def _is_sensor(item: Any, spec: SensorSpec) -> bool:
    platform = str(item.properties.get("platform", "")).lower()
    collection = str(item.collection_id or "").lower()
    if not (platform.startswith(spec.platform) or collection.startswith(spec.platform)):
        return False
    if spec.orbit_state is None:
        return True
    return str(item.properties.get("sat:orbit_state", "")).lower() == spec.orbit_state


def _overlaps(item: Any, lonlat: tuple[float, float, float, float]) -> bool:
    if item.bbox is None:
        return True  # no footprint given: odc-stac decides from the assets' proj:*
    b = item.bbox
    minx, miny, maxx, maxy = (b[0], b[1], b[3], b[4]) if len(b) == 6 else b  # 3-D: z dropped
    return minx < lonlat[2] and lonlat[0] < maxx and miny < lonlat[3] and lonlat[1] < maxy


SYNTHETIC_KEY = "sitsfusion:synthetic"
"""Field of the simulator's catalogs and items (``simulate.scene_stac``): synthetic data."""
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # TIFF and BigTIFF headers


def _local_file_problem(asset: Any) -> str | None:
    """What is wrong with the local file of ``asset`` — ``"missing"``, or ``"not a GeoTIFF"``
    when its first 4 bytes are not a TIFF header — else None (a stat and a 4-byte read);
    remote hrefs (``https://``, ``s3://``, ...) are not checked."""
    href = asset.get_absolute_href() or asset.href
    if "://" in href and not href.startswith("file://"):
        return None
    path = Path(href.removeprefix("file://"))
    if not path.is_file():
        return "missing"
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        return f"not readable ({exc.strerror})"
    return None if head in _TIFF_MAGIC else "not a GeoTIFF (no TIFF header)"


def _fmt_box(b: Sequence[float]) -> str:
    return f"{b[0]:.4f}..{b[2]:.4f}, {b[1]:.4f}..{b[3]:.4f}"


def _items_area(items: Sequence[Any]) -> str:
    """``"; the items cover lon/lat ..."``: the union of the items' bboxes, for messages."""
    boxes = [
        (b[0], b[1], b[3], b[4]) if len(b) == 6 else tuple(b)
        for b in (it.bbox for it in items)
        if b is not None
    ]
    if not boxes:
        return ""
    union = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    return f"; the items cover lon/lat {_fmt_box(union)}"


def asset_naming(items: Sequence[Any], spec: SensorSpec, where: str) -> SensorSpec:
    """The naming of ``spec`` (itself or one of :meth:`SensorSpec.namings`) whose asset keys
    every item has: for Sentinel-2 Planetary Computer's ``B02`` ... ``SCL`` or Earth Search's
    ``blue`` ... ``scl``; the bands it gives are the same.

    Raises a one-line DatasetError naming ``where``: an item with no complete naming (the
    assets missing from the closest one, and every naming expected), or items of one sensor
    that mix namings."""
    namings = spec.namings()
    fits = [[n for n in namings if all(k in it.assets for k in n.read_assets)] for it in items]
    common = [n for n in namings if all(n in fit for fit in fits)]
    if common:
        return common[0]
    for it, fit in zip(items, fits, strict=True):
        if not fit:
            closest = min(namings, key=lambda n: sum(k not in it.assets for k in n.read_assets))
            missing = [k for k in closest.read_assets if k not in it.assets]
            expected = " or ".join(
                ", ".join(n.read_assets) + (f" ({n.naming})" if len(namings) > 1 else "")
                for n in namings
            )
            raise DatasetError(
                where, f"item {it.id!r} has no asset {', '.join(missing)}; expected {expected}"
            )
    first, other = fits[0][0], next(i for i, fit in enumerate(fits) if fits[0][0] not in fit)
    second = fits[other][0]
    raise DatasetError(
        where,
        f"the {spec.name} items mix asset namings: item {items[0].id!r} has {first.naming}'s "
        f"({first.read_assets[0]} ... {first.read_assets[-1]}), item {items[other].id!r} "
        f"{second.naming}'s ({second.read_assets[0]} ... {second.read_assets[-1]}); give "
        "the items of one naming (one catalog per provider)",
    )


def select_items(
    items: Sequence[Any],
    spec: SensorSpec,
    grid: Grid,
    where: str,
    start: _dt.date | None = None,
    end: _dt.date | None = None,
    max_cloud: float | None = None,
) -> list[Any]:
    """The items of ``spec``'s sensor, dated in ``[start, end]``, with ``eo:cloud_cover`` at
    most ``max_cloud`` (items without one are kept: the SCL mask still applies), overlapping
    the grid; sorted by date then id. Raises a one-line DatasetError naming ``where`` when
    none is left, or naming the item missing a band asset (of every naming, see
    :func:`asset_naming`) or the local file of one, or when the items mix namings.
    """
    chosen = [it for it in items if _is_sensor(it, spec)]
    if not chosen:
        raise DatasetError(
            where,
            f"no {spec.name} item (platform {spec.platform}*"
            + (f", sat:orbit_state {spec.orbit_state}" if spec.orbit_state else "")
            + ")",
        )
    chosen = [
        it
        for it in chosen
        if (start is None or _item_date(it) >= start) and (end is None or _item_date(it) <= end)
    ]
    if not chosen:
        raise DatasetError(where, f"no {spec.name} item dated {date_span(start, end)}")
    if max_cloud is not None:
        chosen = [
            it for it in chosen if float(it.properties.get("eo:cloud_cover", 0.0)) <= max_cloud
        ]
        if not chosen:
            raise DatasetError(where, f"no {spec.name} item with eo:cloud_cover <= {max_cloud}")
    lonlat = grid.bounds_in("EPSG:4326")
    candidates = chosen
    chosen = [it for it in chosen if _overlaps(it, lonlat)]
    if not chosen:
        raise DatasetError(
            where,
            f"no {spec.name} item overlaps the grid (bounds {grid.bounds} in {grid.crs}; "
            f"lon/lat {_fmt_box(lonlat)}){_items_area(candidates)}: check the area of interest "
            "and the parcels' CRS, or give imagery of this area",
        )
    naming = asset_naming(chosen, spec, where)
    for it in chosen:
        for key in naming.read_assets:
            problem = _local_file_problem(it.assets[key])
            if problem is not None:
                href = it.assets[key].get_absolute_href()
                raise DatasetError(
                    where,
                    f"item {it.id!r}: the file of asset {key} is {problem} ({href}); "
                    "restore it or remove the item from the catalog",
                )
    return sorted(chosen, key=lambda it: (it.datetime or _dt.datetime.min, it.id))


def item_crs(items: Sequence[Any], keys: Sequence[str]) -> list[str]:
    """The CRSs of ``items`` (``proj:code``, else ``EPSG:<proj:epsg>``, of the item or of its
    assets ``keys``), sorted; items without projection metadata add none."""
    found = set()
    for it in items:
        assets = [it.assets[k].extra_fields for k in keys if k in it.assets]
        for fields in (it.properties, *assets):
            code = fields.get("proj:code") or (
                f"EPSG:{fields['proj:epsg']}" if fields.get("proj:epsg") else None
            )
            if code:
                found.add(str(code))
    return sorted(found)


# Element 84 Earth Search v1 (collection sentinel-2-l2a) gives every band asset raster:bands
# scale 0.0001, offset -0.1, and the item property earthsearch:boa_offset_applied. When it is
# true, Earth Search already added ESA's BOA_ADD_OFFSET (-1000 DN) to the COG's numbers, and
# the -0.1 in raster:bands is known to be wrong: reflectance = DN * 0.0001 ("the offset
# property may be incorrectly set to -0.1 even when it has been applied ... boa_offset_applied
# is the truth", Element84/earth-search issue 9; cirrus-geo/cirrus-earth-search issue 21).
# When it is false, raster:bands is used as given (some such items are mis-tagged, Element84/
# earth-search issues 66 and 71: nothing in the item tells them apart).
# Items without a raster:bands scale / offset get the L2A convention of their
# s2:processing_baseline (as Microsoft Planetary Computer's users are told to apply it,
# microsoft/PlanetaryComputer issue 134).
_BOA_OFFSET_APPLIED = "earthsearch:boa_offset_applied"


def _scale_offset(item: Any, key: str) -> tuple[float, float]:
    """The asset's ``raster:bands`` scale / offset, or the L2A convention for Sentinel-2;
    offset 0 when Earth Search says the BOA offset is already in the numbers."""
    bands = item.assets[key].extra_fields.get("raster:bands") or [{}]
    scale, offset = bands[0].get("scale"), bands[0].get("offset")
    if item.properties.get(_BOA_OFFSET_APPLIED) is True:
        return float(L2A_SCALE if scale is None else scale), 0.0
    if scale is None and offset is None:
        baseline = str(item.properties.get("s2:processing_baseline", "99.99"))
        return L2A_SCALE, (L2A_OFFSET if baseline >= "04.00" else 0.0)
    return float(1.0 if scale is None else scale), float(0.0 if offset is None else offset)


def _physical(
    raw: np.ndarray, scales: np.ndarray, offsets: np.ndarray, zero_is_nodata: bool
) -> np.ndarray:
    """float32 ``[T, C, h, w]`` of the digital numbers ``raw [T, C, h, w]``: times ``scales``
    plus ``offsets`` (``[T, C, 1, 1]``; 1 and 0 for a mask band), NaN where no data (0 when
    ``zero_is_nodata``). In place on one float32 copy: ``raw`` is never changed."""
    out = raw.astype(np.float32)
    out *= scales
    out += offsets
    if zero_is_nodata:
        np.copyto(out, np.float32(np.nan), where=raw == 0)
    return out


def _scales_offsets(items: Sequence[Any], spec: SensorSpec) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``[T, C]`` scales and offsets of each item's read bands (:func:`_scale_offset`
    for Sentinel-2's bands; 1 and 0 for its mask band and for Sentinel-1)."""
    scales = np.ones((len(items), len(spec.read_bands)), dtype="float32")
    offsets = np.zeros_like(scales)
    if spec.is_optical:
        for i, it in enumerate(items):
            for j, key in enumerate(spec.asset_keys):
                scales[i, j], offsets[i, j] = _scale_offset(it, key)
    return scales, offsets


def _odc_load(
    items: Sequence[Any],
    spec: SensorSpec,
    grid: Grid,
    chunks: dict[str, int] | None,
    resampling: str,
) -> tuple[SensorSpec, xr.Dataset]:
    """``odc.stac.load`` of ``items``' read assets onto the grid, one time step per item (a
    Dask array of ``chunks`` pixels, or read now when None), with the naming they use."""
    odc_stac = require("odc.stac", "geo", "loading STAC imagery")
    where = (items[0].get_self_href() or items[0].id) if items else "no item"
    spec = asset_naming(items, spec, where)  # checked by select_items: never raises here
    res = {key: resampling for key in spec.asset_keys}
    if spec.mask_band:
        res[spec.read_assets[-1]] = "nearest"  # classes: never interpolated
    data = odc_stac.load(
        items,
        bands=list(spec.read_assets),
        geobox=grid.geobox(),
        chunks=chunks,
        groupby="id",
        resampling=res,
        preserve_original_order=True,
    )
    return spec, data


def _is_synthetic(items: Sequence[Any]) -> bool:
    return all(it.properties.get(SYNTHETIC_KEY) is True for it in items)


def read_stac(items: Sequence[Any], spec: SensorSpec, grid: Grid, resampling: str) -> RawBlock:
    """The digital numbers of ``items`` (one sensor, sorted) on ``grid``, read now into
    memory without Dask (a block of a map): one array ``[T, h, w]`` per read band as odc-stac
    gives it (no copy), and each item's scales / offsets (:func:`load_stac`'s conventions);
    :func:`~sitsfusion.geo.raw.clear` makes ``values`` / ``valid`` of it."""
    spec, data = _odc_load(items, spec, grid, None, resampling)
    scales, offsets = _scales_offsets(items, spec)
    return RawBlock(
        bands=tuple(data[key].values for key in spec.read_assets),
        scales=scales,
        offsets=offsets,
        zero_is_nodata=spec.is_optical,
        times=np.array([np.datetime64(_item_date(it), "ns") for it in items]),
        items=tuple(it.id for it in items),
        source_crs=tuple(item_crs(items, spec.read_assets)),
        synthetic=_is_synthetic(items),
    )


def load_stac(
    items: Sequence[Any],
    spec: SensorSpec,
    grid: Grid,
    chunks: dict[str, int],
    resampling: str,
) -> xr.DataArray:
    """The raw cube of ``items`` (one sensor, sorted), lazily: float32 ``(time, band, y,
    x)``, a Dask array of ``chunks`` pixels (:func:`read_stac` reads a block now).

    The assets are read under the naming every item has (:func:`asset_naming`); the ``band``
    coordinate is :attr:`SensorSpec.read_bands` whatever the naming (``B02`` ... ``SCL``).

    Sentinel-2 digital numbers become reflectance (per item: ``raster:bands`` scale / offset,
    else the L2A convention); 0 (no data) becomes NaN, and SCL keeps its class numbers (as
    float, NaN for no data). Sentinel-1 stays linear backscatter, no data NaN. The ``time``
    coordinate is each item's date; ``item`` holds its id; ``attrs["source_crs"]`` lists
    the items' CRSs (:func:`item_crs`), ``attrs["synthetic"]`` says whether every item is
    the simulator's (``sitsfusion:synthetic``).
    """
    xarray = require("xarray", "geo", "loading imagery")
    spec, data = _odc_load(items, spec, grid, chunks, resampling)
    cube = xarray.concat([data[key] for key in spec.read_assets], dim="band")
    cube = cube.assign_coords(band=list(spec.read_bands)).transpose("time", "band", "y", "x")
    scales, offsets = _scales_offsets(items, spec)
    cube = xarray.apply_ufunc(
        _physical,
        cube,
        xarray.DataArray(scales, dims=("time", "band")),
        xarray.DataArray(offsets, dims=("time", "band")),
        kwargs={"zero_is_nodata": spec.is_optical},
        dask="parallelized",
        output_dtypes=["float32"],
    )
    days = [np.datetime64(_item_date(it), "ns") for it in items]
    cube = cube.assign_coords(time=days, item=("time", [it.id for it in items]))
    cube = cube.drop_vars("spatial_ref", errors="ignore")
    cube.attrs["source_crs"] = item_crs(items, spec.read_assets)
    cube.attrs["synthetic"] = _is_synthetic(items)
    return cube
