"""The block results of a scene → its maps: ``classes.tif``, ``probabilities.tif`` and the
parcels, written region by region (memory bounded by a block, never by the scene).

The scene is cut into **regions**, the cores of the blocks (from a block's first window to
the next block's first window). A region's probabilities are the sums of the results of every
block whose extent reaches it, divided by the summed weights: exactly the blending of all the
windows over the region, whichever blocks computed them. Optional post-processing
(:mod:`sitsfusion.inference.postprocess`) works on the region grown by a halo, then cropped:

* ``smooth`` (Gaussian sigma in pixels): halo ``ceil(4 sigma)``, beyond which the Gaussian
  weighs less than 1e-4: the same as smoothing the whole scene at once, to float precision;
* ``mmu`` (pixels): halo ``mmu`` pixels. Which regions are removed is exact: a connected region
  reaching from the core to the halo's edge has more than ``mmu`` pixels and stays, as it
  would in the whole scene; the class a removed region takes is that of its largest neighbour
  as seen within the halo.

Both files are tiled GeoTIFFs first (written window by window), then copied as
Cloud-Optimized GeoTIFFs with overviews (GDAL's COG driver streams the copy), each renamed
into place only once complete.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.geo.grid import Grid
from sitsfusion.io import atomic_path
from sitsfusion.mapping.predictor import read_result
from sitsfusion.mapping.windows import Block
from sitsfusion.optional import require

__all__ = [
    "CLASSES_BANDS",
    "CLASSES_FILE",
    "NODATA",
    "PROBABILITIES_FILE",
    "ParcelMaps",
    "Region",
    "SceneMaps",
    "entropy_percent",
    "map_bands",
    "parcel_index",
    "regions",
    "square_regions",
    "write_maps",
]

CLASSES_FILE = "classes.tif"
"""uint8 bands :data:`CLASSES_BANDS`; :data:`NODATA` outside the area / without a window."""
PROBABILITIES_FILE = "probabilities.tif"
"""uint8, one band per class: its probability in percent (0-100); :data:`NODATA` likewise."""
CLASSES_BANDS = ("class", "confidence", "entropy")
NODATA = 255  # as predict's maps (sitsfusion.inference.predict.NODATA)
COG_OPTIONS = {"compress": "DEFLATE", "blocksize": 256}  # own choice: 256-px tiles, lossless


@dataclass(frozen=True)
class Region:
    """Rows ``r0:r1`` and columns ``c0:c1`` of the scene, written at once."""

    r0: int
    c0: int
    r1: int
    c1: int

    def grown(self, halo: int, shape: tuple[int, int]) -> Region:
        """This region grown by ``halo`` pixels each way, within ``shape``."""
        return Region(
            max(0, self.r0 - halo),
            max(0, self.c0 - halo),
            min(shape[0], self.r1 + halo),
            min(shape[1], self.c1 + halo),
        )


def regions(blocks: Sequence[Block], shape: tuple[int, int]) -> list[Region]:
    """The cores of ``blocks``: from each block's first window to the next block's first
    window (the scene's edge for the last ones); they tile the scene."""
    row_starts = sorted({b.extent[0] for b in blocks if b.col == 0})
    col_starts = sorted({b.extent[1] for b in blocks if b.row == 0})
    row_ends = [*row_starts[1:], shape[0]]
    col_ends = [*col_starts[1:], shape[1]]
    return [
        Region(r0, c0, r1, c1)
        for r0, r1 in zip(row_starts, row_ends, strict=True)
        for c0, c1 in zip(col_starts, col_ends, strict=True)
    ]


def entropy_percent(probs: np.ndarray) -> np.ndarray:
    """The Shannon entropy of ``probs`` ``[K, ...]`` divided by ``log K``, in percent
    (0: one class certain, 100: all classes equally likely); float32 ``[...]``."""
    k = probs.shape[0]
    if k < 2:
        return np.zeros(probs.shape[1:], dtype=np.float32)
    p = np.clip(probs, 1e-12, 1.0)
    h = -(probs * np.log(p)).sum(axis=0)
    return (100.0 * h / math.log(k)).astype(np.float32)


@dataclass
class ParcelTotals:
    """Per-parcel sums gathered region by region (a parcel crossing regions is summed once
    over all its pixels): probabilities ``[N, K]``, class counts ``[N, K]``, pixels ``[N]``."""

    frame: Any  # geopandas.GeoDataFrame in the grid CRS
    num_classes: int
    probs: np.ndarray = field(init=False)
    counts: np.ndarray = field(init=False)
    pixels: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n, k = len(self.frame), self.num_classes
        self.probs = np.zeros((n, k), dtype=np.float64)
        self.counts = np.zeros((n, k), dtype=np.int64)
        self.pixels = np.zeros(n, dtype=np.int64)

    def add(self, region: Region, transform: Any, probs: np.ndarray, classes: np.ndarray) -> None:
        """Add a region's final ``probs`` ``[K, h, w]`` and ``classes`` ``[h, w]`` (NODATA
        pixels left out) to the parcels whose centre-covered pixels lie in it."""
        index = parcel_index(self.frame, transform, region)
        keep = (index > 0) & (classes != NODATA)
        if not keep.any():
            return
        at = index[keep] - 1
        self.pixels += np.bincount(at, minlength=len(self.frame))
        self.counts += np.bincount(
            at * self.num_classes + classes[keep], minlength=len(self.frame) * self.num_classes
        ).reshape(-1, self.num_classes)
        for k in range(self.num_classes):
            self.probs[:, k] += np.bincount(at, weights=probs[k][keep], minlength=len(self.frame))

    def table(self, class_names: Sequence[str], method: str) -> Any:
        """The parcels with ``pred_class``, ``pred_name``, ``confidence`` and ``pixels`` (those
        with no pixel predicted are left out): ``method`` ``mean`` (the arg-max of the mean
        probability; confidence: that probability) or ``majority`` (the most frequent pixel
        class; confidence: its share of the pixels)."""
        seen = self.pixels > 0
        frame = self.frame[seen].copy()
        pixels = self.pixels[seen]
        if method == "mean":
            mean = self.probs[seen] / pixels[:, None]
            best = mean.argmax(axis=1)
            confidence = mean[np.arange(best.size), best]
        else:
            counts = self.counts[seen]
            best = counts.argmax(axis=1)
            confidence = counts[np.arange(best.size), best] / pixels
        frame["pred_class"] = best.astype(np.int64)
        frame["pred_name"] = [class_names[c] for c in best]
        frame["confidence"] = confidence.astype(np.float64)
        frame["pixels"] = pixels
        return frame


class SceneMaps:
    """Assembles the block results of a scene into its maps.

    Args:
        blocks: the scene's blocks (every one with a result file in ``results``).
        results: the folder of the block results.
        grid: the scene's grid.
        class_names: the K classes.
        smooth, mmu: the post-processing (module docstring), None: none.
        area: the area of interest (a shapely geometry in the grid CRS): pixels whose centre
            is outside are no data; None: the whole grid.
        parcels: a GeoDataFrame of parcels in the grid CRS to aggregate, None: none.
    """

    def __init__(
        self,
        blocks: Sequence[Block],
        results: Path,
        grid: Grid,
        class_names: Sequence[str],
        *,
        smooth: float | None = None,
        mmu: int | None = None,
        area: Any = None,
        parcels: Any = None,
    ) -> None:
        self.blocks = list(blocks)
        self.results = Path(results)
        self.grid = grid
        self.class_names = list(class_names)
        self.smooth = smooth
        self.mmu = mmu
        self.area = area
        self.totals = None if parcels is None else ParcelTotals(parcels, len(self.class_names))
        halo = 0
        if smooth is not None:
            halo += math.ceil(4 * smooth)
        if mmu is not None:
            halo += int(mmu)
        self.halo = halo

    # ---- one region ---------------------------------------------------------------------------

    def blended(self, region: Region) -> tuple[np.ndarray, np.ndarray]:
        """float32 ``[K, h, w]`` blended probabilities of ``region`` and bool ``[h, w]``
        covered by a window."""
        h, w = region.r1 - region.r0, region.c1 - region.c0
        total = np.zeros((len(self.class_names), h, w), dtype=np.float32)
        weight = np.zeros((h, w), dtype=np.float32)
        for block in self.blocks:
            r0, c0, r1, c1 = block.extent
            if r1 <= region.r0 or r0 >= region.r1 or c1 <= region.c0 or c0 >= region.c1:
                continue
            result = read_result(self.results / f"{block.name}.npz")
            ra, rb = max(r0, region.r0), min(r1, region.r1)
            ca, cb = max(c0, region.c0), min(c1, region.c1)
            src = (slice(ra - r0, rb - r0), slice(ca - c0, cb - c0))
            dst = (slice(ra - region.r0, rb - region.r0), slice(ca - region.c0, cb - region.c0))
            total[(slice(None), *dst)] += result.sums[(slice(None), *src)]
            weight[dst] += result.weights[src]
        covered = weight > 0
        np.divide(total, weight, out=total, where=covered)
        return total, covered

    def _inside(self, region: Region) -> np.ndarray:
        """bool ``[h, w]``: pixel centres inside the area of interest."""
        h, w = region.r1 - region.r0, region.c1 - region.c0
        if self.area is None:
            return np.ones((h, w), dtype=bool)
        from affine import Affine
        from rasterio.features import geometry_mask

        local = self.grid.transform * Affine.translation(region.c0, region.r0)
        return geometry_mask([self.area], out_shape=(h, w), transform=local, invert=True)

    def region_maps(self, region: Region) -> tuple[np.ndarray, np.ndarray]:
        """``(classes bands uint8 [3, h, w], probabilities uint8 [K, h, w])`` of ``region``,
        and gathers its parcels."""
        from sitsfusion.inference.postprocess import minimum_mapping_unit, smooth_probabilities

        shape = self.grid.shape
        big = region.grown(self.halo, shape)
        probs, covered = self.blended(big)
        valid = covered & self._inside(big)
        if self.smooth is not None:
            probs = smooth_probabilities(probs, valid, self.smooth)
        classes = np.where(valid, probs.argmax(axis=0), NODATA).astype(np.uint8)
        if self.mmu is not None:
            classes = minimum_mapping_unit(classes, self.mmu, NODATA)
        crop = (
            slice(region.r0 - big.r0, region.r1 - big.r0),
            slice(region.c0 - big.c0, region.c1 - big.c0),
        )
        probs, classes, valid = probs[(slice(None), *crop)], classes[crop], valid[crop]
        if self.totals is not None:
            self.totals.add(region, self.grid.transform, probs, classes)
        return map_bands(probs, classes, valid)

    # ---- the files ----------------------------------------------------------------------------

    def write(
        self,
        out: Path,
        tags: Mapping[str, Any],
        on_region: Callable[[int, int], None] | None = None,
    ) -> dict[str, Path]:
        """Write ``out/classes.tif`` and ``out/probabilities.tif`` (:func:`write_maps`) over the
        regions of the blocks; ``on_region(done, total)`` after each."""
        todo = regions(self.blocks, self.grid.shape)
        return write_maps(out, self.grid, self.class_names, tags, todo, self.region_maps, on_region)

    def parcels(self, method: str) -> Any:
        """The aggregated parcels (:meth:`ParcelTotals.table`), after :meth:`write`."""
        if self.totals is None:
            raise ValueError("no parcels were given")
        return self.totals.table(self.class_names, method)


def parcel_index(frame: Any, transform: Any, region: Region) -> np.ndarray:
    """int32 ``[h, w]``: over ``region`` of the grid of ``transform``, the row of ``frame`` + 1
    of the parcel holding each pixel's centre (0: none); only the parcels the spatial index
    finds around the region are rasterised."""
    from affine import Affine
    from rasterio.features import rasterize
    from shapely.geometry import box

    h, w = region.r1 - region.r0, region.c1 - region.c0
    local = transform * Affine.translation(region.c0, region.r0)
    x0, y1 = local * (0, 0)
    x1, y0 = local * (w, h)
    rows = frame.sindex.query(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    if rows.size == 0:
        return np.zeros((h, w), dtype=np.int32)
    geoms = frame.geometry.iloc[rows]
    shapes = ((g, int(i) + 1) for i, g in zip(rows, geoms, strict=True))
    return rasterize(shapes, out_shape=(h, w), transform=local, fill=0, dtype="int32")


def map_bands(
    probs: np.ndarray, classes: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The bands of both files from a region's ``probs`` float ``[K, h, w]``, ``classes``
    uint8 ``[h, w]`` (after post-processing) and ``valid`` bool ``[h, w]``: classes bands
    uint8 ``[3, h, w]`` (:data:`CLASSES_BANDS`; confidence: the probability of the class
    written) and probabilities uint8 ``[K, h, w]`` in percent; :data:`NODATA` where not valid."""
    index = np.minimum(classes, probs.shape[0] - 1)[None].astype(np.int64)
    confidence = np.take_along_axis(probs, index, 0)[0]
    bands = np.stack(
        [
            np.where(valid, classes, NODATA),
            np.where(valid, np.rint(100.0 * confidence), NODATA),
            np.where(valid, np.rint(entropy_percent(probs)), NODATA),
        ]
    ).astype(np.uint8)
    percent = np.where(valid[None], np.rint(100.0 * probs), NODATA).astype(np.uint8)
    return bands, percent


def square_regions(shape: tuple[int, int], side: int = 1024) -> list[Region]:
    """Squares of ``side`` pixels tiling a grid of ``shape`` (smaller at its edges)."""
    return [
        Region(r, c, min(r + side, shape[0]), min(c + side, shape[1]))
        for r in range(0, shape[0], side)
        for c in range(0, shape[1], side)
    ]


def write_maps(
    out: Path,
    grid: Grid,
    class_names: Sequence[str],
    tags: Mapping[str, Any],
    todo: Sequence[Region],
    region_maps: Callable[[Region], tuple[np.ndarray, np.ndarray]],
    on_region: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Write ``out/classes.tif`` and ``out/probabilities.tif`` region by region: the bands of
    each region of ``todo`` from ``region_maps(region)`` (:func:`map_bands`) into tiled
    GeoTIFFs, then copied as COGs with overviews (nearest for the classes, average for the
    probabilities) and renamed into place; ``on_region(done, total)`` after each region.
    Returns ``{file name: path}``."""
    rasterio = require("rasterio", "geo", "writing the maps")
    from rasterio.shutil import copy as copy_raster

    shape = grid.shape
    k = len(class_names)
    common = {
        "driver": "GTiff",
        "width": shape[1],
        "height": shape[0],
        "dtype": "uint8",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "BIGTIFF": "IF_SAFER",
    }
    staged = {
        CLASSES_FILE: (out / f".{CLASSES_FILE}.tiles.tif", CLASSES_BANDS),
        PROBABILITIES_FILE: (out / f".{PROBABILITIES_FILE}.tiles.tif", tuple(class_names)),
    }
    text_tags = {str(a): str(b) for a, b in tags.items()}
    text_tags["classes"] = json.dumps(dict(enumerate(class_names)))
    try:
        with (
            rasterio.open(staged[CLASSES_FILE][0], "w", count=3, **common) as cls_dst,
            rasterio.open(staged[PROBABILITIES_FILE][0], "w", count=k, **common) as prob_dst,
        ):
            for dst, (_, names) in zip((cls_dst, prob_dst), staged.values(), strict=True):
                for i, name in enumerate(names, start=1):
                    dst.set_band_description(i, str(name))
                dst.update_tags(**text_tags)
            cls_dst.update_tags(bands=",".join(CLASSES_BANDS))
            prob_dst.update_tags(units="percent")
            for n, region in enumerate(todo, start=1):
                bands, percent = region_maps(region)
                window = rasterio.windows.Window(
                    region.c0, region.r0, region.c1 - region.c0, region.r1 - region.r0
                )
                cls_dst.write(bands, window=window)
                prob_dst.write(percent, window=window)
                if on_region is not None:
                    on_region(n, len(todo))
        written = {}
        for name, (tiles, _) in staged.items():
            resampling = "NEAREST" if name == CLASSES_FILE else "AVERAGE"
            with atomic_path(out / name) as tmp:
                copy_raster(tiles, tmp, driver="COG", overview_resampling=resampling, **COG_OPTIONS)
            written[name] = out / name
    finally:
        for tiles, _ in staged.values():
            tiles.unlink(missing_ok=True)
    return written


class ParcelMaps:
    """The maps of a parcel model: each parcel's pixels (centre inside its polygon) get its
    class and probabilities; pixels of no parcel are no data.

    Args:
        frame: the parcels mapped (GeoDataFrame in the grid CRS), ``pred_class`` column.
        probabilities: float ``[N, K]``, rows as ``frame``.
        grid: the grid of the maps.
    """

    def __init__(self, frame: Any, probabilities: np.ndarray, grid: Grid) -> None:
        self.frame = frame.reset_index(drop=True)
        self.probabilities = np.asarray(probabilities, dtype=np.float32)
        self.classes = self.frame["pred_class"].to_numpy(np.int64)
        self.grid = grid

    def region_maps(self, region: Region) -> tuple[np.ndarray, np.ndarray]:
        """:func:`map_bands` of ``region``."""
        index = parcel_index(self.frame, self.grid.transform, region)
        valid = index > 0
        at = np.maximum(index - 1, 0)
        probs = np.moveaxis(self.probabilities[at], -1, 0)  # [K, h, w]
        classes = self.classes[at].astype(np.uint8)
        return map_bands(probs, classes, valid)
