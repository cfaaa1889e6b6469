"""Labels of your own area: parcel polygons from a vector file → class ids → label rasters.

Three steps, each usable alone (``docs/own-area.md``, "The labels"):

* :func:`read_parcels`: a GeoPackage / GeoParquet / Shapefile / GeoJSON of parcel polygons →
  a GeoDataFrame with ``parcel_id``, ``class_value`` and ``geometry`` in the grid's CRS
  (class column detected when not given, geometries repaired, non-polygons refused).
* :func:`map_classes` / :func:`label_parcels`: class values (names, ids, FAO-ICC codes, or
  any value through a user CSV ``value,class``) → class ids of a nomenclature.
* :func:`rasterize_parcels`: parcels → the PASTIS annotations of a grid: a semantic map
  (class ids, background 0, 1-pixel void borders) and an instance map (parcel ids).

The grid is given as plain ``crs``, ``transform`` (a north-up ``affine.Affine``) and
``shape`` ``(H, W)``. Needs the ``geo`` extra (geopandas, pyogrio, shapely, rasterio), imported
inside the functions so that ``import sitsfusion`` stays light.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sitsfusion.data.taxonomy import Nomenclature, encode_codes, load_faoicc, load_nomenclature
from sitsfusion.errors import DatasetError, DataWarning
from sitsfusion.optional import require

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    from affine import Affine

__all__ = [
    "CLASS_COLUMN_PATTERN",
    "MIN_PIXELS",
    "ParcelMaps",
    "label_parcels",
    "map_classes",
    "rasterize_parcels",
    "read_class_table",
    "read_parcels",
    "void_borders",
]

#: Column names taken for the class column when none is given (LPIS ``CODE_CULTU``, a survey's
#: ``crop``, ``class``, ``label``, French ``culture``), matched case-insensitively.
CLASS_COLUMN_PATTERN = re.compile(r"crop|class|code|cultu|label", re.IGNORECASE)

#: Parcels covering fewer pixels are dropped. Own choice (issue 11: "parcels smaller than a few
#: pixels dropped"; no seed paper gives a threshold): under 4 pixels (400 m² at 10 m) a parcel
#: keeps no pixel once its 1-pixel void border is drawn.
MIN_PIXELS = 4

_ID_COLUMN = "parcel_id"
_CLASS_VALUE = "class_value"
_CLASS_ID = "class_id"
_SOURCE = "source"  # GeoDataFrame.attrs key: the file the parcels were read from
_POLYGONAL = ("Polygon", "MultiPolygon")
_MAX_LISTED = 20  # how many offending values an error message lists

Unknown = Literal["raise", "void", "drop"]
Scheme = Literal["auto", "names", "ids", "faoicc"]


def _geo(module: str) -> Any:
    return require(module, "geo", "reading parcels from a vector file")


def _fmt_counts(counter: Mapping[Any, int]) -> str:
    items = sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))
    head = ", ".join(f"{value!r} ({n})" for value, n in items[:_MAX_LISTED])
    more = f", … ({len(items)} values in all)" if len(items) > _MAX_LISTED else ""
    return head + more


def _crs_name(crs: Any) -> str:
    """``EPSG:32630`` for messages (the CRS as given when it has no EPSG code)."""
    try:
        return _geo("pyproj").CRS.from_user_input(crs).to_string()
    except Exception:  # anything pyproj cannot read: shown as given
        return str(crs)


# -- 1. reading ------------------------------------------------------------------------------


def _read_frame(path: Path, layer: str | int | None) -> gpd.GeoDataFrame:
    gpd = _geo("geopandas")
    if not path.is_file():
        raise DatasetError(path, "no such file; expected a vector file of parcel polygons")
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            return gpd.read_parquet(path)
        pyogrio = _geo("pyogrio")
        layers = pyogrio.list_layers(path)
        if layer is None and len(layers) > 1:
            names = ", ".join(str(name) for name, _ in layers)
            raise DatasetError(
                path, f"holds {len(layers)} layers ({names}); choose one with layer="
            )
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except DatasetError:
        raise
    except Exception as exc:  # pyogrio / pyarrow errors: unreadable or unsupported file
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(
            path,
            f"cannot read as a vector file ({problem}); expected GeoPackage, GeoParquet, "
            "Shapefile or GeoJSON",
        ) from None


def _detect_class_column(path: Path, columns: list[str], required: bool = True) -> str | None:
    candidates = [c for c in columns if c != _ID_COLUMN and CLASS_COLUMN_PATTERN.search(c)]
    if len(candidates) == 1:
        return candidates[0]
    if not required:
        return None
    if not candidates:
        raise DatasetError(
            path,
            f"no class column found (none named like crop / class / code / culture / label "
            f"among {columns}); give it with class_column=",
        )
    raise DatasetError(
        path, f"several candidate class columns {candidates}; choose one with class_column="
    )


def _parcel_ids(path: Path, frame: gpd.GeoDataFrame, id_column: str | None) -> np.ndarray:
    if id_column is None and _ID_COLUMN not in frame.columns:
        return np.arange(1, len(frame) + 1, dtype=np.int32)
    column = id_column or _ID_COLUMN
    if column not in frame.columns:
        columns = [c for c in frame.columns if c != frame.geometry.name]
        raise DatasetError(path, f"no id column {column!r}; columns: {columns}")
    values = frame[column]
    try:
        ids = values.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(path, f"id column {column!r} holds non-numeric values") from None
    if not np.isfinite(ids).all() or (ids != np.round(ids)).any():
        raise DatasetError(
            path, f"id column {column!r}: ids must be integers (no NaN, no fractions)"
        )
    if (ids < 1).any() or (ids > np.iinfo(np.int32).max).any():
        raise DatasetError(path, f"id column {column!r}: ids must be in 1..2**31-1 (0 = none)")
    repeated = Counter(ids.astype(np.int64).tolist())
    repeated = Counter({k: n for k, n in repeated.items() if n > 1})
    if repeated:
        raise DatasetError(path, f"id column {column!r}: repeated ids {_fmt_counts(repeated)}")
    return ids.astype(np.int32)


def _polygons_only(path: Path, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Repair invalid geometries (``make_valid``), drop empty ones, refuse non-polygons."""
    shapely = _geo("shapely")
    geoms = frame.geometry
    missing = geoms.isna() | geoms.is_empty
    kinds = Counter(geoms[~missing].geom_type)
    foreign = {k: n for k, n in kinds.items() if k not in _POLYGONAL}
    if foreign:
        listed = ", ".join(f"{k}: {n}" for k, n in sorted(foreign.items()))
        raise DatasetError(
            path,
            f"{sum(foreign.values())} feature(s) are not polygons ({listed}); parcels must be "
            "Polygon or MultiPolygon",
        )
    invalid = ~missing & ~geoms.is_valid
    n_invalid = int(invalid.sum())
    if n_invalid:
        repaired = shapely.make_valid(geoms[invalid].to_numpy())
        # make_valid may return a collection with lines / points: keep the polygonal part.
        polygonal = shapely.get_parts(repaired, return_index=True)
        parts, owner = polygonal
        keep = np.isin(shapely.get_type_id(parts), (3, 6))  # Polygon, MultiPolygon
        merged = [shapely.union_all(parts[keep & (owner == i)]) for i in range(repaired.size)]
        frame = frame.copy()
        frame.loc[invalid, frame.geometry.name] = merged
        warnings.warn(
            f"{path}: {n_invalid} invalid geometr{'y' if n_invalid == 1 else 'ies'} repaired "
            "(make_valid)",
            DataWarning,
            stacklevel=3,
        )
    geoms = frame.geometry
    empty = geoms.isna() | geoms.is_empty | (shapely.area(geoms.to_numpy()) <= 0)
    n_empty = int(empty.sum())
    if n_empty:
        warnings.warn(
            f"{path}: {n_empty} parcel(s) with an empty or zero-area geometry dropped",
            DataWarning,
            stacklevel=3,
        )
        frame = frame.loc[~empty]
    return frame


