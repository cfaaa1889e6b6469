"""A simulated **synthetic** own-area scene: Sentinel-2 and Sentinel-1 as providers publish
them (COGs + a static STAC catalog) and the parcels as a vector file (issue 11).

Everything :func:`simulate_scene` writes is *synthetic*: no pixel comes from a satellite. It
drives the simulator's engine (:mod:`~sitsfusion.simulate.layout`,
:mod:`~sitsfusion.simulate.units`, :mod:`~sitsfusion.simulate.optical`,
:mod:`~sitsfusion.simulate.radar`, :mod:`~sitsfusion.simulate.weather`) over one square scene
of a real projected grid, and writes::

    OUT/catalog.json                          static self-contained STAC catalog
    OUT/sentinel-2-l2a/collection.json
    OUT/sentinel-2-l2a/S2_<YYYYMMDD>/S2_<YYYYMMDD>.json  + B02.tif ... B12.tif, SCL.tif
    OUT/sentinel-1-rtc/collection.json
    OUT/sentinel-1-rtc/S1_<YYYYMMDD>_<ASC|DESC>/...json  + vv.tif, vh.tif
    OUT/parcels.gpkg                          layer "parcels": parcel_id, crop_code, geometry
    OUT/crop_codes.csv                        value,class: crop_code -> PASTIS class name
    OUT/geotiff/<S2|S1A|S1D>_<YYYYMMDD>.tif   (geotiff=True) the same, one file per date

Sentinel-2 bands are uint16 L2A digital numbers with the offset convention of processing
baseline 04.00 (reflectance = DN * 0.0001 - 0.1, nodata 0); ``SCL`` holds ESA scene classes
derived from the simulated clouds and shadows. Sentinel-1 ``vv`` / ``vh`` are float32 gamma0
in linear power (nodata NaN). Every COG is tiled and deflate-compressed, on the scene grid.

Memory is bounded by a chunk of dates, not by the series: the per-unit signal of all dates is
small and computed once, then the pixels of :func:`dates_per_chunk` dates at a time
(:data:`CHUNK_BYTES` of float32), each date finished (noise, clouds, SCL) and written before the
next. The static texture is drawn once per scene (per orbit for Sentinel-1) and every date's
randomness from its own keyed stream, so the pixels do not depend on the chunking.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.io import atomic_path
from sitsfusion.optional import require
from sitsfusion.simulate.layout import CLASS_NAMES, Layout, make_layout
from sitsfusion.simulate.optical import (
    add_cloud,
    add_s2_noise,
    cloud_fractions,
    s2_digital,
    s2_surface,
    s2_texture,
    s2_units,
)
from sitsfusion.simulate.params import load_params
from sitsfusion.simulate.pastis import crop_mixture, phenology_shift
from sitsfusion.simulate.radar import ENL, s1_db, s1_pixels, s1_texture, s1_units, water_units
from sitsfusion.simulate.randomness import keyed_rng, name_hash
from sitsfusion.simulate.regions import Region, region_config
from sitsfusion.simulate.scene_stac import Acquisition, SceneGrid, build_catalog
from sitsfusion.simulate.units import UnitState, unit_state
from sitsfusion.simulate.weather import Weather, patch_s2_days, regional_weather, season
from sitsfusion.simulate.writing import dataset_output

__all__ = [
    "CHUNK_BYTES",
    "CROP_CODES",
    "GEOTIFF_FOLDER",
    "S2_ASSETS",
    "SCENE_SIZE",
    "dates_per_chunk",
    "simulate_scene",
]

GEOTIFF_FOLDER = "geotiff"
"""Sub-folder of the GeoTIFF-folder layout (``simulate_scene(..., geotiff=True)``)."""
SCENE_SIZE = 200
"""Default side of the scene in pixels: 2 km x 2 km at 10 m."""
_TABLE = load_params("scene")
CROP_CODES: Mapping[int, tuple[str, ...]] = {
    int(k): tuple(v) for k, v in _TABLE["crop_codes"].items()
}
"""PASTIS class id (1..18 crops, 19 void) -> the LPIS-like crop codes of its parcels."""
_S2_BANDS: dict[str, list[Any]] = _TABLE["s2_bands"]
S2_ASSETS: tuple[str, ...] = (*_S2_BANDS, "SCL")
"""Asset keys of a Sentinel-2 item: the 10 bands of the simulator, then the scene classes."""
_SCL = _TABLE["scl"]
_L2A_OFFSET = 1000  # DN of reflectance 0 (processing baseline >= 04.00: offset -0.1)
CHUNK_BYTES = 1 << 30
"""Memory budget of a chunk of dates (own choice, 1 GiB): the float32 images of as many
dates as fit in it (Sentinel-2: 10 bands; Sentinel-1: VV, VH) are simulated at once."""


@dataclass(frozen=True)
class _Scene:
    """The engine's state of the scene."""

    reg: Region
    lay: Layout
    st: UnitState
    wx: Weather
    year: int  # harvest year
    key: tuple[int, ...]  # keys of the scene's random streams
    crs: Any  # rasterio CRS of the grid
    transform: Any  # affine transform of the grid
    geotiff: Path | None  # folder of the GeoTIFF layout, or None


