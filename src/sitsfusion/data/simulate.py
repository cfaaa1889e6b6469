"""A simulator of **synthetic** PASTIS-R datasets (Sentinel-2 + Sentinel-1 ascending/descending).

Everything written by :func:`simulate_pastis` is *synthetic*: no pixel comes from a satellite.
The files follow the PASTIS-R on-disk layout exactly (``metadata.geojson``, ``NORM_*_patch.json``,
``DATA_S2``, ``DATA_S1A``, ``DATA_S1D``, ``ANNOTATIONS``, ``INSTANCE_ANNOTATIONS``), so the real
PASTIS reader reads them unchanged, and every metadata feature carries ``"SYNTHETIC": true``.

Generative model, in order:

1. **Landscape.** Each patch is a mosaic of anisotropic Voronoi cells (fields, median ≈ 2 ha =
   200 px at 10 m, seed 000 Sec. 3.1) grouped into blocks whose borders are 1–2 px roads.
   Some cells are non-agricultural background (forest, built-up, water, grass). Crop cells get
   one of the 18 PASTIS classes with PASTIS-like imbalanced frequencies (meadow dominant, seed
   000 Table 1: meadows 48 % of parcels); ~5 % of parcels are labelled void (19), and the
   1-pixel border of every parcel is void, as in PASTIS.
2. **Phenology.** Per parcel, daily fractions of green vegetation, dry (senesced) vegetation,
   flowers and bare substrate, from class-specific double-logistic curves (green-up, peak,
   senescence, harvest; winter crops emerge in autumn; meadows and fodder are mown; vines and
   orchards are perennial with bare inter-rows; rapeseed flowers yellow in April), shifted per
   region (weeks), per year and per parcel (days).
3. **Sentinel-2.** Reflectance = linear mix of vegetation, dry-vegetation, flower and soil
   spectra weighted by those fractions, with smooth within-parcel variability, wet-soil
   darkening after rain, 20 m bands degraded to 20 m then bilinearly upsampled, sensor noise,
   then clouds (bright flat spectrum) and their displaced shadows as smooth random blobs.
   Dates: 5-day revisit thinned by cloudiness per tile (38–61 dates, seed 001 Sec. 4.1).
4. **Sentinel-1.** σ0 (VV, VH) from a water-cloud model: vegetation volume scattering and
   attenuation driven by biomass and class structure (stems, leaves, trellis rows, ridges),
   over a soil term driven by regional rain events (shared by all patches of a region), frost
   and the incidence angle (ascending vs descending orbit). Multiplicative gamma speckle
   (ENL 4.5) in the linear domain, then dB; third channel VV_dB − VH_dB. 6-day revisit.

Designed properties: Sentinel-2 separates most classes better than Sentinel-1 (speckle, soil
moisture); soft winter wheat (2), winter durum wheat (11) and winter triticale (10) are
near-identical in Sentinel-2 and differ only in radar structure (heading, awns, height), so
fusion helps; clouds affect Sentinel-2 only.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from sitsfusion.data.centerness import centerness_targets
from sitsfusion.io import atomic_path, write_json_atomic

__all__ = ["CLASS_NAMES", "S1_CHANNELS", "S2_BANDS", "simulate_pastis"]

CLASS_NAMES: tuple[str, ...] = (
    "Background",
    "Meadow",
    "Soft winter wheat",
    "Corn",
    "Winter barley",
    "Winter rapeseed",
    "Spring barley",
    "Sunflower",
    "Grapevine",
    "Beet",
    "Winter triticale",
    "Winter durum wheat",
    "Fruits, vegetables, flowers",
    "Potatoes",
    "Leguminous fodder",
    "Soybeans",
    "Orchard",
    "Mixed cereal",
    "Sorghum",
    "Void label",
)
S2_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
S1_CHANNELS: tuple[str, ...] = ("VV", "VH", "VV/VH")
MODALITIES: tuple[str, ...] = ("S2", "S1A", "S1D")
VOID = 19
_N_BANDS = {"S2": 10, "S1A": 3, "S1D": 3}
_BANDS_20M = np.array([3, 4, 5, 7, 8, 9])  # B5, B6, B7, B8A, B11, B12 (20 m in Sentinel-2)
_SEASON_ORIGIN = dt.date(2018, 9, 1)  # day 0 of the reference (2019) season tables below
_FIRST_PARCEL_ID = 14_000_000

# Parcel-level class frequencies of the "west" region. Meadow dominant (seed 000, Table 1:
# meadows 48.3 %, maize 20.9 %, wheat 8.5 %, barley 6.0 % of parcels in Finistère); PASTIS adds
# southern and eastern crops, so meadow is lowered to ~40 % and rare classes are < 1 %.
_CLASS_FREQ = {
    1: 0.40,
    2: 0.13,
    3: 0.12,
    4: 0.06,
    5: 0.04,
    6: 0.02,
    7: 0.025,
    8: 0.04,
    9: 0.012,
    10: 0.025,
    11: 0.025,
    12: 0.03,
    13: 0.01,
    14: 0.03,
    15: 0.008,
    16: 0.012,
    17: 0.012,
    18: 0.006,
}
_VOID_PARCEL_RATE = 0.05

# Appearance codes of units: 1..18 crops, then non-agricultural background covers.
_FOREST, _URBAN, _WATER, _GRASS, _ROAD = 20, 21, 22, 23, 24
# Extra crop appearances used by other simulators (Sen4AgriNet): field peas.
_PEAS = 25


def _d(day: str) -> int:
    """Day of the reference season (day 0 = 2018-09-01) of an ISO date of the 2019 season."""
    return (dt.date.fromisoformat(day) - _SEASON_ORIGIN).days


# --------------------------------------------------------------------------------------------
# Class tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pheno:
    """Greenness model of one appearance (days of the reference season, west region)."""

    kind: str  # "annual", "meadow", "perennial", "veg", "static"
    sos: float = 0.0  # main green-up inflection
    r_up: float = 10.0
    gmax: float = 0.9
    eos: float = 400.0  # senescence inflection
    r_down: float = 8.0
    harvest: float = 999.0
    dry: float = 0.0  # peak fraction of dry standing vegetation (annual) / wood (perennial)
    emerg: float = 999.0  # autumn emergence (winter crops)
    aut: float = 0.0  # autumn/winter plateau of winter crops
    winter: float = 0.0  # winter green level (meadow, perennial)
    flower: tuple[float, float, float] | None = None  # (day, width, amplitude)
    cuts: tuple[float, float, int, int, float] | None = None  # first, interval, nmin, nmax, depth
    jitter: float = 6.0  # per-parcel timing standard deviation (days)


@dataclass(frozen=True)
class _Radar:
    """Sentinel-1 response of one appearance (water-cloud model, dB at 38° incidence)."""

    vol_vv: float = -11.0  # volume backscatter of a full canopy
    vol_vh: float = -17.0
    att_vv: float = 1.2  # two-way attenuation per unit of biomass
    att_vh: float = 0.8
    rough: float = 0.0  # soil roughness offset (ridges, clods)
    struct_vv: float | None = None  # constant structural term (rows, trunks, buildings)
    struct_vh: float | None = None
    bumps: tuple[tuple[int, float, float, float], ...] = field(default=())  # (pol, day, w, dB)


_PHENO: dict[int, _Pheno] = {
    1: _Pheno(
        "meadow",
        sos=_d("2019-03-10"),
        eos=_d("2019-11-20"),
        gmax=0.88,
        winter=0.62,
        cuts=(_d("2019-05-20"), 42.0, 2, 4, 0.45),
    ),
    2: _Pheno(
        "annual",
        emerg=_d("2018-11-05"),
        aut=0.30,
        sos=_d("2019-03-25"),
        r_up=11,
        gmax=0.90,
        eos=_d("2019-06-18"),
        r_down=8,
        harvest=_d("2019-07-18"),
        dry=0.85,
    ),
    3: _Pheno(
        "annual",
        sos=_d("2019-06-12"),
        r_up=9,
        gmax=0.92,
        eos=_d("2019-09-12"),
        r_down=9,
        harvest=_d("2019-10-01"),
        dry=0.70,
        jitter=9.0,
    ),
    4: _Pheno(
        "annual",
        emerg=_d("2018-10-25"),
        aut=0.35,
        sos=_d("2019-03-10"),
        r_up=11,
        gmax=0.90,
        eos=_d("2019-06-01"),
        r_down=8,
        harvest=_d("2019-07-01"),
        dry=0.85,
    ),
    5: _Pheno(
        "annual",
        emerg=_d("2018-09-10"),
        aut=0.65,
        sos=_d("2019-02-25"),
        r_up=10,
        gmax=0.90,
        eos=_d("2019-06-05"),
        r_down=7,
        harvest=_d("2019-07-05"),
        dry=0.80,
        flower=(_d("2019-04-15"), 13.0, 0.55),
    ),
    6: _Pheno(
        "annual",
        sos=_d("2019-04-20"),
        r_up=9,
        gmax=0.85,
        eos=_d("2019-06-28"),
        r_down=7,
        harvest=_d("2019-07-25"),
        dry=0.85,
    ),
    7: _Pheno(
        "annual",
        sos=_d("2019-05-25"),
        r_up=8,
        gmax=0.85,
        eos=_d("2019-08-05"),
        r_down=7,
        harvest=_d("2019-09-15"),
        dry=0.75,
        flower=(_d("2019-07-12"), 10.0, 0.35),
    ),
    8: _Pheno(
        "perennial",
        winter=0.12,
        sos=_d("2019-04-20"),
        r_up=10,
        gmax=0.45,
        eos=_d("2019-10-25"),
        r_down=10,
        dry=0.15,
    ),
    9: _Pheno(
        "annual",
        sos=_d("2019-05-25"),
        r_up=10,
        gmax=0.95,
        eos=_d("2019-12-31"),
        r_down=10,
        harvest=_d("2019-10-10"),
        dry=0.0,
        jitter=9.0,
    ),
    10: _Pheno(
        "annual",
        emerg=_d("2018-11-08"),
        aut=0.31,
        sos=_d("2019-03-28"),
        r_up=11,
        gmax=0.91,
        eos=_d("2019-06-21"),
        r_down=8,
        harvest=_d("2019-07-21"),
        dry=0.85,
    ),
    11: _Pheno(
        "annual",
        emerg=_d("2018-11-03"),
        aut=0.30,
        sos=_d("2019-03-23"),
        r_up=11,
        gmax=0.89,
        eos=_d("2019-06-16"),
        r_down=8,
        harvest=_d("2019-07-16"),
        dry=0.85,
    ),
    12: _Pheno("veg", sos=_d("2019-03-15"), eos=_d("2019-07-31"), gmax=0.75, jitter=0.0),
    13: _Pheno(
        "annual",
        sos=_d("2019-05-28"),
        r_up=7,
        gmax=0.90,
        eos=_d("2019-07-25"),
        r_down=5,
        harvest=_d("2019-08-30"),
        dry=0.50,
    ),
    14: _Pheno(
        "meadow",
        sos=_d("2019-03-05"),
        eos=_d("2019-11-10"),
        gmax=0.90,
        winter=0.45,
        cuts=(_d("2019-05-05"), 38.0, 3, 5, 0.60),
    ),
    15: _Pheno(
        "annual",
        sos=_d("2019-06-15"),
        r_up=8,
        gmax=0.90,
        eos=_d("2019-09-05"),
        r_down=6,
        harvest=_d("2019-09-30"),
        dry=0.75,
    ),
    16: _Pheno(
        "perennial",
        winter=0.35,
        sos=_d("2019-04-05"),
        r_up=9,
        gmax=0.72,
        eos=_d("2019-11-05"),
        r_down=10,
        dry=0.08,
    ),
    17: _Pheno(
        "annual",
        emerg=_d("2018-11-08"),
        aut=0.28,
        sos=_d("2019-03-28"),
        r_up=12,
        gmax=0.82,
        eos=_d("2019-06-22"),
        r_down=8,
        harvest=_d("2019-07-20"),
        dry=0.80,
        jitter=10.0,
    ),
    18: _Pheno(
        "annual",
        sos=_d("2019-06-22"),
        r_up=9,
        gmax=0.85,
        eos=_d("2019-09-20"),
        r_down=8,
        harvest=_d("2019-10-12"),
        dry=0.70,
    ),
    _FOREST: _Pheno(
        "perennial",
        winter=0.45,
        sos=_d("2019-04-15"),
        r_up=8,
        gmax=0.90,
        eos=_d("2019-11-01"),
        r_down=9,
        dry=0.10,
    ),
    _PEAS: _Pheno(  # spring field peas: sown in February-March, harvested early July
        "annual",
        sos=_d("2019-03-25"),
        r_up=8,
        gmax=0.85,
        eos=_d("2019-06-05"),
        r_down=6,
        harvest=_d("2019-07-05"),
        dry=0.70,
    ),
    _URBAN: _Pheno("static", gmax=0.10),
    _WATER: _Pheno("static", gmax=0.0),
    _GRASS: _Pheno("meadow", sos=_d("2019-03-15"), eos=_d("2019-11-20"), gmax=0.80, winter=0.60),
    _ROAD: _Pheno("static", gmax=0.12),
}

# Sentinel-1 response. Wheat (2), durum (11) and triticale (10) share their optical model; their
# radar differs: stem elongation/heading attenuates VV (wheat), awns and denser ears raise VH
# and dry-ear VV (durum), taller stems give more VH and a later, deeper VV dip (triticale).
_CEREAL = {"vol_vv": -12.0, "vol_vh": -17.0, "att_vv": 2.4, "att_vh": 1.2}
_VV, _VH = 0, 1
_RADAR: dict[int, _Radar] = {
    1: _Radar(-11.5, -17.5, 0.8, 0.6),
    2: _Radar(**_CEREAL, bumps=((_VV, _d("2019-05-15"), 16.0, -2.5),)),
    3: _Radar(-8.5, -13.0, 1.4, 1.0, rough=0.5),
    4: _Radar(**_CEREAL, bumps=((_VV, _d("2019-04-28"), 15.0, -2.0),)),
    5: _Radar(-8.5, -13.0, 1.5, 1.0, bumps=((_VV, _d("2019-04-15"), 12.0, -1.0),)),
    6: _Radar(**_CEREAL, bumps=((_VV, _d("2019-06-01"), 12.0, -1.5),)),
    7: _Radar(-7.5, -13.5, 1.2, 0.9),
    8: _Radar(-12.0, -18.0, 0.6, 0.5, struct_vv=-9.5, struct_vh=-18.5),
    9: _Radar(-7.0, -14.0, 1.0, 0.8),
    10: _Radar(
        **_CEREAL,
        bumps=((_VV, _d("2019-05-28"), 14.0, -3.5), (_VH, _d("2019-05-20"), 24.0, 2.5)),
    ),
    11: _Radar(
        **_CEREAL,
        bumps=(
            (_VV, _d("2019-05-15"), 16.0, -0.5),
            (_VH, _d("2019-05-25"), 22.0, 2.0),
            (_VV, _d("2019-07-01"), 10.0, 2.0),
        ),
    ),
    12: _Radar(-10.0, -16.0, 1.0, 0.8, rough=1.0),
    13: _Radar(-9.5, -15.5, 1.0, 0.8, rough=2.0),
    14: _Radar(-11.0, -16.5, 0.9, 0.7),
    15: _Radar(-10.0, -15.0, 1.0, 0.8),
    16: _Radar(-10.0, -14.5, 0.6, 0.5, struct_vv=-10.5, struct_vh=-15.5),
    17: _Radar(
        **_CEREAL,
        bumps=((_VV, _d("2019-05-20"), 16.0, -1.5), (_VH, _d("2019-05-20"), 22.0, 1.0)),
    ),
    18: _Radar(-9.0, -13.5, 1.3, 1.0),
    _FOREST: _Radar(-8.0, -13.0, 0.6, 0.5, struct_vv=-9.5, struct_vh=-14.5),
    _URBAN: _Radar(-12.0, -18.0, 0.3, 0.3, struct_vv=-3.0, struct_vh=-11.5),
    _WATER: _Radar(),
    _GRASS: _Radar(-11.5, -17.5, 0.8, 0.6),
    _ROAD: _Radar(-12.0, -18.0, 0.3, 0.3, rough=-2.0),
}

# Endmember reflectances (B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12), typical L2A values.
_GREEN_LEAF = np.array([0.030, 0.070, 0.030, 0.110, 0.300, 0.410, 0.450, 0.465, 0.220, 0.100])
_DRY_LEAF = np.array([0.080, 0.120, 0.160, 0.200, 0.240, 0.270, 0.290, 0.310, 0.380, 0.280])
_YELLOW_FLOWER = np.array([0.040, 0.140, 0.160, 0.250, 0.330, 0.380, 0.400, 0.420, 0.250, 0.130])
_SOIL = np.array([0.080, 0.110, 0.150, 0.180, 0.200, 0.215, 0.225, 0.235, 0.320, 0.270])
_ASPHALT = np.array([0.090, 0.100, 0.110, 0.120, 0.125, 0.130, 0.135, 0.140, 0.160, 0.150])
_BUILT = np.array([0.110, 0.120, 0.135, 0.150, 0.160, 0.165, 0.170, 0.175, 0.210, 0.190])
_WATER_SPEC = np.array([0.050, 0.055, 0.035, 0.030, 0.020, 0.016, 0.014, 0.012, 0.006, 0.004])
_FOREST_FLOOR = np.array([0.030, 0.045, 0.045, 0.070, 0.100, 0.110, 0.120, 0.125, 0.150, 0.090])
# Thick clouds: bright and flat. Scaled per date by U(0.6, 1.5), i.e. ~0.35-0.9: brighter than
# "0.3-0.6" so that pooled band statistics approach the real NORM_S2_patch.json (B2 std ≈ 1940).
_CLOUD = np.array([0.620, 0.600, 0.590, 0.600, 0.600, 0.600, 0.595, 0.590, 0.450, 0.330])
_HAZE = np.array([1.0, 0.75, 0.55, 0.45, 0.38, 0.32, 0.28, 0.26, 0.06, 0.03])
# Canopy NIR / visible scaling per class (broad leaves brighter in NIR than cereals).
_LEAF_NIR = {
    1: 0.92,
    3: 1.06,
    7: 1.03,
    9: 1.10,
    13: 1.02,
    14: 0.98,
    15: 1.02,
    _PEAS: 1.04,
    8: 0.90,
    16: 0.95,
    _FOREST: 0.75,
    _GRASS: 0.88,
}
_DRY_BRIGHT = {7: 0.55, 3: 0.8, 13: 0.7, 15: 0.75, 18: 0.8, _FOREST: 0.5}


@dataclass(frozen=True)
class _Region:
    tile: str
    center: tuple[float, float]  # Lambert-93 metres
    lonlat: tuple[float, float]
    utm_zone: int
    shift: float  # phenology shift (days, negative = earlier)
    soil: float  # soil brightness factor
    keep: float  # Sentinel-2 date keep-rate offset (sunnier = more dates)
    rain: float  # rain-event rate factor
    frost: float  # daily frost probability in Dec-Feb
    drought: float  # summer drought depth on grassland
    field_scale: float  # parcel size factor
    theta: tuple[float, float]  # incidence angle, ascending / descending (degrees)
    freq: Mapping[int, float] = field(default_factory=dict)  # class frequency multipliers


# Tiles t30uxv, t31tfj, t31tfm are PASTIS tiles; t31udr (Picardy) stands in for a northern one.
_REGIONS: dict[str, _Region] = {
    "west": _Region(
        "t30uxv",
        (420_000.0, 6_925_000.0),
        (-1.5, 48.1),
        30,
        0.0,
        0.95,
        0.0,
        1.3,
        0.04,
        0.10,
        1.0,
        (33.5, 41.0),
    ),
    "south": _Region(
        "t31tfj",
        (815_000.0, 6_305_000.0),
        (4.6, 43.7),
        31,
        -16.0,
        1.25,
        0.12,
        0.6,
        0.06,
        0.55,
        0.9,
        (39.5, 34.0),
        {8: 4.0, 11: 3.0, 7: 2.5, 16: 2.0, 15: 1.5, 18: 2.0, 1: 0.65, 3: 0.7},
    ),
    "east": _Region(
        "t31tfm",
        (870_000.0, 6_570_000.0),
        (5.2, 46.3),
        31,
        7.0,
        1.0,
        -0.04,
        1.0,
        0.20,
        0.25,
        1.3,
        (36.0, 42.5),
        {3: 1.4, 2: 1.2, 9: 1.3, 15: 1.5, 1: 0.85},
    ),
    "north": _Region(
        "t31udr",
        (650_000.0, 6_975_000.0),
        (2.3, 49.9),
        31,
        9.0,
        1.1,
        -0.05,
        1.1,
        0.12,
        0.10,
        1.6,
        (37.5, 43.0),
        {2: 1.5, 9: 3.0, 13: 2.5, 5: 1.3, 1: 0.7, 3: 0.6},
    ),
}
# Fraction of 5-day Sentinel-2 acquisitions kept per month (cloudy winters), Jan..Dec.
_S2_KEEP = np.array([0.38, 0.45, 0.55, 0.62, 0.66, 0.70, 0.74, 0.74, 0.72, 0.60, 0.50, 0.38])


def _hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _region_config(region: str) -> _Region:
    if region.strip().lower() in _REGIONS:
        return _REGIONS[region.strip().lower()]
    h = _hash(region)
    base = list(_REGIONS.values())[h % 4]
    shift = float((h // 4) % 43 - 21)  # any other string: a shift of up to three weeks
    dx = float((h // 200) % 101 - 50) * 1000.0
    dy = float((h // 20200) % 101 - 50) * 1000.0
    return _Region(
        base.tile,
        (base.center[0] + dx, base.center[1] + dy),
        base.lonlat,
        base.utm_zone,
        shift,
        base.soil,
        base.keep,
        base.rain,
        base.frost,
        base.drought,
        base.field_scale,
        base.theta,
    )


def _grid_convergence(reg: _Region) -> float:
    """Rotation (degrees) of a UTM-aligned square seen in Lambert-93 (real PASTIS: ≈ −4.4°)."""
    lon, lat = reg.lonlat
    lambert = 0.7256 * (lon - 3.0)
    utm = (lon - (6 * reg.utm_zone - 183)) * math.sin(math.radians(lat))
    return lambert - utm


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def _sig(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std, periodic smooth Gaussian random field (Gaussian kernel, via FFT)."""
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    kernel = np.exp(-2.0 * (np.pi * sigma) ** 2 * (ky**2 + kx**2))
    f = np.fft.irfft2(np.fft.rfft2(rng.standard_normal(shape)) * kernel, s=shape)
    return (f - f.mean()) / (f.std() + 1e-12)


