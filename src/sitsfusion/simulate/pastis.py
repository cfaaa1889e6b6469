"""A simulator of **synthetic** PASTIS-R datasets (Sentinel-2 + Sentinel-1 ascending/descending).

Everything written by :func:`simulate_pastis` is *synthetic*: no pixel comes from a satellite.
The files follow the PASTIS-R on-disk layout exactly (``metadata.geojson``, ``NORM_*_patch.json``,
``DATA_S2``, ``DATA_S1A``, ``DATA_S1D``, ``ANNOTATIONS``, ``INSTANCE_ANNOTATIONS``), so the real
PASTIS reader reads them unchanged, and every metadata feature carries ``"SYNTHETIC": true``.

Generative model, in order (the engine modules of :mod:`sitsfusion.simulate`):

1. **Landscape** (:mod:`~sitsfusion.simulate.layout`). Each patch is a mosaic of anisotropic
   Voronoi cells (fields, median ≈ 2 ha = 200 px at 10 m, seed 000 Sec. 3.1) grouped into
   blocks whose borders are 1–2 px roads. Some cells are non-agricultural background (forest,
   built-up, water, grass). Crop cells get one of the 18 PASTIS classes with PASTIS-like
   imbalanced frequencies (meadow dominant, seed 000 Table 1: meadows 48 % of parcels); ~5 % of
   parcels are labelled void (19), and the 1-pixel border of every parcel is void, as in PASTIS.
2. **Phenology** (:mod:`~sitsfusion.simulate.phenology`). Per parcel, daily fractions of green
   vegetation, dry (senesced) vegetation, flowers and bare substrate, from class-specific
   double-logistic curves, shifted per region (weeks), per year and per parcel (days).
3. **Sentinel-2** (:mod:`~sitsfusion.simulate.optical`). Reflectance = linear mix of vegetation,
   dry-vegetation, flower and soil spectra weighted by those fractions, with smooth
   within-parcel variability, wet-soil darkening after rain, 20 m bands degraded to 20 m then
   bilinearly upsampled, sensor noise, then clouds (bright flat spectrum) and their displaced
   shadows as smooth random blobs. Dates: 5-day revisit thinned by cloudiness per tile (38–61
   dates, seed 001 Sec. 4.1; :mod:`~sitsfusion.simulate.weather`).
4. **Sentinel-1** (:mod:`~sitsfusion.simulate.radar`). σ0 (VV, VH) from a water-cloud model over
   a soil term driven by regional rain events (shared by all patches of a region), frost and the
   incidence angle (ascending vs descending orbit); gamma speckle (ENL 4.5), then dB; third
   channel VV_dB − VH_dB. 6-day revisit.

Designed properties: Sentinel-2 separates most classes better than Sentinel-1 (speckle, soil
moisture); soft winter wheat (2), winter durum wheat (11) and winter triticale (10) are
near-identical in Sentinel-2 and differ only in radar structure (heading, awns, height), so
fusion helps; clouds affect Sentinel-2 only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.io import atomic_path, write_json_atomic
from sitsfusion.simulate.layout import CLASS_FREQUENCIES, CLASS_NAMES, annotations, make_layout
from sitsfusion.simulate.optical import simulate_s2
from sitsfusion.simulate.radar import S1_CHANNELS, simulate_s1
from sitsfusion.simulate.randomness import keyed_rng, name_hash
from sitsfusion.simulate.regions import Region, grid_convergence, region_config
from sitsfusion.simulate.spectra import S2_BANDS
from sitsfusion.simulate.units import unit_state
from sitsfusion.simulate.weather import patch_s2_days, regional_weather, season
from sitsfusion.simulate.writing import dataset_output

__all__ = [
    "CLASS_NAMES",
    "MODALITIES",
    "S1_CHANNELS",
    "S2_BANDS",
    "crop_mixture",
    "phenology_shift",
    "simulate_pastis",
]

MODALITIES: tuple[str, ...] = ("S2", "S1A", "S1D")
_N_BANDS = {"S2": 10, "S1A": 3, "S1D": 3}
_FIRST_PARCEL_ID = 14_000_000
_N_FOLDS = 5  # PASTIS's 5 folds (seed 001 Sec. 4.1)


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.save(f, arr, allow_pickle=False)


class _Moments:
    """Per-channel pooled mean/std accumulator (float64)."""

    def __init__(self, channels: int) -> None:
        self.n = 0
        self.s = np.zeros(channels)
        self.ss = np.zeros(channels)

    def add(self, arr: np.ndarray) -> None:
        for c in range(arr.shape[1]):
            x = arr[:, c].astype(np.float64)
            self.s[c] += x.sum()
            self.ss[c] += np.square(x).sum()
        self.n += arr.shape[0] * arr.shape[2] * arr.shape[3]

    def merge(self, other: _Moments) -> None:
        self.n += other.n
        self.s += other.s
        self.ss += other.ss

    def result(self) -> dict[str, list[float]]:
        mean = self.s / self.n
        std = np.sqrt(np.maximum(self.ss / self.n - mean**2, 0.0))
        return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}


def _dates_dict(origin: dt.date, days: np.ndarray) -> dict[str, int]:
    out = {}
    for k, day in enumerate(days.tolist()):
        date = origin + dt.timedelta(days=int(day))
        out[str(k)] = date.year * 10000 + date.month * 100 + date.day
    return out


def _square(center: tuple[float, float], side: float, angle_deg: float) -> list:
    cx, cy = center
    a = math.radians(angle_deg)
    corners = [(-0.5, 0.5), (0.5, 0.5), (0.5, -0.5), (-0.5, -0.5), (-0.5, 0.5)]
    ring = []
    for u, v in corners:  # NW, NE, SE, SW, NW as in the real file
        x = cx + side * (u * math.cos(a) - v * math.sin(a))
        y = cy + side * (u * math.sin(a) + v * math.cos(a))
        ring.append([x, y])
    return ring


def _check_args(
    patches: int, size: int, modalities: Sequence[str], cloud_cover: float, year: int
) -> tuple[str, ...]:
    if isinstance(modalities, str):
        modalities = (modalities,)
    mods = tuple(modalities)
    bad = [m for m in mods if m not in MODALITIES]
    if bad or not mods or len(set(mods)) != len(mods):
        raise ValueError(f"modalities must be distinct names among {MODALITIES}, got {mods}")
    if int(patches) < 1:
        raise ValueError(f"patches must be >= 1, got {patches}")
    if int(size) < 8:
        raise ValueError(f"size must be >= 8 pixels, got {size}")
    if not 0.0 <= float(cloud_cover) <= 1.0:
        raise ValueError(f"cloud_cover must be in [0, 1], got {cloud_cover}")
    if not 2016 <= int(year) <= 2100:
        raise ValueError(f"year must be in 2016..2100 (Sentinel-2 era), got {year}")
    return tuple(m for m in MODALITIES if m in mods)


def crop_mixture(reg: Region, class_probs: Mapping[int, float] | None) -> np.ndarray:
    """``[18]`` probabilities of the crop classes 1..18 in region ``reg`` (or ``class_probs``)."""
    freq = dict(class_probs) if class_probs is not None else dict(CLASS_FREQUENCIES)
    base = np.array([freq.get(c, 0.0) for c in range(1, 19)], dtype=np.float64)
    if class_probs is None:
        base *= np.array([reg.freq.get(c, 1.0) for c in range(1, 19)])
    if base.sum() <= 0 or (base < 0).any():
        raise ValueError("class frequencies must be non-negative and not all zero")
    return base / base.sum()


def phenology_shift(reg: Region, year: int) -> float:
    """Phenology shift (days) of region ``reg`` in harvest year ``year``: the region's, plus a
    per-year shift of up to 6 days hashed from the year (none in 2019, PASTIS's season)."""
    year_shift = float(name_hash(f"year{year}") % 13 - 6) if year != 2019 else 0.0
    return reg.shift + year_shift


def simulate_pastis(
    out: str | Path,
    patches: int = 20,
    size: int = 128,
    seed: int = 0,
    region: str = "west",
    year: int = 2019,
    modalities: Sequence[str] = ("S2", "S1A", "S1D"),
    cloud_cover: float = 0.15,
    progress: bool = False,
    *,
    class_probs: Mapping[int, float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a **synthetic** PASTIS-R dataset to ``out`` and return its path.

    Args:
        out: output directory: created; absent, empty, or a dataset whose writing was
            interrupted (written anew). The files are written into a hidden sibling and moved
            in at the end (:func:`~sitsfusion.simulate.writing.dataset_output`), so a killed
            run never leaves a folder that reads as a dataset.
        patches: number of patches (``ID_PATCH`` = 10000 + index).
        size: patch side in pixels (10 m); PASTIS uses 128.
        seed: random seed; the same arguments give byte-identical files.
        region: ``"west"``, ``"south"``, ``"east"``, ``"north"`` (tile, climate, crops and
            phenology timing), or any other string (hashed to a timing shift of up to 3 weeks).
        year: harvest year; the season runs from mid-September of ``year - 1`` to October 31.
        modalities: any of ``"S2"``, ``"S1A"``, ``"S1D"``.
        cloud_cover: expected fraction of Sentinel-2 pixel observations under cloud (0..1).
            The default 0.15 is in line with the real PASTIS S2 statistics (B2 mean ≈ 1166,
            std ≈ 1943 in ``NORM_S2_patch.json``). It does not change dates nor Sentinel-1.
        progress: show a progress bar over patches.
        class_probs: crop class -> relative frequency, replacing the region's crop mixture
            (e.g. ``{2: 0.5, 11: 0.5}``: only wheat and durum wheat parcels).
        overwrite: replace a dataset sitsfusion wrote at ``out`` (never a folder it did not
            create: :class:`~sitsfusion.outputs.OutputExistsError`).
    """
    mods = _check_args(patches, size, modalities, cloud_cover, year)
    patches, size, seed, year = int(patches), int(size), int(seed), int(year)
    cloud_cover = float(cloud_cover)
    base = crop_mixture(region_config(region), class_probs)  # checked before writing
    command = f"simulate_pastis(patches={patches}, size={size}, seed={seed}, region={region!r})"
    with dataset_output(
        out, "pastis-r", overwrite=overwrite, last=("metadata.geojson",), command=command
    ) as tmp:
        _write(tmp, mods, patches, size, seed, region, year, cloud_cover, progress, base)
    return Path(out)


def _write(
    out: Path,
    mods: tuple[str, ...],
    patches: int,
    size: int,
    seed: int,
    region: str,
    year: int,
    cloud_cover: float,
    progress: bool,
    base: np.ndarray,
) -> None:
    """Write the dataset's files into ``out`` (the arguments of :func:`simulate_pastis`;
    ``base``: the ``[18]`` crop mixture)."""
    reg = region_config(region)
    rh = name_hash(region)
    shift = phenology_shift(reg, year)
    wx = regional_weather(reg, seed, rh, year)
    _, start, end = season(year)
    for m in mods:
        (out / f"DATA_{m}").mkdir(exist_ok=True)
    (out / "ANNOTATIONS").mkdir(exist_ok=True)
    (out / "INSTANCE_ANNOTATIONS").mkdir(exist_ok=True)

    folds = np.empty(patches, dtype=np.int64)
    folds[keyed_rng(seed, rh, year, 7).permutation(patches)] = np.arange(patches) % _N_FOLDS + 1
    angle = grid_convergence(reg)
    side = size * 10.0
    ncol = math.ceil(math.sqrt(patches))
    place = keyed_rng(seed, rh, year, 8)
    slots = place.permutation(ncol * ncol)[:patches]
    moments = {m: [_Moments(_N_BANDS[m]) for _ in range(_N_FOLDS)] for m in mods}
    features = []
    next_id = _FIRST_PARCEL_ID + 1
    iterator: Any = range(patches)
    if progress:
        from rich.progress import track

        iterator = track(iterator, description=f"simulating {patches} patches", total=patches)
    for i in iterator:
        pid = 10000 + i
        key = (seed, rh, year, size, i)
        probs = np.zeros(18)  # this patch's crop mixture: Dirichlet around the regional one
        probs[base > 0] = keyed_rng(*key, 0).dirichlet(base[base > 0] * 40.0)
        lay = make_layout(keyed_rng(*key, 1), size, reg, probs)
        st = unit_state(lay, keyed_rng(*key, 2), wx.days, reg, shift)
        target, parcel_ids, inst, heat, zones, n_parcel = annotations(lay, next_id)
        next_id += n_parcel
        ann = out / "ANNOTATIONS"
        _save_npy(ann / f"TARGET_{pid}.npy", target)
        _save_npy(ann / f"ParcelIDs_{pid}.npy", parcel_ids)
        ins = out / "INSTANCE_ANNOTATIONS"
        _save_npy(ins / f"INSTANCES_{pid}.npy", inst)
        _save_npy(ins / f"HEATMAP_{pid}.npy", heat)
        _save_npy(ins / f"ZONES_{pid}.npy", zones)
        dates: dict[str, dict[str, int]] = {}
        for m in mods:
            if m == "S2":
                idx = patch_s2_days(wx.dates["S2"], keyed_rng(*key, 3), start, end)
                arr = simulate_s2(
                    lay, st, wx, idx, keyed_rng(*key, 4), keyed_rng(*key, 5), cloud_cover
                )
            else:
                idx = wx.dates[m]
                desc = m == "S1D"
                theta = reg.theta[1 if desc else 0] + float(keyed_rng(*key, 6).uniform(-1.5, 1.5))
                orbit_rng = keyed_rng(*key, 7 if desc else 8)
                arr = simulate_s1(lay, st, wx, idx, orbit_rng, theta, desc)
            _save_npy(out / f"DATA_{m}" / f"{m}_{pid}.npy", arr)
            moments[m][folds[i] - 1].add(arr)
            dates[f"dates-{m}"] = _dates_dict(wx.origin, idx)
        slot = int(slots[i])
        jitter = place.uniform(-0.4, 0.4, 2) * side
        center = (
            reg.center[0] + (slot % ncol - ncol / 2) * 3.0 * side + jitter[0],
            reg.center[1] - (slot // ncol - ncol / 2) * 3.0 * side + jitter[1],
        )
        props: dict[str, Any] = {
            "Fold": int(folds[i]),
            "ID_PATCH": pid,
            "N_Parcel": n_parcel,
            "Parcel_Cover": float((parcel_ids > 0).mean()),
            "REGION": str(region),
            "SYNTHETIC": True,
            "TILE": reg.tile,
            "YEAR": year,
            **dict(sorted(dates.items())),
            "id": str(pid),
        }
        features.append(
            {
                "id": str(i),
                "type": "Feature",
                "properties": props,
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [[_square(center, side, angle)]],
                },
            }
        )
    for m in mods:
        total = _Moments(_N_BANDS[m])
        for acc in moments[m]:
            total.merge(acc)
        norm = {}
        for k, acc in enumerate(moments[m]):  # an empty fold gets the whole-dataset statistics
            norm[f"Fold_{k + 1}"] = (acc if acc.n else total).result()
        write_json_atomic(out / f"NORM_{m}_patch.json", norm, newline=False)
    collection = {
        "type": "FeatureCollection",
        "features": features,
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
    }
    write_json_atomic(out / "metadata.geojson", collection, newline=True)
