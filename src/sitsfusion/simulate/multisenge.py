"""A simulator of **synthetic** MultiSenGE datasets (Sentinel-2 + Sentinel-1 GeoTIFFs, 2020).

Everything written by :func:`simulate_multisenge` is *synthetic*: no pixel comes from a
satellite. The files follow the MultiSenGE layout read by
:class:`~sitsfusion.data.readers.multisenge.MultiSenGE` (``labels/*.json``, ``s2/``, ``s1/``,
``ground_reference/``), with real UTM CRSs and geotransforms, and every JSON carries
``"synthetic": true`` next to the real keys.

Generative model (short on purpose; its tables in ``params/multisenge.json``):

1. **Land cover.** The 14 MultiSenGE classes as smooth spatial blobs: one smooth random field
   per class (:func:`~sitsfusion.simulate.randomness.smooth_field`) plus a class-frequency
   prior, arg-max per pixel; roads (class 5) as 2-px lines; ~1 % no-data pixels (code 0) in a
   corner.
2. **Phenology.** Per class a daily green-vegetation fraction over 2020: arable land is green
   in spring, harvested in July/August, bare until a winter crop emerges in October; grassland
   green with two mowing dips; forests and groves deciduous; vineyards and orchards late and
   partial; built-up classes mostly bare; water and wetlands dark.
3. **Sentinel-2** (uint16, reflectance × 10⁴, 10 bands): linear mix of the engine's endmember
   spectra (leaf, dry leaf, soil, built, asphalt, water) with class fractions, smooth
   within-class texture and noise. Dates every 5 days from June to December, about half of them
   dropped as "cloudy", but one early date of July, August, September and November always
   kept, so the paper's selection (17-day gap) finds a set in every patch.
4. **Sentinel-1** (float32 dB, VV, VH): class backscatter (urban double bounce high, water very
   low, forest volume scattering), a vegetation term following the phenology, gamma speckle.
   Dates every 6 days through 2020 (two relative orbits, as the real ~120 dates per patch).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import ndimage

from sitsfusion.io import atomic_path, write_text_atomic
from sitsfusion.optional import require
from sitsfusion.simulate.params import load_params
from sitsfusion.simulate.randomness import keyed_rng, name_hash, smooth_field
from sitsfusion.simulate.spectra import ENDMEMBERS
from sitsfusion.simulate.writing import dataset_output

__all__ = ["PATCH_SIZE", "SPLIT_TILES", "TILES", "simulate_multisenge"]

PATCH_SIZE = 256
"""Pixels of a real MultiSenGE patch side (seed 003 Sec. 2.1: 256 × 256 patches)."""
_YEAR = 2020  # MultiSenGE covers 2020 (seed 003 Sec. 2.1)
_STEP = 257  # pixel offsets of real MultiSenGE patches are multiples of 257
_N_CLASSES = 14

SPLIT_TILES: tuple[str, ...] = ("31UFQ", "32ULU", "31UFP", "31UEQ")
"""Two training, one validation and one test tile of the paper's split (seed 003 Sec. 2.2,
:data:`~sitsfusion.data.readers.multisenge.PAPER_SPLIT`):
patches spread over them in turn give every split of the ``configs/wenger2022`` runs a patch
as soon as there are 4 patches (the ``sitsfusion simulate --format multisenge`` default)."""

_TABLE = load_params("multisenge")
TILES: Mapping[str, tuple[int, tuple[float, float]]] = MappingProxyType(
    {t: (v["epsg"], tuple(v["corner"])) for t, v in _TABLE["tiles"].items()}
)
"""(EPSG code, upper-left corner in metres) of the known 110 km Sentinel-2 tiles."""
_FREQ = np.array(_TABLE["class_prior"], dtype=np.float64)
_FREQ /= _FREQ.sum()


@dataclass(frozen=True)
class _Cover:
    """Optical model of one class: peak green fraction, substrate spectrum ``[10]``,
    impervious fraction and phenology kind."""

    gmax: float
    substrate: np.ndarray
    impervious: float
    kind: str


def _cover(entry: Mapping[str, Any]) -> _Cover:
    substrate = ENDMEMBERS[entry["substrate"]]
    if "substrate_scale" in entry:
        substrate = substrate * entry["substrate_scale"]
    return _Cover(entry["green_max"], substrate, entry["impervious"], entry["kind"])


_COVER: Mapping[int, _Cover] = MappingProxyType(
    {int(c): _cover(v) for c, v in _TABLE["cover"].items()}
)
# Sentinel-1 (VV dB, VH dB) of bare / built surface and of a full canopy.
_RADAR: Mapping[int, tuple[float, float, float, float]] = MappingProxyType(
    {
        int(c): (v["bare_vv"], v["bare_vh"], v["canopy_vv"], v["canopy_vh"])
        for c, v in _TABLE["radar"].items()
    }
)


def _doy(month: int, day: int) -> int:
    return (dt.date(_YEAR, month, day) - dt.date(_YEAR, 1, 1)).days


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _green(kind: str, gmax: float, days: np.ndarray, shift: float) -> np.ndarray:
    """Green-vegetation fraction on days ``[T]`` of 2020 (0 = Jan 1)."""
    d = days - shift
    if kind == "arable":  # winter cereal: spring growth, harvest mid-July, new crop in autumn
        spring = _sig((d - _doy(3, 20)) / 10) * _sig((_doy(7, 5) - d) / 6)
        autumn = 0.4 * _sig((d - _doy(10, 20)) / 8)
        return gmax * np.maximum(spring, autumn) + 0.05
    if kind == "grass":
        base = 0.55 + 0.45 * _sig((d - _doy(3, 25)) / 12) * _sig((_doy(10, 30) - d) / 15)
        cut = 1.0 - 0.45 * (np.exp(-(((d - _doy(6, 5)) / 8) ** 2)))
        cut -= 0.35 * np.exp(-(((d - _doy(8, 20)) / 8) ** 2))
        return gmax * base * cut
    if kind in ("forest", "orchard", "vine"):
        start = {"forest": _doy(4, 20), "orchard": _doy(4, 10), "vine": _doy(5, 10)}[kind]
        winter = {"forest": 0.25, "orchard": 0.2, "vine": 0.05}[kind]
        leaf = _sig((d - start) / 8) * _sig((_doy(10, 25) - d) / 9)
        return gmax * (winter + (1.0 - winter) * leaf)
    return np.full(days.shape, gmax)


def _land_cover(rng: np.random.Generator, size: int) -> np.ndarray:
    """uint8 ``[H, W]`` class map (1..14, 0 = no data)."""
    sigma = max(size / 10.0, 2.0)
    fields = np.stack([smooth_field(rng, (size, size), sigma) for _ in range(_N_CLASSES)])
    fields += 0.6 * np.log(_FREQ)[:, None, None] + 0.5 * rng.standard_normal((_N_CLASSES, 1, 1))
    lc = np.argmax(fields, axis=0).astype(np.uint8) + 1
    road = rng.integers(size // 4, 3 * size // 4)  # a road across the patch
    if rng.random() < 0.5:
        lc[road : road + 2, :] = 5
    else:
        lc[:, road : road + 2] = 5
    k = max(size // 12, 1)
    lc[:k, :k] = 0  # a no-data corner, as outside the BDOCGE2 footprint
    return lc


def _dates(rng: np.random.Generator) -> tuple[list[dt.date], list[dt.date]]:
    s2_all = [dt.date(_YEAR, 6, 2) + dt.timedelta(days=5 * k) for k in range(43)]
    keep = rng.random(len(s2_all)) < 0.5
    for month in (7, 8, 9, 11):  # the first date of each selected month is always clear
        keep[next(i for i, d in enumerate(s2_all) if d.month == month)] = True
    s2 = [d for d, k in zip(s2_all, keep, strict=True) if k and d.year == _YEAR]
    s1 = []
    for first in (dt.date(_YEAR, 1, 2), dt.date(_YEAR, 1, 4)):  # two relative orbits
        day = first
        while day.year == _YEAR:
            s1.append(day)
            day += dt.timedelta(days=6)
    return s2, sorted(s1)


def _write_tif(path: Path, arr: np.ndarray, crs: Any, transform: Any) -> None:
    rasterio = require("rasterio", "raster", "writing MultiSenGE GeoTIFFs")

    profile = {
        "driver": "GTiff",
        "height": arr.shape[1],
        "width": arr.shape[2],
        "count": arr.shape[0],
        "dtype": arr.dtype.name,
        "crs": crs,
        "transform": transform,
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(arr)


def _tile_place(tile: str) -> tuple[int, float, float]:
    """EPSG code and upper-left corner of a tile (known, or derived from its name)."""
    if tile in TILES:
        epsg, (ulx, uly) = TILES[tile]
        return epsg, ulx, uly
    th = name_hash(tile)
    zone = int(tile[:2])
    epsg = (32600 if tile[2] >= "N" else 32700) + zone
    return epsg, 300000.0 + 99960.0 * (th % 5), 5000000.0 + 100020.0 * (th % 7)


def simulate_multisenge(
    out: str | Path,
    patches: int = 4,
    size: int = 64,
    seed: int = 0,
    tiles: Sequence[str] = ("31UFQ", "32ULU"),
    *,
    overwrite: bool = False,
) -> Path:
    """Write a **synthetic** MultiSenGE dataset to ``out`` and return its path.

    Args:
        out: output directory: created; absent, empty, or a dataset whose writing was
            interrupted (written anew). The files are written into a hidden sibling and moved
            in at the end, the ``labels`` folder (the patch index) last
            (:func:`~sitsfusion.simulate.writing.dataset_output`).
        patches: number of patches, spread over ``tiles`` in turn.
        size: patch side in pixels (10 m); the real dataset uses 256.
        seed: random seed; the same arguments give the same files.
        tiles: Sentinel-2 tile names (UTM zone and row from the name; known tiles in
            :data:`TILES` get a realistic corner, others a corner derived from the name).
            :data:`SPLIT_TILES` covers the train, val and test tiles of the paper's split.
        overwrite: replace a dataset sitsfusion wrote at ``out`` (never a folder it did not
            create: :class:`~sitsfusion.outputs.OutputExistsError`).
    """
    if int(patches) < 1 or int(size) < 8:
        raise ValueError(f"patches must be >= 1 and size >= 8, got {patches}, {size}")
    if not tiles:
        raise ValueError("tiles must name at least one Sentinel-2 tile")
    command = f"simulate_multisenge(patches={patches}, size={size}, seed={seed}, tiles={tiles})"
    with dataset_output(
        out, "multisenge", overwrite=overwrite, last=("labels",), command=command
    ) as tmp:
        _write(tmp, int(patches), int(size), seed, tiles)
    return Path(out)


def _write(out: Path, patches: int, size: int, seed: int, tiles: Sequence[str]) -> None:
    """Write the dataset's files into ``out`` (the arguments of :func:`simulate_multisenge`)."""
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    for sub in ("labels", "s2", "s1", "ground_reference"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    used: dict[str, set[tuple[int, int]]] = {}
    for i in range(patches):
        tile = str(tiles[i % len(tiles)]).upper().removeprefix("T")
        epsg, ulx, uly = _tile_place(tile)
        rng = keyed_rng(seed, name_hash(tile), i)
        while True:  # a free slot of the tile's 42 x 42 grid of 257-px steps
            x, y = (int(v) * _STEP for v in rng.integers(0, 42, 2))
            if (x, y) not in used.setdefault(tile, set()):
                used[tile].add((x, y))
                break
        crs = CRS.from_epsg(epsg)
        transform = Affine(10.0, 0.0, ulx + 10.0 * x, 0.0, -10.0, uly - 10.0 * y)
        lc = _land_cover(rng, size)
        s2_dates, s1_dates = _dates(rng)
        shift = float(rng.normal(0.0, 4.0))
        tex = 0.04 * smooth_field(rng, (size, size), 1.5)
        cls = np.clip(lc, 1, _N_CLASSES).astype(np.int64)  # no-data pixels: class-1-like values
        # Sentinel-2 ------------------------------------------------------------------------
        s2_names = []
        s2_days = np.array([(d - dt.date(_YEAR, 1, 1)).days for d in s2_dates], dtype=np.float64)
        for t, date in enumerate(s2_dates):
            spec = np.zeros((_N_CLASSES + 1, 10))
            for c, cover in _COVER.items():
                g = float(_green(cover.kind, cover.gmax, s2_days[t : t + 1], shift)[0])
                dry = 0.3 * (1 - g) if cover.kind in ("arable", "grass") else 0.0
                soil_part = max(1.0 - g - dry, 0.0)
                mix = (
                    g * ENDMEMBERS["green_leaf"]
                    + dry * ENDMEMBERS["dry_leaf"]
                    + soil_part * cover.substrate
                )
                spec[c] = (1 - cover.impervious) * mix + cover.impervious * cover.substrate
            refl = spec[cls].transpose(2, 0, 1)  # (10, H, W)
            refl = refl * (1.0 + tex)[None] + rng.normal(0.0, 0.004, refl.shape)
            arr = np.clip(np.round(refl * 10000.0), 1, 20000).astype(np.uint16)
            name = f"{tile}_{date:%Y%m%d}_S2_{x}_{y}.tif"
            _write_tif(out / "s2" / name, arr, crs, transform)
            s2_names.append(name)
        # Sentinel-1 ------------------------------------------------------------------------
        s1_names = []
        s1_days = np.array([(d - dt.date(_YEAR, 1, 1)).days for d in s1_dates], dtype=np.float64)
        for t, date in enumerate(s1_dates):
            db = np.zeros((_N_CLASSES + 1, 2))
            for c, cover in _COVER.items():
                g = float(_green(cover.kind, cover.gmax, s1_days[t : t + 1], shift)[0])
                g /= max(cover.gmax, 1e-3)
                vv0, vh0, vv1, vh1 = _RADAR[c]
                db[c] = (vv0 + g * (vv1 - vv0), vh0 + g * (vh1 - vh0))
            lin = 10.0 ** (db[cls].transpose(2, 0, 1) / 10.0)
            lin = ndimage.gaussian_filter(lin, (0, 0.6, 0.6))
            lin *= rng.standard_gamma(4.5, lin.shape) / 4.5
            arr = (10.0 * np.log10(np.maximum(lin, 1e-5))).astype(np.float32)
            name = f"{tile}_{date:%Y%m%d}_S1_{x}_{y}.tif"
            _write_tif(out / "s1" / name, arr, crs, transform)
            s1_names.append(name)
        # Ground reference + JSON -----------------------------------------------------------
        gr_name = f"{tile}_GR_{x}_{y}.tif"
        _write_tif(out / "ground_reference" / gr_name, lc[None], crs, transform)
        order2 = rng.permutation(len(s2_names))  # the real JSONs list files in no order
        order1 = rng.permutation(len(s1_names))
        present = sorted(int(v) for v in np.unique(lc) if v != 0)
        meta = {
            "corresponding_s2": ";".join(s2_names[k] for k in order2),
            "corresponding_s1": ";".join(s1_names[k] for k in order1),
            "projection": crs.to_wkt(),
            "labels": ";".join(str(v) for v in present),
            "synthetic": True,
        }
        write_text_atomic(out / "labels" / f"{tile}_{x}_{y}.json", json.dumps(meta))
    return out
