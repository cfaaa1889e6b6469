"""Centerness ground truth of Parcels-as-Points (PaPs): a heatmap and supervision zones.

Each parcel (instance) contributes one 2-D Gaussian centred on its bounding-box centre, with
standard deviations proportional to the box's height and width (seed 001 / Garnot & Landrieu
2021, Eq. 6; reference/anchors-code.md §2.6)::

    σ_h = (1 − α) / (1 + α) · height / r        σ_w = (1 − α) / (1 + α) · width / r
    g_k(i, j) = exp(−(i − c_i)² / (2 σ_h²) − (j − c_j)² / (2 σ_w²))

with α = 0.7 and r = 3. The **heatmap** is the pixel-wise maximum over the parcels' Gaussians
(1 exactly at every parcel's centre pixel) and the **zones** map each pixel to the parcel whose
Gaussian is largest there (PaPs looks for one heatmap peak per zone during training).

Bounding box, as in the ``HEATMAP_<id>.npy`` files shipped with PASTIS (the box of
``pastis-benchmark:code/centerness_ground_truth.py``; checked against the real files of
``/work/shared/data/pastis_metadata_real``, identical on ≈ 99 % of the pixels, the rest being
parcels the real files drop as background): the tight box of the parcel's pixels, rows
``r0..r1`` and columns ``c0..c1`` inclusive, is **grown by one pixel on each side** and clipped
to the patch; then ``centre = r0' + (r1' − r0') // 2`` and ``height = r1' − r0'`` (likewise for
columns), e.g. an interior parcel of 3 rows has height 4 and its centre on its middle row.

Differences from the reference script (same values elsewhere):

* the dominating parcel is the one with the smallest exponent, found before taking the
  exponential: where every Gaussian underflows to 0 (far from every parcel) the reference's
  arg-max picks the first parcel, here the nearest one (in Mahalanobis distance) wins;
* ties go to the smallest instance id (the reference's first code, which is the same thing);
* a box one pixel tall or wide (only possible in a one-pixel-high patch) gets height 1 instead
  of a zero σ.

The computation is vectorised: bounding boxes by scatter-reduce over the pixels, Gaussians by
broadcasting over chunks of instances (one chunk for any PASTIS patch).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from sitsfusion.data.sample import Sample, SampleError

__all__ = ["ALPHA", "RADIUS", "CenternessTargets", "centerness_targets"]

# seed 001 / Garnot & Landrieu 2021, Eq. 6; reference §2.6
ALPHA = 0.7
"""α of the Gaussians' spread: σ = (1 − α) / (1 + α) · size / r."""
RADIUS = 3
"""r of the Gaussians' spread: σ = (1 − α) / (1 + α) · size / r."""

_CHUNK_ELEMENTS = 1 << 21  # instances × pixels evaluated at once (16 MiB of float64)