def _to_crs(frame: gpd.GeoDataFrame, crs: Any, source: str) -> gpd.GeoDataFrame:
    """Reproject ``frame`` to ``crs`` when it differs, saying so once."""
    if crs is None:
        return frame
    if frame.crs is None:
        raise ValueError(f"{source}: the parcels have no CRS; set it with .set_crs(...)")
    pyproj = _geo("pyproj")
    target = pyproj.CRS.from_user_input(crs)
    if frame.crs.equals(target):
        return frame
    warnings.warn(
        f"{source}: parcels reprojected from {frame.crs.to_string()} to {target.to_string()}",
        DataWarning,
        stacklevel=3,
    )
    return frame.to_crs(target)


def read_parcels(
    path: str | Path,
    *,
    class_column: str | None = None,
    id_column: str | None = None,
    layer: str | int | None = None,
    crs: Any = None,
    class_required: bool = True,
) -> gpd.GeoDataFrame:
    """Read parcel polygons from a vector file.

    Args:
        path: a GeoPackage, GeoParquet (``.parquet``), Shapefile or GeoJSON file.
        class_column: the column holding each parcel's class (a name or a code); None = the
            one column named like crop / class / code / culture / label
            (:data:`CLASS_COLUMN_PATTERN`).
        id_column: integer parcel ids (unique, ≥ 1); None = a ``parcel_id`` column when the
            file has one, else ids 1..N in file order.
        layer: the layer of a multi-layer file (GeoPackage); needed when it has several.
        crs: the grid's CRS (anything pyproj reads: ``32630``, ``"EPSG:32630"``); the parcels
            are reprojected to it when their CRS differs (said once, as a
            :class:`~sitsfusion.data.readers.ranges.DataWarning`). None = keep the file's CRS.
        class_required: False for parcels to classify (``sitsfusion map``): without
            ``class_column`` and without one column named like a class column, the parcels
            are read all the same, ``class_value`` None.

    Returns:
        A GeoDataFrame of N rows: ``parcel_id`` (int32), ``class_value`` (the class column's
        values, as read), ``geometry`` (Polygon / MultiPolygon). Invalid geometries are
        repaired with ``make_valid`` (their polygonal part kept), empty ones dropped; both
        counted in a DataWarning.
        ``attrs["source"]`` is the file's path, which later steps name in their messages.

    Raises:
        DatasetError: missing or unreadable file, no features, no CRS, a class / id column that
            does not exist (the columns are listed), no or several candidate class columns,
            ids that are not unique positive integers, non-polygon geometries (counted).
    """
    path = Path(path)
    frame = _read_frame(path, layer)
    if len(frame) == 0:
        raise DatasetError(path, "holds no features; expected parcel polygons")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if frame.crs is None:
        raise DatasetError(
            path,
            "has no CRS; set it (GeoDataFrame.set_crs(...) and save, or "
            "ogr2ogr -a_srs EPSG:<code> out.gpkg in.gpkg) and read the new file",
        )
    if class_column is None:
        class_column = _detect_class_column(path, columns, class_required)
    elif class_column not in frame.columns:
        raise DatasetError(path, f"no class column {class_column!r}; columns: {columns}")
    ids = _parcel_ids(path, frame, id_column)
    gpd = _geo("geopandas")
    parcels = gpd.GeoDataFrame(
        {
            _ID_COLUMN: ids,
            _CLASS_VALUE: np.full(len(frame), None, dtype=object)
            if class_column is None
            else frame[class_column].to_numpy(),
        },
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )
    parcels = _polygons_only(path, parcels)
    if len(parcels) == 0:
        raise DatasetError(path, "no parcel left with a polygon geometry")
    parcels.attrs[_SOURCE] = str(path)  # named in the messages of the later steps
    return _to_crs(parcels.reset_index(drop=True), crs, str(path))


