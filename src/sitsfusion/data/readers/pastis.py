"""Reader for PASTIS and PASTIS-R (patch format): patches, panoptic targets and parcels.

The dataset class is :class:`PASTIS`. The pieces it is built from are usable on their own:

* :func:`read_metadata` parses ``metadata.geojson`` (dates as dicts or as JSON strings);
* :func:`dates_to_days` turns ``YYYYMMDD`` integers into days since a reference date;
* :func:`read_norm`, :func:`pool_norm` and :func:`compute_norm` read, combine and (re)compute
  the per-fold ``NORM_<modality>_patch.json`` statistics;
* :func:`load_annotation` and :func:`load_series_array` load and check one ``.npy`` file.

Every problem with the files on disk raises :class:`~sitsfusion.errors.DatasetError`, whose
message starts with the offending file.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from torch import Tensor
from torch.utils.data import Dataset

from sitsfusion.data.dates import DateLike, reference_day
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.data.taxonomy import load_nomenclature
from sitsfusion.data.transforms import ResampleMethod, normalize_zscore
from sitsfusion.data.transforms import resample as resample_modality
from sitsfusion.errors import DatasetError
from sitsfusion.io import read_json, write_json_atomic

__all__ = [
    "PASTIS",
    "available_modalities",
    "compute_norm",
    "dates_to_days",
    "load_annotation",
    "load_heatmap",
    "load_series_array",
    "load_target",
    "load_zones",
    "pool_norm",
    "read_metadata",
    "read_norm",
]

METADATA_FILE = "metadata.geojson"
REFERENCE_DATE = "2018-09-01"
"""PASTIS counts days from 2018-09-01 (the start of its 2018-2019 agricultural season)."""

_DATES_PREFIX = "dates-"
_FOLD_KEY = re.compile(r"^Fold_(\d+)$")
# Properties that get their own key in Sample.meta; the feature "id" GDAL adds is dropped.
_CORE_PROPERTIES = {"ID_PATCH", "Fold", "TILE", "id", "geometry"}

_SERIES = "an image time series"
_ANNOTATION = "an annotation"

Target = Literal["semantic", "instance", "parcel", "panoptic"]
_TARGETS = ("semantic", "instance", "parcel", "panoptic")


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


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
        return [int(v) for _, v in items]
    if isinstance(value, Sequence | np.ndarray):
        return [int(v) for v in value]
    raise TypeError(f"expected a dict of dates, got {type(value).__name__}")


# --------------------------------------------------------------------------------------------
# metadata.geojson
# --------------------------------------------------------------------------------------------


def _python_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if np.ndim(value) == 0 and not isinstance(value, Mapping) and pd.isna(value):
        return None
    return value


def read_metadata(path: str | Path) -> gpd.GeoDataFrame:
    """Read and check a PASTIS ``metadata.geojson`` (``path`` = the file or the dataset root).

    Returns:
        one row per patch, indexed by the ``ID_PATCH`` values (also kept as a column). Each
        ``dates-<modality>`` column is parsed, whether the file reader returned it as a dict or as
        a JSON string, into an int64 array of ``YYYYMMDD`` dates in key order. Other properties
        are kept as they are.

    Raises:
        DatasetError: file missing or unreadable; ``ID_PATCH`` / ``Fold`` missing or not
            integers; duplicate patch ids; a date list that is empty, malformed, not calendar
            dates, or not strictly increasing (unsorted or duplicate dates).
    """
    path = Path(path)
    if path.is_dir():
        path = path / METADATA_FILE
    if not path.is_file():
        raise DatasetError(path, "missing (every PASTIS dataset has a metadata.geojson)")
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
    duplicated = gdf["ID_PATCH"][gdf["ID_PATCH"].duplicated()].unique()
    if len(duplicated):
        raise DatasetError(path, f"duplicate ID_PATCH values {duplicated[:5].tolist()}")
    for column in [c for c in gdf.columns if c.startswith(_DATES_PREFIX)]:
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
        gdf[column] = pd.Series(parsed, index=gdf.index, dtype=object)
    gdf = gdf.set_index("ID_PATCH", drop=False)
    gdf.index.name = None  # an index named like a column makes pandas calls ambiguous
    return gdf


def _modalities_with_dates(gdf: pd.DataFrame) -> list[str]:
    return [c.removeprefix(_DATES_PREFIX) for c in gdf.columns if c.startswith(_DATES_PREFIX)]


# --------------------------------------------------------------------------------------------
# NORM_<modality>_patch.json
# --------------------------------------------------------------------------------------------


def _norm_path(root: Path, modality: str) -> Path:
    return root / f"NORM_{modality}_patch.json"


def _parse_norm(
    obj: Any, path: Path, n_channels: int | None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    if not isinstance(obj, Mapping) or not obj:
        raise DatasetError(path, 'expected {"Fold_1": {"mean": [...], "std": [...]}, ...}')
    stats: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for key, entry in obj.items():
        match = _FOLD_KEY.match(str(key))
        if match is None:
            raise DatasetError(path, f"unexpected key {key!r} (keys are Fold_1, Fold_2, ...)")
        if not isinstance(entry, Mapping) or "mean" not in entry or "std" not in entry:
            raise DatasetError(path, f"{key} must hold 'mean' and 'std' lists")
        try:
            mean = np.asarray(entry["mean"], dtype=np.float64)
            std = np.asarray(entry["std"], dtype=np.float64)
        except (TypeError, ValueError):
            raise DatasetError(path, f"{key}: mean and std must be lists of numbers") from None
        if mean.ndim != 1 or mean.shape != std.shape:
            raise DatasetError(
                path,
                f"{key}: mean and std must be lists of one length, got {mean.shape} "
                f"and {std.shape}",
            )
        if n_channels is not None and mean.size != n_channels:
            raise DatasetError(
                path,
                f"{key}: wrong number of channels: {mean.size} values, the data has "
                f"{n_channels} channels",
            )
        if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std <= 0).any():
            raise DatasetError(path, f"{key}: mean must be finite and std finite and > 0")
        stats[int(match.group(1))] = (mean, std)
    sizes = {m.size for m, _ in stats.values()}
    if len(sizes) > 1:
        raise DatasetError(path, f"folds differ in their number of channels: {sorted(sizes)}")
    return stats


def read_norm(
    path: str | Path, n_channels: int | None = None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Read a ``NORM_<modality>_patch.json`` file: ``{fold: (mean [C], std [C])}`` (float64).

    Args:
        path: the JSON file.
        n_channels: if given, every fold must have exactly this many values.

    Raises:
        DatasetError: file missing, not JSON, not in the ``{"Fold_k": {"mean", "std"}}``
            format, wrong number of channels, non-finite values or std ≤ 0.
    """
    path = Path(path)
    return _parse_norm(read_json(path), path, n_channels)


