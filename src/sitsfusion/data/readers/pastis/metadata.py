"""PASTIS ``metadata.geojson``: one feature per patch, its fold, tile and acquisition dates."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from sitsfusion.data.dates import DateLike, reference_day
from sitsfusion.errors import DatasetError
from sitsfusion.io import require_regular_file

__all__ = [
    "GEOREFERENCE_KEYS",
    "METADATA_FILE",
    "REFERENCE_DATE",
    "available_modalities",
    "dates_to_days",
    "modalities_with_dates",
    "patch_corners",
    "python_scalar",
    "read_metadata",
]

METADATA_FILE = "metadata.geojson"
GEOREFERENCE_KEYS = ("crs", "transform")
"""Optional per-patch properties of datasets written by ``sitsfusion prepare``: the patch's
CRS (a string, e.g. ``"EPSG:32630"``) and the affine ``(a, b, c, d, e, f)`` of its pixel grid
(6 numbers, rasterio order). Real PASTIS has neither."""
REFERENCE_DATE = "2018-09-01"
"""PASTIS counts days from 2018-09-01 (the start of its 2018-2019 agricultural season)."""

DATES_PREFIX = "dates-"


def _yyyymmdd_to_datetime64(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(datetime64[D] array, bool array of valid calendar dates)`` of ``YYYYMMDD`` ints."""
    v = np.asarray(values, dtype=np.int64)
    year, month, day = v // 10000, v // 100 % 100, v % 100
    ok = (year >= 1) & (year <= 9999) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    safe_year = np.where(ok, year, 1970)
    safe_month = np.where(ok, month, 1)
    safe_day = np.where(ok, day, 1)
    months = (safe_year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (safe_month - 1)
    days = months.astype("datetime64[D]") + (safe_day - 1)
    ok &= days.astype("datetime64[M]") == months  # rejects e.g. 20190230
    return days, ok


def dates_to_days(
    yyyymmdd: Sequence[int] | np.ndarray, reference_date: DateLike = REFERENCE_DATE
) -> np.ndarray:
    """Days (int64) from ``reference_date`` to each ``YYYYMMDD`` integer date.

    Every date is kept, however far from the reference date (negative before it): unlike the
    reference loader there is no −200..599 window outside of which dates are dropped.

    Raises:
        ValueError: a value is not a calendar date.
    """
    days, ok = _yyyymmdd_to_datetime64(np.asarray(yyyymmdd))
    if not ok.all():
        bad = np.asarray(yyyymmdd).reshape(-1)[~ok.reshape(-1)]
        raise ValueError(f"not YYYYMMDD calendar dates: {bad[:5].tolist()}")
    return (days - reference_day(reference_date)).astype(np.int64)


def _parse_date_dict(value: Any) -> list[int] | None:
    """``{"0": 20180924, ...}`` (dict, JSON string or list) → dates in key order; None if absent."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        value = json.loads(value)  # newer pyogrio returns the nested object as a JSON string
    if isinstance(value, Mapping):
        items = sorted(((int(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        return [_date_integer(v) for _, v in items]
    if isinstance(value, Sequence | np.ndarray):
        return [_date_integer(v) for v in value]
    raise TypeError(f"expected a dict of dates, got {type(value).__name__}")


def _date_integer(value: Any) -> int:
    """One ``YYYYMMDD`` date as an int; a float must be integral (``20190101.5``, NaN refused:
    ``int()`` would silently truncate them)."""
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{value!r} is not a YYYYMMDD date")
    if isinstance(value, float | np.floating):
        if not math.isfinite(value) or value != math.floor(value):
            raise ValueError(f"{value!r} is not an integer YYYYMMDD date")
    return int(value)


def python_scalar(value: Any) -> Any:
    """A metadata value as a plain Python scalar (numpy scalars unwrapped, NaN → None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if np.ndim(value) == 0 and not isinstance(value, Mapping) and pd.isna(value):
        return None
    return value


def _check_date_column(path: Path, gdf: gpd.GeoDataFrame, column: str) -> pd.Series:
    parsed = []
    for pid, value in zip(gdf["ID_PATCH"], gdf[column], strict=True):
        try:
            dates = _parse_date_dict(value)
        except (TypeError, ValueError) as exc:
            raise DatasetError(path, f"patch {pid}: cannot parse {column} ({exc})") from None
        if dates is None:
            parsed.append(None)
            continue
        arr = np.asarray(dates, dtype=np.int64)
        if arr.size == 0:
            raise DatasetError(path, f"patch {pid}: {column} is empty")
        steps = np.diff(arr)
        if (steps <= 0).any():
            i = int(np.flatnonzero(steps <= 0)[0])
            kind = "duplicate" if steps[i] == 0 else "unsorted"
            raise DatasetError(
                path,
                f"patch {pid}: {column} dates are not strictly increasing ({kind} dates "
                f"{int(arr[i])}, {int(arr[i + 1])} at positions {i}, {i + 1})",
            )
        parsed.append(arr)
    present = [a for a in parsed if a is not None]
    if present:  # calendar check of every date of the column at once
        _, ok = _yyyymmdd_to_datetime64(np.concatenate(present))
        if not ok.all():
            for pid, arr in zip(gdf["ID_PATCH"], parsed, strict=True):
                if arr is None:
                    continue
                bad = arr[~_yyyymmdd_to_datetime64(arr)[1]]
                if bad.size:
                    raise DatasetError(
                        path,
                        f"patch {pid}: {column} holds values that are not YYYYMMDD dates: "
                        f"{bad[:5].tolist()}",
                    )
    return pd.Series(parsed, index=gdf.index, dtype=object)


def read_metadata(path: str | Path) -> gpd.GeoDataFrame:
    """Read and check a PASTIS ``metadata.geojson`` (``path`` = the file or the dataset root).

    Returns:
        one row per patch, indexed by the ``ID_PATCH`` values (also kept as a column). Each
        ``dates-<modality>`` column is parsed, whether the file reader returned it as a dict or as
        a JSON string, into an int64 array of ``YYYYMMDD`` dates in key order. The optional
        georeferencing properties (:data:`GEOREFERENCE_KEYS`) are checked: ``transform`` becomes
        a tuple of 6 floats, ``crs`` stays a string (None where absent). Other properties are
        kept as they are.

    Raises:
        DatasetError: file missing or unreadable; coordinates that contradict the CRS;
            ``ID_PATCH`` / ``Fold`` missing or not integers; duplicate patch ids; a date list
            that is empty, malformed (a fractional or NaN date), not calendar dates, or not
            strictly increasing (unsorted or duplicate dates); a ``transform`` that is not 6
            finite numbers or a ``crs`` that is not a string.
    """
    path = Path(path)
    if path.is_dir():
        path = path / METADATA_FILE
    if not path.exists():
        raise DatasetError(path, "missing (every PASTIS dataset has a metadata.geojson)")
    require_regular_file(path)  # a named pipe would block GDAL
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own error types for unreadable files
        raise DatasetError(path, f"cannot read as GeoJSON ({exc})") from None
    for column in ("ID_PATCH", "Fold"):
        if column not in gdf.columns:
            raise DatasetError(path, f"property {column!r} missing from the features")
        values = pd.to_numeric(gdf[column], errors="coerce")
        if values.isna().any() or (values != values.round()).any():
            raise DatasetError(path, f"property {column!r} must be an integer in every feature")
        gdf[column] = values.astype(np.int64)
    _check_crs(path, gdf)
    duplicated = gdf["ID_PATCH"][gdf["ID_PATCH"].duplicated()].unique()
    if len(duplicated):
        raise DatasetError(path, f"duplicate ID_PATCH values {duplicated[:5].tolist()}")
    for column in [c for c in gdf.columns if c.startswith(DATES_PREFIX)]:
        gdf[column] = _check_date_column(path, gdf, column)
    if "transform" in gdf.columns:
        gdf["transform"] = _check_transforms(path, gdf)
    if "crs" in gdf.columns:
        gdf["crs"] = _check_crs_names(path, gdf)
    gdf = gdf.set_index("ID_PATCH", drop=False)
    gdf.index.name = None  # an index named like a column makes pandas calls ambiguous
    return gdf


def _transform(value: Any) -> tuple[float, ...] | None:
    """A ``transform`` property (a list, or its JSON text) as 6 finite floats; None if absent."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        value = json.loads(value)
    numbers = tuple(float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1))
    if len(numbers) != 6 or not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"expected 6 finite numbers (a, b, c, d, e, f), got {value!r}")
    return numbers


def _check_transforms(path: Path, gdf: gpd.GeoDataFrame) -> pd.Series:
    """The optional per-patch ``transform`` property, parsed (:data:`GEOREFERENCE_KEYS`)."""
    parsed = []
    for pid, value in zip(gdf["ID_PATCH"], gdf["transform"], strict=True):
        try:
            parsed.append(_transform(value))
        except (TypeError, ValueError) as exc:
            raise DatasetError(path, f"patch {pid}: bad transform ({exc})") from None
    return pd.Series(parsed, index=gdf.index, dtype=object)


def _check_crs_names(path: Path, gdf: gpd.GeoDataFrame) -> pd.Series:
    """The optional per-patch ``crs`` property: a non-empty string; where absent, the file's
    CRS (as the patches without the property get)."""
    default = None if gdf.crs is None else gdf.crs.to_string()
    names = []
    for pid, value in zip(gdf["ID_PATCH"], gdf["crs"], strict=True):
        value = python_scalar(value)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise DatasetError(
                path, f"patch {pid}: crs must be a string such as 'EPSG:32630', got {value!r}"
            )
        names.append(default if value is None else value)
    return pd.Series(names, index=gdf.index, dtype=object)


def _check_crs(path: Path, gdf: gpd.GeoDataFrame) -> None:
    """Coordinates that fit the file's CRS. GDAL reads an unparsable or missing ``crs`` member
    as WGS 84 (EPSG:4326) without a word, so projected coordinates (PASTIS: Lambert-93 metres)
    under a geographic CRS mean the CRS was not understood."""
    if gdf.crs is None or not gdf.crs.is_geographic or gdf.geometry.isna().all():
        return
    x0, y0, x1, y1 = (float(v) for v in gdf.total_bounds)
    if max(abs(x0), abs(x1)) > 180 or max(abs(y0), abs(y1)) > 90:
        raise DatasetError(
            path,
            f"coordinates up to ({max(abs(x0), abs(x1)):.0f}, {max(abs(y0), abs(y1)):.0f}) are "
            f"not longitude / latitude, but the CRS read is {gdf.crs.to_string()} (a missing or "
            "unparsable 'crs' member reads as WGS 84); expected a projected CRS such as "
            "urn:ogc:def:crs:EPSG::2154",
        )


def modalities_with_dates(gdf: pd.DataFrame) -> list[str]:
    """The modalities with a ``dates-<modality>`` column, in column order."""
    return [c.removeprefix(DATES_PREFIX) for c in gdf.columns if c.startswith(DATES_PREFIX)]


def available_modalities(root: str | Path) -> list[str]:
    """Modalities with both a ``dates-<m>`` property in the metadata and a ``DATA_<m>`` folder.

    PASTIS gives ``["S2"]``, PASTIS-R ``["S2", "S1A", "S1D"]``.
    """
    root = Path(root)
    with_dates = modalities_with_dates(read_metadata(root))
    return [m for m in with_dates if (root / f"DATA_{m}").is_dir()]


def patch_corners(geometry: Any) -> np.ndarray | None:
    """``[3, 2]`` map coordinates of a patch footprint's north-west, north-east and south-west
    corners, or None when the geometry is not one four-corner ring.

    PASTIS footprints are squares of the Sentinel-2 (UTM) grid drawn in Lambert-93, hence
    slightly rotated; their rings list the corners NW, NE, SE, SW (then NW again).
    """
    if geometry is None or geometry.is_empty:
        return None
    polygons = list(getattr(geometry, "geoms", [geometry]))
    if len(polygons) != 1 or not hasattr(polygons[0], "exterior"):
        return None
    ring = np.asarray(polygons[0].exterior.coords, dtype=np.float64)
    if ring.shape != (5, 2) or not np.allclose(ring[0], ring[-1]):
        return None
    return ring[[0, 1, 3]]