# --------------------------------------------------------------------------------------------
# Dates and regional weather
# --------------------------------------------------------------------------------------------


@dataclass
class _Weather:
    origin: dt.date  # day 0 of the simulated season (1 September of year - 1)
    days: np.ndarray  # day index 0..n_days-1
    moisture: np.ndarray  # rain-driven surface soil moisture excess in [0, 1]
    wet_season: np.ndarray  # seasonal wetness in [0, 1]
    frost: np.ndarray  # bool, morning frost
    dates: dict[str, np.ndarray]  # tile-level acquisition days (S2, S1A, S1D)


def _season(year: int) -> tuple[dt.date, int, int]:
    origin = dt.date(year - 1, 9, 1)
    start = (dt.date(year - 1, 9, 15) - origin).days
    end = (dt.date(year, 10, 31) - origin).days
    return origin, start, end


def _regional_weather(
    reg: _Region, seed: int, rh: int, year: int, until: dt.date | None = None
) -> _Weather:
    """Rain, frost and acquisition days of a region's season (1 Sep ``year - 1`` onwards),
    simulated at least until ``until`` (default: 40 days after 31 Oct ``year``)."""
    origin, start, end = _season(year)
    n_days = end + 40 if until is None else max(end + 40, (until - origin).days + 1)
    rng = _rng(seed, rh, year, 101)
    days = np.arange(n_days)
    month = np.array([(origin + dt.timedelta(days=int(k))).month for k in days])
    winter = 0.5 + 0.5 * np.cos(2 * np.pi * (days - 150) / 365.25)  # peaks early February
    p_rain = np.clip(reg.rain * (0.10 + 0.22 * winter), 0, 0.9)
    amount = rng.uniform(0.3, 1.0, n_days) * (rng.random(n_days) < p_rain)
    tau = 3.0 + 4.0 * winter
    moisture = np.zeros(n_days)
    level = 0.0
    for k in range(n_days):
        level = min(1.0, level * math.exp(-1.0 / tau[k]) + amount[k])
        moisture[k] = level
    frost = (rng.random(n_days) < reg.frost) & np.isin(month, (12, 1, 2))
    dates: dict[str, np.ndarray] = {}
    # Sentinel-2: one acquisition every 5 days, phase anchored so that the west tile has the
    # real PASTIS t30uxv dates (2018-09-24 + 5k); thinned by tile-level cloudiness.
    phase = 0 if reg.tile == "t30uxv" else _hash(reg.tile) % 5
    anchor = (dt.date(2018, 9, 24) - origin).days + phase
    grid = np.arange(anchor % 5, end + 1, 5)
    grid = grid[grid >= start]
    gmonth = month[grid]
    keep = rng.random(grid.size) < np.clip(_S2_KEEP[gmonth - 1] + reg.keep, 0.05, 0.98)
    dates["S2"] = grid[keep]
    # Sentinel-1: regular 6-day revisit per orbit, orbits offset, a rare missing acquisition.
    for name, ph in (("S1A", _hash(reg.tile + "A") % 6), ("S1D", _hash(reg.tile + "D") % 6)):
        grid = np.arange(start + ph, end + 1, 6)
        missing = rng.random(grid.size) < 0.015
        dates[name] = grid[~missing]
    return _Weather(origin, days, moisture, winter, frost, dates)