def pool_norm(
    stats: Mapping[int, tuple[np.ndarray, np.ndarray]], folds: Iterable[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Channel statistics of the union of ``folds``, each fold weighted equally.

    ``mean = mean_k(mean_k)`` and ``var = mean_k(std_k² + mean_k²) − mean²``: the exact
    moments of an equal-weight mixture of the folds. (The reference loader averages the
    stds instead, which ignores the spread between fold means and underestimates the std.)

    Raises:
        KeyError: a fold has no statistics.
    """
    folds = sorted(set(folds))
    missing = [k for k in folds if k not in stats]
    if missing or not folds:
        raise KeyError(f"no statistics for fold(s) {missing}; available: {sorted(stats)}")
    means = np.stack([np.asarray(stats[k][0], dtype=np.float64) for k in folds])
    stds = np.stack([np.asarray(stats[k][1], dtype=np.float64) for k in folds])
    if len(folds) == 1:
        return means[0].copy(), stds[0].copy()
    mean = means.mean(axis=0)
    var = (stds**2 + means**2).mean(axis=0) - mean**2
    return mean, np.sqrt(np.maximum(var, 0.0))


# --------------------------------------------------------------------------------------------
# .npy files
# --------------------------------------------------------------------------------------------


class _NpyHeader(NamedTuple):
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int  # bytes before the data


def _read_header(f: BinaryIO) -> _NpyHeader:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    return _NpyHeader(tuple(shape), np.dtype(dtype), bool(fortran), f.tell())


def _npy_header(path: Path) -> _NpyHeader:
    """Shape, dtype, order and data offset from a ``.npy`` header, without reading the data."""
    try:
        with path.open("rb") as f:
            return _read_header(f)
    except FileNotFoundError:
        raise DatasetError(path, "missing") from None
    except (ValueError, EOFError, OSError, SyntaxError) as exc:
        raise DatasetError(path, f"corrupt or truncated .npy file ({exc})") from None


def _check_dtype(path: Path, dtype: np.dtype, what: str) -> None:
    if dtype.kind not in "iuf":
        raise DatasetError(
            path,
            f"wrong dtype {dtype} for {what}; expected a real numeric type (integer or float)",
        )


def _load_npy(path: Path, mmap: bool, what: str, header: _NpyHeader | None = None) -> np.ndarray:
    """Read (or memory-map) a ``.npy`` file, checking its dtype from the header first.

    The header is parsed once (and not at all when ``header`` is given for a memory map); a
    non-numeric dtype is refused before any data is read; numpy's read errors become
    :class:`DatasetError`.
    """
    try:
        if mmap:
            if header is None:
                header = _npy_header(path)
            _check_dtype(path, header.dtype, what)
            return np.memmap(
                path,
                dtype=header.dtype,
                mode="r",
                offset=header.offset,
                shape=header.shape,
                order="F" if header.fortran else "C",
            )
        with path.open("rb") as f:
            header = _read_header(f)
            _check_dtype(path, header.dtype, what)
            count = math.prod(header.shape)
            data = np.fromfile(f, dtype=header.dtype, count=count)
    except FileNotFoundError:
        raise DatasetError(path, "missing") from None
    except (ValueError, EOFError, OSError, SyntaxError) as exc:
        raise DatasetError(path, f"corrupt or truncated .npy file ({exc})") from None
    if data.size != count:
        raise DatasetError(
            path,
            f"corrupt or truncated .npy file ({data.size} of the {count} values of a "
            f"{header.shape} array)",
        )
    if header.fortran:
        return data.reshape(header.shape[::-1]).transpose()
    return data.reshape(header.shape)


def _check_finite(path: Path, arr: np.ndarray) -> None:
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise DatasetError(path, f"holds NaN/inf values ({n_nan} NaN, {n_inf} inf)")


def load_annotation(path: str | Path, mmap: bool = False) -> np.ndarray:
    """Load and check one annotation array (``TARGET``, ``INSTANCES``, ``ParcelIDs``, ...).

    Args:
        path: the ``.npy`` file.
        mmap: memory-map instead of reading (then NaN/inf are not checked).

    Returns:
        the array as stored (``[H, W]`` or ``[K, H, W]``, dtype unchanged).

    Raises:
        DatasetError: missing, corrupt or truncated file, non-numeric dtype, rank not 2 or 3,
            NaN/inf values.
    """
    path = Path(path)
    arr = _load_npy(path, mmap, _ANNOTATION)
    if arr.ndim not in (2, 3):
        raise DatasetError(
            path, f"wrong rank: annotation must be 2-D (H, W) or 3-D (K, H, W), got {arr.shape}"
        )
    if not mmap:
        _check_finite(path, arr)
    return arr


def load_target(root: str | Path, patch_id: int) -> np.ndarray:
    """The semantic map ``[H, W]`` (``TARGET_<id>.npy`` channel 0) of one patch, checked.

    Raises:
        DatasetError: file missing, corrupt or truncated; wrong rank; class ids outside the
            PASTIS nomenclature (0..19).
    """
    path = Path(root) / "ANNOTATIONS" / f"TARGET_{int(patch_id)}.npy"
    arr = load_annotation(path)
    sem = np.asarray(arr[0] if arr.ndim == 3 else arr)
    bad = load_nomenclature("pastis").unknown_ids(sem)
    if bad.size:
        raise DatasetError(
            path, f"class ids outside the PASTIS nomenclature (0..19): {bad[:10].tolist()}"
        )
    return sem


def _check_map(path: Path, arr: np.ndarray, spatial: tuple[int, int] | None) -> None:
    if arr.ndim != 2:
        raise DatasetError(path, f"wrong rank: expected 2-D (H, W), got {arr.shape}")
    if spatial is not None and arr.shape != tuple(spatial):
        raise DatasetError(
            path,
            f"spatial size mismatch: {arr.shape} but the semantic target of this patch is "
            f"{tuple(spatial)}",
        )


def load_heatmap(path: str | Path, spatial: tuple[int, int] | None = None) -> np.ndarray:
    """Load and check one centerness heatmap (``INSTANCE_ANNOTATIONS/HEATMAP_<id>.npy``).

    Args:
        path: the ``.npy`` file.
        spatial: expected ``(H, W)``.

    Returns:
        float32 ``[H, W]`` with values in [0, 1] (stored as float64 in PASTIS).

    Raises:
        DatasetError: missing, corrupt or truncated file, non-numeric dtype, not 2-D, H × W
            different from ``spatial``, NaN/inf values, values outside [0, 1].
    """
    path = Path(path)
    arr = load_annotation(path)
    _check_map(path, arr, spatial)
    low, high = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if low < 0.0 or high > 1.0:
        raise DatasetError(
            path, f"centerness values must lie in [0, 1], got values in [{low:g}, {high:g}]"
        )
    return arr.astype(np.float32)


def load_zones(path: str | Path, spatial: tuple[int, int] | None = None) -> np.ndarray:
    """Load and check one zone map (``INSTANCE_ANNOTATIONS/ZONES_<id>.npy``).

    Returns:
        int64 ``[H, W]``: the instance id whose Gaussian dominates each pixel.

    Raises:
        DatasetError: missing, corrupt or truncated file, non-numeric dtype, not 2-D, H × W
            different from ``spatial``, NaN/inf or non-integer values, negative ids.
    """
    path = Path(path)
    arr = load_annotation(path)
    _check_map(path, arr, spatial)
    if arr.dtype.kind == "f" and (arr != np.round(arr)).any():
        raise DatasetError(path, "zone ids must be integers")
    if arr.size and arr.min() < 0:
        raise DatasetError(path, f"zone ids must be >= 0, got {arr.min()}")
    return arr.astype(np.int64)


def available_modalities(root: str | Path) -> list[str]:
    """Modalities with both a ``dates-<m>`` property in the metadata and a ``DATA_<m>`` folder.

    PASTIS gives ``["S2"]``, PASTIS-R ``["S2", "S1A", "S1D"]``.
    """
    root = Path(root)
    with_dates = _modalities_with_dates(read_metadata(root))
    return [m for m in with_dates if (root / f"DATA_{m}").is_dir()]


def load_series_array(
    path: str | Path,
    n_dates: int | None = None,
    n_channels: int | None = None,
    spatial: tuple[int, int] | None = None,
    mmap: bool = False,
) -> np.ndarray:
    """Load and check one image time series ``[T, C, H, W]`` (``DATA_<mod>/<mod>_<id>.npy``).

    Args:
        path: the ``.npy`` file.
        n_dates: expected T (the number of dates in ``metadata.geojson``).
        n_channels: expected C.
        spatial: expected ``(H, W)``.
        mmap: memory-map instead of reading (then NaN/inf are not checked here: check the
            values actually read).

    Raises:
        DatasetError: missing, corrupt or truncated file, non-numeric dtype, not 4-D, T, C or
            H × W different from the expected ones, NaN/inf values.
    """
    path = Path(path)
    arr = _load_npy(path, mmap, _SERIES)
    _check_series(path, arr, n_dates, n_channels, spatial)
    if not mmap:
        _check_finite(path, arr)
    return arr


def _check_series(
    path: Path,
    arr: np.ndarray,
    n_dates: int | None,
    n_channels: int | None,
    spatial: tuple[int, int] | None,
) -> None:
    if arr.ndim != 4:
        raise DatasetError(path, f"wrong rank: expected 4-D (T, C, H, W), got shape {arr.shape}")
    t, c, h, w = arr.shape
    if n_dates is not None and t != n_dates:
        raise DatasetError(
            path,
            f"has T = {t} observations but {METADATA_FILE} lists {n_dates} dates for this patch",
        )
    if n_channels is not None and c != n_channels:
        raise DatasetError(path, f"has {c} channels, expected {n_channels}")
    if spatial is not None and (h, w) != tuple(spatial):
        raise DatasetError(
            path,
            f"spatial size mismatch: {h}x{w}, but the annotations / other modalities of this "
            f"patch are {spatial[0]}x{spatial[1]}",
        )


def _series_path(root: Path, modality: str, patch_id: int) -> Path:
    return root / f"DATA_{modality}" / f"{modality}_{patch_id}.npy"


# --------------------------------------------------------------------------------------------
# Computing the normalisation statistics
# --------------------------------------------------------------------------------------------


def compute_norm(root: str | Path, modality: str, write: bool = True) -> dict[str, Any]:
    """Per-fold channel mean / std of one modality, computed from the data.

    Covers every fold present in ``metadata.geojson``. The statistics are the exact moments of
    all pixel values (all dates, all pixels of all patches of the fold), accumulated patch by
    patch in float64 (Chan et al.'s pairwise update), std with denominator N. (The shipped
    PASTIS files may have been computed differently, e.g. as averages of per-patch statistics,
    so expect small differences from them.)

    Args:
        root: dataset root.
        modality: ``"S2"``, ``"S1A"``, ``"S1D"``.
        write: also save ``NORM_<modality>_patch.json`` (json, indent 4, written to a temporary
            file then renamed, so readers never see half a file). A read-only root only warns.

    Returns:
        ``{"Fold_1": {"mean": [C floats], "std": [C floats]}, ...}``, the file's format.
    """
    root = Path(root)
    meta = read_metadata(root)
    column = _DATES_PREFIX + modality
    result: dict[str, Any] = {}
    n_channels: int | None = None
    for fold in sorted(meta["Fold"].unique()):
        count = 0
        mean: np.ndarray | None = None
        m2: np.ndarray | None = None
        for pid in meta.index[meta["Fold"] == fold]:
            dates = meta.at[pid, column] if column in meta.columns else None
            n_dates = None if dates is None else len(dates)
            arr = load_series_array(
                _series_path(root, modality, int(pid)), n_dates=n_dates, n_channels=n_channels
            )
            n_channels = arr.shape[1]
            x = np.moveaxis(arr, 1, 0).reshape(n_channels, -1).astype(np.float64)
            n_b = x.shape[1]
            mean_b = x.mean(axis=1)
            m2_b = ((x - mean_b[:, None]) ** 2).sum(axis=1)
            if mean is None or m2 is None:
                count, mean, m2 = n_b, mean_b, m2_b
                continue
            total = count + n_b
            delta = mean_b - mean
            mean = mean + delta * (n_b / total)
            m2 = m2 + m2_b + delta**2 * (count * n_b / total)
            count = total
        if mean is None or m2 is None:
            continue
        std = np.sqrt(m2 / count)
        result[f"Fold_{int(fold)}"] = {"mean": mean.tolist(), "std": std.tolist()}
    path = _norm_path(root, modality)
    _parse_norm(result, path, None)  # the same checks as a file read back (e.g. std > 0)
    if write:
        try:
            write_json_atomic(path, result)
        except OSError as exc:
            warnings.warn(f"{path}: could not save the statistics ({exc})", stacklevel=2)
    return result


# --------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ParcelIndex:
    """One row per kept parcel (numpy columns), plus the count of skipped parcels."""

    patch: np.ndarray  # position in PASTIS.patch_ids
    parcel: np.ndarray  # instance (or raw parcel) id
    class_id: np.ndarray  # majority crop class 1..18
    n_pixels: np.ndarray
    box: np.ndarray  # [P, 4] row0, row1, col0, col1 (exclusive ends)
    n_skipped: int


def _unique_ids(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True, return_counts=True)`` by hashing (no sort)."""
    codes, uniques = pd.factorize(values)
    order = np.argsort(uniques)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    inverse = rank[codes]
    return np.asarray(uniques)[order], inverse, np.bincount(inverse, minlength=order.size)


def _listing(folder: Path) -> set[str] | None:
    try:
        return set(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return None


class PASTIS(Dataset[Sample]):
    """PASTIS / PASTIS-R satellite image time series, as patches or as parcels.

    PASTIS (Garnot & Landrieu 2021): 2,433 patches of 128 × 128 px at 10 m in four regions of
    France, every Sentinel-2 acquisition of the 2018-2019 season (38-61 dates), semantic and
    instance annotations of 18 crop classes + background (0) + void (19), split into 5 folds.
    PASTIS-R adds Sentinel-1 ascending (S1A) and descending (S1D) series (≈ 70 dates each).

    On-disk layout::

        ROOT/
          metadata.geojson        FeatureCollection (EPSG:2154), one feature per patch; properties
                                  ID_PATCH, Fold (1..5), TILE, N_Parcel, Parcel_Cover,
                                  "dates-S2" (+ "dates-S1A", "dates-S1D"): {"0": 20180924, ...}
          NORM_S2_patch.json      {"Fold_1": {"mean": [10], "std": [10]}, ..., "Fold_5": {...}}
          NORM_S1A_patch.json, NORM_S1D_patch.json                       (3 values per fold)
          DATA_S2/S2_<ID>.npy     [T, 10, H, W] reflectance × 10⁴ (int16; any real dtype read)
          DATA_S1A/S1A_<ID>.npy   [T, 3, H, W] dB (VV, VH, VV/VH); DATA_S1D/S1D_<ID>.npy alike
          ANNOTATIONS/TARGET_<ID>.npy        [3, H, W]; channel 0 = semantic class 0..19
          ANNOTATIONS/ParcelIDs_<ID>.npy     [H, W] raw parcel ids (0 = none)
          INSTANCE_ANNOTATIONS/INSTANCES_<ID>.npy  [H, W] instance ids (0 = none)
          INSTANCE_ANNOTATIONS/HEATMAP_<ID>.npy    [H, W] float centerness ground truth
          INSTANCE_ANNOTATIONS/ZONES_<ID>.npy      [H, W] instance id dominating each pixel

    Targets:

    * ``"semantic"``: one :class:`Sample` per patch, ``series[m].values`` float32
      ``[T, C, H, W]``, ``semantic`` long ``[H, W]`` (TARGET channel 0).
    * ``"instance"``: as ``"semantic"`` plus ``instances`` long ``[H, W]`` (INSTANCES).
    * ``"panoptic"``: as ``"semantic"`` plus the PaPs targets: ``instances`` long ``[H, W]``
      with the background removed (INSTANCES × (semantic ≠ 0), reference/anchors-code.md
      §2.6; void parcels keep their ids), ``heatmap`` float32 ``[H, W]`` (HEATMAP, values in
      [0, 1]) and ``zones`` long ``[H, W]`` (ZONES), both as stored (see
      :mod:`sitsfusion.data.centerness` to compute them instead).
    * ``"parcel"``: one sample per parcel (an instance id of a patch; the raw ParcelIDs when a
      patch has no INSTANCES file) whose majority class over its pixels, ignoring background
      and void pixels, is a crop 1..18. ``label`` = class − 1 (0..17, the K = 18 nomenclature;
      names in :attr:`classes`). Parcels without any crop pixel are skipped
      (:attr:`n_skipped_parcels`). ``series[m].values`` is ``[T, C, S]`` with ``S = n_pixels``
      pixels of the parcel, the same pixels for every modality, and ``mask`` bool ``[T, S]``
      False on pixels repeated to fill a parcel smaller than S. ``meta["pixel_index"]`` holds
      the sampled pixels' flat positions ``row * W + col`` in the patch.

    Dates are int64 days since ``reference_date`` (2018-09-01 as in PASTIS); all dates are kept
    (the reference loader silently drops dates outside −200..599 days).

    Normalisation: channel z-score with the statistics of ``NORM_<m>_patch.json`` for the folds
    ``norm_folds``. The default is the folds loaded, right for a training set; **build
    validation and test sets with** ``norm_folds=<training folds>``. (The reference code
    normalises val/test with their own folds' statistics, a small leak of test data.) Several
    folds are pooled with equal weight per fold: mean = mean of the fold means, variance =
    mean(std_k² + mean_k²) − mean² (the reference averages the stds, see :func:`pool_norm`).
    A missing NORM file is computed from all folds and saved (:func:`compute_norm`).

    Args:
        root: dataset root.
        folds: folds to load (None = all).
        modalities: any of ``"S2"``, ``"S1A"``, ``"S1D"`` (the ``DATA_<m>`` folders).
        target: ``"semantic"``, ``"instance"``, ``"parcel"`` or ``"panoptic"``.
        norm: apply the z-score normalisation.
        norm_folds: folds whose statistics normalise the data (None = ``folds``).
        n_pixels: parcel mode: pixels sampled per parcel (S = 64 in the reference); None keeps
            every pixel (then samples differ in N and cannot be collated together).
        sample_pixels: parcel mode: ``"random"`` draws new pixels at each access (training),
            from torch's random generator so that ``torch.manual_seed`` and DataLoader workers
            give reproducible, independent draws; ``"fixed"`` draws them once per parcel from
            ``(seed, patch id, parcel id)``, the same in every run and every fold selection
            (evaluation).
        reference_date: origin of the day counts.
        cache: keep the arrays read from disk in memory (raw, before normalisation and
            transforms). Each DataLoader worker holds its own cache.
        transform: ``Sample -> Sample`` applied last.
        seed: seed of the ``"fixed"`` pixel sampling.
        resample: ``{source: target}`` modalities to resample onto another loaded modality's
            dates as they are read, e.g. ``{"S1A": "S2", "S1D": "S2"}`` for early fusion (seed
            001 Sec. 4.2: "interpolation is computed on the fly when loading"). Done on the raw
            values before normalisation, so only the target's T dates get normalised; the
            result equals :func:`~sitsfusion.data.transforms.resample` after normalisation
            (a per-channel affine map commutes with interpolation).
        resample_method: ``"linear"``, ``"nearest"`` or ``"nearest_unique"``.

    Raises:
        DatasetError: problems found from the metadata, folders and file names, at
            construction; problems in the arrays, when a sample is read.
    """

    def __init__(
        self,
        root: str | Path,
        folds: Iterable[int] | None = None,
        modalities: Sequence[str] | str = ("S2",),
        target: Target = "semantic",
        norm: bool = True,
        norm_folds: Iterable[int] | None = None,
        n_pixels: int | None = 64,
        reference_date: DateLike = REFERENCE_DATE,
        cache: bool = False,
        transform: Callable[[Sample], Sample] | None = None,
        seed: int = 0,
        sample_pixels: Literal["random", "fixed"] = "random",
        resample: Mapping[str, str] | None = None,
        resample_method: ResampleMethod = "linear",
    ) -> None:
        if target not in _TARGETS:
            raise ValueError(
                f"target must be 'semantic', 'instance', 'parcel' or 'panoptic', got {target!r}"
            )
        if sample_pixels not in ("random", "fixed"):
            raise ValueError(f"sample_pixels must be 'random' or 'fixed', got {sample_pixels!r}")
        if n_pixels is not None and n_pixels < 1:
            raise ValueError(f"n_pixels must be >= 1 or None, got {n_pixels}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        modalities = (modalities,) if isinstance(modalities, str) else tuple(modalities)
        if not modalities or len(set(modalities)) != len(modalities):
            raise ValueError(f"modalities must be distinct names, got {modalities}")

        self.root = Path(root)
        self.modalities = modalities
        self.target: Target = target
        self.norm = norm
        self.n_pixels = n_pixels
        self.sample_pixels = sample_pixels
        self.seed = seed
        self.cache = cache
        self.transform = transform
        self.resample = dict(resample or {})
        self.resample_method: ResampleMethod = resample_method
        for src, tgt in self.resample.items():
            if src not in modalities or tgt not in modalities or src == tgt:
                raise ValueError(
                    f"resample={{{src!r}: {tgt!r}}} needs two different loaded modalities; "
                    f"loaded: {list(modalities)}"
                )
        self._ref_day = reference_day(reference_date)
        self.reference_date = str(self._ref_day)
        self._nomenclature = load_nomenclature("pastis")
        self._cache: dict[Path, np.ndarray] = {}
        self._parcels: _ParcelIndex | None = None
        self._spatial: dict[int, tuple[int, int]] = {}
        self._headers: dict[Path, _NpyHeader] = {}  # memory-mapped files: header read once

        if not self.root.is_dir():
            raise DatasetError(self.root, "dataset root does not exist or is not a folder")
        meta_path = self.root / METADATA_FILE
        full = read_metadata(meta_path)
        with_dates = _modalities_with_dates(full)
        for m in modalities:
            if m not in with_dates:
                raise DatasetError(
                    meta_path,
                    f"no 'dates-{m}' property, needed for modality {m!r} (this file has dates "
                    f"for: {', '.join(with_dates) or 'no modality'})",
                )

        present = sorted(int(f) for f in full["Fold"].unique())
        self.folds: tuple[int, ...] = tuple(present if folds is None else sorted(set(folds)))
        unknown = [f for f in self.folds if f not in present]
        if unknown:
            raise DatasetError(meta_path, f"no patch in fold(s) {unknown}; folds: {present}")
        self.norm_folds: tuple[int, ...] = (
            self.folds if norm_folds is None else tuple(sorted(set(norm_folds)))
        )
        self.metadata: gpd.GeoDataFrame = full[full["Fold"].isin(self.folds)].copy()
        self.patch_ids: list[int] = [int(p) for p in self.metadata.index]

        self._check_files(meta_path)
        self._dates: dict[tuple[str, int], np.ndarray] = {}
        for m in modalities:
            per_patch = list(self.metadata[_DATES_PREFIX + m])
            for pid, yyyymmdd in zip(self.patch_ids, per_patch, strict=True):
                if yyyymmdd is None:
                    raise DatasetError(meta_path, f"patch {pid} has no dates-{m}")
            if per_patch:  # one conversion for all patches, then split
                days = dates_to_days(np.concatenate(per_patch), self._ref_day)
                ends = np.cumsum([len(d) for d in per_patch])
                for pid, d in zip(self.patch_ids, np.split(days, ends[:-1]), strict=True):
                    self._dates[(m, pid)] = d
        crs = None if self.metadata.crs is None else self.metadata.crs.to_string()
        extra = [
            c
            for c in self.metadata.columns
            if c not in _CORE_PROPERTIES and not str(c).startswith(_DATES_PREFIX)
        ]
        tiles = self.metadata["TILE"] if "TILE" in self.metadata.columns else None
        self._patch_meta: dict[int, dict[str, Any]] = {}
        for i, pid in enumerate(self.patch_ids):
            info: dict[str, Any] = {
                "id": pid,
                "fold": int(self.metadata["Fold"].iat[i]),
                "tile": None if tiles is None else _python_scalar(tiles.iat[i]),
                "reference_date": self.reference_date,
                "dataset": "PASTIS",
                "crs": crs,
            }
            geometry = self.metadata.geometry.iat[i]
            if geometry is not None and not geometry.is_empty:
                info["bounds"] = tuple(float(b) for b in geometry.bounds)
            for column in extra:
                info[str(column).lower()] = _python_scalar(self.metadata[column].iat[i])
            self._patch_meta[pid] = info

        self._channels = {m: self._header_channels(m) for m in modalities}
        self.norm_stats: dict[str, tuple[Tensor, Tensor]] = {}
        if norm:
            for m in modalities:
                self.norm_stats[m] = self._load_norm(m)

    # ---- construction helpers -------------------------------------------------------------

    def _check_files(self, meta_path: Path) -> None:
        """Folders present and, for every selected patch, the files it needs (names only)."""
        existing = sorted(
            p.name.removeprefix("DATA_") for p in self.root.glob("DATA_*") if p.is_dir()
        )
        listings: dict[str, set[str]] = {}
        for m in self.modalities:
            folder = self.root / f"DATA_{m}"
            names = _listing(folder)
            if names is None:
                raise DatasetError(
                    folder,
                    f"modality folder missing; this dataset has "
                    f"{', '.join(existing) or 'no DATA_* folder'}",
                )
            listings[m] = names
        ann = _listing(self.root / "ANNOTATIONS")
        inst = _listing(self.root / "INSTANCE_ANNOTATIONS") or set()
        self._instance_files: dict[int, Path] = {}

        def missing(path: Path, pid: int) -> DatasetError:
            return DatasetError(path, f"missing (patch {pid} is in {meta_path.name})")

        for pid in self.patch_ids:
            for m in self.modalities:
                path = _series_path(self.root, m, pid)
                if path.name not in listings[m]:
                    raise missing(path, pid)
            target = self._target_path(pid)
            if ann is None or target.name not in ann:
                raise missing(target, pid)
            if self.target == "semantic":
                continue
            instances = self.root / "INSTANCE_ANNOTATIONS" / f"INSTANCES_{pid}.npy"
            parcel_ids = self.root / "ANNOTATIONS" / f"ParcelIDs_{pid}.npy"
            if instances.name in inst:
                self._instance_files[pid] = instances
            elif self.target == "parcel" and ann is not None and parcel_ids.name in ann:
                self._instance_files[pid] = parcel_ids
            else:
                raise missing(instances, pid)
            if self.target == "panoptic":
                for path in (self._heatmap_path(pid), self._zones_path(pid)):
                    if path.name not in inst:
                        raise missing(path, pid)

    def _target_path(self, pid: int) -> Path:
        return self.root / "ANNOTATIONS" / f"TARGET_{pid}.npy"

    def _heatmap_path(self, pid: int) -> Path:
        return self.root / "INSTANCE_ANNOTATIONS" / f"HEATMAP_{pid}.npy"

    def _zones_path(self, pid: int) -> Path:
        return self.root / "INSTANCE_ANNOTATIONS" / f"ZONES_{pid}.npy"

    def _header_channels(self, modality: str) -> int:
        if not self.patch_ids:
            raise DatasetError(self.root / METADATA_FILE, f"no patch in folds {self.folds}")
        path = _series_path(self.root, modality, self.patch_ids[0])
        shape, dtype, _, _ = self._header(path)
        _check_dtype(path, dtype, _SERIES)
        if len(shape) != 4:
            raise DatasetError(path, f"wrong rank: expected 4-D (T, C, H, W), got shape {shape}")
        return int(shape[1])

    def _load_norm(self, modality: str) -> tuple[Tensor, Tensor]:
        path = _norm_path(self.root, modality)
        n_channels = self._channels[modality]
        if path.is_file():
            stats = read_norm(path, n_channels)
        else:
            warnings.warn(
                f"{path}: missing; computing the statistics from the data (once)", stacklevel=3
            )
            stats = _parse_norm(compute_norm(self.root, modality), path, n_channels)
        absent = [k for k in self.norm_folds if k not in stats]
        if absent:
            raise DatasetError(
                path,
                f"missing fold(s) {absent} (norm_folds={list(self.norm_folds)}); the file has "
                f"{', '.join(f'Fold_{k}' for k in sorted(stats))}",
            )
        mean, std = pool_norm(stats, self.norm_folds)
        return torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)

    # ---- public helpers ---------------------------------------------------------------------

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names indexed by label: 18 crops for ``"parcel"``, all 20 ids otherwise."""
        nom = self._nomenclature
        if self.target == "parcel":
            return tuple(nom.name_of(i) for i in nom.crop_ids)
        return nom.names

    def num_channels(self, modality: str) -> int:
        """C of a loaded modality (from the first patch's file header)."""
        if modality not in self._channels:
            raise KeyError(f"modality {modality!r} not loaded; loaded: {list(self.modalities)}")
        return self._channels[modality]

    def dates(self, modality: str, patch_id: int) -> Tensor:
        """int64 ``[T]`` days since ``reference_date`` of one patch's acquisitions."""
        try:
            return torch.from_numpy(self._dates[(modality, int(patch_id))].copy())
        except KeyError:
            raise KeyError(
                f"no dates for modality {modality!r} of patch {patch_id} in this dataset"
            ) from None

    @property
    def parcels(self) -> pd.DataFrame:
        """The parcel index (parcel mode): patch, parcel id, class, label, size, bounding box."""
        idx = self._parcel_index()
        return pd.DataFrame(
            {
                "patch_id": np.asarray(self.patch_ids, dtype=np.int64)[idx.patch],
                "parcel_id": idx.parcel,
                "class_id": idx.class_id,
                "label": idx.class_id - 1,
                "n_pixels": idx.n_pixels,
                "row0": idx.box[:, 0],
                "row1": idx.box[:, 1],
                "col0": idx.box[:, 2],
                "col1": idx.box[:, 3],
            }
        )

    @property
    def n_skipped_parcels(self) -> int:
        """Parcel mode: parcels dropped because none of their pixels is a crop (1..18)."""
        return self._parcel_index().n_skipped

    def __len__(self) -> int:
        if self.target == "parcel":
            return len(self._parcel_index().parcel)
        return len(self.patch_ids)

    def __repr__(self) -> str:
        return (
            f"PASTIS(root={str(self.root)!r}, folds={list(self.folds)}, "
            f"modalities={list(self.modalities)}, target={self.target!r}, "
            f"norm_folds={list(self.norm_folds) if self.norm else None})"
        )

    # ---- array access -------------------------------------------------------------------------

    def _cached(self, path: Path, load: Callable[[bool], np.ndarray], mmap: bool) -> np.ndarray:
        """``load(mmap)``, or the in-memory copy when caching (then always fully read)."""
        if not self.cache:
            return load(mmap)
        arr = self._cache.get(path)
        if arr is None:
            arr = load(False)
            arr.flags.writeable = False
            self._cache[path] = arr
        return arr

    def _semantic(self, pid: int) -> np.ndarray:
        path = self._target_path(pid)

        def load(mmap: bool) -> np.ndarray:
            return load_target(self.root, pid)

        return self._cached(path, load, False)

    def _instances(self, pid: int) -> np.ndarray:
        path = self._instance_files[pid]

        def load(mmap: bool) -> np.ndarray:
            arr = load_annotation(path, mmap=mmap)
            if arr.ndim != 2:
                raise DatasetError(path, f"wrong rank: expected 2-D (H, W), got {arr.shape}")
            if not mmap and arr.dtype.kind == "f" and (arr != np.round(arr)).any():
                raise DatasetError(path, "instance ids must be integers")
            return arr

        return self._cached(path, load, False)

    def _header(self, path: Path) -> _NpyHeader:
        header = self._headers.get(path)
        if header is None:
            header = self._headers[path] = _npy_header(path)
        return header

    def _instances_window(self, pid: int, box: np.ndarray) -> np.ndarray:
        path = self._instance_files[pid]

        def load(mmap: bool) -> np.ndarray:
            if not mmap:
                return load_annotation(path)
            arr = _load_npy(path, True, _ANNOTATION, self._header(path))
            if arr.ndim != 2:
                raise DatasetError(path, f"wrong rank: expected 2-D (H, W), got {arr.shape}")
            return arr

        arr = self._cached(path, load, True)
        return np.asarray(arr[box[0] : box[1], box[2] : box[3]])

    def _series(
        self, modality: str, pid: int, spatial: tuple[int, int], mmap: bool
    ) -> tuple[np.ndarray, Path]:
        path = _series_path(self.root, modality, pid)

        def load(mm: bool) -> np.ndarray:
            arr = _load_npy(path, mm, _SERIES, self._header(path) if mm else None)
            n_dates = len(self._dates[(modality, pid)])
            _check_series(path, arr, n_dates, self._channels[modality], spatial)
            if not mm:
                _check_finite(path, arr)
            return arr

        return self._cached(path, load, mmap), path

    # ---- samples ----------------------------------------------------------------------------

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        index = index % n
        sample = self._parcel_sample(index) if self.target == "parcel" else self._patch(index)
        for src, tgt in self.resample.items():
            sample = resample_modality(sample, src, tgt, self.resample_method)
        if self.norm:
            sample = normalize_zscore(sample, self.norm_stats)
        if self.transform is not None:
            sample = self.transform(sample)
        return sample

    def _patch(self, index: int) -> Sample:
        pid = self.patch_ids[index]
        semantic = self._semantic(pid)
        spatial = (int(semantic.shape[0]), int(semantic.shape[1]))
        instances = heatmap = zones = None
        if self.target in ("instance", "panoptic"):
            inst = self._instances(pid)
            if inst.shape != semantic.shape:
                raise DatasetError(
                    self._instance_files[pid],
                    f"spatial size mismatch: {inst.shape} but TARGET_{pid}.npy is {semantic.shape}",
                )
            inst = inst.astype(np.int64)
            if self.target == "panoptic":
                inst = inst * (semantic != 0)  # background removed (reference §2.6)
                heat_path, zones_path = self._heatmap_path(pid), self._zones_path(pid)
                heatmap = torch.from_numpy(
                    self._cached(
                        heat_path, lambda _: load_heatmap(heat_path, spatial), False
                    ).astype(np.float32, copy=True)
                )
                zones = torch.from_numpy(
                    self._cached(
                        zones_path, lambda _: load_zones(zones_path, spatial), False
                    ).astype(np.int64, copy=True)
                )
            instances = torch.from_numpy(inst)
        series = {}
        for m in self.modalities:
            arr, path = self._series(m, pid, spatial, mmap=False)
            values = torch.from_numpy(arr.astype(np.float32, copy=self.cache))
            series[m] = TimeSeries(values, self.dates(m, pid), source=str(path))
        return Sample(
            series,
            semantic=torch.from_numpy(semantic.astype(np.int64)),
            instances=instances,
            meta=dict(self._patch_meta[pid]),
            heatmap=heatmap,
            zones=zones,
        )

    def _parcel_index(self) -> _ParcelIndex:
        if self._parcels is None:
            self._parcels = self._build_parcel_index()
        return self._parcels

    def _build_parcel_index(self) -> _ParcelIndex:
        if self.target != "parcel":
            raise RuntimeError("the parcel index exists in target='parcel' mode only")
        nom = self._nomenclature
        n_classes = max(nom.ids) + 1
        is_crop = np.zeros(n_classes, dtype=bool)
        is_crop[list(nom.crop_ids)] = True
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("patch", "parcel", "cls", "n", "box")}
        skipped = 0
        for position, pid in enumerate(self.patch_ids):
            semantic = self._semantic(pid)
            inst = self._instances(pid)
            if inst.shape != semantic.shape:
                raise DatasetError(
                    self._instance_files[pid],
                    f"spatial size mismatch: {inst.shape} but TARGET_{pid}.npy is {semantic.shape}",
                )
            self._spatial[pid] = (int(inst.shape[0]), int(inst.shape[1]))
            inside = inst != 0
            ids, inverse, counts = _unique_ids(inst[inside].astype(np.int64))
            if ids.size == 0:
                continue
            classes = semantic[inside].astype(np.int64)
            crop = is_crop[classes]
            votes = np.bincount(
                inverse[crop] * n_classes + classes[crop], minlength=ids.size * n_classes
            ).reshape(ids.size, n_classes)
            keep = votes.sum(axis=1) > 0
            skipped += int((~keep).sum())
            labels = np.zeros(inst.shape, dtype=np.int32)
            labels[inside] = inverse + 1
            boxes = np.array(
                [
                    (s[0].start, s[0].stop, s[1].start, s[1].stop)
                    for s in ndimage.find_objects(labels)
                ],
                dtype=np.int64,
            )
            cols["patch"].append(np.full(int(keep.sum()), position, dtype=np.int64))
            cols["parcel"].append(ids[keep])
            cols["cls"].append(votes.argmax(axis=1)[keep])  # ties: the smallest class id
            cols["n"].append(counts[keep])
            cols["box"].append(boxes[keep])

        def cat(key: str, shape: tuple[int, ...]) -> np.ndarray:
            return np.concatenate(cols[key]) if cols[key] else np.zeros(shape, dtype=np.int64)

        return _ParcelIndex(
            patch=cat("patch", (0,)),
            parcel=cat("parcel", (0,)),
            class_id=cat("cls", (0,)),
            n_pixels=cat("n", (0,)),
            box=cat("box", (0, 4)),
            n_skipped=skipped,
        )

    def _pixel_rng(self, pid: int, parcel_id: int) -> np.random.Generator:
        if self.sample_pixels == "fixed":
            return np.random.default_rng([self.seed, pid, parcel_id % 2**63])
        return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))

    def _parcel_sample(self, index: int) -> Sample:
        idx = self._parcel_index()
        pid = self.patch_ids[int(idx.patch[index])]
        parcel_id = int(idx.parcel[index])
        box = idx.box[index]
        window = self._instances_window(pid, box)
        positions = np.flatnonzero(window == parcel_id)  # flat positions inside the box
        n_total = positions.size
        if n_total == 0:
            raise DatasetError(
                self._instance_files[pid],
                f"parcel {parcel_id} has no pixel any more (the file changed after indexing)",
            )
        s = self.n_pixels
        valid: np.ndarray | None = None
        if s is None:
            chosen = positions
        elif n_total >= s:
            rng = self._pixel_rng(pid, parcel_id)
            chosen = positions[np.sort(rng.choice(n_total, size=s, replace=False))]
            valid = np.ones(s, dtype=bool)
        else:  # all pixels, then repeats (cyclically) marked invalid
            chosen = np.resize(positions, s)
            valid = np.arange(s) < n_total
        box_w = int(box[3] - box[2])
        rows, cols = chosen // box_w, chosen % box_w
        height, width = self._spatial[pid]

        series = {}
        for m in self.modalities:
            arr, path = self._series(m, pid, (height, width), mmap=True)
            window_values = arr[:, :, box[0] : box[1], box[2] : box[3]]
            values = np.asarray(window_values[:, :, rows, cols], dtype=np.float32)  # [T, C, N]
            _check_finite(path, values)
            mask = None
            if valid is not None:
                mask = torch.from_numpy(np.broadcast_to(valid, (values.shape[0], s)).copy())
            series[m] = TimeSeries(
                torch.from_numpy(values), self.dates(m, pid), mask=mask, source=str(path)
            )
        class_id = int(idx.class_id[index])
        meta = dict(self._patch_meta[pid])
        meta.update(
            id=f"{pid}_{parcel_id}",
            patch_id=pid,
            parcel_id=parcel_id,
            class_id=class_id,
            n_pixels_total=int(n_total),
            pixel_index=torch.from_numpy((rows + box[0]) * width + (cols + box[2])),
            patch_shape=(height, width),
        )
        return Sample(series, label=class_id - 1, meta=meta)
