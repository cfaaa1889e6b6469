"""What both ``prepare`` modes read and write of an area (patches: ``geo.prepare``; whole
parcels as pixel sets: ``geo.pixelsets``).

* :class:`Imagery`: the imagery argument — a STAC catalog or GeoTIFF folder on disk, or a STAC
  API URL — its sensors loaded lazily onto the grid (:func:`~sitsfusion.geo.imagery.load_sensor`)
  and read window by window (:meth:`Imagery.read`: a file that cannot be read is one line);
* :func:`read_labels` and :func:`area_grid`: the labelled parcels, the grid and the area of
  interest;
* PASTIS units (:func:`pastis_values`), the dates kept per patch or parcel
  (:func:`select_dates`), and the area files of a prepared dataset (:func:`write_area`:
  ``aoi.geojson`` and ``parcels.gpkg``, read by ``predict`` for the maps of the area).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.errors import DatasetError
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.stac import SYNTHETIC_KEY
from sitsfusion.geo.stac_api import api_url
from sitsfusion.inference.area import AOI_FILE, USER_PARCELS_FILE, USER_PARCELS_LAYER
from sitsfusion.io import read_json, write_json_atomic
from sitsfusion.outputs import output_folder, read_mark

__all__ = [
    "AOI_FILE",
    "CLASS_TABLE_NAME",
    "MIN_CLEAR",
    "PARCELS_FILE",
    "SENSORS",
    "Imagery",
    "area_grid",
    "check_arguments",
    "crs_member",
    "dataset_folder",
    "is_synthetic_imagery",
    "pastis_values",
    "progress_bar",
    "read_labels",
    "recorded_settings",
    "select_dates",
    "write_area",
    "yyyymmdd",
]

SENSORS = ("S2", "S1A", "S1D")  # PASTIS-R's modalities (seed 001, Sec. 4.1)
MIN_CLEAR = 0.5  # own choice: a date is kept in a patch / parcel when half its pixels are valid
S2_SCALE = 10_000.0  # PASTIS stores L2A reflectance x 10^4 (docs/formats.md)
CLASS_TABLE_NAME = "crop_codes.csv"
"""A class table of this name beside the parcels file is used when none is given."""
PARCELS_FILE = USER_PARCELS_FILE  # the names predict reads (inference.area)


def check_arguments(sensors: Sequence[str], min_clear: float, max_cloud: float | None) -> None:
    """The arguments both modes share, refused in one line (ValueError)."""
    if not 0.0 <= min_clear <= 1.0:
        raise ValueError(f"min_clear must be in [0, 1], got {min_clear}")
    if max_cloud is not None and not 0.0 <= max_cloud <= 100.0:
        raise ValueError(f"max_cloud must be a percentage in [0, 100], got {max_cloud}")
    if not sensors or any(s not in SENSORS for s in sensors):
        raise ValueError(f"sensors must be among {', '.join(SENSORS)}, got {list(sensors)}")


def is_synthetic_imagery(imagery: str | Path) -> bool:
    """True when ``imagery`` is the simulator's scene: its STAC catalog carries
    ``sitsfusion:synthetic``, or the folder (or its parent) is a scene sitsfusion simulated."""
    path = Path(imagery)
    folder = path if path.is_dir() else path.parent
    catalog = path if path.is_file() else folder / "catalog.json"
    if catalog.is_file() and catalog.suffix == ".json":
        try:
            if read_json(catalog).get(SYNTHETIC_KEY) is True:
                return True
        except (DatasetError, AttributeError):
            pass
    for candidate in (folder, folder.parent):
        mark = read_mark(candidate)
        if mark is not None and mark.get("format") == "scene":
            return True
    return False


@dataclass(frozen=True)
class Imagery:
    """The imagery of an area: ``url`` of a STAC API, or ``path`` of a STAC catalog
    (``catalog.json`` or its folder) or a GeoTIFF folder."""

    path: Path | None
    url: str | None

    @classmethod
    def of(cls, imagery: str | Path) -> Imagery:
        """``imagery`` as given on the command line (a URL that went through ``Path`` too)."""
        url = api_url(imagery)
        return cls(None if url is not None else Path(imagery), url)

    @property
    def source(self) -> str | Path:
        """What :func:`~sitsfusion.geo.imagery.load_sensor` reads."""
        return self.url if self.url is not None else self.path  # type: ignore[return-value]

    def record(self) -> str:
        """How a dataset's mark records it: the URL, or the absolute path."""
        return self.url if self.url is not None else str(self.path.resolve())  # type: ignore[union-attr]

    def folders(self) -> list[Path]:
        """The folder holding the imagery on disk (never written into), none for a URL."""
        if self.path is None:
            return []
        return [self.path if self.path.is_dir() else self.path.parent]

    def find(
        self,
        grid: Grid,
        sensors: Sequence[str],
        start: str | None = None,
        end: str | None = None,
        max_cloud: float | None = None,
    ) -> dict[str, Any]:
        """``{sensor: SensorSource}``: each sensor's items / files for ``grid``, found once
        (:func:`~sitsfusion.geo.imagery.find_sensor`): dates in ``[start, end]``, S2 items
        above ``max_cloud`` percent of cloud dropped. Loading them onto ``grid`` or any part
        of it then gives every part the same dates."""
        from sitsfusion.geo.imagery import find_sensor

        return {
            s: find_sensor(
                self.source,
                grid,
                s,
                start=start,
                end=end,
                max_cloud=max_cloud if s == "S2" else None,
            )
            for s in sensors
        }

    def load(
        self,
        grid: Grid,
        sensors: Sequence[str],
        chunk: int | None,
        start: str | None = None,
        end: str | None = None,
        max_cloud: float | None = None,
        *,
        found: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``{sensor: lazy cube}`` on ``grid`` in Dask chunks of ``chunk`` x ``chunk`` pixels
        (None: :func:`~sitsfusion.geo.imagery.load_sensor`'s default), dates in
        ``[start, end]``, S2 items above ``max_cloud`` percent of cloud dropped; or, with
        ``found`` (:meth:`find`), its items / files (then ``sensors``, ``start``, ``end``,
        ``max_cloud`` are not used)."""
        from sitsfusion.geo.imagery import load_sensor

        found = found if found is not None else self.find(grid, sensors, start, end, max_cloud)
        chunks = None if chunk is None else {"x": chunk, "y": chunk}
        return {
            s: load_sensor(self.source, grid, s, chunks=chunks, found=f) for s, f in found.items()
        }

    def read_part(
        self, grid: Grid, found: dict[str, Any], extent: tuple[int, int, int, int]
    ) -> dict[str, Any]:
        """``{sensor: cube}`` of the rows ``r0:r1`` and columns ``c0:c1`` of ``grid``
        (``extent`` = ``(r0, c0, r1, c1)``), read now into memory, without Dask: each file
        read once, only over that extent; the cubes hold ``values`` ``[T, C, r1 - r0, c1 -
        c0]`` and ``valid`` ``[T, r1 - r0, c1 - c0]`` as numpy arrays, the dates of
        ``found`` (:meth:`find` for ``grid``: every part has the same dates). A map block or a
        tile of ``prepare --mode parcels``; wrap it in :meth:`reading` for its errors."""
        import warnings

        from sitsfusion.errors import DataWarning
        from sitsfusion.geo.imagery import load_sensor

        part = grid.part(*extent)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # said once, for the whole grid
            return {
                s: load_sensor(self.source, part, s, found=f, lazy=False) for s, f in found.items()
            }

    def read_raw(
        self, grid: Grid, found: dict[str, Any], extent: tuple[int, int, int, int]
    ) -> dict[str, Any]:
        """``{sensor: RawBlock}``: the digital numbers of the rows ``r0:r1`` and columns
        ``c0:c1`` of ``grid`` (``extent``), each file read once, without Dask
        (:func:`~sitsfusion.geo.imagery.read_raw`); the windows of a map block make their
        values from it (:func:`~sitsfusion.geo.raw.window_series`). Wrap it in
        :meth:`reading` for its errors."""
        import warnings

        from sitsfusion.errors import DataWarning
        from sitsfusion.geo.imagery import read_raw

        part = grid.part(*extent)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # said once, for the whole grid
            return {s: read_raw(f, part) for s, f in found.items()}

    def synthetic(self, cubes: dict[str, Any]) -> bool:
        """The simulator's: every item says so (STAC), or the scene's folder does."""
        if cubes and all(cube.attrs.get("synthetic") for cube in cubes.values()):
            return True
        return self.path is not None and is_synthetic_imagery(self.path)

    def read(self, cubes: dict[str, Any], ys: slice, xs: slice, root: Path) -> dict[str, Any]:
        """``{sensor: the window (ys, xs) computed}``: one read of every acquisition (errors
        as :meth:`reading`)."""
        with self.reading(root):
            return {s: cube.isel(y=ys, x=xs).compute() for s, cube in cubes.items()}

    @contextmanager
    def reading(self, root: Path) -> Iterator[None]:
        """Reading the imagery inside: a file that cannot be read (broken inside; its header
        was checked before) is one DatasetError naming it, saying that the work already
        written in ``root`` is kept, marked incomplete, for the same command to resume."""
        from rasterio.errors import RasterioError

        try:
            yield
        except (RasterioError, OSError) as exc:
            what = " ".join(str(exc).split())
            raise DatasetError(
                self.source,
                f"reading the imagery failed: {what}; repair or remove that file, then run the "
                f"same command again: it resumes (what is written is kept in {root}, marked "
                "incomplete)",
            ) from None


def recorded_settings(
    source: Imagery,
    labels: Path,
    *,
    class_table: str | Path | None,
    crs: Any,
    aoi: str | Path | None,
    resolution: float,
    sensors: Sequence[str],
    start: str | None,
    end: str | None,
    min_clear: float,
    **plain: Any,
) -> dict[str, Any]:
    """The arguments of a ``prepare`` run as its dataset's mark records them (paths made
    absolute): a run with the same record resumes the folder; ``plain`` values as given."""
    return {
        "imagery": source.record(),
        "labels": str(labels.resolve()),
        "class_table": None if class_table is None else str(Path(class_table).resolve()),
        "crs": None if crs is None else str(crs),
        "aoi": None if aoi is None else str(Path(aoi).resolve()),
        "resolution": float(resolution),
        "sensors": list(sensors),
        "start": None if start is None else str(start),
        "end": None if end is None else str(end),
        "min_clear": float(min_clear),
        **plain,
    }


@contextmanager
def dataset_folder(
    out: Path,
    source: Imagery,
    labels: Path,
    settings: dict[str, Any],
    *,
    layout: str,
    key: str,
    overwrite: bool,
    command: str,
) -> Iterator[Path]:
    """The dataset folder ``out`` of a ``prepare`` mode, claimed through
    :func:`~sitsfusion.outputs.output_folder` (kind ``dataset``; the imagery's folder and the
    labels never written into): reused when its mark records the same ``settings`` under
    ``key`` (an interrupted run resumes), else new, empty or (``overwrite``) replaced."""
    mark = read_mark(out) if out.is_dir() else None
    resume = not overwrite and mark is not None and mark.get(key) == settings
    with output_folder(
        out,
        kind="dataset",
        overwrite=overwrite,
        inputs=[*source.folders(), labels],
        command=command,
        reuse=resume,
        format=layout,
        **{key: settings},
    ) as root:
        yield root


def read_labels(
    labels: Path,
    class_column: str | None,
    class_table: str | Path | None,
    nomenclature: str,
) -> Any:
    """The labelled parcels (``parcel_id``, ``class_value``, ``class_id``, geometry) of
    ``labels``; the class table given, else :data:`CLASS_TABLE_NAME` beside the file."""
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


def area_grid(
    parcels: Any, aoi: str | Path | None, crs: Any, resolution: float
) -> tuple[Grid, Any]:
    """The grid of the area and the area of interest in its CRS: ``aoi``'s bounds and the
    union of its geometries, else the parcels' bounds and their box. The grid's CRS is
    ``crs``, else the parcels' when projected, else their UTM zone; it must have an EPSG code
    (ValueError otherwise: the datasets record it as one)."""
    from shapely.geometry import box

    if aoi is not None:
        import geopandas as gpd

        grid = Grid.from_aoi(aoi, crs=crs, resolution=resolution)
        area = gpd.read_file(aoi).to_crs(grid.crs).union_all()
    else:
        target = crs
        if target is None:
            target = parcels.crs if parcels.crs.is_projected else parcels.estimate_utm_crs()
        bounds = tuple(float(b) for b in parcels.to_crs(target).total_bounds)
        grid, area = Grid.from_bounds(bounds, target, resolution), box(*bounds)
    crs_member(grid.crs)  # refuse a CRS without EPSG code before the long work
    return grid, area


def crs_member(crs: str) -> dict[str, Any]:
    """The GeoJSON ``crs`` member of an EPSG CRS (as PASTIS' metadata.geojson has it); a
    ValueError for a CRS without EPSG code."""
    if not crs.upper().startswith("EPSG:"):
        raise ValueError(f"crs {crs[:40]!r}... has no EPSG code; choose an EPSG CRS with crs=")
    code = crs.split(":", 1)[1]
    return {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{code}"}}


def yyyymmdd(day: np.datetime64) -> int:
    """A day as the integer ``YYYYMMDD`` (PASTIS' date format)."""
    return int(str(np.datetime64(day, "D")).replace("-", ""))


def select_dates(valid: np.ndarray, min_clear: float) -> np.ndarray:
    """Indices of the dates kept (``valid`` ``[T, ...]``): those with at least ``min_clear``
    of the pixels valid, else the clearest date alone (a series needs one date)."""
    clear = valid.reshape(len(valid), -1).mean(axis=1)
    keep = np.flatnonzero(clear >= min_clear)
    return keep if keep.size else np.array([int(np.argmax(clear))])


def pastis_values(
    sensor: str, values: np.ndarray, valid: np.ndarray, as_float: bool = False
) -> np.ndarray:
    """``values`` ``[T, C, ...]`` of :func:`load_sensor` in PASTIS units: S2 int16
    reflectance x 10^4, S1 float32 dB VV, VH, VV/VH (0 where not valid). ``as_float`` gives S2's
    same numbers as float32 (a model's input: no int16 array made)."""
    if sensor == "S2":
        out = np.multiply(values, np.float32(S2_SCALE), dtype=np.float32)
        np.rint(out, out=out)
        np.clip(out, 0, np.iinfo(np.int16).max, out=out)
        return out if as_float else out.astype(np.int16)
    vv, vh = values[:, 0], values[:, 1]
    ratio = np.where(valid, vv - vh, 0.0)  # VV/VH in dB
    return np.stack([vv, vh, ratio], axis=1).astype(np.float32)


def write_area(root: Path, grid: Grid, area: Any, parcels: Any) -> None:
    """``aoi.geojson`` (the area of interest) and ``parcels.gpkg`` (the labelled parcels,
    layer ``parcels``), both in the grid CRS, for the maps of the area."""
    from shapely.geometry import mapping

    from sitsfusion.inference.maps import write_parcels

    feature = {"type": "Feature", "properties": {}, "geometry": mapping(area)}
    collection = {"type": "FeatureCollection", "crs": crs_member(grid.crs), "features": [feature]}
    write_json_atomic(root / AOI_FILE, collection)
    frame = parcels.to_crs(grid.crs)[["parcel_id", "class_value", "class_id", "geometry"]].copy()
    frame["parcel_id"] = frame["parcel_id"].astype("int64")
    frame["class_value"] = frame["class_value"].astype(str)
    frame["class_id"] = frame["class_id"].astype("int64")
    write_parcels(root / PARCELS_FILE, {USER_PARCELS_LAYER: frame})


def progress_bar(
    items: Iterable[Any], show: bool, description: str, total: int | None = None
) -> Iterable[Any]:
    """``items``, with a rich progress bar when ``show`` (``total``: their number, when
    ``items`` has no length, e.g. results yielded as they finish)."""
    if not show:
        return items
    from rich.progress import track

    return track(items, description=description, total=len(items) if total is None else total)  # type: ignore[arg-type]
