"""Sampling design: how many points per map class, and where (Olofsson et al. 2014, Sec. 5).

**Sample size** (Olofsson et al. 2014, Eq. 13; Cochran 1977, Eq. 5.25): for a target
standard error ``S(O)`` of the overall accuracy and conjectured user's accuracies ``U_i``,

    n = (sum_i W_i S_i / S(O))²,   S_i = sqrt(U_i (1 - U_i)),

with ``W_i`` the share of the mapped area in class ``i``.

**Allocation** (the rule chosen here, after Olofsson et al.'s recommendation to give rare
classes 50-100 points and the rest in proportion to area, Sec. 5.1.2): each class first gets
its proportional share ``n W_i``; a class whose share is below ``min_per_class`` gets
``min_per_class`` instead, and the points left are shared again in proportion to area among
the other classes (repeated until no class is below the minimum). No class gets more points
than it has pixels; a class with no pixels gets none. The total is ``n`` unless the minimums
alone need more (then it is their sum). Shares are rounded by largest remainder.

**Selection**: a stratified random sample of pixel centres, without replacement, drawn
from a seed (``numpy.random.default_rng``): in each class the point ranks are drawn among
its pixels in raster block order, then one more pass over the blocks turns ranks into
pixels. Two passes over the map, memory bounded by one block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sitsfusion.assessment.classmap import ClassMap, iter_blocks

__all__ = [
    "DEFAULT_EXPECTED_UA",
    "DEFAULT_MIN_PER_CLASS",
    "DEFAULT_TARGET_SE",
    "SamplePoints",
    "allocate",
    "cochran_sample_size",
    "draw_sample",
    "sample_sizes",
]

DEFAULT_TARGET_SE = 0.01
"""Target standard error of the overall accuracy (Olofsson et al. 2014, Sec. 5.1.1 example)."""
DEFAULT_EXPECTED_UA = 0.75
"""Conjectured user's accuracy of a class when none is given (sits' ``sits_sampling_design``
default; Olofsson et al. 2014 Sec. 5.1.1 use 0.6-0.95 by class)."""
DEFAULT_MIN_PER_CLASS = 50
"""Minimum points per mapped class (the low end of Olofsson et al.'s 50-100, Sec. 5.1.2)."""


def cochran_sample_size(
    weights: Sequence[float] | np.ndarray,
    expected_ua: Sequence[float] | np.ndarray,
    target_se: float = DEFAULT_TARGET_SE,
) -> float:
    """``n = (sum_i W_i S_i / S(O))²`` (Olofsson et al. 2014, Eq. 13), not rounded.

    Args:
        weights: ``[K]`` the mapped area proportions ``W_i`` (normalised here).
        expected_ua: ``[K]`` conjectured user's accuracies ``U_i`` in ``[0, 1]``.
        target_se: the target standard error ``S(O)`` of the overall accuracy (> 0).

    Raises:
        ValueError: bad shapes or values.
    """
    w = np.asarray(weights, dtype=np.float64)
    u = np.asarray(expected_ua, dtype=np.float64)
    if w.shape != u.shape or w.ndim != 1:
        raise ValueError(f"weights {w.shape} and expected user's accuracies {u.shape} differ")
    if not 0 < target_se < 1:
        raise ValueError(f"target standard error must be in (0, 1), got {target_se}")
    if ((u < 0) | (u > 1)).any():
        raise ValueError(f"expected user's accuracies must be in [0, 1], got {u.tolist()}")
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("the mapped area proportions must be >= 0 and not all 0")
    w = w / w.sum()
    return float((np.sum(w * np.sqrt(u * (1 - u))) / target_se) ** 2)


def _largest_remainder(total: int, shares: np.ndarray) -> np.ndarray:
    """Integers summing to ``total`` in proportion to ``shares`` (largest remainder)."""
    exact = total * shares / shares.sum()
    out = np.floor(exact).astype(np.int64)
    left = total - int(out.sum())
    order = np.argsort(-(exact - out), kind="stable")
    out[order[:left]] += 1
    return out


def allocate(total: int, pixels: Sequence[int] | np.ndarray, min_per_class: int) -> np.ndarray:
    """Points per class: proportional to ``pixels``, at least ``min_per_class`` in every class
    that has pixels, never more than a class's pixels (see the module's allocation rule).

    Returns:
        ``[K]`` int64; sums to ``total`` when the minimums and pixel counts allow it.
    """
    count = np.asarray(pixels, dtype=np.int64)
    sizes = np.zeros_like(count)
    fixed = count == 0
    sizes[count > 0] = np.minimum(min_per_class, count[count > 0])
    while True:
        free = ~fixed
        left = total - int(sizes[fixed].sum())
        if not free.any() or left <= 0:
            sizes[free] = np.minimum(min_per_class, count[free])
            return sizes
        share = _largest_remainder(left, count[free].astype(np.float64))
        below = share < np.minimum(min_per_class, count[free])
        above = share > count[free]
        if not (below.any() or above.any()):
            sizes[free] = share
            return sizes
        idx = np.flatnonzero(free)
        fixed[idx[below]] = True  # keeps its minimum
        sizes[idx[above]] = count[idx[above]]
        fixed[idx[above]] = True  # all its pixels


def sample_sizes(
    pixels: Sequence[int] | np.ndarray,
    expected_ua: Sequence[float] | np.ndarray | float = DEFAULT_EXPECTED_UA,
    target_se: float = DEFAULT_TARGET_SE,
    min_per_class: int = DEFAULT_MIN_PER_CLASS,
) -> np.ndarray:
    """``[K]`` points per map class: the total of Eq. 13 (rounded up), allocated by
    :func:`allocate`.

    Args:
        pixels: ``[K]`` pixels of each class in the map.
        expected_ua: conjectured user's accuracies, one per class or one for all.
        target_se: target standard error of the overall accuracy.
        min_per_class: minimum points per class with pixels (>= 2: the estimates need 2).
    """
    count = np.asarray(pixels, dtype=np.int64)
    if min_per_class < 2:
        raise ValueError(f"min_per_class must be >= 2 (the variances need 2), got {min_per_class}")
    u = np.broadcast_to(np.asarray(expected_ua, dtype=np.float64), count.shape)
    total = math.ceil(cochran_sample_size(count, u, target_se) - 1e-9)
    return allocate(total, count, min_per_class)


@dataclass(frozen=True)
class SamplePoints:
    """Sample pixels of a class map, in stratum order (class 0's first).

    Attributes:
        rows, cols: ``[n]`` int64 pixel indices in the raster.
        classes: ``[n]`` int64 map class of each pixel (its stratum).
    """

    rows: np.ndarray
    cols: np.ndarray
    classes: np.ndarray

    def centres(self, transform: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` ``[n]`` each: the pixel centres in the raster's CRS."""
        a, b, c, d, e, f = (float(v) for v in transform[:6])
        col, row = self.cols + 0.5, self.rows + 0.5
        return a * col + b * row + c, d * col + e * row + f


def _block_counts(cmap: ClassMap) -> np.ndarray:
    """``[B, K]`` pixels of each class in each block (block order of :func:`iter_blocks`)."""
    k = len(cmap.class_names)
    rows = []
    for _, block in iter_blocks(cmap):
        values = block[(block != cmap.nodata) & (block < k)].astype(np.int64)
        rows.append(np.bincount(values, minlength=k))
    return np.array(rows, dtype=np.int64).reshape(-1, k)


def draw_sample(cmap: ClassMap, sizes: Sequence[int] | np.ndarray, seed: int = 0) -> SamplePoints:
    """A stratified random sample of ``sizes[k]`` pixels of each class ``k``, without
    replacement, the same for the same map, sizes and ``seed``.

    Raises:
        ValueError: a class asked for more points than it has pixels.
    """
    k = len(cmap.class_names)
    want = np.asarray(sizes, dtype=np.int64)
    if want.shape != (k,):
        raise ValueError(f"sizes must give one number per class ({k}), got {want.shape}")
    per_block = _block_counts(cmap)
    available = per_block.sum(axis=0)
    short = np.flatnonzero(want > available)
    if short.size:
        c = int(short[0])
        raise ValueError(
            f"class {cmap.class_names[c]!r}: {int(want[c])} points asked, {int(available[c])} "
            "pixels in the map"
        )
    rng = np.random.default_rng(seed)
    ranks = [np.sort(rng.choice(int(available[c]), int(want[c]), replace=False)) for c in range(k)]
    start = np.cumsum(per_block, axis=0) - per_block  # [B, K] rank of each block's first pixel
    rows, cols, classes = [], [], []
    for b, (window, block) in enumerate(iter_blocks(cmap)):
        for c in range(k):
            lo, hi = start[b, c], start[b, c] + per_block[b, c]
            pick = ranks[c][(ranks[c] >= lo) & (ranks[c] < hi)]
            if not pick.size:
                continue
            flat = np.flatnonzero(block.ravel() == c)[pick - lo]
            r, q = np.divmod(flat, block.shape[1])
            rows.append(r + int(window.row_off))
            cols.append(q + int(window.col_off))
            classes.append(np.full(pick.size, c, dtype=np.int64))
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return SamplePoints(empty, empty, empty)
    row, col, cls = (np.concatenate(v).astype(np.int64) for v in (rows, cols, classes))
    order = np.lexsort((col, row, cls))  # stratum order, then raster order
    return SamplePoints(row[order], col[order], cls[order])
