"""Sentinel-1 signal model: σ0 VV and VH from a water-cloud model, speckle, dB.

Vegetation volume scattering and attenuation driven by biomass and each appearance's structure
(``params/radar.json``), over a soil term driven by the regional rain events, frost and the
orbit's incidence angle; multiplicative gamma speckle (ENL 4.5) in the linear domain, then dB;
third channel VV_dB − VH_dB.
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

__all__ = ["RADAR", "S1_CHANNELS", "Radar", "simulate_s1"]

S1_CHANNELS: tuple[str, ...] = ("VV", "VH", "VV/VH")
"""Channels of the simulated Sentinel-1 arrays (dB; the third is VV − VH in dB)."""
_VV, _VH = 0, 1
_POL = {"VV": _VV, "VH": _VH}


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
RADAR: Mapping[int, Radar] = MappingProxyType(
    {appearance_code(k): _radar(v, _TEMPLATES) for k, v in _TABLE.items()}
)
"""Appearance code -> its Sentinel-1 response (``params/radar.json``)."""


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
                if app == URBAN:
                    struct = struct + st.urban[u] * (1.0 if pol == _VV else 0.5)
                lin[u] += 10 ** ((struct - frost[0] * 0.3) / 10)
            for b_pol, day, width, amp in r.bumps:
                if b_pol == pol:
                    db_extra[u] += amp * np.exp(-(((d[0] - day - st.offset[u]) / width) ** 2))
            if app == WATER:  # wind-roughened open water, very low backscatter
                base = -19.0 if pol == _VV else -26.0
                lin[u] = 10 ** ((base + rng.normal(0.0, 2.5, t_n)) / 10)
        if descending:  # morning dew on leaves raises backscatter a little
            db_extra += 0.4 * g
        sig[pol] = lin * 10 ** ((db_extra + jitter) / 10)
    um = lay.unit_map
    pix = np.take(sig.transpose(2, 0, 1).astype(np.float32), um, axis=2)  # (T, 2, H, W)
    tex = 0.6 * smooth_field(rng, (size, size), 2.0) + 0.3 * rng.standard_normal((size, size))
    pix *= (10 ** (tex / 10)).astype(np.float32)
    pix = ndimage.gaussian_filter(pix, (0, 0, 0.7, 0.7), mode="nearest")
    enl = 4.5  # multi-look speckle, gamma distributed in intensity
    pix *= rng.standard_gamma(enl, pix.shape, dtype=np.float32) / np.float32(enl)
    db = 10.0 * np.log10(np.maximum(pix, np.float32(1e-5)))
    out = np.empty((t_n, 3, size, size), dtype=np.float32)
    out[:, :2] = db
    out[:, 2] = db[:, 0] - db[:, 1]
    return out
