"""The maps of an area: the predicted windows gathered into one mosaic per pixel grid, then
written as COGs (``mosaic.tif``) with their parcels aggregated once per parcel.

Samples are grouped by CRS and, when they carry one, by ``meta["year"]`` (Sen4AgriNet files of
two years of one tile are two maps, never blended). A group whose samples are not on one grid,
or whose canvas would pass :data:`~sitsfusion.inference.mosaic.MOSAIC_MAX_BYTES`, gets no
mosaic (a note says why) and keeps the per-patch parcels.

Area parcels need parcel ids that are the same across patches: ``ANNOTATIONS/ParcelIDs_<ID>.npy``
of a PASTIS-layout dataset (its ``INSTANCES`` are numbered per patch), else the samples'
``instances`` (Sen4AgriNet's ``parcels`` layer holds the tile's parcel ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.data.readers.pastis.arrays import load_annotation, parcel_ids_path
from sitsfusion.errors import DatasetError
from sitsfusion.inference.area import (
    AOI_FILE,
    USER_PARCELS_FILE,
    aoi_mask,
    area_parcels,
    mosaic_bands,
    read_aoi,
    read_user_parcels,
)
from sitsfusion.inference.maps import write_cog
from sitsfusion.inference.mosaic import MOSAIC_MAX_BYTES, AreaCanvas, MosaicRefused, NotOnGrid
from sitsfusion.inference.postprocess import minimum_mapping_unit, smooth_probabilities

__all__ = ["MOSAIC_NAME", "AreaMaps", "MosaicWritten"]

MOSAIC_NAME = "mosaic"
"""``<out>/mosaic.tif``; ``mosaic_EPSG_<code>.tif`` per CRS when there are several (and
``_<year>`` per year when the samples are of several years)."""

GroupKey = tuple[str, Any]  # (crs, year or None)


@dataclass
class _Group:
    canvas: AreaCanvas | None
    patches: int = 0
    with_parcels: bool = False
    note: str | None = None


@dataclass
class MosaicWritten:
    """One mosaic written: its file, CRS, group key and area parcels (None: no parcel ids)."""

    path: Path
    crs: str
    key: GroupKey
    parcels: Any | None = None  # geopandas.GeoDataFrame


@dataclass
class AreaMaps:
    """Gathers the predicted windows of a dataset into mosaics (one per grid).

    Args:
        root: the dataset folder (``data.root``): ``ParcelIDs``, ``aoi.geojson``,
            ``parcels.gpkg`` are looked for there.
        class_names: the K classes.
        max_bytes: the canvas limit.
        smooth: Gaussian smoothing of the blended probabilities, sigma in pixels
            (:func:`~sitsfusion.inference.postprocess.smooth_probabilities`), or None.
        mmu: minimum mapping unit of the class band in pixels
            (:func:`~sitsfusion.inference.postprocess.minimum_mapping_unit`), or None.
    """

    root: Path
    class_names: Sequence[str]
    max_bytes: int = MOSAIC_MAX_BYTES
    smooth: float | None = None
    mmu: int | None = None
    groups: dict[GroupKey, _Group] = field(default_factory=dict)
    _ids_cache: tuple[Path, np.ndarray] | None = None

    def parcel_ids(
        self, meta: Mapping[str, Any], rows: slice, cols: slice, instances: np.ndarray | None
    ) -> np.ndarray | None:
        """int64 ``[h, w]`` area-wide parcel ids of a window, or None when the dataset has
        only per-patch instance ids (PASTIS without ``ParcelIDs``) or none."""
        pid = meta.get("id")
        path = parcel_ids_path(self.root, pid) if isinstance(pid, int) else None
        if path is not None and path.is_file():
            if self._ids_cache is None or self._ids_cache[0] != path:
                self._ids_cache = (path, load_annotation(path).astype(np.int64))
            ids = self._ids_cache[1]
            if ids.ndim != 2 or ids.shape[0] < rows.stop or ids.shape[1] < cols.stop:
                raise DatasetError(
                    path,
                    f"shape {ids.shape}; expected [H, W] covering the patch's {rows.stop} "
                    f"x {cols.stop} pixels",
                )
            return ids[rows, cols]
        if meta.get("dataset") == "PASTIS":
            return None
        return instances

    def add(
        self,
        meta: Mapping[str, Any],
        crs: str,
        transform: Sequence[float],
        probs: np.ndarray,
        parcels: np.ndarray | None,
        truth: np.ndarray | None,
    ) -> None:
        """Add one predicted window (``probs`` float ``[K, h, w]`` at ``transform``)."""
        key = (crs, meta.get("year"))
        group = self.groups.get(key)
        if group is None:
            canvas = AreaCanvas(crs, len(self.class_names), self.max_bytes)
            group = self.groups[key] = _Group(canvas)
        group.patches += 1
        if group.canvas is None:
            return
        try:
            group.canvas.add(probs, transform, parcels, truth)
        except NotOnGrid as exc:
            group.canvas, group.note = None, f"sample {meta.get('id')!r} is not on the grid: {exc}"
        except MosaicRefused as exc:
            group.canvas, group.note = None, str(exc)
        group.with_parcels |= parcels is not None and bool((parcels > 0).any())

    def notes(self) -> list[str]:
        """Why some groups got no mosaic (one line each; complete after :meth:`write`)."""
        return [
            f"no mosaic ({', '.join(str(k) for k in key if k is not None)}): {g.note}; the "
            "per-patch maps are written"
            for key, g in self.groups.items()
            if g.note is not None
        ]

    def _suffix(self, key: GroupKey) -> str:
        crs, year = key
        crss = {k[0] for k in self.groups}
        years = {k[1] for k in self.groups}
        parts = []
        if len(crss) > 1:
            parts.append(crs.replace(":", "_"))
        if len(years) > 1 and year is not None:
            parts.append(str(year))
        return "".join("_" + p for p in parts)

    def write(self, out: Path, tags: Mapping[str, Any], nodata: int) -> list[MosaicWritten]:
        """Write the mosaic COG of every group on one grid into ``out`` and aggregate its
        parcels (with ``aoi.geojson``: nodata outside the AOI, its parcels only)."""
        aoi_path, user_path = self.root / AOI_FILE, self.root / USER_PARCELS_FILE
        aoi = read_aoi(aoi_path) if aoi_path.is_file() else None
        user = read_user_parcels(user_path) if user_path.is_file() else None
        written = []
        for key, group in self.groups.items():
            if group.canvas is None:
                continue
            try:
                blended = group.canvas.blended()
            except MosaicRefused as exc:
                group.canvas, group.note = None, str(exc)
                continue
            if self.smooth is not None:
                probs = smooth_probabilities(blended.probs, blended.covered, self.smooth)
                blended = replace(blended, probs=probs)
            shape = blended.covered.shape
            inside = None if aoi is None else aoi_mask(aoi, key[0], blended.transform, shape)
            bands = mosaic_bands(blended, inside, nodata)
            if self.mmu is not None:
                bands[0] = minimum_mapping_unit(bands[0], self.mmu, nodata)
            path = out / f"{MOSAIC_NAME}{self._suffix(key)}.tif"
            steps = {"smoothing_sigma_px": self.smooth, "minimum_mapping_unit_px": self.mmu}
            write_cog(
                path,
                bands,
                key[0],
                blended.transform,
                nodata=nodata,
                band_names=("class", "confidence"),
                tags={
                    **tags,
                    "blending": "separable linear taper (sitsfusion.inference.mosaic)",
                    **{k: v for k, v in steps.items() if v is not None},
                },
            )
            parcels = None
            if group.with_parcels:
                valid = blended.covered if inside is None else blended.covered & inside
                parcels = area_parcels(blended, valid, list(self.class_names), key[0], user)
            written.append(MosaicWritten(path, key[0], key, parcels))
        return written

    def layer_name(self, key: GroupKey) -> str:
        """The GeoPackage layer of a group's parcels: ``parcels`` or ``parcels_<suffix>``."""
        return f"parcels{self._suffix(key)}"
