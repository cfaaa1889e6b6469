"""Optional post-processing of class maps: spatial smoothing of the class probabilities and a
minimum mapping unit.

* :func:`smooth_probabilities`: a Gaussian smoother of each class's probability map (as the
  smoothing step of sits smooths per-class probability cubes before labelling), normalised
  over the pixels that have a prediction, so that no-data pixels neither pull the smoothed
  values towards 0 nor receive values; the result sums to 1 again per pixel.
* :func:`minimum_mapping_unit`: regions (4-connected pixels of one class) smaller than a
  number of pixels take the class of their largest neighbouring region
  (``rasterio.features.sieve``); no-data pixels stay no data and are never a neighbour.
"""

from __future__ import annotations

import numpy as np

from sitsfusion.optional import require

__all__ = ["minimum_mapping_unit", "smooth_probabilities"]


def smooth_probabilities(probs: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """``probs`` ``[K, H, W]`` smoothed by a Gaussian of ``sigma`` pixels over ``valid``.

    Normalised convolution: ``G * (p · valid) / G * valid`` per class, then divided by the
    sum over the classes; pixels outside ``valid`` are returned unchanged.

    Args:
        probs: class probabilities, float ``[K, H, W]``.
        valid: bool ``[H, W]``, the pixels with a prediction.
        sigma: standard deviation of the Gaussian in pixels (> 0).
    """
    from scipy import ndimage

    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma}")
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 3 or probs.shape[1:] != np.shape(valid):
        raise ValueError(
            f"probs [K, H, W] and valid [H, W] disagree: {probs.shape}, {np.shape(valid)}"
        )
    mask = np.asarray(valid, dtype=np.float32)
    norm = ndimage.gaussian_filter(mask, sigma, mode="constant")
    out = probs.copy()
    inside = np.asarray(valid, dtype=bool) & (norm > 0)
    for k in range(probs.shape[0]):
        smoothed = ndimage.gaussian_filter(probs[k] * mask, sigma, mode="constant")
        out[k][inside] = smoothed[inside] / norm[inside]
    total = out.sum(axis=0)
    np.divide(out, total, out=out, where=inside & (total > 0))
    return out


def minimum_mapping_unit(classes: np.ndarray, min_pixels: int, nodata: int) -> np.ndarray:
    """``classes`` ``[H, W]`` with every 4-connected region of fewer than ``min_pixels``
    pixels given the class of its largest neighbouring region; ``nodata`` pixels unchanged.

    Args:
        classes: integer class map (uint8 as ``predict`` writes it).
        min_pixels: the minimum mapping unit in pixels (>= 1; 1 changes nothing).
        nodata: the no-data value (not a class, never merged into).
    """
    features = require("rasterio.features", "geo", "a minimum mapping unit")
    if min_pixels < 1:
        raise ValueError(f"min_pixels must be >= 1, got {min_pixels}")
    classes = np.asarray(classes)
    if min_pixels == 1:
        return classes.copy()
    data = classes.astype(np.int32)
    valid = classes != nodata
    sieved = features.sieve(data, size=int(min_pixels), mask=valid, connectivity=4)
    return np.where(valid, sieved, classes).astype(classes.dtype)