def _grid(crs_text: str | None, reg: Region, size: int, res: float) -> tuple[Any, Any, int]:
    """``(crs, transform, epsg)`` of a ``size x size`` grid of ``res`` metres centred on the
    region's place, its origin snapped to the pixel size."""
    rasterio = require("rasterio", "geo", "simulating a scene")
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.warp import transform as warp

    text = crs_text if crs_text is not None else f"EPSG:{32600 + reg.utm_zone}"
    try:
        crs = CRS.from_user_input(text)
    except rasterio.errors.CRSError:
        raise ValueError(f"crs: {text!r} is no CRS (expected e.g. 'EPSG:32630')") from None
    epsg = crs.to_epsg()
    if epsg is None or not crs.is_projected or crs.linear_units not in ("metre", "meter"):
        raise ValueError(f"crs: {text!r} must be a projected EPSG CRS in metres (e.g. UTM)")
    xs, ys = warp("EPSG:4326", crs, [reg.lonlat[0]], [reg.lonlat[1]])
    side = size * res
    minx = np.floor((xs[0] - side / 2) / res) * res
    maxy = np.floor((ys[0] + side / 2) / res) * res
    return crs, Affine(res, 0.0, minx, 0.0, -res, maxy), epsg  # from_origin(minx, maxy, res, res)


def _spread(days: np.ndarray, n: int | None) -> np.ndarray:
    """``n`` of ``days`` spread evenly over the season (all of them when ``n`` is None)."""
    if n is None or n >= days.size:
        return days
    return days[np.unique(np.linspace(0, days.size - 1, n).round().astype(int))]


def _scl(clear: np.ndarray, cloudy: np.ndarray) -> np.ndarray:
    """ESA scene classes uint8 ``[T, H, W]`` from the image without and with clouds
    (reflectance x 10000, ``[T, 10, H, W]``, bands as :data:`~.spectra.S2_BANDS`)."""
    blue_up = (cloudy[:, 0].astype(np.float32) - clear[:, 0]) / 1e4  # B02 brightening
    nir_ratio = (cloudy[:, 6].astype(np.float32) + 1) / (clear[:, 6].astype(np.float32) + 1)
    red, nir = clear[:, 2].astype(np.float32), clear[:, 6].astype(np.float32)
    ndvi = (nir - red) / np.maximum(nir + red, 1.0)
    scl = np.full(blue_up.shape, 5, dtype=np.uint8)  # not vegetated
    scl[ndvi > _SCL["vegetation_ndvi"]] = 4
    scl[(nir / 1e4 < _SCL["water_nir"]) & (ndvi < 0)] = 6
    scl[(nir_ratio < _SCL["shadow_nir_ratio"]) & (blue_up < _SCL["cirrus_blue"])] = 3
    scl[blue_up >= _SCL["cirrus_blue"]] = 10
    scl[blue_up >= _SCL["medium_blue"]] = 8
    scl[blue_up >= _SCL["high_blue"]] = 9
    return scl


