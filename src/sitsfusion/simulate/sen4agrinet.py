"""A simulator of **synthetic** Sen4AgriNet patches (Sentinel-2 netCDF4, one year, FAO-ICC labels).

Everything written by :func:`simulate_sen4agrinet` is *synthetic*: no pixel comes from a
satellite. The files follow the published Sen4AgriNet layout (seed 004 Sec. V; reference
§3.5), read by :class:`~sitsfusion.data.readers.sen4agrinet.Sen4AgriNet`:

* one netCDF4 file per 366 × 366 patch named ``<year>_<tile>_patch_<i>_<j>.nc``
  (``i, j`` in 0..29: the 10,980-pixel tile cut into 366-pixel patches);
* root attributes ``title``, ``authors``, ``patch_full_name``, ``patch_year``,
  ``patch_name``, ``patch_country_code`` (ES / FR), ``patch_tile``, ``creation_date``,
  ``references``, ``institution``, ``version``, plus ``synthetic = "true"`` and ``crs``;
* groups ``B01`` … ``B12``, ``B8A``, each holding one ``uint16`` variable named like the group
  with dimensions ``(time, y, x)`` at the band's native resolution (10 m: B02, B03, B04, B08,
  ``size × size``; 20 m: B05, B06, B07, B8A, B11, B12, ``size/2``; 60 m: B01, B09, B10,
  ``size/6``), reflectance × 10⁴, and its ``time``, ``y``, ``x`` (UTM metres) coordinates;
* groups ``labels`` and ``parcels``, single 2-D ``uint32`` variables at 10 m: the parcel's
  FAO-ICC crop code (0 = background) and the parcel id (0 = no parcel).

Generative model: the landscape, phenology and Sentinel-2 spectra of the engine
(:mod:`sitsfusion.simulate`: Voronoi fields, double-logistic phenology, spectral mixing,
clouds and shadows), with crops drawn from a region's FAO-ICC crop mixture instead of the
PASTIS classes, over one calendar year (Sentinel-2: 5-day revisit thinned by cloudiness,
~40–55 dates). Two regions (seed 004 Table II; ``params/sen4agrinet.json``): ``catalonia``
(ES, Mediterranean: phenology about two weeks earlier, barley / wheat / olives / almonds /
vineyards, sunny) and ``france`` (FR: wheat, maize, rapeseed, sunflower, meadows, cloudier).
Every year shifts phenology by up to ±8 days and changes the weather, so training on one
region × year and testing on another (scenarios 2 and 3) is harder than a random split
(scenario 1), as in the paper. The 60 m bands are synthesised from the others (B01 from B02,
B09 from B8A, B10 from cloud brightness); the values mimic L2A reflectances, not
Sen4AgriNet's L1C top-of-atmosphere values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from sitsfusion.data.readers.sen4agrinet import ALL_BANDS as BANDS
from sitsfusion.data.readers.sen4agrinet import RESOLUTION, utm_crs
from sitsfusion.io import atomic_path
from sitsfusion.optional import require
from sitsfusion.simulate.layout import Layout, appearance_code, make_layout
from sitsfusion.simulate.optical import simulate_s2
from sitsfusion.simulate.params import load_params
from sitsfusion.simulate.randomness import keyed_rng, name_hash
from sitsfusion.simulate.regions import S2_MONTHLY_KEEP, Region, region_config
from sitsfusion.simulate.spectra import S2_BANDS
from sitsfusion.simulate.units import unit_state
from sitsfusion.simulate.weather import regional_weather
from sitsfusion.simulate.writing import dataset_output

__all__ = [
    "BANDS",
    "PATCH_SIZE",
    "REGIONS",
    "RESOLUTION",
    "RegionSpec",
    "patch_file_name",
    "simulate_sen4agrinet",
]

PATCH_SIZE = 366
"""Pixels of a real Sen4AgriNet patch side (10,980 / 30; seed 004 Sec. V)."""
_FIRST_PARCEL_ID = 3_000_000
_GRID = 30  # patches per tile side

# Index of every simulated 10 / 20 m band among the engine's 10 bands (B2 ... B12).
_SIM_INDEX = {b if b == "B8A" else f"B{int(b[1:]):02d}": k for k, b in enumerate(S2_BANDS)}


@dataclass(frozen=True)
class RegionSpec:
    """A Sen4AgriNet region: country code, Sentinel-2 tiles, weather / phenology, crop mix."""

    country: str
    tiles: tuple[str, ...]
    base: str  # the engine region (params/regions.json) giving weather and soil
    shift: float  # phenology shift (days) relative to the simulator's reference season
    crops: Mapping[int, float]  # FAO-ICC code -> share of parcels


_TABLE = load_params("sen4agrinet")
_APPEARANCE: Mapping[int, int] = MappingProxyType(
    {int(code): appearance_code(v["as"]) for code, v in _TABLE["appearance"].items()}
)
"""Appearance (phenology / spectra of the engine) of every simulated FAO-ICC code."""
REGIONS: Mapping[str, RegionSpec] = MappingProxyType(
    {
        name: RegionSpec(
            r["country"],
            tuple(r["tiles"]),
            r["base"],
            r["shift"],
            MappingProxyType({int(c): share for c, share in r["crops"].items()}),
        )
        for name, r in _TABLE["regions"].items()
    }
)
"""The two Sen4AgriNet regions (seed 004 Sec. V: Catalonia and France)."""


def patch_file_name(year: int, tile: str, i: int, j: int) -> str:
    """``<year>_<tile>_patch_<i>_<j>.nc`` (e.g. ``2019_31TCG_patch_10_14.nc``)."""
    return f"{int(year)}_{tile}_patch_{int(i)}_{int(j)}.nc"


def _region(region: str) -> RegionSpec:
    key = region.strip().lower()
    if key not in REGIONS:
        raise ValueError(f"unknown Sen4AgriNet region {region!r}; known: {sorted(REGIONS)}")
    return REGIONS[key]


def _year_days(origin: dt.date, year: int, reg: Region, rng: np.random.Generator) -> np.ndarray:
    """Season-day indices ``[T]`` (since ``origin``) of one calendar year's Sentinel-2 dates."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    phase = int(rng.integers(0, 5))
    grid = np.arange((first - origin).days + phase, (last - origin).days + 1, 5)
    months = np.array([(origin + dt.timedelta(days=int(d))).month for d in grid])
    keep_rate = np.clip(S2_MONTHLY_KEEP[months - 1] + reg.keep + 0.08, 0.05, 0.98)
    keep = rng.random(grid.size) < keep_rate
    if keep.sum() < 24:  # never fewer than 24 dates (one every ~2 weeks)
        keep[rng.permutation(grid.size)[:24]] = True
    return grid[keep].astype(np.int64)


