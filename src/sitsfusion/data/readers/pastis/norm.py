"""PASTIS ``NORM_<modality>_patch.json``: per-fold channel statistics, read, pooled, computed.

The files hold ``{"Fold_1": {"mean": [C], "std": [C]}, ..., "Fold_5": {...}}``.
:func:`fold_statistics` is what a reader publishes for a set of folds: the file's statistics
pooled over them (computed from the data and saved first when the file is missing).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.data.readers.pastis.arrays import load_series_array, series_path
from sitsfusion.data.readers.pastis.metadata import DATES_PREFIX, read_metadata
from sitsfusion.data.statistics import Moments, pool_moments
from sitsfusion.errors import DatasetError
from sitsfusion.io import read_json, write_json_atomic

__all__ = ["compute_norm", "fold_statistics", "norm_path", "pool_norm", "read_norm"]

_FOLD_KEY = re.compile(r"^Fold_(\d+)$")

FoldStatistics = dict[int, tuple[np.ndarray, np.ndarray]]


def norm_path(root: str | Path, modality: str) -> Path:
    """``ROOT/NORM_<modality>_patch.json``."""
    return Path(root) / f"NORM_{modality}_patch.json"


def _parse_norm(obj: Any, path: Path, n_channels: int | None) -> FoldStatistics:
    if not isinstance(obj, Mapping) or not obj:
        raise DatasetError(path, 'expected {"Fold_1": {"mean": [...], "std": [...]}, ...}')
    stats: FoldStatistics = {}
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


def read_norm(path: str | Path, n_channels: int | None = None) -> FoldStatistics:
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
    """Channel statistics ``(mean [C], std [C])`` of the union of ``folds``, each weighted equally.

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
    return pool_moments(means, stds)


def compute_norm(root: str | Path, modality: str, write: bool = True) -> dict[str, Any]:
    """Per-fold channel mean / std of one modality, computed from the data.

    Covers every fold present in ``metadata.geojson``. The statistics are the exact moments of
    all pixel values (all dates, all pixels of all patches of the fold), accumulated patch by
    patch in float64 (:class:`~sitsfusion.data.statistics.Moments`), std with denominator N.
    (The shipped PASTIS files may have been computed differently, e.g. as averages of
    per-patch statistics, so expect small differences from them.)

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
    column = DATES_PREFIX + modality
    result: dict[str, Any] = {}
    n_channels: int | None = None
    for fold in sorted(meta["Fold"].unique()):
        acc: Moments | None = None
        for pid in meta.index[meta["Fold"] == fold]:
            dates = meta.at[pid, column] if column in meta.columns else None
            n_dates = None if dates is None else len(dates)
            arr = load_series_array(
                series_path(root, modality, int(pid)), n_dates=n_dates, n_channels=n_channels
            )
            n_channels = arr.shape[1]
            acc = acc or Moments(n_channels)
            acc.add(np.moveaxis(arr, 1, 0).reshape(n_channels, -1))
        if acc is None or acc.count == 0:
            continue
        mean, std = acc.result()
        result[f"Fold_{int(fold)}"] = {"mean": mean.tolist(), "std": std.tolist()}
    path = norm_path(root, modality)
    _parse_norm(result, path, None)  # the same checks as a file read back (e.g. std > 0)
    if write:
        try:
            write_json_atomic(path, result)
        except OSError as exc:
            warnings.warn(f"{path}: could not save the statistics ({exc})", stacklevel=2)
    return result


def fold_statistics(
    root: str | Path, modality: str, folds: Iterable[int], n_channels: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``NORM`` statistics of ``modality`` pooled over ``folds`` (:func:`pool_norm`).

    A missing ``NORM_<modality>_patch.json`` is computed from every fold and saved first
    (:func:`compute_norm`, with a warning).

    Raises:
        DatasetError: a bad file (see :func:`read_norm`), or a fold it does not cover.
    """
    path = norm_path(root, modality)
    if path.exists():  # read_norm refuses a folder or a named pipe: never written over
        stats = read_norm(path, n_channels)
    else:
        warnings.warn(
            f"{path}: missing; computing the statistics from the data (once)", stacklevel=3
        )
        stats = _parse_norm(compute_norm(root, modality), path, n_channels)
    folds = sorted(set(folds))
    absent = [k for k in folds if k not in stats]
    if absent:
        raise DatasetError(
            path,
            f"missing fold(s) {absent} (statistics of folds {folds}); the file has "
            f"{', '.join(f'Fold_{k}' for k in sorted(stats))}",
        )
    return pool_norm(stats, folds)