# -- 2. classes -------------------------------------------------------------------------------


def _as_nomenclature(nomenclature: str | Nomenclature) -> Nomenclature:
    return load_nomenclature(nomenclature) if isinstance(nomenclature, str) else nomenclature


def _normalise(name: object) -> str:
    return " ".join(str(name).split()).casefold()


def _class_id(value: str, nom: Nomenclature, source: str) -> int:
    """A CSV ``class`` cell (an id or a class name of ``nom``) → the class id."""
    text = value.strip()
    if re.fullmatch(r"[+-]?\d+", text) and int(text) in nom.ids:
        return int(text)
    by_name = {_normalise(n): i for n, i in zip(nom.names, nom.ids, strict=True)}
    if _normalise(text) in by_name:
        return by_name[_normalise(text)]
    raise DatasetError(
        source,
        f"class {value!r} is neither an id nor a name of nomenclature {nom.name!r} "
        f"(names: {list(nom.names)})",
    )


def read_class_table(path: str | Path, nomenclature: str | Nomenclature) -> dict[str, int]:
    """Read a user CSV ``value,class`` (a header row, then one row per class value).

    ``value`` is a value of the parcels' class column (``BTH``); ``class`` a class id or a
    class name of ``nomenclature`` (``2`` or ``Soft winter wheat``). Returns value (as text,
    stripped) → class id.

    Raises:
        DatasetError: missing file, other columns, a repeated value, an unknown class.
    """
    path = Path(path)
    nom = _as_nomenclature(nomenclature)
    if not path.is_file():
        raise DatasetError(path, "no such file; expected a CSV with columns value,class")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip() for c in rows[0]] != ["value", "class"]:
        raise DatasetError(path, "expected a header row value,class and two columns")
    table: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2:
            raise DatasetError(path, f"line {line}: expected 2 cells (value,class), got {row}")
        value = row[0].strip()
        if value in table:
            raise DatasetError(path, f"line {line}: value {value!r} listed twice")
        table[value] = _class_id(row[1], nom, f"{path}: line {line}")
    return table