def _block_mean(x: np.ndarray, f: int) -> np.ndarray:
    """Average ``f × f`` blocks over the last two axes (sizes divisible by ``f``)."""
    h, w = x.shape[-2:]
    return x.reshape(*x.shape[:-2], h // f, f, w // f, f).mean(axis=(-3, -1))


def _bands(img10: np.ndarray) -> dict[str, np.ndarray]:
    """The 13 bands at native resolution (uint16) from the engine's 10-band image
    ``[T, 10, H, W]``: ``{band: [T, H / f, W / f]}`` with ``f`` = 1, 2 or 6."""
    img = img10.astype(np.float32)
    out: dict[str, np.ndarray] = {}
    for band, k in _SIM_INDEX.items():
        f = RESOLUTION[band] // 10
        out[band] = img[:, k] if f == 1 else _block_mean(img[:, k], f)
    b02, b8a = img[:, 0], img[:, 7]
    synth = {
        "B01": 1.08 * b02 + 120.0,  # coastal aerosol: a little above blue
        "B09": 0.35 * b8a + 40.0,  # water vapour absorption
        "B10": 8.0 + 0.25 * np.clip(b02 - 1800.0, 0.0, None),  # cirrus: bright clouds only
    }
    for band, value in synth.items():
        out[band] = _block_mean(value, 6)
    return {b: np.clip(np.rint(out[b]), 0, 65535).astype(np.uint16) for b in BANDS}


def _write_patch(
    path: Path,
    bands: Mapping[str, np.ndarray],
    labels: np.ndarray,
    parcels: np.ndarray,
    times: np.ndarray,
    origin_xy: tuple[float, float],
    attrs: Mapping[str, Any],
) -> None:
    xr = require("xarray", "netcdf", "writing Sen4AgriNet netCDF files")

    size = labels.shape[0]
    x0, y0 = origin_xy
    with atomic_path(path) as tmp:
        xr.Dataset(attrs=dict(attrs)).to_netcdf(tmp, mode="w", engine="h5netcdf")
        for band in BANDS:
            arr = bands[band]
            res = RESOLUTION[band]
            n = size * 10 // res
            coords = {
                "time": times,
                "y": y0 - res * (np.arange(n) + 0.5),
                "x": x0 + res * (np.arange(n) + 0.5),
            }
            ds = xr.Dataset({band: (("time", "y", "x"), arr)}, coords=coords)
            ds.to_netcdf(tmp, mode="a", group=band, engine="h5netcdf")
        coords = {
            "y": y0 - 10.0 * (np.arange(size) + 0.5),
            "x": x0 + 10.0 * (np.arange(size) + 0.5),
        }
        for name, arr in (("labels", labels), ("parcels", parcels)):
            ds = xr.Dataset({name: (("y", "x"), arr.astype(np.uint32))}, coords=coords)
            ds.to_netcdf(tmp, mode="a", group=name, engine="h5netcdf")


def simulate_sen4agrinet(
    out: str | Path,
    patches: int = 4,
    size: int = PATCH_SIZE,
    seed: int = 0,
    region: str = "catalonia",
    year: int = 2019,
    cloud_cover: float = 0.15,
    progress: bool = False,
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``patches`` synthetic Sen4AgriNet netCDF patches of one region and year.

    Args:
        out: output folder (created), files flat in it: absent, empty, a Sen4AgriNet dataset
            sitsfusion wrote (the new patches are added beside its other regions' or years'
            patches; an existing file is never overwritten: ``FileExistsError`` before
            anything is written), or one whose writing was interrupted (written anew). The
            files are written into a hidden sibling and moved in at the end
            (:func:`~sitsfusion.simulate.writing.dataset_output`).
        patches: number of patches.
        size: patch side in 10 m pixels (real: 366); a multiple of 6 (20 m and 60 m grids).
        seed: random seed (same arguments give identical files).
        region: ``"catalonia"`` or ``"france"``.
        year: the calendar year of the time series (e.g. 2019, 2020).
        cloud_cover: mean cloud fraction of an acquisition (0 = clear sky).
        progress: show a progress bar.
        overwrite: replace a dataset sitsfusion wrote at ``out`` rather than adding to it
            (never a folder it did not create: :class:`~sitsfusion.outputs.OutputExistsError`).

    Returns:
        the written files.
    """
    spec = _region(region)
    patches, size, seed, year = int(patches), int(size), int(seed), int(year)
    if patches < 1:
        raise ValueError(f"patches must be >= 1, got {patches}")
    if size < 12 or size % 6:
        raise ValueError(f"size must be a multiple of 6 (20 m and 60 m grids) >= 12, got {size}")
    if not 0.0 <= cloud_cover <= 1.0:
        raise ValueError(f"cloud_cover must be in [0, 1], got {cloud_cover}")
    out = Path(out)
    rh = name_hash(f"s4a-{region.strip().lower()}")
    place = keyed_rng(seed, rh, year, 11)
    cells = place.permutation(_GRID * _GRID)[:patches]
    tiles = [spec.tiles[int(k)] for k in place.integers(0, len(spec.tiles), patches)]
    names = [patch_file_name(year, tiles[k], *divmod(int(cells[k]), _GRID)) for k in range(patches)]
    existing = [name for name in names if (out / name).exists() and not overwrite]
    if existing:
        raise FileExistsError(
            f"{out}: already holds {existing[0]}"
            + (f" and {len(existing) - 1} more" if len(existing) > 1 else "")
            + "; choose a new folder, seed, region or year (never overwritten)"
        )
    command = f"simulate_sen4agrinet(patches={patches}, size={size}, seed={seed}, year={year})"
    with dataset_output(
        out, "sen4agrinet", overwrite=overwrite, add=not overwrite, command=command
    ) as tmp:
        _write(tmp, names, tiles, cells, region, year, size, seed, cloud_cover, progress)
    return [out / name for name in names]


def _write(
    out: Path,
    names: list[str],
    tiles: list[str],
    cells: np.ndarray,
    region: str,
    year: int,
    size: int,
    seed: int,
    cloud_cover: float,
    progress: bool,
) -> None:
    """Write the patch files ``names`` (in ``tiles``, at grid ``cells``) into ``out`` (the
    arguments of :func:`simulate_sen4agrinet`)."""
    spec = _region(region)
    patches = len(names)
    rh = name_hash(f"s4a-{region.strip().lower()}")
    base = region_config(spec.base)
    year_shift = float(name_hash(f"s4a{region.strip().lower()}{year}") % 17 - 8)
    reg = replace(base, keep=base.keep + (name_hash(f"keep{year}") % 9 - 4) / 100.0)
    wx = regional_weather(reg, seed, rh, year, until=dt.date(year, 12, 31))
    codes = np.array(sorted(spec.crops), dtype=np.int64)
    shares = np.array([spec.crops[c] for c in codes], dtype=np.float64)
    shares /= shares.sum()
    iterator: Any = range(patches)
    if progress:
        from rich.progress import track

        iterator = track(iterator, description=f"simulating {patches} Sen4AgriNet patches")
    next_id = _FIRST_PARCEL_ID + (name_hash(f"{region}{year}{seed}") % 1000) * 100_000
    for k in iterator:
        key = (seed, rh, year, size, k)
        rng = keyed_rng(*key, 0)
        mix = rng.dirichlet(shares * 60.0)
        lay = make_layout(keyed_rng(*key, 1), size, base, np.full(18, 1.0 / 18))
        crop = codes[keyed_rng(*key, 2).choice(codes.size, lay.appearance.size, p=mix)]
        code = np.where(lay.is_parcel, crop, 0)
        appearance = np.where(lay.is_parcel, [_APPEARANCE.get(int(c), 1) for c in crop], 0)
        appearance = np.where(lay.is_parcel, appearance, lay.appearance)
        lay = Layout(lay.unit_map, appearance, code, lay.is_parcel)
        st = unit_state(lay, keyed_rng(*key, 3), wx.days, reg, spec.shift + year_shift)
        idx = _year_days(wx.origin, year, reg, keyed_rng(*key, 4))
        img = simulate_s2(lay, st, wx, idx, keyed_rng(*key, 5), keyed_rng(*key, 6), cloud_cover)
        labels = lay.label[lay.unit_map]
        parcel_units = np.flatnonzero(lay.is_parcel)
        pid = np.zeros(lay.is_parcel.size, dtype=np.int64)
        pid[parcel_units] = next_id + np.arange(parcel_units.size)
        next_id += parcel_units.size
        parcels = pid[lay.unit_map]
        times = np.array([np.datetime64(wx.origin + dt.timedelta(days=int(d)), "ns") for d in idx])
        i, j = divmod(int(cells[k]), _GRID)
        tile = tiles[k]
        corner = (300000.0 + 3660.0 * j, 4700040.0 - 3660.0 * i)  # synthetic placement
        path = out / names[k]
        attrs = {
            "title": "S4A Patch Dataset",
            "authors": "sitsfusion simulator (SYNTHETIC data, no satellite pixel)",
            "patch_full_name": path.name.removesuffix(".nc"),
            "patch_year": str(year),
            "patch_name": f"patch_{i}_{j}",
            "patch_country_code": spec.country,
            "patch_tile": tile,
            "creation_date": dt.date(2026, 1, 1).isoformat(),
            "references": "layout of Sykas et al., Sen4AgriNet, IEEE JSTARS 2022",
            "institution": "sitsfusion",
            "version": "21.03",
            "synthetic": "true",
            "crs": utm_crs(tile),
        }
        _write_patch(path, _bands(img), labels, parcels, times, corner, attrs)