def _write_cog(path: Path, bands: np.ndarray, sc: _Scene, names: tuple[str, ...]) -> None:
    """A COG of ``bands [C, H, W]`` on the scene grid (tiled, deflate), band ``c`` described
    as ``names[c]``; nodata 0 for integers, NaN for floats."""
    import rasterio

    nodata = 0 if bands.dtype.kind in "ui" else float("nan")
    profile = {
        "driver": "COG",
        "width": bands.shape[2],
        "height": bands.shape[1],
        "count": bands.shape[0],
        "dtype": bands.dtype.name,
        "crs": sc.crs,
        "transform": sc.transform,
        "nodata": nodata,
        "compress": "deflate",
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(bands)
        for c, name in enumerate(names, start=1):
            dst.set_band_description(c, name)


def _when(wx: Weather, day: int, kind: str) -> dt.datetime:
    hms = dt.time.fromisoformat(_TABLE["times"][kind])
    return dt.datetime.combine(wx.origin + dt.timedelta(days=int(day)), hms, dt.UTC)


def dates_per_chunk(bytes_per_date: int, n_dates: int, budget: int = CHUNK_BYTES) -> int:
    """How many of ``n_dates`` dates to simulate at once so that a chunk's main array
    (``bytes_per_date`` each) stays within ``budget`` bytes: between 1 and ``max(n_dates, 1)``.

    Raises:
        ValueError: ``bytes_per_date`` or ``budget`` not positive, or ``n_dates`` negative.
    """
    if bytes_per_date <= 0:
        raise ValueError(f"bytes_per_date must be > 0, got {bytes_per_date}")
    if budget <= 0:
        raise ValueError(f"budget must be > 0 bytes, got {budget}")
    if n_dates < 0:
        raise ValueError(f"n_dates must be >= 0, got {n_dates}")
    return max(1, min(n_dates, budget // bytes_per_date))


def _chunks(n_dates: int, per_chunk: int) -> list[slice]:
    return [slice(c, min(c + per_chunk, n_dates)) for c in range(0, n_dates, per_chunk)]


def _shown(chunks: list[slice], progress: bool, description: str) -> Any:
    """``chunks``, with a rich progress bar when ``progress`` (as the other formats' writers)."""
    if not progress:
        return chunks
    from rich.progress import track

    return track(chunks, description=description)


def _write_s2(
    root: Path,
    sc: _Scene,
    n_dates: int | None,
    cloud_cover: float,
    chunk: int | None,
    progress: bool = False,
) -> list[Acquisition]:
    """The Sentinel-2 L2A COGs (bands and SCL) of ``n_dates`` dates (None: all) under
    ``root/sentinel-2-l2a/S2_<YYYYMMDD>/``; their acquisitions.

    The surface of ``chunk`` dates at a time (None: :func:`dates_per_chunk`), then date by
    date its noise, clouds and scene classes, each date from its own streams: the images do
    not depend on the chunking.
    """
    _, start, end = season(sc.year)
    idx = _spread(patch_s2_days(sc.wx.dates["S2"], keyed_rng(*sc.key, 3), start, end), n_dates)
    size = sc.lay.unit_map.shape[0]
    units = s2_units(sc.st, sc.wx, idx)  # [U, T, 10]: small, all dates at once
    tex = s2_texture(keyed_rng(*sc.key, 4), size)  # static: drawn once for the scene
    per_chunk = chunk or dates_per_chunk(len(_S2_BANDS) * size * size * 4, idx.size)
    out = []
    chunks = _chunks(idx.size, per_chunk)
    for sel in _shown(chunks, progress, f"simulating {idx.size} Sentinel-2 dates"):
        surface = s2_surface(sc.lay.unit_map, units.days(sel), tex)  # [t, 10, H, W] float32
        for k, day in enumerate(idx[sel].tolist()):
            img = surface[k : k + 1]
            rng = keyed_rng(*sc.key, 4, day)  # this date's haze and noise
            add_s2_noise(img, rng.normal(0.0, 0.006, 1), rng.standard_normal(img.shape, np.float32))
            clear = s2_digital(img.copy())
            if cloud_cover > 0:
                rng = keyed_rng(*sc.key, 5, day)  # this date's clouds
                cover = cloud_fractions(sc.wx, np.array([day]), rng, cloud_cover)
                add_cloud(img[0], float(cover[0]), rng)
            cloudy = s2_digital(img)
            scl = _scl(clear, cloudy)[0]
            del clear
            out.append(_write_s2_date(root, sc, day, cloudy[0], scl))
        del surface
    return out


def _write_s2_date(
    root: Path, sc: _Scene, day: int, refl: np.ndarray, scl: np.ndarray
) -> Acquisition:
    """The COGs of one Sentinel-2 date: ``refl [10, H, W]`` (reflectance x 10000) and ``scl
    [H, W]``; its acquisition."""
    when = _when(sc.wx, day, "S2")
    item_id = f"S2_{when:%Y%m%d}"
    folder = root / "sentinel-2-l2a" / item_id
    folder.mkdir(parents=True)
    dn = (refl.astype(np.int32) + _L2A_OFFSET).astype(np.uint16)
    assets = {}
    for b, name in enumerate(S2_ASSETS):
        assets[name] = folder / f"{name}.tif"
        band = scl if name == "SCL" else dn[b]
        _write_cog(assets[name], band[None], sc, (name,))
    if sc.geotiff is not None:  # one file per date, SCL as the 11th band
        stack = np.concatenate([dn, scl[None].astype(np.uint16)])
        _write_cog(sc.geotiff / f"S2_{when:%Y%m%d}.tif", stack, sc, S2_ASSETS)
    cloud = float(np.isin(scl, (8, 9, 10)).mean() * 100.0)
    platform = "sentinel-2a" if (day // 5) % 2 == 0 else "sentinel-2b"  # 10 days each
    return Acquisition(item_id, when, platform, assets, cloud_cover=round(cloud, 2))


def _write_s1(
    root: Path, sc: _Scene, n_dates: int | None, chunk: int | None, progress: bool = False
) -> list[Acquisition]:
    """The Sentinel-1 RTC COGs (vv, vh) of ``n_dates`` dates per orbit (None: all) under
    ``root/sentinel-1-rtc/S1_<YYYYMMDD>_<ASC|DESC>/``; their acquisitions.

    Per orbit, the units' backscatter of all its dates (small), then the pixels of ``chunk``
    dates at a time (None: :func:`dates_per_chunk`), each date's jitter, open water and
    speckle from its own streams: the images do not depend on the chunking.
    """
    size = sc.lay.unit_map.shape[0]
    n_water = water_units(sc.st).size
    out = []
    for orbit, stream in (("ASC", 8), ("DESC", 7)):  # the PASTIS writer's streams per orbit
        desc = orbit == "DESC"
        idx = _spread(sc.wx.dates["S1D" if desc else "S1A"], n_dates)
        theta = sc.reg.theta[1 if desc else 0] + float(keyed_rng(*sc.key, 6).uniform(-1.5, 1.5))
        jitter, water = np.empty(idx.size), np.empty((2, n_water, idx.size))
        for t, day in enumerate(idx.tolist()):
            rng = keyed_rng(*sc.key, stream, day, 0)  # this date's jitter and open water
            jitter[t] = rng.normal(0.0, 0.15)
            water[:, :, t] = rng.normal(0.0, 2.5, (2, n_water))
        sig = s1_units(sc.st, sc.wx, idx, theta, desc, jitter, water)  # [2, U, T]: small
        gain = s1_texture(keyed_rng(*sc.key, stream), size)  # static: drawn once per orbit
        per_chunk = chunk or dates_per_chunk(2 * size * size * 4, idx.size)
        chunks = _chunks(idx.size, per_chunk)
        what = f"simulating {idx.size} Sentinel-1 {orbit.lower()} dates"
        for sel in _shown(chunks, progress, what):
            pix = s1_pixels(sc.lay.unit_map, sig[:, :, sel], gain)  # [t, 2, H, W] float32
            for k, day in enumerate(idx[sel].tolist()):
                rng = keyed_rng(*sc.key, stream, day, 1)  # this date's speckle
                speckle = rng.standard_gamma(ENL, (1, 2, size, size), dtype=np.float32)
                db = s1_db(pix[k : k + 1], speckle)
                linear = np.power(np.float32(10.0), db[0, :2] / np.float32(10.0))  # gamma0
                out.append(_write_s1_date(root, sc, day, orbit, linear))
            del pix
    return out


def _write_s1_date(root: Path, sc: _Scene, day: int, orbit: str, linear: np.ndarray) -> Acquisition:
    """The COGs of one Sentinel-1 date of ``orbit``: ``linear [2, H, W]`` (VV, VH gamma0);
    its acquisition."""
    desc = orbit == "DESC"
    when = _when(sc.wx, day, orbit)
    item_id = f"S1_{when:%Y%m%d}_{orbit}"
    folder = root / "sentinel-1-rtc" / item_id
    folder.mkdir(parents=True)
    assets = {}
    for p, pol in enumerate(("vv", "vh")):
        assets[pol] = folder / f"{pol}.tif"
        _write_cog(assets[pol], linear[p][None], sc, (pol.upper(),))
    if sc.geotiff is not None:  # one file per date: VV, VH
        name = f"S1{'D' if desc else 'A'}_{when:%Y%m%d}.tif"
        _write_cog(sc.geotiff / name, linear, sc, ("VV", "VH"))
    platform = "sentinel-1a" if (day // 6) % 2 == 0 else "sentinel-1b"  # 12 days each
    return Acquisition(
        item_id, when, platform, assets, orbit_state="descending" if desc else "ascending"
    )


def _write_parcels(root: Path, sc: _Scene) -> int:
    """``parcels.gpkg`` (one polygon per parcel unit of the layout, LPIS-like crop codes) and
    ``crop_codes.csv``; the number of parcels."""
    gpd = require("geopandas", "geo", "writing the scene's parcels")
    from rasterio.features import shapes
    from shapely.geometry import MultiPolygon, shape
    from shapely.ops import unary_union

    units = np.flatnonzero(sc.lay.is_parcel)
    id_of_unit = np.zeros(sc.lay.is_parcel.size, dtype=np.int32)
    id_of_unit[units] = np.arange(1, units.size + 1, dtype=np.int32)
    ids = id_of_unit[sc.lay.unit_map]
    pieces: dict[int, list[Any]] = {}
    for geom, value in shapes(ids, mask=ids > 0, connectivity=4, transform=sc.transform):
        pieces.setdefault(int(value), []).append(shape(geom))
    rng = keyed_rng(*sc.key, 9)
    rows, geoms = [], []
    for pid in sorted(pieces):
        label = int(sc.lay.label[units[pid - 1]])
        codes = CROP_CODES[label]
        rows.append({"parcel_id": pid, "crop_code": codes[int(rng.integers(len(codes)))]})
        merged = unary_union(pieces[pid])
        geoms.append(merged if isinstance(merged, MultiPolygon) else MultiPolygon([merged]))
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs=sc.crs)
    frame.to_file(root / "parcels.gpkg", layer="parcels", driver="GPKG")
    with atomic_path(root / "crop_codes.csv") as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["value", "class"])
        for label, codes in sorted(CROP_CODES.items()):
            writer.writerows([code, CLASS_NAMES[label]] for code in codes)
    return len(rows)


def simulate_scene(
    out: str | Path,
    *,
    size: int = SCENE_SIZE,
    res: float = 10.0,
    seed: int = 0,
    region: str = "west",
    year: int = 2019,
    crs: str | None = None,
    s2_dates: int | None = None,
    s1_dates: int | None = None,
    cloud_cover: float = 0.15,
    geotiff: bool = False,
    overwrite: bool = False,
    chunk_dates: int | None = None,
    progress: bool = False,
) -> Path:
    """Write a **synthetic** own-area scene to ``out`` (layout in the module docstring) and
    return its path.

    Args:
        out: output directory: absent, empty, or a dataset whose writing was interrupted; the
            files are written into a hidden sibling and moved in at the end
            (:func:`~sitsfusion.simulate.writing.dataset_output`), ``catalog.json`` last.
        size: scene side H = W in pixels (default 200: 2 km x 2 km at 10 m).
        res: pixel size in metres (Sentinel-2's 10 m bands).
        seed: random seed; the same arguments give the same images and parcels.
        region: a simulator region (``west``, ``south``, ``east``, ``north`` or any name,
            hashed): place, climate, crops and phenology timing.
        year: harvest year; acquisitions from mid-September of ``year - 1`` to October 31.
        crs: projected EPSG CRS in metres of the grid (default: the region's UTM zone, e.g.
            ``EPSG:32630`` for ``west``); the scene is centred on the region's place.
        s2_dates: Sentinel-2 acquisitions, spread over the season (default: all the
            simulator's, 38-61 as PASTIS, seed 001 Sec. 4.1).
        s1_dates: Sentinel-1 acquisitions per orbit, ascending and descending (default: all,
            one every 6 days).
        cloud_cover: expected cloudy fraction of the Sentinel-2 observations (0..1).
        geotiff: also write the same acquisitions in the GeoTIFF-folder layout,
            ``OUT/geotiff/<S2|S1A|S1D>_<YYYYMMDD>.tif`` (one multi-band file per date, bands
            named in the band descriptions, the same units).
        overwrite: replace a dataset sitsfusion wrote at ``out`` (never another folder).
        chunk_dates: dates simulated at once per sensor (default: as many as fit in
            :data:`CHUNK_BYTES`, see :func:`dates_per_chunk`); it bounds the memory and
            changes no pixel.
        progress: show a progress bar over each sensor's chunks of dates.

    Raises:
        ValueError: a bad argument (named), before anything is written.
    """
    if int(size) < 16:
        raise ValueError(f"size must be >= 16 pixels, got {size}")
    if not res > 0:
        raise ValueError(f"res must be > 0 metres, got {res}")
    for name, n in (("s2_dates", s2_dates), ("s1_dates", s1_dates)):
        if n is not None and int(n) < 0:
            raise ValueError(f"{name} must be >= 0 (0: none), got {n}")
    if not 0.0 <= float(cloud_cover) <= 1.0:
        raise ValueError(f"cloud_cover must be in [0, 1], got {cloud_cover}")
    if chunk_dates is not None and int(chunk_dates) < 1:
        raise ValueError(
            f"chunk_dates must be >= 1 (None: from the memory budget), got {chunk_dates}"
        )
    if not 2016 <= int(year) <= 2100:
        raise ValueError(f"year must be in 2016..2100 (Sentinel-2 era), got {year}")
    size, seed, year = int(size), int(seed), int(year)
    reg = region_config(region)
    crs_obj, transform, epsg = _grid(crs, reg, size, float(res))
    command = f"simulate_scene(size={size}, seed={seed}, region={region!r}, year={year})"
    with dataset_output(
        out, "scene", overwrite=overwrite, last=("catalog.json",), command=command
    ) as tmp:
        rh = name_hash(region)
        key = (seed, rh, year, size, 0)
        wx = regional_weather(reg, seed, rh, year)
        lay = make_layout(keyed_rng(*key, 1), size, reg, crop_mixture(reg, None))
        st = unit_state(lay, keyed_rng(*key, 2), wx.days, reg, phenology_shift(reg, year))
        folder = tmp / GEOTIFF_FOLDER if geotiff else None
        if folder is not None:
            folder.mkdir()
        sc = _Scene(reg, lay, st, wx, year, key, crs_obj, transform, folder)
        chunk = None if chunk_dates is None else int(chunk_dates)
        cover = float(cloud_cover)
        s2 = _write_s2(tmp, sc, s2_dates, cover, chunk, progress) if s2_dates != 0 else []
        s1 = _write_s1(tmp, sc, s1_dates, chunk, progress) if s1_dates != 0 else []
        _write_parcels(tmp, sc)
        build_catalog(
            tmp,
            _scene_grid(crs_obj, transform, epsg, size),
            s2,
            s1,
            _S2_BANDS,
            f"Synthetic own-area scene of {size} x {size} pixels ({region}, {year}): "
            "sitsfusion simulator, no real pixel.",
        )
    return Path(out)


def _scene_grid(crs: Any, transform: Any, epsg: int, size: int) -> SceneGrid:
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_geom
    from shapely.geometry import box, mapping, shape

    bounds = array_bounds(size, size, transform)  # (west, south, east, north)
    footprint = transform_geom(crs, "EPSG:4326", mapping(box(*bounds)))
    return SceneGrid(
        epsg=epsg,
        transform=tuple(transform)[:6],
        shape=(size, size),
        footprint=dict(footprint),
        bbox=tuple(shape(footprint).bounds),
    )