def _integer_values(values: pd.Series) -> np.ndarray | None:
    """``values`` as int64 when every value is an integer (or integer text), else None."""
    text = values.astype(str).str.strip()
    if not text.str.fullmatch(r"[+-]?\d+(\.0*)?").all():
        return None
    return text.astype(float).astype(np.int64).to_numpy()


def _id_lookup(
    values: pd.Series, nom: Nomenclature, scheme: Scheme, table: Mapping[str, int] | None
) -> tuple[dict[Any, int], str]:
    """value → class id for each distinct value that maps, and a word for the errors."""
    distinct = values.drop_duplicates()
    if table is not None:
        text = {v: str(v).strip() for v in distinct}
        return {v: table[t] for v, t in text.items() if t in table}, "the class table"
    ints = _integer_values(distinct)
    if scheme == "auto":
        if ints is None:
            scheme = "names"
        elif np.isin(ints, nom.ids).all() or nom.faoicc is None:
            scheme = "ids"
        else:
            scheme = "faoicc"
    if scheme == "names":
        by_name = {_normalise(n): i for n, i in zip(nom.names, nom.ids, strict=True)}
        found = {v: by_name.get(_normalise(v)) for v in distinct}
        return {v: i for v, i in found.items() if i is not None}, f"the class names of {nom.name}"
    if ints is None:
        raise ValueError(f"class values must be integers for scheme={scheme!r}")
    if scheme == "ids":
        ids = set(nom.ids)
        found_ids = dict(zip(distinct, ints.tolist(), strict=True))
        return {v: i for v, i in found_ids.items() if i in ids}, f"the class ids of {nom.name}"
    taxonomy = load_faoicc()
    known = taxonomy.is_known(ints) & (ints > 0)
    mapped = np.full(ints.shape, -1, dtype=np.int64)
    if known.any():
        mapped[known] = encode_codes(ints[known], nom, taxonomy, default=-1)
    found_codes = dict(zip(distinct, mapped.tolist(), strict=True))
    return (
        {v: i for v, i in found_codes.items() if i >= 0},
        f"the FAO-ICC codes covered by {nom.name}",
    )


