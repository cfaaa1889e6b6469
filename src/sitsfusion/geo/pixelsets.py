"""``sitsfusion prepare --mode parcels``: the imagery and parcels of your area → pixel sets.

The patch mode (:func:`sitsfusion.geo.prepare.prepare`) cuts the area into PASTIS-R patches,
where a parcel cut by patch borders becomes two samples of a parcel classifier. The parcel
mode writes every labelled parcel **once, whole**, as the set of its pixels' time series: the
pixel-set layout of pytorch-psetae that
:class:`~sitsfusion.data.readers.pixelset.PixelSetDataset` reads (``docs/formats.md``), one
folder per sensor, the parcels' ids and pixels the same in every folder::

    OUT/<S>/DATA/<parcel_id>.npy     (T, C, N) every pixel of the parcel, rows of the grid in
                                     order (row-major); S2: int16 L2A reflectance x 10^4, C = 10;
                                     S1A / S1D: float32 dB VV, VH, VV/VH (= VV - VH), C = 3
    OUT/<S>/META/labels.json         {"<nomenclature>": {"<parcel_id>": class id}}
    OUT/<S>/META/dates.json          {"<parcel_id>": [YYYYMMDD, ...]}  (each parcel its dates)
    OUT/<S>/META/geomfeat.json       {"<parcel_id>": [perimeter m, pixels, cover, perimeter /
                                     surface 1/m]}  (as export_pixelsets computes them)
    OUT/<S>/META/sizes.json          {"<parcel_id>": N}
    OUT/<S>/META/folds.json          {"<parcel_id>": fold}  (spatial folds, 1..folds)
                                     not with ``labelled=False``
    OUT/aoi.geojson                  the area of interest, in the grid CRS (as the patch mode)
    OUT/parcels.gpkg                 layer ``parcels``: the parcels written (as the patch mode)
    OUT/.pixelsets/                  a record per finished tile and per group of parcels
                                     joined (resuming skips them), the pieces of parcels

Choices (documented in ``docs/own-area.md``, "Parcel mode: pixel sets"):

* **Pixels**: a pixel belongs to the parcel holding its centre
  (:func:`~sitsfusion.geo.labels.rasterize_parcels`), every pixel of it: no void border is
  taken off (PSE draws its pixels from the whole parcel; seed 000 Sec. 4.3 samples 64 of them).
* **Reading in tiles**, in two phases. Phase 1: each ``tile`` x ``tile`` window of every
  acquisition is read at once, into memory (:meth:`~sitsfusion.geo.area.Imagery.read_part`),
  never per parcel; the parcels lying wholly in the tile are written, the pieces of those
  spanning several tiles saved on disk, then the tile's record. Tiles are independent: they
  run in any order, in this process or as tasks of a Dask cluster (``run_tiles``; ``sitsfusion
  map`` with a parcel model). Phase 2, in the calling process once every tile is read: the
  parcels of several tiles are joined from their pieces (small files) and written, with
  their own records; memory holds one tile (phase 1) or one parcel (phase 2).
* **Dates per parcel**: as the patch mode, a date is kept for a parcel when at least
  ``min_clear`` of its pixels are valid; else its clearest date alone. Invalid pixels of the
  dates kept hold 0, which the reader takes as no data. A parcel without any valid pixel in
  some sensor is left out (counted).
* **Folds are spatial blocks** of ``block`` x ``block`` squares of :data:`BLOCK_UNIT` pixels
  (the PASTIS patch side), dealt to the folds by
  :func:`~sitsfusion.geo.folds.stratified_folds` with the class pixel counts of each block. A
  parcel goes to the block holding the centroid of its pixels, so no parcel is in two folds.
* **Parcels to classify** (``labelled=False``, for ``sitsfusion map``): every parcel of the
  file is written, with or without a class column; ``labels.json`` gives each the code
  :data:`UNLABELLED` (no class: a training run on the folder is refused by its ``classes``),
  ``parcels.gpkg`` the file's class values ('' without a class column); no folds.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.errors import DatasetError, DataWarning
from sitsfusion.geo.area import (
    MIN_CLEAR,
    SENSORS,
    Imagery,
    area_grid,
    check_arguments,
    dataset_folder,
    pastis_values,
    progress_bar,
    read_labels,
    recorded_settings,
    select_dates,
    write_area,
    yyyymmdd,
)
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.prepare import BLOCK, FOLDS, PATCH_SIZE
from sitsfusion.io import atomic_path, read_json, save_npy_atomic, write_json_atomic
from sitsfusion.optional import require
from sitsfusion.outputs import mark_complete

__all__ = [
    "BLOCK_UNIT",
    "TILE",
    "UNLABELLED",
    "PixelSetSummary",
    "TileJob",
    "TileTask",
    "parcel_folds",
    "prepare_pixelsets",
    "write_tile",
]

TILE = 256  # own choice: a window of every acquisition costs ~3 s whatever its size up to
# ~200 px (measured on the simulated scene), so tiles are large; 256 x 256 px of 60 S2 dates
# are ~160 MB in float32
BLOCK_UNIT = PATCH_SIZE  # seed 001, Sec. 4.1: a block side counts PASTIS patches, 128 px
RECORDS = ".pixelsets"
TILES, PARTS, JOINED = "tiles", "parts", "joined"  # RECORDS/tiles/<t>.json (phase 1),
# RECORDS/parts/<parcel>/<t>.npz (pieces), RECORDS/joined/<t>.json (phase 2, by last tile)
UNLABELLED = -1
"""The ``labels.json`` code of a parcel to classify (``prepare_pixelsets(labelled=False)``)."""


@dataclass(frozen=True)
class PixelSetSummary:
    """What :func:`prepare_pixelsets` wrote.

    Attributes:
        out: the dataset folder.
        grid: the grid of the area.
        n_parcels: parcels written (each once, whole).
        n_small: parcels dropped for covering fewer pixels than the rasteriser's minimum.
        n_unlabelled: parcels of the background / void class (nothing to learn), left out.
        n_no_data: parcels without any valid pixel in some sensor, left out.
        n_outside: parcels outside the grid (ignored).
        n_tiles: tiles of the grid holding parcel pixels.
        n_resumed: tiles found finished by an earlier, interrupted run (skipped).
        folds: ``{fold: parcels}`` for folds 1..``folds``.
        dates: per sensor, the number of dates of the area (before per-parcel selection).
        synthetic: the imagery is synthetic (the simulator's scene).
    """

    out: Path
    grid: Grid
    n_parcels: int
    n_small: int
    n_unlabelled: int
    n_no_data: int
    n_tiles: int
    n_resumed: int
    folds: dict[int, int]
    dates: dict[str, int]
    synthetic: bool
    n_outside: int = 0

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        h, w = self.grid.shape
        dates = ", ".join(f"{s} {n}" for s, n in self.dates.items())
        folds = ", ".join(f"{f}: {n}" for f, n in self.folds.items())
        text = (
            f"{self.out}: {self.n_parcels} parcels as pixel sets from the {h} x {w} px grid "
            f"({self.n_tiles} tiles, {self.n_resumed} resumed); left out: {self.n_small} small, "
            f"{self.n_unlabelled} unlabelled, {self.n_no_data} without data; "
            f"parcels per fold {{{folds}}}; dates: {dates}"
        )
        return text + (" (synthetic)" if self.synthetic else "")


# -- the parcels: pixels, centroids, folds ------------------------------------------------------


@dataclass(frozen=True)
class _Parcels:
    """The labelled parcels on the grid (arrays aligned on ``ids``, ascending)."""

    ids: np.ndarray  # int64 [P]
    classes: np.ndarray  # int64 [P] nomenclature class ids
    pixels: np.ndarray  # int64 [P] pixel counts
    rows: np.ndarray  # float64 [P] centroid row of the pixels
    cols: np.ndarray  # float64 [P] centroid column of the pixels

    def subset(self, keep: np.ndarray) -> _Parcels:
        """The parcels where ``keep`` (bool ``[P]``) is True."""
        return _Parcels(*(getattr(self, f.name)[keep] for f in fields(self)))


def _parcel_table(instance: np.ndarray, class_of: dict[int, int]) -> _Parcels:
    """Pixel count and pixel centroid of every parcel of ``instance`` ``[H, W]``."""
    flat = np.flatnonzero(instance)
    ids, inverse, counts = np.unique(
        instance.ravel()[flat], return_inverse=True, return_counts=True
    )
    rows, cols = np.divmod(flat, instance.shape[1])
    return _Parcels(
        ids=ids.astype(np.int64),
        classes=np.array([class_of[int(i)] for i in ids], dtype=np.int64),
        pixels=counts.astype(np.int64),
        rows=np.bincount(inverse, weights=rows) / counts,
        cols=np.bincount(inverse, weights=cols) / counts,
    )


def parcel_folds(
    rows: np.ndarray,
    cols: np.ndarray,
    classes: np.ndarray,
    pixels: np.ndarray,
    shape: tuple[int, int],
    folds: int = FOLDS,
    block: int = BLOCK,
    unit: int = BLOCK_UNIT,
) -> np.ndarray:
    """The spatial fold of each parcel, from its pixel centroid.

    The grid is cut into blocks of ``block`` x ``block`` squares of ``unit`` pixels
    (:func:`~sitsfusion.geo.folds.block_index`); a parcel goes to the block holding its
    centroid, and the blocks holding a parcel are dealt to the folds by
    :func:`~sitsfusion.geo.folds.stratified_folds` with their class pixel counts (blocks
    without parcels take no part, so that no fold is left to an empty block).

    Args:
        rows, cols: ``[P]`` centroid row / column of each parcel's pixels on the grid.
        classes: ``[P]`` class ids (>= 0); pixels: ``[P]`` pixel counts.
        shape: the grid's ``(H, W)``.
        folds: the number of folds; block: squares per side of a block.
        unit: side of a square in pixels (:data:`BLOCK_UNIT`, the PASTIS patch).

    Returns:
        ``[P]`` int64 folds 1..``folds``.
    """
    from sitsfusion.geo.folds import block_index, stratified_folds

    if folds < 1 or block < 1 or unit < 1:
        raise ValueError(f"folds, block and unit must be >= 1, got {folds}, {block}, {unit}")
    units = block_index(math.ceil(shape[0] / unit), math.ceil(shape[1] / unit), block)
    unit_rows = (np.asarray(rows) // unit).astype(np.int64)
    unit_cols = (np.asarray(cols) // unit).astype(np.int64)
    blocks, inverse = np.unique(units[unit_rows, unit_cols], return_inverse=True)
    classes = np.asarray(classes, dtype=np.int64)
    counts = np.zeros((blocks.size, int(classes.max()) + 1))
    np.add.at(counts, (inverse, classes), np.asarray(pixels, dtype=np.float64))
    return stratified_folds(counts, folds)[inverse]


# -- tiles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """The pixels of one parcel in one tile: ``index`` ``[n]`` flat positions on the grid,
    per sensor ``values`` ``[T, C, n]`` (pixel-set units) and ``valid`` ``[T, n]``."""

    index: np.ndarray
    series: dict[str, tuple[np.ndarray, np.ndarray]]

    def save(self, path: Path) -> None:
        arrays = {"index": self.index}
        for s, (values, valid) in self.series.items():
            arrays[f"{s}_values"], arrays[f"{s}_valid"] = values, valid
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: Path, sensors: Iterable[str]) -> _Piece:
        with np.load(path) as z:
            return cls(z["index"], {s: (z[f"{s}_values"], z[f"{s}_valid"]) for s in sensors})

    @classmethod
    def join(cls, pieces: Sequence[_Piece]) -> _Piece:
        """The pieces of one parcel as one, its pixels in row-major order of the grid."""
        index = np.concatenate([p.index for p in pieces])
        order = np.argsort(index, kind="stable")
        series = {
            s: (
                np.concatenate([p.series[s][0] for p in pieces], axis=2)[:, :, order],
                np.concatenate([p.series[s][1] for p in pieces], axis=1)[:, order],
            )
            for s in pieces[0].series
        }
        return cls(index[order], series)


def _read_tile(
    cubes: dict[str, Any], sub: np.ndarray, r0: int, c0: int, width: int
) -> dict[int, _Piece]:
    """``{parcel id: its piece}`` of the tile at ``(r0, c0)`` whose parcel ids are ``sub``
    ``[h, w]`` (0: none), from ``cubes``: ``{sensor: the tile's cube}`` read into memory
    (:meth:`~sitsfusion.geo.area.Imagery.read_part`, ``values`` ``[T, C, h, w]``, ``valid``
    ``[T, h, w]``); ``width``: the grid's width (the pieces' flat positions are on the
    grid)."""
    pos = np.flatnonzero(sub)  # row-major in the tile
    ids = sub.ravel()[pos]
    order = np.argsort(ids, kind="stable")  # grouped by parcel, row-major within each
    pos, ids = pos[order], ids[order]
    index = (r0 + pos // sub.shape[1]) * width + c0 + pos % sub.shape[1]
    series = {}
    for sensor, win in cubes.items():
        n_dates = win.sizes["time"]
        valid = win["valid"].to_numpy().reshape(n_dates, -1)[:, pos]
        values = win["values"].to_numpy().reshape(n_dates, win.sizes["band"], -1)[:, :, pos]
        series[sensor] = (pastis_values(sensor, values, valid), valid)
    first, starts = np.unique(ids, return_index=True)
    ends = [*starts[1:], ids.size]
    return {
        int(pid): _Piece(
            index[a:b].astype(np.int64),
            {s: (v[:, :, a:b], m[:, a:b]) for s, (v, m) in series.items()},
        )
        for pid, a, b in zip(first, starts, ends, strict=True)
    }


def _write_parcel(
    root: Path, pid: int, piece: _Piece, days: dict[str, np.ndarray], grid: Grid, min_clear: float
) -> dict[str, Any] | None:
    """Write one whole parcel's ``DATA`` files; its record, or None when some sensor has no
    valid pixel (nothing written)."""
    from sitsfusion.data.readers.pixelset.export import geometric_features

    keep = {s: select_dates(valid, min_clear) for s, (_, valid) in piece.series.items()}
    if any(not piece.series[s][1][k].any() for s, k in keep.items()):
        return None
    for sensor, (values, _) in piece.series.items():
        save_npy_atomic(root / sensor / "DATA" / f"{pid}.npy", values[keep[sensor]])
    return {
        "n": int(piece.index.size),
        "dates": {s: [yyyymmdd(d) for d in days[s][k]] for s, k in keep.items()},
        "geomfeat": geometric_features(piece.index, grid.shape, grid.resolution),
    }


@dataclass(frozen=True)
class _Tiles:
    """The ``size`` x ``size`` px tiles of a grid, numbered row by row from 0: those holding
    parcel pixels (``order``) and the tiles of each parcel (``spans``, ascending: a parcel is
    written at its last one)."""

    size: int
    cols: int
    order: list[int]
    spans: dict[int, list[int]]

    @classmethod
    def of(cls, instance: np.ndarray, size: int) -> _Tiles:
        """The tiles of ``instance`` ``[H, W]`` (parcel ids, 0 = none)."""
        cols = math.ceil(instance.shape[1] / size)
        n = math.ceil(instance.shape[0] / size) * cols
        flat = np.flatnonzero(instance)
        rows, columns = np.divmod(flat, instance.shape[1])
        tile = (rows // size) * cols + columns // size
        pairs = np.unique(instance.ravel()[flat].astype(np.int64) * n + tile)  # (parcel, tile)
        spans: dict[int, list[int]] = {}
        for pid, t in zip(*(a.tolist() for a in np.divmod(pairs, n)), strict=True):
            spans.setdefault(pid, []).append(t)
        return cls(size, cols, np.unique(pairs % n).tolist(), spans)

    def origin(self, t: int) -> tuple[int, int]:
        """The first row and column of tile ``t``."""
        return (t // self.cols) * self.size, (t % self.cols) * self.size


@dataclass(frozen=True)
class TileJob:
    """What every tile task of a run shares (plain, picklable values: sent to each worker of
    a cluster once).

    Attributes:
        root: the dataset folder.
        imagery: the imagery; found: ``{sensor: SensorSource}`` its items / files for
            ``grid``, found once (:meth:`~sitsfusion.geo.area.Imagery.find`).
        grid: the grid of the area.
        days: ``{sensor: datetime64 [T]}`` the dates of the whole grid (every tile reads the
            same ones: the same items).
        min_clear: as :func:`prepare_pixelsets`.
    """

    root: Path
    imagery: Imagery
    found: dict[str, Any]
    grid: Grid
    days: dict[str, np.ndarray]
    min_clear: float


@dataclass(frozen=True)
class TileTask:
    """One tile: its number ``t``, first row and column, ``instance`` ``[h, w]`` its own
    slice of the parcels' raster (parcel ids, 0: none), and ``spanning`` the ids of its
    parcels that lie in other tiles too (their pieces kept for phase 2)."""

    t: int
    r0: int
    c0: int
    instance: np.ndarray
    spanning: frozenset[int]


def write_tile(task: TileTask, job: TileJob) -> tuple[int, dict[str, Any]]:
    """Phase 1 of one tile (any order, in any process): read its extent, write each parcel
    lying wholly in it, save the pieces of the others (``RECORDS/parts/<id>/<t>.npz``), then
    write its record, last.

    Returns:
        ``(t, record)``, the record ``{"parcels": {"<id>": parcel record}, "no_data": [ids]}``
        of the parcels written here (:func:`_write_parcel`).
    """
    r0, c0 = task.r0, task.c0
    h, w = task.instance.shape
    with job.imagery.reading(job.root):
        cubes = job.imagery.read_part(job.grid, job.found, (r0, c0, r0 + h, c0 + w))
    parts = job.root / RECORDS / PARTS
    whole = []
    for pid, piece in _read_tile(cubes, task.instance, r0, c0, job.grid.shape[1]).items():
        if pid in task.spanning:
            piece.save(parts / str(pid) / f"{task.t}.npz")
        else:
            whole.append((pid, piece))
    return task.t, _write_whole(job, whole, job.root / RECORDS / TILES / f"{task.t}.json")


def _write_whole(job: TileJob, pieces: Iterable[tuple[int, Any]], record: Path) -> dict[str, Any]:
    """Write each ``(parcel id, whole piece)``, then their record at ``record`` (last);
    return it: ``{"parcels": {"<id>": record}, "no_data": [ids]}``."""
    finished: dict[str, Any] = {}
    missing: list[int] = []
    for pid, piece in pieces:
        rec = _write_parcel(job.root, pid, piece, job.days, job.grid, job.min_clear)
        if rec is None:
            missing.append(pid)
        else:
            finished[str(pid)] = rec
    out = {"parcels": finished, "no_data": missing}
    write_json_atomic(record, out)
    return out


def _tile_tasks(tiles: _Tiles, instance: np.ndarray, todo: Iterable[int]) -> Iterator[TileTask]:
    """The tasks of the tiles ``todo`` (each with a copy of its slice of ``instance``)."""
    for t in todo:
        r0, c0 = tiles.origin(t)
        sub = np.ascontiguousarray(instance[r0 : r0 + tiles.size, c0 : c0 + tiles.size])
        ids = np.unique(sub[sub > 0]).tolist()
        spanning = frozenset(p for p in ids if len(tiles.spans[p]) > 1)
        yield TileTask(t, r0, c0, sub, spanning)


def _in_process(
    fn: Callable[..., tuple[int, dict[str, Any]]], tasks: Iterable[TileTask], job: TileJob
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The default ``run_tiles`` of :func:`prepare_pixelsets`: the tasks in this process, in
    order."""
    for task in tasks:
        yield fn(task, job=job)


def _join_parcels(job: TileJob, tiles: _Tiles, pids: Sequence[int], t: int) -> dict[str, Any]:
    """Phase 2 for the parcels ``pids`` spanning several tiles whose last tile is ``t``: join
    each from its pieces, write it, then the group's record (``RECORDS/joined/<t>.json``,
    last; returned, as a tile's), then remove their pieces."""
    parts = job.root / RECORDS / PARTS
    joined = (
        (
            pid,
            _Piece.join(
                [_Piece.load(parts / str(pid) / f"{u}.npz", job.found) for u in tiles.spans[pid]]
            ),
        )
        for pid in pids
    )
    record = _write_whole(job, joined, job.root / RECORDS / JOINED / f"{t}.json")
    for pid in pids:  # after the record: a rerun of the group needs them
        shutil.rmtree(parts / str(pid), ignore_errors=True)
    return record


# -- the dataset -----------------------------------------------------------------------------


def _write_meta(
    root: Path,
    sensors: Sequence[str],
    nomenclature: str,
    parcels: _Parcels,
    fold: np.ndarray | None,
    records: dict[int, dict[str, Any]],
) -> None:
    """The ``META/*.json`` files of every sensor's folder (the same parcels in each); no
    ``folds.json`` when ``fold`` is None."""
    from sitsfusion.data.readers.pixelset.layout import (
        DATES_FILE,
        FOLDS_FILE,
        GEOMFEAT_FILE,
        LABELS_FILE,
        META_DIR,
        SIZES_FILE,
    )

    folds = np.zeros_like(parcels.ids) if fold is None else fold
    written = [
        (str(p), int(c), int(f))
        for p, c, f in zip(parcels.ids, parcels.classes, folds, strict=True)
        if int(p) in records
    ]
    rec = {k: records[int(k)] for k, _, _ in written}
    shared = {
        LABELS_FILE: {nomenclature: {k: c for k, c, _ in written}},
        GEOMFEAT_FILE: {k: r["geomfeat"] for k, r in rec.items()},
        SIZES_FILE: {k: r["n"] for k, r in rec.items()},
    }
    if fold is not None:
        shared[FOLDS_FILE] = {k: f for k, _, f in written}
    for sensor in sensors:
        meta = root / sensor / META_DIR
        dates = {k: r["dates"][sensor] for k, r in rec.items()}
        for name, obj in (*shared.items(), (DATES_FILE, dates)):
            write_json_atomic(meta / name, obj, indent=1, newline=False)


def prepare_pixelsets(
    imagery: str | Path,
    labels: str | Path,
    out: str | Path,
    *,
    class_column: str | None = None,
    class_table: str | Path | None = None,
    nomenclature: str = "pastis",
    sensors: Sequence[str] = SENSORS,
    resolution: float = 10.0,
    crs: Any = None,
    aoi: str | Path | None = None,
    folds: int = FOLDS,
    block: int = BLOCK,
    block_unit: int = BLOCK_UNIT,
    tile: int = TILE,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    max_cloud: float | None = None,
    min_clear: float = MIN_CLEAR,
    overwrite: bool = False,
    progress: bool = False,
    command: str = "prepare --mode parcels",
    on_tile: Callable[[int], None] | None = None,
    labelled: bool = True,
    grid: Grid | None = None,
    run_tiles: Callable[..., Iterable[tuple[int, dict[str, Any]]]] | None = None,
) -> PixelSetSummary:
    """Write every labelled parcel of your area once, whole, as a pixel set (module docstring).

    Args:
        imagery: a STAC catalog (``catalog.json`` or its folder) or a GeoTIFF folder
            (:func:`~sitsfusion.geo.imagery.load_sensor`).
        labels: the parcels' vector file (:func:`~sitsfusion.geo.labels.read_parcels`).
        out: the dataset folder: absent or empty; an interrupted run of the same arguments is
            resumed (its finished tiles skipped); ``overwrite`` replaces a dataset sitsfusion
            wrote.
        class_column, class_table, nomenclature, sensors, resolution, crs, aoi: as
            :func:`~sitsfusion.geo.prepare.prepare`.
        folds: the number of folds; block: squares per side of a spatial block of one fold.
        block_unit: side in pixels of those squares (:data:`BLOCK_UNIT` = 128, 1.28 km at
            10 m: the PASTIS patch).
        tile: side in pixels of the windows the imagery is read in.
        start, end: the first / last date kept (inclusive, ``YYYY-MM-DD``), every sensor.
        max_cloud: drop S2 items whose ``eo:cloud_cover`` is above it (percent).
        min_clear: the valid fraction of a parcel's pixels for a date to be kept for it.
        overwrite: replace a dataset sitsfusion wrote at ``out``.
        progress: show a progress bar (rich).
        command: the command line recorded in the folder's mark.
        on_tile: called with each tile's number once it is finished (tests, logs), in the
            order the tiles finish.
        labelled: False: parcels to classify, not to learn from (module docstring): every
            parcel written, a class column optional (``class_table`` and ``nomenclature``
            unused), no folds.
        grid: the grid to write on (e.g. a map's); None: from ``aoi`` / the parcels, ``crs``
            and ``resolution`` (:func:`~sitsfusion.geo.area.area_grid`).
        run_tiles: runs phase 1, the tiles (module docstring), e.g. on a Dask cluster
            (:class:`sitsfusion.mapping.cluster.TileRunner`): called as ``run_tiles(fn,
            tasks, job)``, it yields ``fn(task, job=job)`` of every task (:class:`TileTask`,
            :class:`TileJob`: picklable; ``fn`` importable) as each finishes, in any order.
            None: in this process, in order.

    Returns:
        :class:`PixelSetSummary`.

    Raises:
        DatasetError: as :func:`~sitsfusion.geo.prepare.prepare` (one line naming the file).
        DatasetError: also no parcel of a class to learn, or none with valid pixels.
        ValueError: bad arguments; no parcel inside the grid.
        OutputError: ``out`` cannot be written (see :mod:`sitsfusion.outputs`).
    """
    from shapely.geometry import box

    from sitsfusion.data.taxonomy import load_nomenclature
    from sitsfusion.geo.labels import rasterize_parcels, read_parcels

    require("geopandas", "geo", "sitsfusion prepare")
    if tile < 1:
        raise ValueError(f"tile must be >= 1 pixel, got {tile}")
    if folds < 1 or block < 1:
        raise ValueError(f"folds and block must be >= 1, got {folds}, {block}")
    check_arguments(sensors, min_clear, max_cloud)
    source = Imagery.of(imagery)
    labels, out = Path(labels), Path(out)
    sensors = list(dict.fromkeys(sensors))
    chosen = {"labelled": False} if not labelled else {}  # absent: as earlier records
    if grid is not None:
        chosen["grid"] = [grid.crs, grid.resolution, *grid.bounds]
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
        class_column=class_column,
        nomenclature=nomenclature,
        folds=folds,
        block=block,
        block_unit=block_unit,
        tile=tile,
        max_cloud=max_cloud,
        **chosen,
    )
    nom = load_nomenclature(nomenclature)
    if labelled:
        frame = read_labels(labels, class_column, class_table, nomenclature)
    else:
        frame = read_parcels(labels, class_column=class_column, class_required=False)
        frame["class_value"] = frame["class_value"].fillna("")
        frame["class_id"] = UNLABELLED
    if grid is None:
        grid, area = area_grid(frame, aoi, crs, resolution)
    else:
        area = box(*grid.bounds)
    maps = rasterize_parcels(  # the instance map only is used: any class id of nom will do
        frame.assign(class_id=frame["class_id"] if labelled else nom.ids[0]),
        grid.crs,
        grid.transform,
        grid.shape,
        nomenclature=nomenclature,
        borders=False,
    )
    class_of = dict(zip(frame["parcel_id"].tolist(), frame["class_id"].tolist(), strict=True))
    table = _parcel_table(maps.instance, class_of)
    nothing = [c for c in (nom.background, nom.void) if c is not None] if labelled else []
    to_learn = ~np.isin(table.classes, nothing)
    n_unlabelled = int((~to_learn).sum())
    if not to_learn.any():
        what = "of a class to learn (background / void only)" if labelled else "left to classify"
        raise DatasetError(labels, f"no parcel {what}")
    table = table.subset(to_learn)
    instance = np.where(np.isin(maps.instance, table.ids), maps.instance, 0)
    fold = None
    if labelled:
        fold = parcel_folds(
            table.rows,
            table.cols,
            table.classes,
            table.pixels,
            grid.shape,
            folds,
            block,
            block_unit,
        )
    empty = [] if fold is None else sorted(set(range(1, folds + 1)) - set(fold.tolist()))
    if empty:
        warnings.warn(
            f"folds {empty} will hold no parcel (blocks of {block} x {block} squares of "
            f"{block_unit} px over a {grid.shape[0]} x {grid.shape[1]} px grid); use a smaller "
            "--block or fewer --folds, or set data.*_folds to the folds there",
            DataWarning,
            stacklevel=2,
        )

    tiles = _Tiles.of(instance, tile)

    found = source.find(grid, sensors, start, end, max_cloud)  # once: every tile's dates
    cubes = source.load(grid, sensors, tile, found=found)  # lazy: the dates, nothing read
    days = {s: cube["time"].to_numpy() for s, cube in cubes.items()}
    synthetic = source.synthetic(cubes)

    claim = {"layout": "pixelset", "key": "pixelsets", "overwrite": overwrite, "command": command}
    with dataset_folder(out, source, labels, settings, **claim) as root:
        for sensor in sensors:
            (root / sensor / "DATA").mkdir(parents=True, exist_ok=True)
            (root / sensor / "META").mkdir(exist_ok=True)
        for name in (TILES, JOINED):
            (root / RECORDS / name).mkdir(parents=True, exist_ok=True)
        records: dict[int, dict[str, Any]] = {}
        no_data: set[int] = set()

        def add(rec: dict[str, Any]) -> None:
            records.update({int(p): r for p, r in rec["parcels"].items()})
            no_data.update(rec["no_data"])

        todo = []
        for t in tiles.order:
            done = root / RECORDS / TILES / f"{t}.json"
            if done.is_file():
                add(read_json(done))
            else:
                todo.append(t)
        job = TileJob(root, source, found, grid, days, min_clear)
        run = run_tiles if run_tiles is not None else _in_process
        finishing = run(write_tile, _tile_tasks(tiles, instance, todo), job)
        for t, rec in progress_bar(finishing, progress, f"reading {len(todo)} tiles", len(todo)):
            add(rec)
            if on_tile is not None:
                on_tile(t)
        groups: dict[int, list[int]] = {}  # phase 2: the parcels of several tiles, by last
        for pid, span in tiles.spans.items():
            if len(span) > 1 and pid not in records and pid not in no_data:
                groups.setdefault(span[-1], []).append(pid)
        for t, pids in sorted(groups.items()):
            done = root / RECORDS / JOINED / f"{t}.json"
            add(read_json(done) if done.is_file() else _join_parcels(job, tiles, pids, t))
        if not records:
            raise DatasetError(source.source, "no parcel has a valid pixel in every sensor")
        shutil.rmtree(root / RECORDS / PARTS, ignore_errors=True)
        _write_meta(root, sensors, nomenclature, table, fold, records)
        write_area(root, grid, area, frame[frame["parcel_id"].isin(list(records))])
        per_fold: dict[int, int] = {}
        if fold is not None:
            written = np.isin(table.ids, list(records))
            per_fold = {f: int((fold[written] == f).sum()) for f in range(1, folds + 1)}
        dates = {s: int(cube.sizes["time"]) for s, cube in cubes.items()}
        mark_complete(
            root,
            parcels=len(records),
            folds=per_fold,
            synthetic=synthetic,
            grid={"crs": grid.crs, "resolution": grid.resolution, "bounds": list(grid.bounds)},
        )
    return PixelSetSummary(
        out=root,
        grid=grid,
        n_parcels=len(records),
        n_small=maps.n_small,
        n_unlabelled=n_unlabelled,
        n_no_data=len(no_data),
        n_tiles=len(tiles.order),
        n_resumed=len(tiles.order) - len(todo),
        folds=per_fold,
        dates=dates,
        synthetic=synthetic,
        n_outside=maps.n_outside,
    )
