"""The ``.npy`` files of a PASTIS folder: where they are, and checked loaders for each kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sitsfusion.data.readers.pastis.metadata import METADATA_FILE
from sitsfusion.data.readers.ranges import check_band_values
from sitsfusion.data.taxonomy import load_nomenclature
from sitsfusion.errors import DatasetError
from sitsfusion.io import check_finite, load_npy

__all__ = [
    "ANNOTATION",
    "PASTIS_CHANNELS",
    "S1_BANDS",
    "S2_BANDS",
    "SERIES",
    "band_names",
    "check_series",
    "check_series_values",
    "heatmap_path",
    "instances_path",
    "load_annotation",
    "load_heatmap",
    "load_series_array",
    "load_target",
    "load_zones",
    "parcel_ids_path",
    "series_path",
    "target_path",
    "zones_path",
]

SERIES = "an image time series"
ANNOTATION = "an annotation"

S2_BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
"""Sentinel-2 band order of the PASTIS arrays (reference §3.1); S1: VV, VH, VV/VH."""
S1_BANDS = ("VV", "VH", "VV/VH")
PASTIS_CHANNELS = {"S2": len(S2_BANDS), "S1A": len(S1_BANDS), "S1D": len(S1_BANDS)}
"""Channels of the PASTIS-R modalities (other modality names are not checked)."""


def band_names(modality: str) -> tuple[str, ...]:
    """The PASTIS band names of ``modality`` (``S2``: 10 bands, ``S1A`` / ``S1D``: 3)."""
    return S2_BANDS if modality == "S2" else S1_BANDS


def check_series_values(path: Path, arr: np.ndarray, modality: str) -> None:
    """NaN / inf and implausible magnitudes in a series ``[T, C, ...]`` of ``modality``
    (:func:`~sitsfusion.data.readers.ranges.check_band_values`), naming the band."""
    names = band_names(modality)
    check_band_values(
        path, arr, modality, band_axis=1, band_names=names if arr.shape[1] == len(names) else None
    )


def series_path(root: Path, modality: str, patch_id: int) -> Path:
    return root / f"DATA_{modality}" / f"{modality}_{patch_id}.npy"


def target_path(root: Path, patch_id: int) -> Path:
    return root / "ANNOTATIONS" / f"TARGET_{patch_id}.npy"


def parcel_ids_path(root: Path, patch_id: int) -> Path:
    return root / "ANNOTATIONS" / f"ParcelIDs_{patch_id}.npy"


def instances_path(root: Path, patch_id: int) -> Path:
    return root / "INSTANCE_ANNOTATIONS" / f"INSTANCES_{patch_id}.npy"


def heatmap_path(root: Path, patch_id: int) -> Path:
    return root / "INSTANCE_ANNOTATIONS" / f"HEATMAP_{patch_id}.npy"


def zones_path(root: Path, patch_id: int) -> Path:
    return root / "INSTANCE_ANNOTATIONS" / f"ZONES_{patch_id}.npy"


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
    arr = load_npy(path, ANNOTATION, mmap=mmap)
    if arr.ndim not in (2, 3):
        raise DatasetError(
            path, f"wrong rank: annotation must be 2-D (H, W) or 3-D (K, H, W), got {arr.shape}"
        )
    if not mmap:
        check_finite(path, arr)
    return arr


def load_target(root: str | Path, patch_id: int) -> np.ndarray:
    """The semantic map ``[H, W]`` (``TARGET_<id>.npy`` channel 0) of one patch, checked.

    Raises:
        DatasetError: file missing, corrupt or truncated; wrong rank; class ids outside the
            PASTIS nomenclature (0..19).
    """
    path = target_path(Path(root), int(patch_id))
    arr = load_annotation(path)
    sem = np.asarray(arr[0] if arr.ndim == 3 else arr)
    bad = load_nomenclature("pastis").unknown_ids(sem)
    if bad.size:
        raise DatasetError(
            path, f"class ids outside the PASTIS nomenclature (0..19): {bad[:10].tolist()}"
        )
    return sem


def check_map(path: Path, arr: np.ndarray, spatial: tuple[int, int] | None) -> None:
    """A 2-D map of the patch's size ``spatial`` (the semantic target's)."""
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
    check_map(path, arr, spatial)
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
    check_map(path, arr, spatial)
    if arr.dtype.kind == "f" and (arr != np.round(arr)).any():
        raise DatasetError(path, "zone ids must be integers")
    if arr.size and arr.min() < 0:
        raise DatasetError(path, f"zone ids must be >= 0, got {arr.min()}")
    return arr.astype(np.int64)


def load_series_array(
    path: str | Path,
    n_dates: int | None = None,
    n_channels: int | None = None,
    spatial: tuple[int, int] | None = None,
    mmap: bool = False,
    modality: str | None = None,
) -> np.ndarray:
    """Load and check one image time series ``[T, C, H, W]`` (``DATA_<mod>/<mod>_<id>.npy``).

    Args:
        path: the ``.npy`` file.
        n_dates: expected T (the number of dates in ``metadata.geojson``).
        n_channels: expected C.
        spatial: expected ``(H, W)``.
        mmap: memory-map instead of reading (then the values are not checked here: check the
            values actually read).
        modality: the modality (default: from the folder name ``DATA_<modality>``), for the
            plausible range of the values.

    Raises:
        DatasetError: missing, corrupt or truncated file, non-numeric dtype, not 4-D, T, C or
            H × W different from the expected ones, NaN/inf or implausible values.
    """
    path = Path(path)
    arr = load_npy(path, SERIES, mmap=mmap)
    check_series(path, arr, n_dates, n_channels, spatial)
    if not mmap:
        check_series_values(path, arr, modality or path.parent.name.removeprefix("DATA_"))
    return arr


def check_series(
    path: Path,
    arr: np.ndarray,
    n_dates: int | None,
    n_channels: int | None,
    spatial: tuple[int, int] | None,
) -> None:
    """Rank 4, and T, C, H × W as expected (None: not checked)."""
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
