"""``sitsfusion prepare``: the imagery and parcels of your own area → a PASTIS-R dataset.

:func:`prepare` chains the own-area pieces (``docs/own-area.md``): a :class:`Grid` over the
parcels (or an AOI file), every sensor loaded lazily onto it (:func:`load_sensor`), the parcels
labelled and rasterised (``geo.labels``), then cut into square patches written in the PASTIS-R
layout (``docs/formats.md``), which every PASTIS config trains on::

    OUT/metadata.geojson                 one feature per patch (+ optional ``crs``, ``transform``)
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
* **Folds** are spatial blocks: the patches are grouped in blocks of ``block`` x ``block``
  patches, and the blocks, in row-major order, take the folds 1..``folds`` in turn. A parcel
  cut by patches of different folds is a leak between folds: counted, reported, not hidden.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.errors import DatasetError
from sitsfusion.geo.grid import Grid
from sitsfusion.io import read_json, save_npy_atomic, write_json_atomic
from sitsfusion.optional import require
from sitsfusion.outputs import mark_complete, output_folder, read_mark

__all__ = [
    "BLOCK",
    "CLASS_TABLE_NAME",
    "FOLDS",
    "MIN_CLEAR",
    "PATCH_SIZE",
    "SENSORS",
    "PrepareSummary",
    "fold_of_patches",
    "is_synthetic_imagery",
    "patch_grid",
    "prepare",
]

PATCH_SIZE = 128  # seed 001, Sec. 4.1: PASTIS patches are 128 x 128 pixels
FOLDS = 5  # seed 001, Sec. 4.1: PASTIS' 5-fold cross-validation
BLOCK = 2  # own choice: 2 x 2 patches per spatial block (2.56 km at 128 px, 10 m)
MIN_CLEAR = 0.5  # own choice: a date is kept in a patch when half its pixels are valid
SENSORS = ("S2", "S1A", "S1D")  # PASTIS-R's modalities (seed 001, Sec. 4.1)
S2_SCALE = 10_000.0  # PASTIS stores L2A reflectance x 10^4 (docs/formats.md)
CLASS_TABLE_NAME = "crop_codes.csv"
"""A class table of this name beside the parcels file is used when none is given."""
RECORDS = ".prepare"
_SYNTHETIC_KEY = "sitsfusion:synthetic"  # simulate.scene_stac.SYNTHETIC_KEY


@dataclass(frozen=True)
class PrepareSummary:
    """What :func:`prepare` wrote.

    Attributes:
        out: the dataset folder.
        grid: the grid of the area (a multiple of the patch size).
        n_patches: patches in the dataset.
        n_empty: patches without any parcel (not written).
        n_resumed: patches found written by an earlier, interrupted run (skipped).
        n_leaks: parcels cut by patches of different folds.
        dates: per sensor, the number of dates of the area (before per-patch selection).
        synthetic: the imagery is synthetic (the simulator's scene).
    """

    out: Path
    grid: Grid
    n_patches: int
    n_empty: int
    n_resumed: int
    n_leaks: int
    dates: dict[str, int]
    synthetic: bool

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        dates = ", ".join(f"{s} {n}" for s, n in self.dates.items())
        h, w = self.grid.shape
        text = (
            f"{self.out}: {self.n_patches} patches of the {h} x {w} px grid "
            f"({self.n_empty} without parcels skipped, {self.n_resumed} resumed); dates: {dates}; "
            f"{self.n_leaks} parcel(s) cut across folds"
        )
        return text + (" (synthetic)" if self.synthetic else "")


def patch_grid(grid: Grid, patch_size: int) -> Grid:
    """``grid`` grown right and down to a whole number of ``patch_size`` patches."""
    h, w = grid.shape
    side = patch_size * grid.resolution
    minx, _, _, maxy = grid.bounds
    rows, cols = math.ceil(h / patch_size), math.ceil(w / patch_size)
    return Grid(grid.crs, grid.resolution, (minx, maxy - rows * side, minx + cols * side, maxy))


def fold_of_patches(rows: int, cols: int, folds: int = FOLDS, block: int = BLOCK) -> np.ndarray:
    """``[rows, cols]`` folds 1..``folds`` of a grid of patches: blocks of ``block`` x
    ``block`` patches, numbered in row-major order, take the folds in turn."""
    if folds < 1 or block < 1:
        raise ValueError(f"folds and block must be >= 1, got {folds}, {block}")
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    block_cols = math.ceil(cols / block)
    return ((r // block) * block_cols + c // block) % folds + 1


def _warn_empty_folds(patches: Sequence[tuple[int, int, int, int]], folds: int, block: int) -> None:
    """Say, before the long work, when some folds will hold no patch (a small area): the
    default configs train on folds 1-3, validate on 4 and test on 5."""
    import warnings

    from sitsfusion.errors import DataWarning

    empty = sorted(set(range(1, folds + 1)) - {fold for *_, fold in patches})
    if empty:
        warnings.warn(
            f"folds {empty} will hold no patch ({len(patches)} patches in blocks of "
            f"{block} x {block}); the default configs need folds 1-5: use a smaller "
            "--patch-size or --block, fewer --folds, or set data.*_folds to the folds there",
            DataWarning,
            stacklevel=3,
        )


def is_synthetic_imagery(imagery: str | Path) -> bool:
    """True when ``imagery`` is the simulator's scene: its STAC catalog carries
    ``sitsfusion:synthetic``, or the folder (or its parent) is a scene sitsfusion simulated."""
    path = Path(imagery)
    folder = path if path.is_dir() else path.parent
    for catalog in (path if path.is_file() else folder / "catalog.json",):
        if catalog.is_file() and catalog.suffix == ".json":
            try:
                if read_json(catalog).get(_SYNTHETIC_KEY) is True:
                    return True
            except (DatasetError, AttributeError):
                pass
    for candidate in (folder, folder.parent):
        mark = read_mark(candidate)
        if mark is not None and mark.get("format") == "scene":
            return True
    return False


def _yyyymmdd(day: np.datetime64) -> int:
    return int(str(np.datetime64(day, "D")).replace("-", ""))


def _select_dates(valid: np.ndarray, min_clear: float) -> np.ndarray:
    """Indices of the dates kept in a patch (``valid`` ``[T, H, W]``; module docstring)."""
    clear = valid.reshape(len(valid), -1).mean(axis=1)
    keep = np.flatnonzero(clear >= min_clear)
    return keep if keep.size else np.array([int(np.argmax(clear))])


def _pastis_values(sensor: str, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``values`` ``[T, C, H, W]`` of :func:`load_sensor` in PASTIS units: S2 int16
    reflectance x 10^4, S1 float32 dB VV, VH, VV/VH (0 where not valid)."""
    if sensor == "S2":
        return np.clip(np.rint(values * S2_SCALE), 0, np.iinfo(np.int16).max).astype(np.int16)
    vv, vh = values[:, 0], values[:, 1]
    ratio = np.where(valid, vv - vh, 0.0)  # VV/VH in dB
    return np.stack([vv, vh, ratio], axis=1).astype(np.float32)


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


def _crs_member(crs: str) -> dict[str, Any]:
    if not crs.upper().startswith("EPSG:"):
        raise ValueError(f"crs {crs[:40]!r}... has no EPSG code; choose an EPSG CRS with crs=")
    code = crs.split(":", 1)[1]
    return {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{code}"}}


def _read_labels(
    labels: Path,
    class_column: str | None,
    class_table: str | Path | None,
    nomenclature: str,
) -> Any:
    """The labelled parcels (``parcel_id``, ``class_id``, geometry) of ``labels``."""
    from sitsfusion.geo.labels import label_parcels, read_parcels

    parcels = read_parcels(labels, class_column=class_column)
    if class_table is None and (labels.parent / CLASS_TABLE_NAME).is_file():
        class_table = labels.parent / CLASS_TABLE_NAME
    try:
        return label_parcels(parcels, nomenclature, table=class_table)
    except ValueError as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(labels, str(exc)) from None


def _area_grid(
    parcels: Any, aoi: str | Path | None, crs: Any, resolution: float, patch_size: int
) -> Grid:
    if aoi is not None:
        grid = Grid.from_aoi(aoi, crs=crs, resolution=resolution)
    else:
        target = crs
        if target is None:
            target = parcels.crs if parcels.crs.is_projected else parcels.estimate_utm_crs()
        bounds = parcels.to_crs(target).total_bounds
        grid = Grid.from_bounds(tuple(float(b) for b in bounds), target, resolution)
    return patch_grid(grid, patch_size)


def _write_patch(
    root: Path,
    pid: int,
    window: tuple[slice, slice],
    cubes: dict[str, Any],
    maps: Any,
    min_clear: float,
) -> dict[str, Any]:
    """Write one patch's files (the record last) and return its record."""
    record: dict[str, Any] = {"dates": {}}
    ys, xs = window
    for sensor, cube in cubes.items():
        win = cube.isel(y=ys, x=xs).compute()
        valid = win["valid"].to_numpy()
        keep = _select_dates(valid, min_clear)
        values = _pastis_values(sensor, win["values"].to_numpy()[keep], valid[keep])
        save_npy_atomic(root / f"DATA_{sensor}" / f"{sensor}_{pid}.npy", values)
        days = win["time"].to_numpy()[keep]
        record["dates"][sensor] = {str(i): _yyyymmdd(d) for i, d in enumerate(days)}
    semantic, parcel_ids = maps.semantic[ys, xs], maps.instance[ys, xs]
    for name, arr in _annotations(semantic, parcel_ids).items():
        folder = "ANNOTATIONS" if name in ("TARGET", "ParcelIDs") else "INSTANCE_ANNOTATIONS"
        save_npy_atomic(root / folder / f"{name}_{pid}.npy", arr)
    present = np.unique(parcel_ids[parcel_ids > 0])
    record["parcels"] = present.tolist()
    record["cover"] = float((parcel_ids > 0).mean())
    write_json_atomic(root / RECORDS / f"{pid}.json", record)
    return record


def _metadata(
    root: Path,
    grid: Grid,
    patches: Sequence[tuple[int, int, int, int]],
    records: dict[int, dict[str, Any]],
    size: int,
    synthetic: bool,
) -> dict[str, Any]:
    features = []
    for pid, r0, c0, fold in patches:
        rec = records[pid]
        res = grid.resolution
        x0, y0 = grid.bounds[0] + c0 * res, grid.bounds[3] - r0 * res
        props: dict[str, Any] = {
            "ID_PATCH": pid,
            "Fold": fold,
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
                "id": str(pid),
                "properties": props,
                "geometry": _footprint(grid, r0, c0, size),
            }
        )
    return {"type": "FeatureCollection", "crs": _crs_member(grid.crs), "features": features}


def _progress(items: list[Any], show: bool, description: str) -> Iterable[Any]:
    if not show:
        return items
    from rich.progress import track

    return track(items, description=description, total=len(items))


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
    min_clear: float = MIN_CLEAR,
    overwrite: bool = False,
    progress: bool = False,
    command: str = "prepare",
    on_patch: Callable[[int], None] | None = None,
) -> PrepareSummary:
    """Write a PASTIS-R-layout dataset of your own area (layout in the module docstring).

    Args:
        imagery: a STAC catalog (``catalog.json`` or its folder) or a GeoTIFF folder
            (:func:`~sitsfusion.geo.imagery.load_sensor`).
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
        aoi: a vector file whose bounds make the grid (None: the parcels' bounds).
        folds: the number of folds; block: patches per side of a spatial block of one fold.
        min_clear: the valid fraction of a patch for a date to be kept in it.
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
    from sitsfusion.geo.imagery import load_sensor
    from sitsfusion.geo.labels import rasterize_parcels

    require("geopandas", "geo", "sitsfusion prepare")
    if patch_size < 2:
        raise ValueError(f"patch_size must be >= 2 pixels, got {patch_size}")
    if not 0.0 <= min_clear <= 1.0:
        raise ValueError(f"min_clear must be in [0, 1], got {min_clear}")
    unknown = [s for s in sensors if s not in SENSORS]
    if unknown or not sensors:
        raise ValueError(f"sensors must be among {', '.join(SENSORS)}, got {list(sensors)}")
    imagery, labels, out = Path(imagery), Path(labels), Path(out)
    settings = {
        "imagery": str(imagery.resolve()),
        "labels": str(labels.resolve()),
        "patch_size": patch_size,
        "class_column": class_column,
        "class_table": None if class_table is None else str(Path(class_table).resolve()),
        "nomenclature": nomenclature,
        "sensors": list(sensors),
        "resolution": float(resolution),
        "crs": None if crs is None else str(crs),
        "aoi": None if aoi is None else str(Path(aoi).resolve()),
        "folds": folds,
        "block": block,
        "min_clear": float(min_clear),
    }
    parcels = _read_labels(labels, class_column, class_table, nomenclature)
    grid = _area_grid(parcels, aoi, crs, resolution, patch_size)
    _crs_member(grid.crs)  # refuse a CRS without EPSG code before the long work
    maps = rasterize_parcels(
        parcels, grid.crs, grid.transform, grid.shape, nomenclature=nomenclature
    )
    chunks = {"x": patch_size, "y": patch_size}  # one Dask chunk per patch
    cubes = {s: load_sensor(imagery, grid, s, chunks=chunks) for s in sensors}
    synthetic = is_synthetic_imagery(imagery)

    rows, cols = (n // patch_size for n in grid.shape)
    fold_map = fold_of_patches(rows, cols, folds, block)
    patches: list[tuple[int, int, int, int]] = []  # (id, first row, first col, fold)
    for r in range(rows):
        for c in range(cols):
            r0, c0 = r * patch_size, c * patch_size
            if (maps.instance[r0 : r0 + patch_size, c0 : c0 + patch_size] > 0).any():
                patches.append((r * cols + c + 1, r0, c0, int(fold_map[r, c])))
    n_empty = rows * cols - len(patches)
    _warn_empty_folds(patches, folds, block)

    mark = read_mark(out) if out.is_dir() else None
    resume = not overwrite and mark is not None and mark.get("prepare") == settings
    source = imagery if imagery.is_dir() else imagery.parent
    with output_folder(
        out,
        kind="dataset",
        overwrite=overwrite,
        inputs=[source, labels],
        command=command,
        reuse=resume,
        format="pastis-r",
        prepare=settings,
    ) as root:
        for folder in (*(f"DATA_{s}" for s in sensors), "ANNOTATIONS", "INSTANCE_ANNOTATIONS"):
            (root / folder).mkdir(exist_ok=True)
        (root / RECORDS).mkdir(exist_ok=True)
        records: dict[int, dict[str, Any]] = {}
        n_resumed = 0
        todo = []
        for pid, r0, c0, fold in patches:
            done = root / RECORDS / f"{pid}.json"
            if done.is_file():
                records[pid] = read_json(done)
                n_resumed += 1
            else:
                todo.append((pid, r0, c0, fold))
        for pid, r0, c0, _ in _progress(todo, progress, f"preparing {len(todo)} patches"):
            window = (slice(r0, r0 + patch_size), slice(c0, c0 + patch_size))
            records[pid] = _write_patch(root, pid, window, cubes, maps, min_clear)
            if on_patch is not None:
                on_patch(pid)
        folds_of: dict[int, set[int]] = {}
        for pid, _, _, fold in patches:
            for parcel in records[pid]["parcels"]:
                folds_of.setdefault(parcel, set()).add(fold)
        n_leaks = sum(len(f) > 1 for f in folds_of.values())
        collection = _metadata(root, grid, patches, records, patch_size, synthetic)
        write_json_atomic(root / "metadata.geojson", collection)
        from sitsfusion.data.readers.pastis.norm import compute_norm

        for sensor in sensors:
            compute_norm(root, sensor, write=True)
        dates = {s: int(cube.sizes["time"]) for s, cube in cubes.items()}
        mark_complete(
            root,
            patches=len(patches),
            leaks=n_leaks,
            synthetic=synthetic,
            grid={"crs": grid.crs, "resolution": grid.resolution, "bounds": list(grid.bounds)},
        )
    return PrepareSummary(
        out=root,
        grid=grid,
        n_patches=len(patches),
        n_empty=n_empty,
        n_resumed=n_resumed,
        n_leaks=n_leaks,
        dates=dates,
        synthetic=synthetic,
    )