def _patch_s2_days(tile_days: np.ndarray, rng: np.random.Generator, start: int, end: int):
    """Per-patch Sentinel-2 dates: the tile's list minus a few patch-specific drops (38..61)."""
    days = tile_days[rng.random(tile_days.size) >= 0.05]
    full = np.arange(start + (tile_days[0] - start) % 5, end + 1, 5)
    if days.size < 38:  # add back acquisitions of the full 5-day grid
        extra = rng.permutation(np.setdiff1d(full, days))[: 38 - days.size]
        days = np.union1d(days, extra)
    if days.size > 61:
        days = np.sort(rng.permutation(days)[:61])
    return np.asarray(days, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Landscape
# --------------------------------------------------------------------------------------------


@dataclass
class _Layout:
    unit_map: np.ndarray  # (H, W) unit index
    appearance: np.ndarray  # (U,) appearance code (1..18 crops, 20..24 background covers)
    label: np.ndarray  # (U,) semantic label of the unit (0 background, 1..18, 19 void)
    is_parcel: np.ndarray  # (U,) bool


def _voronoi(rng: np.random.Generator, size: int, cell_area: float, margin: float):
    """Anisotropic Voronoi partition of a size×size grid with cells of mean area cell_area.

    Returns the (H, W) cell map and the cell seeds (n, 2) in pixel coordinates.
    """
    angle = rng.uniform(0, np.pi)
    stretch = rng.uniform(1.0, 1.8)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lo, hi = -margin, size + margin
    n = max(2, rng.poisson((hi - lo) ** 2 / cell_area))
    pts = rng.uniform(lo, hi, (n, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    pix = np.stack([yy.ravel(), xx.ravel()], 1).astype(np.float64)
    scale = np.array([1.0, 1.0 / stretch])
    tree = cKDTree((pts @ rot) * scale)
    _, idx = tree.query((pix @ rot) * scale)
    return idx.reshape(size, size), pts


def _relabel(a: np.ndarray) -> np.ndarray:
    _, inv = np.unique(a, return_inverse=True)
    return inv.reshape(a.shape)


def _make_layout(rng: np.random.Generator, size: int, reg: _Region, probs: np.ndarray) -> _Layout:
    """Fields, roads, background and class labels of one patch."""
    for attempt in range(12):
        relaxed = attempt >= 6
        scale = reg.field_scale * float(np.exp(rng.normal(0.0, 0.3)))
        cell_area = 350.0 * scale  # ≈ 2 ha fields (seed 000 Sec. 3.1) after roads and borders
        cell_area = min(cell_area, size * size / (4.0 + attempt))  # tiny patches: still fields
        cells, pts = _voronoi(rng, size, cell_area, margin=0.6 * math.sqrt(cell_area))
        # Blocks (groups of fields between roads): cells grouped around coarser seeds.
        n_blocks = max(1, rng.poisson(len(pts) / rng.uniform(5.0, 12.0)))
        bseeds = pts[rng.choice(len(pts), size=min(n_blocks, len(pts)), replace=False)]
        _, block_of_cell = cKDTree(bseeds).query(pts)
        if attempt == 11:  # last resort: two fields side by side
            cells = (np.arange(size)[None, :] >= size // 2).repeat(size, 0).astype(np.int64)
            block_of_cell = np.zeros(2, dtype=np.int64)
        blocks = np.asarray(block_of_cell)[cells]
        unit = _relabel(cells)
        # Roads along block borders: 1 px, 2 px around "major" blocks.
        major = rng.random(blocks.max() + 1) < 0.3
        road = np.zeros((size, size), dtype=bool)
        for axis in (0, 1):
            a = blocks
            b = np.roll(blocks, -1, axis=axis)
            diff = a != b
            if axis == 0:
                diff[-1, :] = False
            else:
                diff[:, -1] = False
            road |= diff
            road |= np.roll(diff & (major[a] | major[b]), 1, axis=axis)  # wide roads: 2 px
        if relaxed:
            road[:] = False
        n_units = int(unit.max()) + 1
        # Background cells: whole blocks (villages, woods) and scattered cells.
        p_bg = 0.0 if relaxed else rng.beta(2.0, 5.0)
        bg_block = rng.random(blocks.max() + 1) < 0.5 * p_bg
        first_block = np.zeros(n_units, dtype=np.int64)
        first_block[unit.ravel()] = blocks.ravel()
        is_bg = bg_block[first_block] | (rng.random(n_units) < 0.5 * p_bg)
        cover = rng.choice(
            np.array([_FOREST, _URBAN, _WATER, _GRASS]), n_units, p=[0.45, 0.25, 0.08, 0.22]
        )
        crop = rng.choice(np.arange(1, 19), n_units, p=probs)
        void = rng.random(n_units) < _VOID_PARCEL_RATE
        present = np.zeros(n_units, dtype=bool)
        present[unit[~road]] = True
        n_parcels = int((present & ~is_bg).sum())
        if n_parcels >= 2:
            break
    appearance = np.where(is_bg, cover, crop)
    label = np.where(is_bg, 0, np.where(void, VOID, crop))
    # Road pixels become one extra unit.
    unit = np.where(road, n_units, unit)
    appearance = np.append(appearance, _ROAD)
    label = np.append(label, 0)
    is_parcel = np.append(~is_bg, False)
    # Drop units that lost all their pixels; renumber.
    used, inv = np.unique(unit, return_inverse=True)
    return _Layout(inv.reshape(unit.shape), appearance[used], label[used], is_parcel[used])


def _annotations(lay: _Layout, first_id: int):
    """TARGET, ParcelIDs, INSTANCES, HEATMAP, ZONES from a layout."""
    size = lay.unit_map.shape[0]
    parcel_units = np.flatnonzero(lay.is_parcel)
    inst_of_unit = np.zeros(lay.is_parcel.size, dtype=np.int64)
    inst_of_unit[parcel_units] = np.arange(1, parcel_units.size + 1)
    instances = inst_of_unit[lay.unit_map]
    parcel_ids = np.where(instances > 0, first_id - 1 + instances, 0).astype(np.int32)
    sem = lay.label[lay.unit_map].astype(np.uint8)
    # 1-pixel void border: parcel pixels touching background/roads, and one side of the line
    # between two touching parcels.
    border = np.zeros(sem.shape, dtype=bool)
    for axis in (0, 1):
        for step in (1, -1):
            nb = np.roll(instances, step, axis=axis)
            edge = np.zeros(sem.shape, dtype=bool)
            sl = [slice(None), slice(None)]
            sl[axis] = slice(0, 1) if step == 1 else slice(size - 1, size)
            edge[tuple(sl)] = True  # the patch edge is not a border
            touch_bg = (nb == 0) & (instances > 0)
            touch_other = (nb > 0) & (nb != instances) & (instances > 0) & (step == 1)
            border |= (touch_bg | touch_other) & ~edge
    sem[border] = VOID
    target = np.stack([sem, sem, sem])
    # Centerness (PaPs) ground truth as the PASTIS script makes it: Eq. 6 Gaussians on the
    # bounding-box centres of the instances (background removed), zones = dominating parcel.
    heat_t, zones_t = centerness_targets(torch.from_numpy(instances * (sem != 0)))
    heat = heat_t.numpy().astype(np.float64)
    zones = zones_t.numpy().astype(np.int64)
    return target, parcel_ids, instances, heat, zones, int(parcel_units.size)


# --------------------------------------------------------------------------------------------
# Phenology per unit
# --------------------------------------------------------------------------------------------


def _unit_curves(
    app: int, rng: np.random.Generator, days: np.ndarray, shift: float, drought: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Daily (green, dry, flower) fractions of one unit; returns also its timing offset."""
    p = _PHENO[app]
    d = days.astype(np.float64)
    off = shift + float(np.clip(rng.normal(0.0, p.jitter), -2.5 * p.jitter, 2.5 * p.jitter))
    zeros = np.zeros_like(d)
    flower = zeros
    if p.kind == "static":
        green = np.full_like(d, p.gmax * rng.uniform(0.6, 1.4))
        return green, zeros, zeros, off
    if p.kind == "annual":
        sos, eos = p.sos + off, p.eos + off
        harvest = p.harvest + off + rng.normal(0.0, 4.0)
        emerg = p.emerg + 0.5 * off + rng.normal(0.0, 4.0)
        gmax = p.gmax * rng.uniform(0.92, 1.04)
        main = gmax * _sig((d - sos) / p.r_up) * (1.0 - _sig((d - eos) / p.r_down))
        aut = p.aut * rng.uniform(0.8, 1.2)
        winter = aut * _sig((d - emerg) / 8.0) * (1.0 - _sig((d - eos) / p.r_down))
        if app == 5:  # rapeseed loses leaves to frost in January
            winter = winter * (1.0 - 0.25 * np.exp(-(((d - 140.0) / 20.0) ** 2)))
        green = np.maximum(main, winter)
        # Before the crop: previous crop / stubble / winter cover crop.
        last = min(emerg, sos - 25.0) - 5.0
        pre_end = rng.uniform(10.0, max(12.0, min(70.0, last)))
        pre_green = rng.choice([0.0, 0.0, rng.uniform(0.3, 0.7)])
        green = np.maximum(green, pre_green * (1.0 - _sig((d - pre_end) / 4.0)))
        if p.aut == 0.0 and rng.random() < 0.4:  # cover crop over winter, ploughed in spring
            cc_end = min(sos - 30.0, rng.uniform(150.0, 220.0))
            cc = rng.uniform(0.3, 0.6) * _sig((d - pre_end - 25.0) / 8.0)
            green = np.maximum(green, cc * (1.0 - _sig((d - cc_end) / 4.0)))
        alive = 1.0 - _sig((d - harvest) / 1.5)
        green = green * alive + _sig((d - harvest - 35.0) / 8.0) * (rng.random() < 0.4) * 0.35
        dry = p.dry * rng.uniform(0.85, 1.05) * _sig((d - eos) / p.r_down) * alive
        stubble = 0.3 * _sig((d - harvest) / 1.5) * np.exp(-np.clip(d - harvest, 0, None) / 25.0)
        pre_dry = 0.3 * (pre_green == 0.0) * (1.0 - _sig((d - pre_end) / 4.0))
        dry = np.maximum(np.maximum(dry, stubble), pre_dry)
        if p.flower is not None:
            fday, fw, famp = p.flower
            flower = famp * rng.uniform(0.8, 1.2) * np.exp(-(((d - fday - off) / fw) ** 2))
            flower = flower * green
            green = green - flower
    elif p.kind == "meadow":
        w, s = p.winter * rng.uniform(0.85, 1.15), p.gmax * rng.uniform(0.93, 1.05)
        up = _sig((d - p.sos - off) / 15.0) * (1.0 - _sig((d - p.eos - off) / 20.0))
        up = up + (1.0 - _sig((d - p.eos + 365.0) / 20.0))
        green = w + (s - w) * np.clip(up, 0, 1)
        dip = drought * rng.uniform(0.6, 1.4) * np.exp(-(((d - 340.0 - off) / 28.0) ** 2))
        green = green * (1.0 - dip)
        dry = 0.6 * dip
        if p.cuts is not None:
            first, step, nmin, nmax, depth = p.cuts
            m = first + off + rng.normal(0.0, 10.0)
            for _ in range(int(rng.integers(nmin, nmax + 1))):
                depth_k = depth * rng.uniform(0.75, 1.25)
                since = np.clip(d - m, 0, None)
                cut = (d >= m) * np.exp(-since / 12.0)
                green = green * (1.0 - depth_k * cut)
                dry = dry + depth_k * 0.6 * (d >= m) * np.exp(-since / 3.0)
                m += step * rng.uniform(0.8, 1.25)
    elif p.kind == "perennial":
        leaf = _sig((d - p.sos - off) / p.r_up) * (1.0 - _sig((d - p.eos - off) / p.r_down))
        leaf = leaf + (1.0 - _sig((d - p.eos - off + 365.0) / p.r_down))
        w = p.winter * rng.uniform(0.7, 1.3)
        green = w + (p.gmax * rng.uniform(0.85, 1.1) - w) * np.clip(leaf, 0, 1)
        dry = np.full_like(d, p.dry)
    else:  # "veg": one or two short crops (vegetables, flowers), sometimes a winter one
        green = np.zeros_like(d)
        starts = [rng.uniform(p.sos, p.eos)]
        if rng.random() < 0.5:
            starts.append(starts[0] + rng.uniform(75.0, 120.0))
        if rng.random() < 0.3:
            starts.append(rng.uniform(0.0, 40.0))
        for st in starts:
            length = rng.uniform(55.0, 95.0)
            cyc = (
                rng.uniform(0.55, 0.9)
                * _sig((d - st) / 6.0)
                * (1.0 - _sig((d - st - length) / 4.0))
            )
            green = np.maximum(green, cyc)
        dry = 0.1 * green
    dry = np.minimum(dry, 1.0 - green - flower)
    return green, np.clip(dry, 0, None), flower, off


# --------------------------------------------------------------------------------------------
# Sensors
# --------------------------------------------------------------------------------------------


@dataclass
class _UnitState:
    green: np.ndarray  # (U, n_days)
    dry: np.ndarray
    flower: np.ndarray
    offset: np.ndarray  # (U,) timing offset (days)
    veg: np.ndarray  # (U, 10) spectra
    dryspec: np.ndarray
    substrate: np.ndarray
    soil_like: np.ndarray  # (U,) bool: substrate darkens when wet
    appearance: np.ndarray
    rough: np.ndarray  # (U,) parcel soil roughness offset (dB)
    vol: np.ndarray  # (U,) parcel volume offset (dB)
    drain: np.ndarray  # (U,) how strongly rain wets the soil
    urban: np.ndarray  # (U,) urban double-bounce offset (dB)


def _unit_state(
    lay: _Layout, rng: np.random.Generator, days: np.ndarray, reg: _Region, shift: float
) -> _UnitState:
    n = lay.appearance.size
    green = np.zeros((n, days.size))
    dry, flower = np.zeros_like(green), np.zeros_like(green)
    off = np.zeros(n)
    veg, dryspec, sub = np.zeros((n, 10)), np.zeros((n, 10)), np.zeros((n, 10))
    soil_like = np.zeros(n, dtype=bool)
    for u, app in enumerate(lay.appearance.tolist()):
        green[u], dry[u], flower[u], off[u] = _unit_curves(app, rng, days, shift, reg.drought)
        nir = _LEAF_NIR.get(app, 1.0) * rng.uniform(0.95, 1.05)
        leaf = _GREEN_LEAF.copy()
        leaf[5:8] *= nir
        leaf[4] *= 0.5 + 0.5 * nir
        leaf[:3] *= rng.uniform(0.9, 1.1)
        veg[u] = leaf
        dryspec[u] = _DRY_LEAF * _DRY_BRIGHT.get(app, 1.0) * rng.uniform(0.9, 1.1)
        if app == _URBAN:
            sub[u] = _BUILT * rng.uniform(0.7, 1.5)
        elif app == _ROAD:
            sub[u] = _ASPHALT * rng.uniform(0.85, 1.2)
        elif app == _WATER:
            sub[u] = _WATER_SPEC * rng.uniform(0.7, 1.6)
        elif app == _FOREST:
            sub[u] = _FOREST_FLOOR * rng.uniform(0.8, 1.2)
        else:
            redness = np.linspace(1.0 - 0.08 * rng.standard_normal(), 1.0, 10)
            sub[u] = _SOIL * reg.soil * rng.uniform(0.85, 1.15) * redness
            soil_like[u] = True
    return _UnitState(
        green,
        dry,
        flower,
        off,
        veg,
        dryspec,
        sub,
        soil_like,
        lay.appearance,
        rough=rng.normal(0.0, 0.7, n),
        vol=rng.normal(0.0, 0.5, n),
        drain=rng.uniform(0.7, 1.3, n),
        urban=rng.normal(0.0, 3.0, n),
    )


def _upsample_20m(x: np.ndarray) -> np.ndarray:
    """Average 2×2 blocks (20 m) then bilinearly upsample back to 10 m, over the last two axes."""
    h, w = x.shape[-2:]
    ph, pw = h % 2, w % 2
    if ph or pw:
        x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)], mode="edge")
    low = x.reshape(*x.shape[:-2], x.shape[-2] // 2, 2, x.shape[-1] // 2, 2).mean(axis=(-3, -1))
    for axis in (-2, -1):  # ×2 bilinear, pixel-area aligned, edges clamped
        n = low.shape[axis]
        prev = np.take(low, np.maximum(np.arange(n) - 1, 0), axis=axis)
        nxt = np.take(low, np.minimum(np.arange(n) + 1, n - 1), axis=axis)
        up = np.stack([0.75 * low + 0.25 * prev, 0.75 * low + 0.25 * nxt], axis=axis)
        shape = list(low.shape)
        shape[axis] = 2 * n
        low = up.reshape(shape)
    return low[..., :h, :w]


def _simulate_s2(
    lay: _Layout,
    st: _UnitState,
    wx: _Weather,
    idx: np.ndarray,
    rng: np.random.Generator,
    cloud_rng: np.random.Generator,
    cloud_cover: float,
) -> np.ndarray:
    """Sentinel-2 L2A reflectance × 10000 as int16 (T, 10, H, W)."""
    size = lay.unit_map.shape[0]
    g, dr, fl = st.green[:, idx], st.dry[:, idx], st.flower[:, idx]  # (U, T)
    wet = 1.0 - 0.15 * wx.moisture[idx][None, :] * st.soil_like[:, None]
    sub_frac = np.clip(1.0 - g - dr - fl, 0, 1)
    sub_spec = st.substrate[:, None, :] * wet[:, :, None]  # (U, T, 10)
    refl = (
        g[:, :, None] * st.veg[:, None, :]
        + dr[:, :, None] * st.dryspec[:, None, :]
        + fl[:, :, None] * _YELLOW_FLOWER[None, None, :]
        + sub_frac[:, :, None] * sub_spec
    )
    dgreen = g[:, :, None] * (st.veg[:, None, :] - sub_spec)  # d(refl)/d(relative greenness)
    dsub = sub_frac[:, :, None] * sub_spec  # d(refl)/d(substrate brightness)
    um = lay.unit_map

    def to_pixels(a: np.ndarray) -> np.ndarray:  # (U, T, 10) -> (T, 10, H, W)
        return np.take(np.ascontiguousarray(a.transpose(1, 2, 0), dtype=np.float32), um, axis=2)

    a = 0.08 * _smooth_field(rng, (size, size), 3.0) + 0.04 * rng.standard_normal((size, size))
    b = 0.06 * _smooth_field(rng, (size, size), 4.0) + 0.03 * rng.standard_normal((size, size))
    img = to_pixels(refl)
    img += to_pixels(dgreen) * a.astype(np.float32)
    img += to_pixels(dsub) * b.astype(np.float32)
    t_n = idx.size
    haze = rng.normal(0.0, 0.006, t_n)[:, None] * _HAZE[None, :]
    img += haze.astype(np.float32)[:, :, None, None]
    noise = rng.standard_normal(img.shape, dtype=np.float32)
    img += noise * (0.002 + 0.01 * np.abs(img))
    if cloud_cover > 0:
        _add_clouds(img, wx, idx, cloud_rng, cloud_cover)
    img[:, _BANDS_20M] = _upsample_20m(img[:, _BANDS_20M])
    return np.clip(np.rint(img * 10000.0), 1, 20000).astype(np.int16)


def _add_clouds(
    img: np.ndarray, wx: _Weather, idx: np.ndarray, rng: np.random.Generator, cloud_cover: float
) -> None:
    """Cloud blobs (bright, flat) and their displaced shadows, in place."""
    t_n, _, size, _ = img.shape
    doy = np.array([(wx.origin + dt.timedelta(days=int(k))).timetuple().tm_yday for k in idx])
    season = 1.0 + 0.45 * np.cos(2 * np.pi * (doy - 15) / 365.25)  # cloudier winters
    mean = np.clip(cloud_cover * season, 1e-4, 0.97)
    alpha_b = 0.6
    cover = rng.beta(alpha_b, alpha_b * (1.0 - mean) / mean)
    if cloud_cover >= 1.0:
        cover[:] = 1.0
    pad = 24
    for t in range(t_n):
        c = float(cover[t])
        scale = rng.uniform(5.0, 25.0)
        shape = (size + 2 * pad, size + 2 * pad)
        fieldc = _smooth_field(rng, shape, scale) + 0.25 * _smooth_field(rng, shape, 1.5)
        thick = rng.uniform(0.75, 1.0)
        bright = rng.uniform(0.6, 1.5)
        oy, ox = int(rng.integers(4, 16)), int(rng.integers(-4, 6))
        if c < 0.003:
            continue
        core = fieldc[pad : pad + size, pad : pad + size]
        thr = np.quantile(core, 1.0 - c) if c < 1.0 else -np.inf
        alpha_full = np.clip((fieldc - thr) / 0.4, 0.0, 1.0) ** 0.7 * thick
        alpha = alpha_full[pad : pad + size, pad : pad + size].astype(np.float32)
        shade = alpha_full[pad + oy : pad + oy + size, pad + ox : pad + ox + size]
        shade = (1.0 - 0.6 * np.clip(shade / thick, 0, 1)).astype(np.float32)
        cloud = (_CLOUD * bright).astype(np.float32)[:, None, None]
        texture = (1.0 + 0.05 * fieldc[pad : pad + size, pad : pad + size]).astype(np.float32)
        img[t] = img[t] * shade * (1.0 - alpha) + alpha * cloud * texture


def _simulate_s1(
    lay: _Layout,
    st: _UnitState,
    wx: _Weather,
    idx: np.ndarray,
    rng: np.random.Generator,
    theta: float,
    descending: bool,
) -> np.ndarray:
    """Sentinel-1 (VV dB, VH dB, VV−VH) float32 (T, 3, H, W)."""
    size = lay.unit_map.shape[0]
    d = idx.astype(np.float64)[None, :]
    cos_t = math.cos(math.radians(theta)) / math.cos(math.radians(38.0))
    g, dr, fl = st.green[:, idx], st.dry[:, idx], st.flower[:, idx]
    biomass = g + 0.35 * dr + 0.5 * fl
    moist = wx.moisture[idx][None, :] * st.drain[:, None]
    wet = wx.wet_season[idx][None, :]
    frost = wx.frost[idx][None, :] * (2.5 if descending else 1.0)
    n_units, t_n = biomass.shape
    sig = np.zeros((2, n_units, t_n))
    radar = [_RADAR[int(a)] for a in st.appearance]
    jitter = rng.normal(0.0, 0.15, t_n)[None, :]
    for pol in (_VV, _VH):
        soil0 = -14.5 if pol == _VV else -21.8
        gain = 1.0 if pol == _VV else 0.85
        soil_db = soil0 + st.rough[:, None] + gain * (3.5 * moist + 2.0 * wet) - 0.2 * (theta - 38)
        soil_db = soil_db - frost
        soil_db = soil_db + np.array([r.rough for r in radar])[:, None]
        vv = pol == _VV
        vol_db = np.array([r.vol_vv if vv else r.vol_vh for r in radar])[:, None] + st.vol[:, None]
        att = np.array([r.att_vv if vv else r.att_vh for r in radar])[:, None]
        tau2 = np.exp(-att * biomass / cos_t)
        lin = 10 ** (vol_db / 10) * cos_t * (1 - tau2) + tau2 * 10 ** (soil_db / 10)
        db_extra = np.zeros_like(lin)
        for u, r in enumerate(radar):
            app = int(st.appearance[u])
            struct = r.struct_vv if vv else r.struct_vh
            if struct is not None:
                if app == _URBAN:
                    struct = struct + st.urban[u] * (1.0 if pol == _VV else 0.5)
                lin[u] += 10 ** ((struct - frost[0] * 0.3) / 10)
            for b_pol, day, width, amp in r.bumps:
                if b_pol == pol:
                    db_extra[u] += amp * np.exp(-(((d[0] - day - st.offset[u]) / width) ** 2))
            if app == _WATER:  # wind-roughened open water, very low backscatter
                base = -19.0 if pol == _VV else -26.0
                lin[u] = 10 ** ((base + rng.normal(0.0, 2.5, t_n)) / 10)
        if descending:  # morning dew on leaves raises backscatter a little
            db_extra += 0.4 * g
        sig[pol] = lin * 10 ** ((db_extra + jitter) / 10)
    um = lay.unit_map
    pix = np.take(sig.transpose(2, 0, 1).astype(np.float32), um, axis=2)  # (T, 2, H, W)
    tex = 0.6 * _smooth_field(rng, (size, size), 2.0) + 0.3 * rng.standard_normal((size, size))
    pix *= (10 ** (tex / 10)).astype(np.float32)
    pix = ndimage.gaussian_filter(pix, (0, 0, 0.7, 0.7), mode="nearest")
    enl = 4.5  # multi-look speckle, gamma distributed in intensity
    pix *= rng.standard_gamma(enl, pix.shape, dtype=np.float32) / np.float32(enl)
    db = 10.0 * np.log10(np.maximum(pix, np.float32(1e-5)))
    out = np.empty((t_n, 3, size, size), dtype=np.float32)
    out[:, :2] = db
    out[:, 2] = db[:, 0] - db[:, 1]
    return out


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.save(f, arr, allow_pickle=False)


def _save_json(path: Path, obj: Any, newline: bool) -> None:
    write_json_atomic(path, obj, newline=newline)


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
    out: Path, patches: int, size: int, modalities: Sequence[str], cloud_cover: float, year: int
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
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(
            f"{out}: output path exists and is not an empty directory; "
            "choose a new path (simulate_pastis never overwrites data)"
        )
    return tuple(m for m in MODALITIES if m in mods)


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
) -> Path:
    """Write a **synthetic** PASTIS-R dataset to ``out`` and return its path.

    Args:
        out: output directory; created, and it must not exist or be empty.
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
    """
    return _simulate(out, patches, size, seed, region, year, modalities, cloud_cover, progress)


def _simulate(
    out: str | Path,
    patches: int = 20,
    size: int = 128,
    seed: int = 0,
    region: str = "west",
    year: int = 2019,
    modalities: Sequence[str] = ("S2", "S1A", "S1D"),
    cloud_cover: float = 0.15,
    progress: bool = False,
    class_probs: Mapping[int, float] | None = None,
) -> Path:
    """:func:`simulate_pastis` with an optional override of the crop class frequencies."""
    out = Path(out)
    mods = _check_args(out, patches, size, modalities, cloud_cover, year)
    patches, size, seed, year = int(patches), int(size), int(seed), int(year)
    cloud_cover = float(cloud_cover)
    reg = _region_config(region)
    rh = _hash(region)
    year_shift = float(_hash(f"year{year}") % 13 - 6) if year != 2019 else 0.0
    shift = reg.shift + year_shift
    freq = dict(class_probs) if class_probs is not None else dict(_CLASS_FREQ)
    base = np.array([freq.get(c, 0.0) for c in range(1, 19)], dtype=np.float64)
    if class_probs is None:
        base *= np.array([reg.freq.get(c, 1.0) for c in range(1, 19)])
    if base.sum() <= 0 or (base < 0).any():
        raise ValueError("class frequencies must be non-negative and not all zero")
    base /= base.sum()
    wx = _regional_weather(reg, seed, rh, year)
    _, start, end = _season(year)

    out.mkdir(parents=True, exist_ok=True)
    for m in mods:
        (out / f"DATA_{m}").mkdir(exist_ok=True)
    (out / "ANNOTATIONS").mkdir(exist_ok=True)
    (out / "INSTANCE_ANNOTATIONS").mkdir(exist_ok=True)

    folds = np.empty(patches, dtype=np.int64)
    folds[_rng(seed, rh, year, 7).permutation(patches)] = np.arange(patches) % 5 + 1
    angle = _grid_convergence(reg)
    side = size * 10.0
    ncol = math.ceil(math.sqrt(patches))
    place = _rng(seed, rh, year, 8)
    slots = place.permutation(ncol * ncol)[:patches]
    moments = {m: [_Moments(_N_BANDS[m]) for _ in range(5)] for m in mods}
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
        probs[base > 0] = _rng(*key, 0).dirichlet(base[base > 0] * 40.0)
        lay = _make_layout(_rng(*key, 1), size, reg, probs)
        st = _unit_state(lay, _rng(*key, 2), wx.days, reg, shift)
        target, parcel_ids, inst, heat, zones, n_parcel = _annotations(lay, next_id)
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
                idx = _patch_s2_days(wx.dates["S2"], _rng(*key, 3), start, end)
                arr = _simulate_s2(lay, st, wx, idx, _rng(*key, 4), _rng(*key, 5), cloud_cover)
            else:
                idx = wx.dates[m]
                desc = m == "S1D"
                theta = reg.theta[1 if desc else 0] + float(_rng(*key, 6).uniform(-1.5, 1.5))
                arr = _simulate_s1(lay, st, wx, idx, _rng(*key, 7 if desc else 8), theta, desc)
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
        _save_json(out / f"NORM_{m}_patch.json", norm, newline=False)
    collection = {
        "type": "FeatureCollection",
        "features": features,
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
    }
    _save_json(out / "metadata.geojson", collection, newline=True)
    return out
