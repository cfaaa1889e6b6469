"""Sentinel-2 signal model: linear spectral mixing, within-parcel variability, wet soil, haze,
noise, clouds and their shadows, 20 m bands degraded and upsampled.

The spectra (endmembers, cloud, haze, per-appearance scalings) are in :mod:`.spectra`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from sitsfusion.simulate.layout import Layout
from sitsfusion.simulate.randomness import smooth_field
from sitsfusion.simulate.spectra import BANDS_20M, CLOUD, ENDMEMBERS, HAZE
from sitsfusion.simulate.units import UnitState
from sitsfusion.simulate.weather import Weather

__all__ = [
    "add_clouds",
    "simulate_s2",
    "upsample_20m",
]


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
    um = lay.unit_map

    def to_pixels(a: np.ndarray) -> np.ndarray:  # (U, T, 10) -> (T, 10, H, W)
        return np.take(np.ascontiguousarray(a.transpose(1, 2, 0), dtype=np.float32), um, axis=2)

    a = 0.08 * smooth_field(rng, (size, size), 3.0) + 0.04 * rng.standard_normal((size, size))
    b = 0.06 * smooth_field(rng, (size, size), 4.0) + 0.03 * rng.standard_normal((size, size))
    img = to_pixels(refl)
    img += to_pixels(dgreen) * a.astype(np.float32)
    img += to_pixels(dsub) * b.astype(np.float32)
    t_n = idx.size
    haze = rng.normal(0.0, 0.006, t_n)[:, None] * HAZE[None, :]
    img += haze.astype(np.float32)[:, :, None, None]
    noise = rng.standard_normal(img.shape, dtype=np.float32)
    img += noise * (0.002 + 0.01 * np.abs(img))
    if cloud_cover > 0:
        add_clouds(img, wx, idx, cloud_rng, cloud_cover)
    img[:, BANDS_20M] = upsample_20m(img[:, BANDS_20M])
    return np.clip(np.rint(img * 10000.0), 1, 20000).astype(np.int16)


def add_clouds(
    img: np.ndarray, wx: Weather, idx: np.ndarray, rng: np.random.Generator, cloud_cover: float
) -> None:
    """Cloud blobs (bright, flat) and their displaced shadows, in place on ``img [T, 10, H, W]``
    (reflectance); cloudier in winter."""
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
        fieldc = smooth_field(rng, shape, scale) + 0.25 * smooth_field(rng, shape, 1.5)
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
        cloud = (CLOUD * bright).astype(np.float32)[:, None, None]
        texture = (1.0 + 0.05 * fieldc[pad : pad + size, pad : pad + size]).astype(np.float32)
        img[t] = img[t] * shade * (1.0 - alpha) + alpha * cloud * texture
