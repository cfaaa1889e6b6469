"""Sentinel-2 signal model: linear spectral mixing, within-parcel variability, wet soil, haze,
noise, clouds and their shadows, 20 m bands degraded and upsampled.

The spectra (endmembers, cloud, haze, per-appearance scalings) are in :mod:`.spectra`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from sitsfusion.simulate.layout import Layout
from sitsfusion.simulate.randomness import smooth_field
from sitsfusion.simulate.spectra import BANDS_20M, CLOUD, ENDMEMBERS, HAZE
from sitsfusion.simulate.units import UnitState
from sitsfusion.simulate.weather import Weather

__all__ = [
    "S2Texture",
    "S2Units",
    "add_cloud",
    "add_clouds",
    "add_s2_noise",
    "cloud_fractions",
    "s2_digital",
    "s2_surface",
    "s2_texture",
    "s2_units",
    "simulate_s2",
    "upsample_20m",
]


@dataclass(frozen=True)
class S2Units:
    """Per-unit Sentinel-2 signal of ``T`` days, each ``[U, T, 10]`` float64."""

    refl: np.ndarray  # reflectance of the unit's mean surface
    dgreen: np.ndarray  # its derivative w.r.t. the relative greenness (texture ``a``)
    dsub: np.ndarray  # its derivative w.r.t. the substrate brightness (texture ``b``)

    def days(self, sel: slice) -> S2Units:
        """The same units on the days ``sel`` of the ``T`` (a view)."""
        return S2Units(self.refl[:, sel], self.dgreen[:, sel], self.dsub[:, sel])


@dataclass(frozen=True)
class S2Texture:
    """Static within-parcel texture of an image series, each ``[H, W]`` float32."""

    a: np.ndarray  # relative greenness
    b: np.ndarray  # substrate brightness


def upsample_20m(x: np.ndarray) -> np.ndarray:
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


def s2_units(st: UnitState, wx: Weather, idx: np.ndarray) -> S2Units:
    """The per-unit reflectance of the days ``idx [T]`` and its sensitivities to the surface
    texture (:class:`S2Units`, each ``[U, T, 10]``); no randomness."""
    g, dr, fl = st.green[:, idx], st.dry[:, idx], st.flower[:, idx]  # (U, T)
    wet = 1.0 - 0.15 * wx.moisture[idx][None, :] * st.soil_like[:, None]
    sub_frac = np.clip(1.0 - g - dr - fl, 0, 1)
    sub_spec = st.substrate[:, None, :] * wet[:, :, None]  # (U, T, 10)
    refl = (
        g[:, :, None] * st.veg[:, None, :]
        + dr[:, :, None] * st.dryspec[:, None, :]
        + fl[:, :, None] * ENDMEMBERS["yellow_flower"][None, None, :]
        + sub_frac[:, :, None] * sub_spec
    )
    dgreen = g[:, :, None] * (st.veg[:, None, :] - sub_spec)  # d(refl)/d(relative greenness)
    dsub = sub_frac[:, :, None] * sub_spec  # d(refl)/d(substrate brightness)
    return S2Units(refl, dgreen, dsub)


def s2_texture(rng: np.random.Generator, size: int) -> S2Texture:
    """The static within-parcel texture of a ``size x size`` image (:class:`S2Texture`),
    drawn once per image series from ``rng``."""
    a = 0.08 * smooth_field(rng, (size, size), 3.0) + 0.04 * rng.standard_normal((size, size))
    b = 0.06 * smooth_field(rng, (size, size), 4.0) + 0.03 * rng.standard_normal((size, size))
    return S2Texture(a.astype(np.float32), b.astype(np.float32))


def s2_surface(unit_map: np.ndarray, units: S2Units, tex: S2Texture) -> np.ndarray:
    """Noise-free surface reflectance float32 ``[T, 10, H, W]`` of the units ``units`` (their
    ``T`` days) on the pixels of ``unit_map [H, W]``, with the texture ``tex``.

    Holds at most two ``[T, 10, H, W]`` float32 arrays at a time.
    """

    def to_pixels(a: np.ndarray) -> np.ndarray:  # (U, T, 10) -> (T, 10, H, W)
        c = np.ascontiguousarray(a.transpose(1, 2, 0), dtype=np.float32)
        return np.take(c, unit_map, axis=2)

    img = to_pixels(units.refl)
    part = to_pixels(units.dgreen)
    part *= tex.a
    img += part
    del part
    part = to_pixels(units.dsub)
    part *= tex.b
    img += part
    return img


def add_s2_noise(img: np.ndarray, haze: np.ndarray, noise: np.ndarray) -> None:
    """Add haze and sensor noise in place to ``img [T, 10, H, W]`` (reflectance).

    Args:
        img: reflectance ``[T, 10, H, W]`` float32.
        haze: ``[T]`` haze amplitudes, ``N(0, 0.006)`` draws.
        noise: ``[T, 10, H, W]`` float32 standard normal draws (noise grows with the signal).
    """
    img += (haze[:, None] * HAZE[None, :]).astype(np.float32)[:, :, None, None]
    img += noise * (0.002 + 0.01 * np.abs(img))


def s2_digital(img: np.ndarray) -> np.ndarray:
    """Degrade the 20 m bands of ``img [T, 10, H, W]`` (reflectance, in place) and return the
    reflectance x 10000 as int16 ``[T, 10, H, W]`` (clipped to 1..20000)."""
    img[:, BANDS_20M] = upsample_20m(img[:, BANDS_20M])
    return np.clip(np.rint(img * 10000.0), 1, 20000).astype(np.int16)


def simulate_s2(
    lay: Layout,
    st: UnitState,
    wx: Weather,
    idx: np.ndarray,
    rng: np.random.Generator,
    cloud_rng: np.random.Generator,
    cloud_cover: float,
) -> np.ndarray:
    """Sentinel-2 L2A reflectance × 10000 as int16 ``[T, 10, H, W]`` on the days ``idx [T]``.

    All the dates at once: the own-area scene (:mod:`.scene`) composes the same pieces
    (:func:`s2_units`, :func:`s2_texture`, :func:`s2_surface`, :func:`add_s2_noise`,
    :func:`add_cloud`, :func:`s2_digital`) a chunk of dates at a time.

    Args:
        lay: the patch layout.
        st: its units' phenology and spectra.
        wx: the regional weather (soil moisture).
        idx: ``[T]`` acquisition days of the season.
        rng: generator of the surface texture and noise.
        cloud_rng: generator of the clouds (so that clouds change nothing else).
        cloud_cover: expected cloudy fraction of the pixel observations (0 = none).
    """
    size = lay.unit_map.shape[0]
    units = s2_units(st, wx, idx)
    img = s2_surface(lay.unit_map, units, s2_texture(rng, size))
    haze = rng.normal(0.0, 0.006, idx.size)
    add_s2_noise(img, haze, rng.standard_normal(img.shape, dtype=np.float32))
    if cloud_cover > 0:
        add_clouds(img, wx, idx, cloud_rng, cloud_cover)
    return s2_digital(img)


def cloud_fractions(
    wx: Weather, idx: np.ndarray, rng: np.random.Generator, cloud_cover: float
) -> np.ndarray:
    """``[T]`` cloudy fractions of the images of the days ``idx [T]``: beta draws of mean
    ``cloud_cover``, cloudier in winter (all 1 when ``cloud_cover`` >= 1)."""
    doy = np.array([(wx.origin + dt.timedelta(days=int(k))).timetuple().tm_yday for k in idx])
    season = 1.0 + 0.45 * np.cos(2 * np.pi * (doy - 15) / 365.25)  # cloudier winters
    mean = np.clip(cloud_cover * season, 1e-4, 0.97)
    alpha_b = 0.6
    cover = rng.beta(alpha_b, alpha_b * (1.0 - mean) / mean)
    if cloud_cover >= 1.0:
        cover[:] = 1.0
    return cover


def add_cloud(img: np.ndarray, cover: float, rng: np.random.Generator) -> None:
    """Cloud blobs (bright, flat) covering about ``cover`` of one image ``img [10, H, W]``
    (reflectance) and their displaced shadows, in place; the draws come from ``rng`` (the
    same number of them whatever ``cover``)."""
    size = img.shape[1]
    pad = 24
    c = float(cover)
    scale = rng.uniform(5.0, 25.0)
    shape = (size + 2 * pad, size + 2 * pad)
    fieldc = smooth_field(rng, shape, scale) + 0.25 * smooth_field(rng, shape, 1.5)
    thick = rng.uniform(0.75, 1.0)
    bright = rng.uniform(0.6, 1.5)
    oy, ox = int(rng.integers(4, 16)), int(rng.integers(-4, 6))
    if c < 0.003:
        return
    core = fieldc[pad : pad + size, pad : pad + size]
    thr = np.quantile(core, 1.0 - c) if c < 1.0 else -np.inf
    alpha_full = np.clip((fieldc - thr) / 0.4, 0.0, 1.0) ** 0.7 * thick
    alpha = alpha_full[pad : pad + size, pad : pad + size].astype(np.float32)
    shade = alpha_full[pad + oy : pad + oy + size, pad + ox : pad + ox + size]
    shade = (1.0 - 0.6 * np.clip(shade / thick, 0, 1)).astype(np.float32)
    cloud = (CLOUD * bright).astype(np.float32)[:, None, None]
    texture = (1.0 + 0.05 * fieldc[pad : pad + size, pad : pad + size]).astype(np.float32)
    img[:] = img * shade * (1.0 - alpha) + alpha * cloud * texture


def add_clouds(
    img: np.ndarray, wx: Weather, idx: np.ndarray, rng: np.random.Generator, cloud_cover: float
) -> None:
    """Cloud blobs (bright, flat) and their displaced shadows, in place on ``img [T, 10, H, W]``
    (reflectance); cloudier in winter. One stream ``rng`` for all the dates: the fractions
    (:func:`cloud_fractions`), then each date's blobs (:func:`add_cloud`)."""
    cover = cloud_fractions(wx, idx, rng, cloud_cover)
    for t in range(img.shape[0]):
        add_cloud(img[t], float(cover[t]), rng)