def map_classes(
    values: Iterable[Any] | pd.Series,
    nomenclature: str | Nomenclature = "pastis",
    *,
    table: str | Path | Mapping[str, int] | None = None,
    scheme: Scheme = "auto",
    unknown: Unknown = "raise",
) -> pd.Series:
    """Map class values onto the class ids of a nomenclature.

    Args:
        values: one class value per parcel (a Series keeps its index).
        nomenclature: a packaged nomenclature name (``"pastis"``, ``"sen4agrinet"``, …,
            ``sitsfusion.data.nomenclatures``) or a :class:`Nomenclature`.
        table: a user CSV ``value,class`` (:func:`read_class_table`) or a mapping value →
            class id; when given, the values are looked up in it (as stripped text) only.
        scheme: without a table, how values are read: ``"names"`` (class names, case and
            spacing ignored: ``"soft winter wheat"``), ``"ids"`` (class ids), ``"faoicc"``
            (FAO-ICC codes through the nomenclature's remapping: 110 → Soft winter wheat with
            PASTIS, subclasses through their parents), ``"auto"``: text → names, integers →
            ids when all are ids (or the nomenclature has no FAO-ICC lists), else FAO-ICC.
        unknown: values that map to no class: ``"raise"`` (a ValueError listing them with
            counts), ``"void"`` (the nomenclature's void id, PASTIS 19) or ``"drop"`` (the
            entries are left out); the last two say how many in a DataWarning.

    Returns:
        int64 Series of class ids, on the index of ``values`` (without the dropped entries).

    Raises:
        ValueError: unknown values (listed with their counts) with ``unknown="raise"``;
            ``unknown="void"`` with a nomenclature that has no void class.
    """
    pd = _geo("pandas")
    nom = _as_nomenclature(nomenclature)
    series = values if isinstance(values, pd.Series) else pd.Series(list(values))
    if unknown not in ("raise", "void", "drop"):
        raise ValueError(f"unknown must be 'raise', 'void' or 'drop', got {unknown!r}")
    if isinstance(table, str | Path):
        table = read_class_table(table, nom)
    elif table is not None:
        table = {str(value).strip(): int(class_id) for value, class_id in table.items()}
    lookup, where = _id_lookup(series, nom, scheme, table)
    ids = series.map(lookup)
    missing = ids.isna()
    if missing.any():
        counts = Counter(series[missing].tolist())
        n = int(missing.sum())
        if unknown == "raise":
            raise ValueError(
                f"{len(counts)} class value(s) not in {where}: {_fmt_counts(counts)}; map them "
                "with a CSV table value,class, or pass unknown='void' / 'drop'"
            )
        if unknown == "void":
            if nom.void is None:
                raise ValueError(f"nomenclature {nom.name!r} has no void class; use unknown='drop'")
            ids = ids.fillna(nom.void)
            action = f"labelled void ({nom.void})"
        else:
            ids = ids[~missing]
            action = "dropped"
        warnings.warn(
            f"{n} parcel(s) with class values not in {where} {action}: {_fmt_counts(counts)}",
            DataWarning,
            stacklevel=2,
        )
    return ids.astype(np.int64)


