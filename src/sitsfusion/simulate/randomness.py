"""Deterministic randomness of the simulator: keyed generators, name hashes, smooth fields."""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["keyed_rng", "name_hash", "smooth_field"]


def name_hash(text: str) -> int:
    """A stable integer of a name (CRC-32 of its UTF-8 bytes; the same on every machine)."""
    return zlib.crc32(text.encode("utf-8"))


def keyed_rng(*keys: int) -> np.random.Generator:
    """An independent generator for a tuple of integer keys (seed, region, patch, stream ...).

    The same keys give the same stream, so every patch and sensor draws its own numbers
    whatever else is simulated.
    """
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std, periodic smooth Gaussian random field ``[H, W]`` (Gaussian kernel of
    standard deviation ``sigma`` pixels, applied via FFT)."""
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    kernel = np.exp(-2.0 * (np.pi * sigma) ** 2 * (ky**2 + kx**2))
    f = np.fft.irfft2(np.fft.rfft2(rng.standard_normal(shape)) * kernel, s=shape)
    return (f - f.mean()) / (f.std() + 1e-12)
