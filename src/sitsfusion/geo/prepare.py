"""``sitsfusion prepare``: the imagery and parcels of your own area → a PASTIS-R dataset.

:func:`prepare` chains the own-area pieces (``docs/own-area.md``): a :class:`Grid` over the
parcels (or an AOI file), every sensor loaded lazily onto it (:func:`load_sensor`), the parcels
labelled and rasterised (``geo.labels``), then cut into square patches written in the PASTIS-R
layout (``docs/formats.md``), which every PASTIS config trains on::

    OUT/metadata.geojson                 one feature per patch (+ optional ``crs``, ``transform``)
    OUT/aoi.geojson                      the area of interest, in the grid CRS
    OUT/parcels.gpkg                     the labelled parcels (layer ``parcels``), grid CRS
    OUT/NORM_<S>_patch.json              per-fold channel statistics
    OUT/DATA_S2/S2_<ID>.npy              [T, 10, H, W] int16, L2A reflectance x 10^4
    OUT/DATA_S1A/S1A_<ID>.npy            [T, 3, H, W] float32 dB: VV, VH, VV/VH (= VV - VH)
    OUT/DATA_S1D/S1D_<ID>.npy            (descending orbits)
    OUT/ANNOTATIONS/TARGET_<ID>.npy      [3, H, W] uint8, semantic classes (3 copies)
    OUT/ANNOTATIONS/ParcelIDs_<ID>.npy   [H, W] int32, the parcels' ids (0 = none)
    OUT/INSTANCE_ANNOTATIONS/INSTANCES_<ID>.npy, HEATMAP_<ID>.npy, ZONES_<ID>.npy   [H, W]
    OUT/.prepare/<ID>.json               what was written for a patch (resuming skips it)

Choices (documented in ``docs/own-area.md``, "prepare"):

* **Dates**: PASTIS has no validity mask, so a date is kept in a patch only when at least
  ``min_clear`` of the patch's pixels are valid (clear for S2, with data for S1); when no
  date reaches it, the clearest date alone is kept (a patch needs at least one). The invalid
  pixels of the dates kept hold 0 (the loader's fill). Each patch keeps its own dates.
* **Patches** tile the grid from its top-left corner; when the area is not a whole number of
  patches, the last row / column of patches is shifted back to end at the grid's edge (it
  overlaps its neighbour) rather than reaching beyond the imagery.
* **Folds** are spatial blocks (``sitsfusion.geo.folds``): blocks of ``block`` x ``block``
  patches, each wholly in one fold, dealt to the folds stratified by class. A parcel cut by
  patches of different folds belongs to the fold holding most of its pixels and is labelled
  void (ignored) in the patches of the other folds, so that no parcel is trained on in one
  fold and scored in another.
* **Reading** goes by tiles of several patches: one read of every acquisition per tile (the
  cost of a read hardly depends on its size), then the tile is cut into its patches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.geo.area import (
    MIN_CLEAR,
    SENSORS,
    Imagery,
    area_grid,
    check_arguments,
    crs_member,
    dataset_folder,
    pastis_values,
    progress_bar,
    read_labels,
    recorded_settings,
    select_dates,
    write_area,
    yyyymmdd,
)
from sitsfusion.geo.folds import block_index, owner_folds, stratified_folds
from sitsfusion.geo.grid import Grid, window_starts
from sitsfusion.io import read_json, save_npy_atomic, write_json_atomic
from sitsfusion.optional import require
from sitsfusion.outputs import mark_complete

__all__ = [
    "BLOCK",
    "FOLDS",
    "MIN_CLEAR",
    "PATCH_SIZE",
    "SENSORS",
    "TILE",
    "Patch",
    "PrepareSummary",
    "patch_grid",
    "patch_starts",
    "plan_patches",
    "prepare",
]

PATCH_SIZE = 128  # seed 001, Sec. 4.1: PASTIS patches are 128 x 128 pixels
FOLDS = 5  # seed 001, Sec. 4.1: PASTIS' 5-fold cross-validation
BLOCK = 2  # own choice: 2 x 2 patches per spatial block (2.56 km at 128 px, 10 m)
TILE = 512  # own choice: pixels per side of a read (whole patches); S2 ~0.5 GB per tile/season
RECORDS = ".prepare"


@dataclass(frozen=True)
class Patch:
    """One patch of the area: ``id`` (``ID_PATCH``, row-major from 1), its place ``row``,
    ``col`` in the grid of patches, its first pixel ``r0``, ``c0`` in the area grid and its
    ``fold``."""

    id: int
    row: int
    col: int
    r0: int
    c0: int
    fold: int


@dataclass(frozen=True)
class PrepareSummary:
    """What :func:`prepare` wrote.

    Attributes:
        out: the dataset folder.
        grid: the grid of the area (at least one patch in each direction).
        n_patches: patches in the dataset.
        n_empty: patches without any parcel (not written).
        n_resumed: patches found written by an earlier, interrupted run (skipped).
        n_cut: parcels cut by patches of different folds (void outside the fold owning them).
        dates: per sensor, the number of dates of the area (before per-patch selection).
        synthetic: the imagery is synthetic (the simulator's scene).
    """

    out: Path
    grid: Grid
    n_patches: int
    n_empty: int
    n_resumed: int
    n_cut: int
    dates: dict[str, int]
    synthetic: bool

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        dates = ", ".join(f"{s} {n}" for s, n in self.dates.items())
        h, w = self.grid.shape
        text = (
            f"{self.out}: {self.n_patches} patches of the {h} x {w} px grid "
            f"({self.n_empty} without parcels skipped, {self.n_resumed} resumed); dates: {dates}; "
            f"{self.n_cut} parcel(s) cut across folds, void outside their own fold"
        )
        return text + (" (synthetic)" if self.synthetic else "")


def patch_grid(grid: Grid, patch_size: int) -> Grid:
    """``grid``, grown right and / or down to ``patch_size`` pixels where it is smaller (an
    area smaller than one patch); unchanged otherwise (see :func:`patch_starts`)."""
    h, w = grid.shape
    side = patch_size * grid.resolution
    minx, miny, maxx, maxy = grid.bounds
    if h < patch_size:
        miny = maxy - side
    if w < patch_size:
        maxx = minx + side
    return Grid(grid.crs, grid.resolution, (minx, miny, maxx, maxy))


def patch_starts(n: int, size: int) -> list[int]:
    """First pixels of the patches along an axis of ``n >= size`` pixels: every ``size``
    pixels, the last one shifted back to end at ``n`` (overlapping its neighbour)."""
    if n < size:
        raise ValueError(f"an axis of {n} pixels holds no patch of {size}")
    return window_starts(n, size, size)


def plan_patches(
    semantic: np.ndarray,
    instance: np.ndarray,
    size: int,
    folds: int = FOLDS,
    block: int = BLOCK,
    ignore: Sequence[int] = (0,),
) -> tuple[list[Patch], int]:
    """The patches of an area holding parcels, with their folds; and the patches without.

    Args:
        semantic, instance: ``[H, W]`` class and parcel-id maps of the area
            (:func:`~sitsfusion.geo.labels.rasterize_parcels`).
        size: patch side in pixels; folds, block: as :func:`prepare`.
        ignore: classes not counted for the stratification (background, void).

    Returns:
        ``(patches, n_empty)``: the patches with at least one parcel pixel, folds from
        :func:`~sitsfusion.geo.folds.stratified_folds` over blocks of ``block`` x ``block``
        patches (class pixels per block), and the number of patches without parcels.
    """
    rows, cols = patch_starts(semantic.shape[0], size), patch_starts(semantic.shape[1], size)
    blocks = block_index(len(rows), len(cols), block)
    n_classes = int(semantic.max()) + 1
    per_block = np.zeros((int(blocks.max()) + 1, n_classes))
    kept: list[tuple[int, int, int, int]] = []
    for i, r0 in enumerate(rows):
        for j, c0 in enumerate(cols):
            window = (slice(r0, r0 + size), slice(c0, c0 + size))
            if not (instance[window] > 0).any():
                continue
            kept.append((i, j, r0, c0))
            per_block[blocks[i, j]] += np.bincount(semantic[window].ravel(), minlength=n_classes)
    per_block[:, [c for c in ignore if c < n_classes]] = 0
    used = sorted({int(blocks[i, j]) for i, j, _, _ in kept})
    fold_of = dict(zip(used, stratified_folds(per_block[used], folds).tolist(), strict=True))
    patches = [
        Patch(i * len(cols) + j + 1, i, j, r0, c0, fold_of[int(blocks[i, j])])
        for i, j, r0, c0 in kept
    ]
    return patches, len(rows) * len(cols) - len(patches)


def _parcel_owners(instance: np.ndarray, patches: Sequence[Patch], size: int) -> dict[int, int]:
    """``{parcel id: owning fold}`` over the patches (:func:`~sitsfusion.geo.folds.owner_folds`)."""

    def counts() -> Iterable[tuple[int, int, int]]:
        for patch in patches:
            ids = instance[patch.r0 : patch.r0 + size, patch.c0 : patch.c0 + size]
            values, n = np.unique(ids[ids > 0], return_counts=True)
            yield from ((int(v), patch.fold, int(k)) for v, k in zip(values, n, strict=True))

    return owner_folds(counts())


def _tiles(patches: Sequence[Patch], per_side: int) -> list[list[Patch]]:
    """The patches grouped by tiles of ``per_side`` x ``per_side`` patches, row-major."""
    groups: dict[tuple[int, int], list[Patch]] = {}
    for patch in patches:
        groups.setdefault((patch.row // per_side, patch.col // per_side), []).append(patch)
    return [groups[key] for key in sorted(groups)]


def _warn_empty_folds(patches: Sequence[Patch], folds: int, block: int) -> None:
    """Say, before the long work, when some folds will hold no patch (a small area): the
    default configs train on folds 1-3, validate on 4 and test on 5."""
    import warnings

    from sitsfusion.errors import DataWarning

    empty = sorted(set(range(1, folds + 1)) - {p.fold for p in patches})
    if empty:
        warnings.warn(
            f"folds {empty} will hold no patch ({len(patches)} patches in blocks of "
            f"{block} x {block}); the default configs need folds 1-5: use a smaller "
            "--patch-size or --block, fewer --folds, or set data.*_folds to the folds there",
            DataWarning,
            stacklevel=3,
        )


def _annotations(semantic: np.ndarray, parcel_ids: np.ndarray) -> dict[str, np.ndarray]:
    """The PASTIS annotation arrays of one patch (``[H, W]`` semantic classes and parcel ids):
    ``TARGET`` ``[3, H, W]``, ``ParcelIDs``, ``INSTANCES`` (1..N), ``HEATMAP``, ``ZONES``."""
    import torch

    from sitsfusion.data.centerness import centerness_targets

    ids, inverse = np.unique(parcel_ids, return_inverse=True)
    instances = inverse.reshape(parcel_ids.shape).astype(np.int64) + int(ids[0] != 0)
    heat, zones = centerness_targets(torch.from_numpy(instances * (semantic != 0)))
    return {
        "TARGET": np.stack([semantic] * 3).astype(np.uint8),
        "ParcelIDs": parcel_ids.astype(np.int32),
        "INSTANCES": instances,
        "HEATMAP": heat.numpy().astype(np.float64),
        "ZONES": zones.numpy().astype(np.int64),
    }


def _footprint(grid: Grid, r0: int, c0: int, size: int) -> dict[str, Any]:
    """The GeoJSON polygon of a patch, corners NW, NE, SE, SW (as PASTIS lists them)."""
    res = grid.resolution
    x0, y0 = grid.bounds[0] + c0 * res, grid.bounds[3] - r0 * res
    x1, y1 = x0 + size * res, y0 - size * res
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _read_tile(
    imagery: Imagery, cubes: dict[str, Any], tile: Sequence[Patch], size: int, root: Path
) -> tuple[int, int, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """One read of every acquisition over the window holding ``tile``'s patches: its first
    pixel and, per sensor, ``(values [T, C, h, w], valid [T, h, w], days [T])``."""
    r0, c0 = min(p.r0 for p in tile), min(p.c0 for p in tile)
    r1, c1 = max(p.r0 for p in tile) + size, max(p.c0 for p in tile) + size
    windows = imagery.read(cubes, slice(r0, r1), slice(c0, c1), root)
    data = {
        sensor: (win["values"].to_numpy(), win["valid"].to_numpy(), win["time"].to_numpy())
        for sensor, win in windows.items()
    }
    return r0, c0, data


def _write_patch(
    root: Path,
    patch: Patch,
    size: int,
    tile: tuple[int, int, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]],
    semantic: np.ndarray,
    parcel_ids: np.ndarray,
    min_clear: float,
) -> dict[str, Any]:
    """Write one patch's files (the record last) and return its record. ``semantic`` and
    ``parcel_ids`` are the patch's ``[size, size]`` labels (other folds' parcels void)."""
    record: dict[str, Any] = {"dates": {}}
    t_r0, t_c0, data = tile
    ys = slice(patch.r0 - t_r0, patch.r0 - t_r0 + size)
    xs = slice(patch.c0 - t_c0, patch.c0 - t_c0 + size)
    for sensor, (values, valid, days) in data.items():
        keep = select_dates(valid[:, ys, xs], min_clear)
        arr = pastis_values(sensor, values[keep][..., ys, xs], valid[keep][:, ys, xs])
        save_npy_atomic(root / f"DATA_{sensor}" / f"{sensor}_{patch.id}.npy", arr)
        record["dates"][sensor] = {str(i): yyyymmdd(d) for i, d in enumerate(days[keep])}
    for name, arr in _annotations(semantic, parcel_ids).items():
        folder = "ANNOTATIONS" if name in ("TARGET", "ParcelIDs") else "INSTANCE_ANNOTATIONS"
        save_npy_atomic(root / folder / f"{name}_{patch.id}.npy", arr)
    record["parcels"] = np.unique(parcel_ids[parcel_ids > 0]).tolist()
    record["cover"] = float((parcel_ids > 0).mean())
    write_json_atomic(root / RECORDS / f"{patch.id}.json", record)
    return record


def _metadata(
    root: Path,
    grid: Grid,
    patches: Sequence[Patch],
    records: dict[int, dict[str, Any]],
    size: int,
    synthetic: bool,
) -> dict[str, Any]:
    features = []
    res = grid.resolution
    for patch in patches:
        rec = records[patch.id]
        x0, y0 = grid.bounds[0] + patch.c0 * res, grid.bounds[3] - patch.r0 * res
        props: dict[str, Any] = {
            "ID_PATCH": patch.id,
            "Fold": patch.fold,
            "TILE": root.name,
            "N_Parcel": len(rec["parcels"]),
            "Parcel_Cover": rec["cover"],
            **{f"dates-{s}": d for s, d in rec["dates"].items()},
            "crs": grid.crs,
            "transform": [res, 0.0, x0, 0.0, -res, y0],
        }
        if synthetic:
            props["SYNTHETIC"] = True
        features.append(
            {
                "type": "Feature",
                "id": str(patch.id),
                "properties": props,
                "geometry": _footprint(grid, patch.r0, patch.c0, size),
            }
        )
    return {"type": "FeatureCollection", "crs": crs_member(grid.crs), "features": features}


def prepare(
    imagery: str | Path,
    labels: str | Path,
    out: str | Path,
    *,
    patch_size: int = PATCH_SIZE,
    class_column: str | None = None,
    class_table: str | Path | None = None,
    nomenclature: str = "pastis",
    sensors: Sequence[str] = SENSORS,
    resolution: float = 10.0,
    crs: Any = None,
    aoi: str | Path | None = None,
    folds: int = FOLDS,
    block: int = BLOCK,
    start: str | None = None,
    end: str | None = None,
    max_cloud: float | None = None,
    min_clear: float = MIN_CLEAR,
    tile: int = TILE,
    overwrite: bool = False,
    progress: bool = False,
    command: str = "prepare",
    on_patch: Callable[[int], None] | None = None,
) -> PrepareSummary:
    """Write a PASTIS-R-layout dataset of your own area (layout in the module docstring).

    Args:
        imagery: a STAC catalog (``catalog.json`` or its folder), a STAC API URL or a
            GeoTIFF folder (:func:`~sitsfusion.geo.imagery.load_sensor`).
        labels: the parcels' vector file (:func:`~sitsfusion.geo.labels.read_parcels`).
        out: the dataset folder: absent or empty; an interrupted ``prepare`` of the same
            arguments is resumed (its written patches skipped); ``overwrite`` replaces a
            dataset sitsfusion wrote.
        patch_size: side of the square patches in pixels (seed 001: 128).
        class_column: the parcels' class column (None: detected).
        class_table: a CSV ``value,class`` (None: ``crop_codes.csv`` beside ``labels`` if
            there is one, else the values must be classes of ``nomenclature``).
        nomenclature: the target classes (``sitsfusion.data.nomenclatures``).
        sensors: the modalities written, among ``S2``, ``S1A``, ``S1D``.
        resolution: pixel size in metres.
        crs: the grid's CRS (None: the parcels' CRS when projected, else their UTM zone).
        aoi: a vector file of the area (None: the box of the parcels' bounds).
        folds: the number of folds; block: patches per side of a spatial block of one fold.
        start, end: the season window, ``YYYY-MM-DD``, inclusive (None: every date).
        max_cloud: drop Sentinel-2 items whose ``eo:cloud_cover`` is above this percentage.
        min_clear: the valid fraction of a patch for a date to be kept in it.
        tile: pixels per side of one read (rounded down to whole patches, at least one).
        overwrite: replace a dataset sitsfusion wrote at ``out``.
        progress: show a progress bar (rich).
        command: the command line recorded in the folder's mark.
        on_patch: called with each patch id once its files are written (tests, logs).

    Returns:
        :class:`PrepareSummary`.

    Raises:
        DatasetError: a missing / unreadable input, a class column that does not exist,
            class values of no class, imagery without the sensor or not overlapping the
            parcels (one line naming the file).
        ValueError: bad arguments; no parcel inside the grid.
        OutputError: ``out`` cannot be written (see :mod:`sitsfusion.outputs`).
    """
    from sitsfusion.data.taxonomy import load_nomenclature
    from sitsfusion.geo.labels import rasterize_parcels

    require("geopandas", "geo", "sitsfusion prepare")
    if patch_size < 2:
        raise ValueError(f"patch_size must be >= 2 pixels, got {patch_size}")
    check_arguments(sensors, min_clear, max_cloud)
    source = Imagery.of(imagery)
    labels, out = Path(labels), Path(out)
    settings = recorded_settings(
        source,
        labels,
        class_table=class_table,
        crs=crs,
        aoi=aoi,
        resolution=resolution,
        sensors=sensors,
        start=start,
        end=end,
        min_clear=min_clear,
        patch_size=patch_size,
        class_column=class_column,
        nomenclature=nomenclature,
        folds=folds,
        block=block,
        max_cloud=max_cloud,
    )
    parcels = read_labels(labels, class_column, class_table, nomenclature)
    grid, area = area_grid(parcels, aoi, crs, resolution)
    grid = patch_grid(grid, patch_size)
    maps = rasterize_parcels(
        parcels, grid.crs, grid.transform, grid.shape, nomenclature=nomenclature
    )
    nom = load_nomenclature(nomenclature)
    ignore = [c for c in (nom.background, nom.void) if c is not None]
    patches, n_empty = plan_patches(maps.semantic, maps.instance, patch_size, folds, block, ignore)
    _warn_empty_folds(patches, folds, block)
    owners = _parcel_owners(maps.instance, patches, patch_size)
    per_side = max(1, tile // patch_size)
    cubes = source.load(grid, sensors, per_side * patch_size, start, end, max_cloud)
    synthetic = source.synthetic(cubes)

    claim = {"layout": "pastis-r", "key": "prepare", "overwrite": overwrite, "command": command}
    with dataset_folder(out, source, labels, settings, **claim) as root:
        for folder in (*(f"DATA_{s}" for s in sensors), "ANNOTATIONS", "INSTANCE_ANNOTATIONS"):
            (root / folder).mkdir(exist_ok=True)
        (root / RECORDS).mkdir(exist_ok=True)
        records: dict[int, dict[str, Any]] = {}
        todo = []
        for patch in patches:
            done = root / RECORDS / f"{patch.id}.json"
            if done.is_file():
                records[patch.id] = read_json(done)
            else:
                todo.append(patch)
        owned_ids = np.array(sorted(owners), dtype=np.int64)  # parcel ids may be large
        owned_fold = np.array([owners[int(i)] for i in owned_ids], dtype=np.int64)
        tiles = _tiles(todo, per_side)
        bar = progress_bar(tiles, progress, f"preparing {len(todo)} patches in {len(tiles)} tiles")
        for group in bar:
            data = _read_tile(source, cubes, group, patch_size, root)
            for patch in group:
                window = (
                    slice(patch.r0, patch.r0 + patch_size),
                    slice(patch.c0, patch.c0 + patch_size),
                )
                ids = maps.instance[window]
                semantic = maps.semantic[window]
                if nom.void is not None:  # without a void class, a cut parcel stays a leak
                    at = np.clip(np.searchsorted(owned_ids, ids), 0, max(owned_ids.size - 1, 0))
                    other = (ids > 0) & (owned_fold[at] != patch.fold)
                    semantic = np.where(other, nom.void, semantic).astype(semantic.dtype)
                records[patch.id] = _write_patch(
                    root, patch, patch_size, data, semantic, ids, min_clear
                )
                if on_patch is not None:
                    on_patch(patch.id)
        n_cut = _count_cut(patches, records)
        write_json_atomic(
            root / "metadata.geojson",
            _metadata(root, grid, patches, records, patch_size, synthetic),
        )
        write_area(root, grid, area, parcels[parcels["parcel_id"].isin(list(owners))])
        from sitsfusion.data.readers.pastis.norm import compute_norm

        for sensor in sensors:
            compute_norm(root, sensor, write=True)
        dates = {s: int(cube.sizes["time"]) for s, cube in cubes.items()}
        mark_complete(
            root,
            patches=len(patches),
            cut_parcels=n_cut,
            synthetic=synthetic,
            grid={"crs": grid.crs, "resolution": grid.resolution, "bounds": list(grid.bounds)},
        )
    return PrepareSummary(
        out=root,
        grid=grid,
        n_patches=len(patches),
        n_empty=n_empty,
        n_resumed=len(patches) - len(todo),
        n_cut=n_cut,
        dates=dates,
        synthetic=synthetic,
    )


def _count_cut(patches: Sequence[Patch], records: dict[int, dict[str, Any]]) -> int:
    """Parcels with pixels in patches of more than one fold."""
    folds_of: dict[int, set[int]] = {}
    for patch in patches:
        for parcel in records[patch.id]["parcels"]:
            folds_of.setdefault(parcel, set()).add(patch.fold)
    return sum(len(f) > 1 for f in folds_of.values())