def label_parcels(
    parcels: gpd.GeoDataFrame,
    nomenclature: str | Nomenclature = "pastis",
    *,
    table: str | Path | Mapping[str, int] | None = None,
    scheme: Scheme = "auto",
    unknown: Unknown = "raise",
) -> gpd.GeoDataFrame:
    """:func:`map_classes` on ``parcels.class_value``: the parcels with a ``class_id`` column
    (int64), without the parcels dropped by ``unknown="drop"``."""
    if _CLASS_VALUE not in parcels.columns:
        raise ValueError(f"parcels lack the column {_CLASS_VALUE!r}; read them with read_parcels")
    values = parcels[_CLASS_VALUE].reset_index(drop=True)
    ids = map_classes(values, nomenclature, table=table, scheme=scheme, unknown=unknown)
    return parcels.iloc[ids.index.to_numpy()].assign(**{_CLASS_ID: ids.to_numpy()})


# -- 3. rasterising ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ParcelMaps:
    """The label rasters of one grid.

    Attributes:
        semantic: ``[H, W]`` class ids (uint8, int16 for ids ≥ 256): background where no
            parcel lies, void on each parcel's 1-pixel border.
        instance: ``[H, W]`` int32 parcel ids, 0 where no parcel lies (borders included).
        parcel_ids: ids of the parcels on the map, ascending.
        n_small: parcels dropped for covering fewer than ``min_pixels`` pixels.
        n_outside: parcels outside the grid (ignored).
    """

    semantic: np.ndarray
    instance: np.ndarray
    parcel_ids: np.ndarray
    n_small: int
    n_outside: int


def void_borders(instance: np.ndarray) -> np.ndarray:
    """The 1-pixel parcel borders of an instance map, as PASTIS labels them void.

    A parcel pixel is a border pixel when a 4-neighbour holds no parcel, or when its upper /
    left neighbour holds another parcel (one side of a line between touching parcels, so that
    both keep their interior). The grid edge is not a border (a parcel cut by it continues).

    Args:
        instance: ``[H, W]`` parcel ids, 0 = none.

    Returns:
        ``[H, W]`` bool.
    """
    inside = instance > 0
    padded = np.pad(instance, 1, mode="edge")  # the edge pixel's neighbour is itself
    up, down = padded[:-2, 1:-1], padded[2:, 1:-1]
    left, right = padded[1:-1, :-2], padded[1:-1, 2:]
    touch_none = (up == 0) | (down == 0) | (left == 0) | (right == 0)
    touch_other = ((up > 0) & (up != instance)) | ((left > 0) & (left != instance))
    return inside & (touch_none | touch_other)


