"""Sentinel-1 signal model: σ0 VV and VH from a water-cloud model, speckle, dB.

Vegetation volume scattering and attenuation driven by biomass and each appearance's structure
(``params/radar.json``), over a soil term driven by the regional rain events, frost and the
orbit's incidence angle; per-parcel offsets that say nothing about the class (soil roughness
and canopy per polarisation, each orbit's view of the parcel, the parcel's own soil changes
over the season: ``spread`` in ``params/radar.json``, drawn by :func:`.units.unit_state`);
multiplicative gamma speckle (ENL 4.5) in the linear domain, then dB; third channel
VV_dB − VH_dB.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import ndimage

from sitsfusion.simulate.layout import URBAN, WATER, Layout, appearance_code
from sitsfusion.simulate.params import load_params, season_day
from sitsfusion.simulate.randomness import smooth_field
from sitsfusion.simulate.units import UnitState
from sitsfusion.simulate.weather import Weather

__all__ = [
    "ENL",
    "RADAR",
    "S1_CHANNELS",
    "Radar",
    "s1_db",
    "s1_pixels",
    "s1_texture",
    "s1_units",
    "simulate_s1",
    "water_units",
]

S1_CHANNELS: tuple[str, ...] = ("VV", "VH", "VV/VH")
"""Channels of the simulated Sentinel-1 arrays (dB; the third is VV − VH in dB)."""
_VV, _VH = 0, 1
_POL = {"VV": _VV, "VH": _VH}
ENL = 4.5
"""Equivalent number of looks of the multi-look speckle (gamma distributed in intensity)."""


@dataclass(frozen=True)
class Radar:
    """Sentinel-1 response of one appearance (water-cloud model, dB at 38° incidence)."""

    vol_vv: float = -11.0  # volume backscatter of a full canopy
    vol_vh: float = -17.0
    att_vv: float = 1.2  # two-way attenuation per unit of biomass
    att_vh: float = 0.8
    rough: float = 0.0  # soil roughness offset (ridges, clods)
    struct_vv: float | None = None  # constant structural term (rows, trunks, buildings)
    struct_vh: float | None = None
    bumps: tuple[tuple[int, float, float, float], ...] = field(default=())  # (pol, day, w, dB)


def _radar(entry: Mapping[str, Any], templates: Mapping[str, Mapping[str, Any]]) -> Radar:
    values = dict(templates[entry["template"]]) if "template" in entry else {}
    values |= {k: v for k, v in entry.items() if k != "template"}
    values["bumps"] = tuple(
        (_POL[b["pol"]], season_day(b["day"]), b["width"], b["db"]) for b in values.get("bumps", ())
    )
    return Radar(**values)


_TABLE = load_params("radar")
_TEMPLATES = _TABLE.pop("templates")
_TABLE.pop("spread")  # per-unit spreads: drawn by :func:`~sitsfusion.simulate.units.unit_state`
RADAR: Mapping[int, Radar] = MappingProxyType(
    {appearance_code(k): _radar(v, _TEMPLATES) for k, v in _TABLE.items()}
)
"""Appearance code -> its Sentinel-1 response (``params/radar.json``)."""


def water_units(st: UnitState) -> np.ndarray:
    """Indices ``[n_water]`` of the open-water units (their backscatter is drawn per date)."""
    return np.flatnonzero(np.asarray(st.appearance) == WATER)


def s1_units(
    st: UnitState,
    wx: Weather,
    idx: np.ndarray,
    theta: float,
    descending: bool,
    jitter: np.ndarray,
    water: np.ndarray,
) -> np.ndarray:
    """Per-unit σ0 (linear power) float64 ``[2, U, T]`` (VV, VH) on the days ``idx [T]``.

    Args:
        st: the units' state (biomass, offsets).
        wx: the regional weather (soil moisture, wet season, frost).
        idx: ``[T]`` acquisition days of the season.
        theta: incidence angle (degrees).
        descending: descending orbit (morning: dew, frost).
        jitter: ``[T]`` per-date calibration jitter (dB), ``N(0, 0.15)`` draws.
        water: ``[2, n_water, T]`` wind-roughened water (dB) of the units
            :func:`water_units`, ``N(0, 2.5)`` draws, VV then VH.
    """
    d = idx.astype(np.float64)[None, :]
    cos_t = math.cos(math.radians(theta)) / math.cos(math.radians(38.0))
    g, dr, fl = st.green[:, idx], st.dry[:, idx], st.flower[:, idx]
    biomass = g + 0.35 * dr + 0.5 * fl
    moist = wx.moisture[idx][None, :] * st.drain[:, None]
    wet = wx.wet_season[idx][None, :]
    frost = wx.frost[idx][None, :] * (2.5 if descending else 1.0)
    n_units, t_n = biomass.shape
    sig = np.zeros((2, n_units, t_n))
    radar = [RADAR[int(a)] for a in st.appearance]
    row = {int(u): k for k, u in enumerate(water_units(st))}
    for pol in (_VV, _VH):
        soil0 = -14.5 if pol == _VV else -21.8
        gain = 1.0 if pol == _VV else 0.85
        soil_db = (
            soil0 + st.rough[:, pol, None] + gain * (3.5 * moist + 2.0 * wet) - 0.2 * (theta - 38)
        )
        soil_db = soil_db - frost
        soil_db = soil_db + np.array([r.rough for r in radar])[:, None] + st.soil_noise[:, idx]
        vv = pol == _VV
        vol_db = (
            np.array([r.vol_vv if vv else r.vol_vh for r in radar])[:, None] + st.vol[:, pol, None]
        )
        att = np.array([r.att_vv if vv else r.att_vh for r in radar])[:, None]
        tau2 = np.exp(-att * biomass / cos_t)
        lin = 10 ** (vol_db / 10) * cos_t * (1 - tau2) + tau2 * 10 ** (soil_db / 10)
        db_extra = np.zeros_like(lin)
        for u, r in enumerate(radar):
            app = int(st.appearance[u])
            struct = r.struct_vv if vv else r.struct_vh
            if struct is not None:
                if app == URBAN:
                    struct = struct + st.urban[u] * (1.0 if pol == _VV else 0.5)
                lin[u] += 10 ** ((struct - frost[0] * 0.3) / 10)
            for b_pol, day, width, amp in r.bumps:
                if b_pol == pol:
                    db_extra[u] += amp * np.exp(-(((d[0] - day - st.offset[u]) / width) ** 2))
            if app == WATER:  # wind-roughened open water, very low backscatter
                base = -19.0 if pol == _VV else -26.0
                lin[u] = 10 ** ((base + water[pol, row[u]]) / 10)
        if descending:  # morning dew on leaves raises backscatter a little
            db_extra += 0.4 * g
        db_extra += st.look[:, int(descending), pol, None]
        sig[pol] = lin * 10 ** ((db_extra + jitter[None, :]) / 10)
    return sig


def s1_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """The static backscatter texture of a ``size x size`` image: a float32 ``[H, W]`` linear
    gain, drawn once per orbit's image series from ``rng``."""
    tex = 0.6 * smooth_field(rng, (size, size), 2.0) + 0.3 * rng.standard_normal((size, size))
    return (10 ** (tex / 10)).astype(np.float32)