def _boxes(instances: Tensor, codes: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Centre and size ``(c_row, c_col, height, width)`` ``[n]`` of the grown, clipped boxes."""
    h, w = instances.shape
    rows, cols = torch.nonzero(instances, as_tuple=True)

    def extent(coord: Tensor, size: int) -> tuple[Tensor, Tensor]:
        lo = torch.full((n,), size, dtype=torch.long, device=coord.device)
        hi = torch.full((n,), -1, dtype=torch.long, device=coord.device)
        lo = lo.scatter_reduce(0, codes, coord, reduce="amin")
        hi = hi.scatter_reduce(0, codes, coord, reduce="amax")
        lo, hi = (lo - 1).clamp_min(0), (hi + 1).clamp_max(size - 1)  # one-pixel margin
        return lo + (hi - lo) // 2, (hi - lo).clamp_min(1)

    c_row, height = extent(rows, h)
    c_col, width = extent(cols, w)
    return c_row, c_col, height, width


def centerness_targets(
    instances: Tensor, alpha: float = ALPHA, r: float = RADIUS
) -> tuple[Tensor, Tensor]:
    """Heatmap and zones of one instance map (the PaPs centerness ground truth).

    Args:
        instances: integer ``[H, W]`` instance ids, 0 = no instance (remove background pixels
            first, e.g. ``instances * (semantic != 0)`` for PASTIS).
        alpha: α of Eq. 6, in (−1, 1) (default 0.7).
        r: r of Eq. 6, > 0 (default 3).

    Returns:
        ``(heatmap, zones)`` on the device of ``instances``: ``heatmap`` float32 ``[H, W]`` in
        [0, 1], the pixel-wise maximum of the parcels' Gaussians (1.0 at each parcel's
        bounding-box centre pixel); ``zones`` long ``[H, W]``, the id of the instance whose
        Gaussian dominates each pixel (every pixel when there is at least one instance; 0
        everywhere for a map without instances, whose heatmap is all zeros).

    Raises:
        ValueError: not an integer ``[H, W]`` tensor, negative ids, ``alpha`` or ``r`` out of
            range.
    """
    if not isinstance(instances, Tensor) or instances.ndim != 2:
        shape = tuple(instances.shape) if isinstance(instances, Tensor) else type(instances)
        raise ValueError(f"instances must be an [H, W] tensor, got {shape}")
    if instances.is_floating_point() or instances.is_complex() or instances.dtype == torch.bool:
        raise ValueError(f"instances must hold integer ids, got {instances.dtype}")
    if not -1.0 < alpha < 1.0 or not math.isfinite(alpha):
        raise ValueError(f"alpha must lie in (-1, 1), got {alpha}")
    if not r > 0 or not math.isfinite(r):
        raise ValueError(f"r must be > 0, got {r}")
    inst = instances.long()
    device = inst.device
    h, w = inst.shape
    heatmap = torch.zeros((h, w), dtype=torch.float32, device=device)
    zones = torch.zeros((h, w), dtype=torch.long, device=device)
    inside = inst != 0
    if h == 0 or w == 0 or not bool(inside.any()):
        return heatmap, zones
    if bool((inst < 0).any()):
        raise ValueError("instance ids must be >= 0 (0 = no instance)")
    ids, codes = torch.unique(inst[inside], return_inverse=True)  # ids sorted ascending
    n = int(ids.numel())
    c_row, c_col, height, width = _boxes(inst, codes, n)

    spread = (1.0 - alpha) / (1.0 + alpha) / r
    sigma_h = spread * height.double()
    sigma_w = spread * width.double()
    y = torch.arange(h, dtype=torch.float64, device=device)
    x = torch.arange(w, dtype=torch.float64, device=device)
    # exponent of each Gaussian, separable: q_row [n, H] + q_col [n, W]
    q_row = (y[None, :] - c_row.double()[:, None]) ** 2 / (2.0 * sigma_h[:, None] ** 2)
    q_col = (x[None, :] - c_col.double()[:, None]) ** 2 / (2.0 * sigma_w[:, None] ** 2)

    best = torch.full((h, w), math.inf, dtype=torch.float64, device=device)
    arg = torch.zeros((h, w), dtype=torch.long, device=device)
    step = max(1, _CHUNK_ELEMENTS // (h * w))
    for start in range(0, n, step):  # one chunk for n * H * W <= 2**21 (any PASTIS patch)
        stop = min(start + step, n)
        q = q_row[start:stop, :, None] + q_col[start:stop, None, :]  # [n_chunk, H, W]
        q_min, q_arg = q.min(dim=0)  # ties: first (smallest id) of the chunk
        better = q_min < best  # strict: earlier chunks (smaller ids) win ties
        best = torch.where(better, q_min, best)
        arg = torch.where(better, q_arg + start, arg)
    heatmap = torch.exp(-best).to(torch.float32)
    zones = ids[arg]
    return heatmap, zones


class CenternessTargets:
    """Transform filling a :class:`Sample`'s ``heatmap`` and ``zones`` from its ``instances``.

    For datasets without precomputed heatmaps (e.g. Sen4AgriNet's parcels), see
    :func:`centerness_targets`. Existing ``heatmap`` / ``zones`` are replaced.

    Args:
        alpha: α of Eq. 6 (default 0.7).
        r: r of Eq. 6 (default 3).
        background: if not None and the sample has a ``semantic`` map, pixels of this class are
            removed from the instances first (``instances × (semantic ≠ background)``, as PASTIS
            does with class 0), and the sample's ``instances`` are replaced by the result so
            that the targets agree.

    Raises:
        SampleError: the sample has no ``instances``.
    """

    def __init__(
        self, alpha: float = ALPHA, r: float = RADIUS, background: int | None = None
    ) -> None:
        if not -1.0 < alpha < 1.0:
            raise ValueError(f"alpha must lie in (-1, 1), got {alpha}")
        if not r > 0:
            raise ValueError(f"r must be > 0, got {r}")
        self.alpha, self.r, self.background = alpha, r, background

    def __call__(self, sample: Sample) -> Sample:
        instances = sample.instances
        if instances is None:
            raise SampleError(
                f"CenternessTargets: sample {sample.meta.get('id')!r} has no instances "
                "(load the dataset with an instance / panoptic target)"
            )
        changes: dict[str, Any] = {}
        if self.background is not None and sample.semantic is not None:
            instances = torch.where(
                sample.semantic == self.background, torch.zeros_like(instances), instances
            )
            changes["instances"] = instances
        heatmap, zones = centerness_targets(instances, self.alpha, self.r)
        return sample.replace(heatmap=heatmap, zones=zones, **changes)

    def __repr__(self) -> str:
        return f"CenternessTargets(alpha={self.alpha}, r={self.r}, background={self.background})"