def rasterize_parcels(
    parcels: gpd.GeoDataFrame,
    crs: Any,
    transform: Affine,
    shape: tuple[int, int],
    *,
    nomenclature: str | Nomenclature = "pastis",
    min_pixels: int = MIN_PIXELS,
    borders: bool = True,
) -> ParcelMaps:
    """Rasterise labelled parcels onto a grid: the PASTIS semantic and instance maps.

    A pixel belongs to the parcel holding its centre (``rasterio.features.rasterize``,
    ``all_touched=False``); where parcels overlap, the later row wins. Parcels cut by the grid
    edge are kept, as PASTIS keeps parcels cut by patch borders; they are judged small by
    their whole area (``area / pixel area``), the others by their pixel count.

    Args:
        parcels: ``parcel_id`` and ``class_id`` columns (:func:`label_parcels`), polygons;
            reprojected to ``crs`` when in another CRS (said once).
        crs: the grid's CRS (``32630``, ``"EPSG:32630"``, a pyproj / rasterio CRS).
        transform: the grid's north-up affine transform
            (``rasterio.transform.from_origin(minx, maxy, res, res)``).
        shape: ``(H, W)``.
        nomenclature: gives the background id (0 when it has none) and the void id.
        min_pixels: parcels covering fewer pixels are dropped (counted, DataWarning).
        borders: label each parcel's 1-pixel border void (:func:`void_borders`), as PASTIS
            does; needs a nomenclature with a void class, else no border is drawn.

    Returns:
        :class:`ParcelMaps`.

    Raises:
        ValueError: missing columns, a transform that is not north-up, class ids that are
            not ids of the nomenclature; no parcel inside the grid (a DatasetError naming the
            file for parcels of :func:`read_parcels`).
    """
    features = _geo("rasterio.features")
    shapely = _geo("shapely")
    if min_pixels < 0:
        raise ValueError(f"min_pixels must be >= 0, got {min_pixels}")
    missing = [c for c in (_ID_COLUMN, _CLASS_ID) if c not in parcels.columns]
    if missing:
        raise ValueError(
            f"parcels lack column(s) {missing}; read them with read_parcels and label them "
            "with label_parcels"
        )
    if transform.b != 0 or transform.d != 0 or transform.a <= 0 or transform.e >= 0:
        raise ValueError(f"transform must be north-up (a > 0, e < 0, no rotation): {transform}")
    nom = _as_nomenclature(nomenclature)
    foreign = Counter(c for c in parcels[_CLASS_ID].tolist() if c not in nom.ids)
    if foreign:
        raise ValueError(f"class ids not in nomenclature {nom.name!r}: {_fmt_counts(foreign)}")
    source = parcels.attrs.get(_SOURCE)
    parcels = _to_crs(parcels, crs, source or "rasterize_parcels")
    h, w = shape
    minx, maxy = transform.c, transform.f
    maxx, miny = minx + w * transform.a, maxy + h * transform.e
    grid_box = shapely.box(minx, miny, maxx, maxy)
    on_grid = parcels.intersects(grid_box).to_numpy()
    n_outside = int((~on_grid).sum())
    parcels = parcels.loc[on_grid]
    if len(parcels) == 0:
        problem = (
            f"no parcel inside the grid (bounds {minx:.2f}, {miny:.2f}, {maxx:.2f}, {maxy:.2f} "
            f"in {_crs_name(crs)}); check the area of interest and the parcels' CRS"
        )
        raise ValueError(problem) if source is None else DatasetError(source, problem)
    ids = parcels[_ID_COLUMN].to_numpy(dtype=np.int32)
    instance = features.rasterize(
        zip(parcels.geometry, ids.tolist(), strict=True),
        out_shape=(h, w),
        transform=transform,
        fill=0,
        all_touched=False,
        dtype="int32",
    )
    present, counts = np.unique(instance[instance > 0], return_counts=True)
    pixels = dict(zip(present.tolist(), counts.tolist(), strict=True))
    cut = ~parcels.within(grid_box).to_numpy()
    whole = np.round(parcels.area.to_numpy() / (transform.a * -transform.e))
    size = np.array([pixels.get(i, 0) for i in ids.tolist()], dtype=np.float64)
    # A parcel cut by the edge that holds no pixel centre of the grid lies outside it.
    n_outside += int((cut & (size == 0)).sum())
    size = np.where(cut & (size > 0), np.maximum(size, whole), size)
    small = ids[(size < min_pixels) & ~(cut & (size == 0))]
    if small.size:
        instance[np.isin(instance, small)] = 0
        warnings.warn(
            f"{small.size} parcel(s) covering fewer than {min_pixels} pixels dropped",
            DataWarning,
            stacklevel=2,
        )
    background = nom.background if nom.background is not None else 0
    lut_ids = np.concatenate([[0], ids])
    lut_classes = np.concatenate([[background], parcels[_CLASS_ID].to_numpy(dtype=np.int64)])
    order = np.argsort(lut_ids)
    semantic = lut_classes[order][np.searchsorted(lut_ids[order], instance)]
    if borders and nom.void is not None:
        semantic[void_borders(instance)] = nom.void
    dtype = np.uint8 if max(nom.ids) < 256 else np.int16
    return ParcelMaps(
        semantic=semantic.astype(dtype),
        instance=instance,
        parcel_ids=np.unique(instance[instance > 0]),
        n_small=int(small.size),
        n_outside=n_outside,
    )