def s1_pixels(unit_map: np.ndarray, sig: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Speckle-free σ0 float32 ``[T, 2, H, W]``: the units' ``sig [2, U, T]`` on the pixels of
    ``unit_map [H, W]``, times the texture ``gain [H, W]``, slightly blurred."""
    pix = np.take(sig.transpose(2, 0, 1).astype(np.float32), unit_map, axis=2)  # (T, 2, H, W)
    pix *= gain
    return ndimage.gaussian_filter(pix, (0, 0, 0.7, 0.7), mode="nearest")


def s1_db(pix: np.ndarray, speckle: np.ndarray) -> np.ndarray:
    """(VV dB, VH dB, VV−VH) float32 ``[T, 3, H, W]`` of ``pix [T, 2, H, W]`` (linear) times
    ``speckle [T, 2, H, W]`` (float32 ``Gamma(ENL)`` draws, :data:`ENL`); ``pix`` is
    overwritten."""
    pix *= speckle / np.float32(ENL)
    db = 10.0 * np.log10(np.maximum(pix, np.float32(1e-5)))
    out = np.empty((pix.shape[0], 3, *pix.shape[2:]), dtype=np.float32)
    out[:, :2] = db
    out[:, 2] = db[:, 0] - db[:, 1]
    return out


def simulate_s1(
    lay: Layout,
    st: UnitState,
    wx: Weather,
    idx: np.ndarray,
    rng: np.random.Generator,
    theta: float,
    descending: bool,
) -> np.ndarray:
    """Sentinel-1 (VV dB, VH dB, VV−VH) float32 ``[T, 3, H, W]`` on the days ``idx [T]``.

    All the dates at once: the own-area scene (:mod:`.scene`) composes the same pieces
    (:func:`s1_units`, :func:`s1_texture`, :func:`s1_pixels`, :func:`s1_db`) a chunk of
    dates at a time.

    Args:
        lay: the patch layout.
        st: its units' state (biomass, offsets).
        wx: the regional weather (soil moisture, wet season, frost).
        idx: ``[T]`` acquisition days of the season.
        rng: the orbit's generator (texture, speckle).
        theta: incidence angle (degrees).
        descending: descending orbit (morning: dew, frost).
    """
    size = lay.unit_map.shape[0]
    t_n = idx.size
    jitter = rng.normal(0.0, 0.15, t_n)
    n_water = water_units(st).size
    water = np.empty((2, n_water, t_n))
    for pol in (_VV, _VH):  # the draw order of the per-unit loop: VV's water units, then VH's
        for k in range(n_water):
            water[pol, k] = rng.normal(0.0, 2.5, t_n)
    sig = s1_units(st, wx, idx, theta, descending, jitter, water)
    pix = s1_pixels(lay.unit_map, sig, s1_texture(rng, size))
    return s1_db(pix, rng.standard_gamma(ENL, pix.shape, dtype=np.float32))
