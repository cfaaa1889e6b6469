"""Mosaics: the predictions of patches that lie on one pixel grid, blended into one canvas.

Patches lie on one grid when they share the CRS and the pixel size, are north-up and their
origins are whole pixels apart (a prepared area, a PASTIS-R folder with ``crs`` /
``transform`` keys, the patches of one Sen4AgriNet tile). Each patch adds its per-class
probabilities ``[K, h, w]`` weighted by :func:`patch_weights`, a separable linear taper: the
weight falls linearly from the patch's centre to its edges but never reaches 0, so where
patches overlap the prediction made far from a patch edge (with more context) counts more,
and a pixel covered by one patch only keeps that patch's probabilities exactly. The mosaic's
class is the arg-max of the weighted mean.

The patches are kept until the end (their probabilities, parcel ids and reference classes,
:func:`canvas_bytes` per pixel), then added into a canvas over their bounding box. A mosaic is
refused when either passes :data:`MOSAIC_MAX_BYTES` (scene-scale tiling is for a later
version) or when the patches cover less than :data:`MIN_COVER` of their bounding box
(scattered samples, e.g. a few Sen4AgriNet patches of a tile: the mosaic would be nodata
almost everywhere).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MIN_COVER",
    "MOSAIC_MAX_BYTES",
    "AreaCanvas",
    "Blended",
    "MosaicRefused",
    "NotOnGrid",
    "canvas_bytes",
    "patch_weights",
    "taper",
]

MOSAIC_MAX_BYTES = 1024**3
"""Own choice: the largest canvas built in memory, and the largest sum of the patches kept
for it (so at most twice this at the peak): 1 GiB, e.g. 20 classes over ~3,500 x 3,500
pixels, an area of 35 km x 35 km at 10 m. Above it no mosaic is written (the per-patch maps
still are)."""

MIN_COVER = 0.5
"""Own choice: the fraction of their bounding box the patches must cover for a mosaic to be
written (scattered patches, e.g. a few of a Sen4AgriNet tile, would need a mostly empty
canvas)."""

_TOLERANCE = 1e-6  # of a pixel: origins closer than this to a whole pixel offset are on grid


class NotOnGrid(ValueError):
    """A patch is not on the pixel grid of the patches before it (rotated, other pixel size,
    origin not a whole number of pixels away)."""


class MosaicRefused(ValueError):
    """No mosaic for these patches: they need more memory than the limit, or are scattered."""


def taper(n: int) -> np.ndarray:
    """float32 ``[n]`` linear taper: ``min(i + 1, n - i)`` (1 at both ends, highest in the
    middle), divided by its maximum."""
    i = np.arange(n, dtype=np.float32)
    ramp = np.minimum(i + 1.0, n - i)
    return ramp / ramp.max()


def patch_weights(height: int, width: int) -> np.ndarray:
    """float32 ``[H, W]`` blending weights of a patch: the outer product of :func:`taper` along
    rows and columns (separable), > 0 everywhere."""
    return np.outer(taper(height), taper(width))


def canvas_bytes(num_classes: int, height: int, width: int) -> int:
    """Bytes of an :class:`AreaCanvas` of ``height x width`` pixels and ``num_classes``."""
    return height * width * (4 * num_classes + 4 + 8 + 8)


@dataclass(frozen=True)
class Blended:
    """The blended mosaic, cropped to the pixels the patches cover.

    ``probs`` float32 ``[K, H, W]`` (weighted mean; 0 where no patch), ``covered`` bool
    ``[H, W]``, ``parcels`` int64 ``[H, W]`` (0 = none), ``truth`` int64 ``[H, W]`` (-1 =
    unknown), ``transform`` the affine ``(a, b, c, d, e, f)`` of pixel (0, 0)."""

    probs: np.ndarray
    covered: np.ndarray
    parcels: np.ndarray
    truth: np.ndarray
    transform: tuple[float, float, float, float, float, float]


class AreaCanvas:
    """The blended predictions of patches on one pixel grid (one CRS).

    The grid is that of the first patch added: its pixel size ``(a, e)`` and origin; rows and
    columns are counted from that origin (negative above / left of it).

    Args:
        crs: the CRS of every patch.
        num_classes: K.
        max_bytes: the limit of the patches kept and of the canvas (:data:`MOSAIC_MAX_BYTES`).
    """

    def __init__(self, crs: str, num_classes: int, max_bytes: int = MOSAIC_MAX_BYTES) -> None:
        self.crs = crs
        self.num_classes = num_classes
        self.max_bytes = max_bytes
        self._grid: tuple[float, float, float, float] | None = None  # a, e, c, f
        self._pieces: list[tuple[int, int, np.ndarray, np.ndarray | None, np.ndarray | None]] = []
        self._bytes = 0

    def offset(self, transform: Sequence[float]) -> tuple[int, int]:
        """``(row, col)`` of the pixel (0, 0) of ``transform`` on this canvas's grid.

        Raises:
            NotOnGrid: a rotated or south-up affine, another pixel size, an origin that is
                not a whole number of pixels away.
        """
        a, b, c, d, e, f = (float(v) for v in transform)
        if b != 0.0 or d != 0.0 or a <= 0.0 or e >= 0.0:
            shown = tuple(round(v, 3) for v in (a, b, c, d, e, f))
            raise NotOnGrid(f"the affine {shown} is not north-up")
        if self._grid is None:
            self._grid = (a, e, c, f)
        ga, ge, gc, gf = self._grid
        if abs(a - ga) > _TOLERANCE * ga or abs(e - ge) > _TOLERANCE * -ge:
            raise NotOnGrid(f"pixel size ({a}, {e}) differs from ({ga}, {ge})")
        col, row = (c - gc) / ga, (f - gf) / ge
        if abs(col - round(col)) > _TOLERANCE or abs(row - round(row)) > _TOLERANCE:
            raise NotOnGrid(f"origin ({c}, {f}) is not a whole number of pixels from ({gc}, {gf})")
        return round(row), round(col)

    def _too_large(self, need: int, what: str) -> MosaicRefused:
        return MosaicRefused(
            f"{what} need {need / 2**30:.2f} GiB, above the {self.max_bytes / 2**30:.2f} GiB "
            "of a mosaic"
        )

    def add(
        self,
        probs: np.ndarray,
        transform: Sequence[float],
        parcels: np.ndarray | None = None,
        truth: np.ndarray | None = None,
    ) -> None:
        """Keep one patch (or window) for the mosaic: ``probs`` float ``[K, h, w]`` whose pixel
        (0, 0) is at ``transform``; ``parcels`` int ``[h, w]`` area-wide parcel ids (0 = none)
        and ``truth`` int ``[h, w]`` reference classes (-1 = unknown).

        Raises:
            NotOnGrid: see :meth:`offset`. MosaicRefused: the patches kept pass the limit.
        """
        k, h, w = probs.shape
        if k != self.num_classes:
            raise ValueError(f"probs have {k} classes, the canvas {self.num_classes}")
        row, col = self.offset(transform)
        self._bytes += canvas_bytes(k, h, w)
        if self._bytes > self.max_bytes:
            self._pieces.clear()
            raise self._too_large(self._bytes, f"the patches kept ({k} classes)")
        self._pieces.append((row, col, probs.astype(np.float32), parcels, truth))

    def extent(self) -> tuple[int, int, int, int]:
        """Rows ``r0:r1`` and columns ``c0:c1`` of the patches' bounding box."""
        if not self._pieces:
            raise ValueError("no patch was added to this canvas")
        r0 = min(p[0] for p in self._pieces)
        c0 = min(p[1] for p in self._pieces)
        r1 = max(p[0] + p[2].shape[1] for p in self._pieces)
        c1 = max(p[1] + p[2].shape[2] for p in self._pieces)
        return r0, c0, r1, c1

    def blended(self) -> Blended:
        """The weighted mean of the patches' probabilities over their bounding box (the
        patches kept are released).

        Raises:
            MosaicRefused: the canvas passes the limit, or the patches cover less than
                :data:`MIN_COVER` of their bounding box.
        """
        r0, c0, r1, c1 = self.extent()
        height, width = r1 - r0, c1 - c0
        area = sum(p[2].shape[1] * p[2].shape[2] for p in self._pieces)
        if area < MIN_COVER * height * width:
            self._pieces.clear()
            raise MosaicRefused(
                f"the patches are scattered: they cover {area / (height * width):.0%} of their "
                f"{height} x {width} pixel bounding box (a mosaic needs {MIN_COVER:.0%})"
            )
        need = canvas_bytes(self.num_classes, height, width)
        if need > self.max_bytes:
            self._pieces.clear()
            raise self._too_large(need, f"{height} x {width} pixels x {self.num_classes} classes")
        total = np.zeros((self.num_classes, height, width), dtype=np.float32)
        weight = np.zeros((height, width), dtype=np.float32)
        parcels = np.zeros((height, width), dtype=np.int64)
        truth = np.full((height, width), -1, dtype=np.int64)
        while self._pieces:  # each patch released as it is added
            row, col, probs, ids, known = self._pieces.pop()
            _, h, w = probs.shape
            rows, cols = slice(row - r0, row - r0 + h), slice(col - c0, col - c0 + w)
            weights = patch_weights(h, w)
            total[:, rows, cols] += probs * weights
            weight[rows, cols] += weights
            if ids is not None:
                np.copyto(parcels[rows, cols], ids, where=ids > 0)
            if known is not None:
                np.copyto(truth[rows, cols], known, where=known >= 0)
        covered = weight > 0
        np.divide(total, weight, out=total, where=covered)
        assert self._grid is not None
        a, e, c, f = self._grid
        transform = (a, 0.0, c + c0 * a, 0.0, e, f + r0 * e)
        return Blended(total, covered, parcels, truth, transform)
