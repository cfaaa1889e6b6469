"""Object-level aggregation (OAD): per parcel, per date, per band statistics of patch samples.

:func:`aggregate_sample` turns one patch :class:`~sitsfusion.data.sample.Sample` into a tidy
(long) :class:`pandas.DataFrame`, one row per parcel × modality × date × band;
:func:`aggregate_dataset` does it for a whole patch dataset and writes one Parquet (or CSV)
table; :class:`~sitsfusion.data.readers.oad.OADDataset` reads that table back and serves one
parcel ``Sample`` per row group.

Conventions (chosen to avoid the flaws of the Sen4AgriNet OAD CSV):

* ``parcel_id`` is the string ``"<patch>_<parcel>"`` and so is unique across patches; the local
  id is kept in ``instance``.
* Pixel id 0 is "no parcel" and is never exported (the background is not a parcel).
* ``std`` is the **population** standard deviation (ddof = 0), so a 1-pixel parcel has std 0.
* ``skew`` is the population skewness ``m3 / m2**1.5`` (0 where ``m2 == 0``).
* ``median`` is the average of the two middle values for an even pixel count.
* ``class`` is the majority ``semantic`` class over the parcel's pixels, ignoring class 0
  (background) and 19 (void); -1 when a parcel has only such pixels (or no semantic map).
* Parcels are defined by their pixels, so none can have zero pixels; a patch with no parcel
  contributes no row (:func:`aggregate_dataset` counts such patches and fails if the whole
  table would be empty).
* Observation masks (``TimeSeries.mask``) are ignored: every pixel of every date is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from sitsfusion.data.readers.oad import OADDataset  # the reader of the tables written here
from sitsfusion.data.sample import Sample
from sitsfusion.errors import DatasetError
from sitsfusion.io import atomic_path
from sitsfusion.outputs import file_lock, prepare_output_file

__all__ = [
    "IGNORED_CLASSES",
    "OADDataset",
    "aggregate_dataset",
    "aggregate_sample",
    "check_table_output",
]

IGNORED_CLASSES = (0, 19)
"""Semantic classes not voted for when choosing a parcel's class (background, void)."""

_STATS = ("mean", "std")
_BLOCK_VALUES = 1 << 21  # float32 values per block of rows (8 MB): see _parcel_statistics
_EXTRA = ("median", "skew", "count")
_KEY_COLUMNS = ["patch_id", "parcel_id", "instance", "class", "region", "year"]
_ROW_COLUMNS = ["modality", "date", "band"]


def _empty_table(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def aggregate_sample(
    sample: Sample,
    parcel_ids: Tensor | None = None,
    stats: Sequence[str] = _STATS,
    extra: Iterable[str] = (),
    label_from: str = "semantic",
) -> pd.DataFrame:
    """Per parcel, modality, date and band statistics of one patch sample, as a long table.

    Args:
        sample: a patch sample (``[T, C, H, W]`` series).
        parcel_ids: ``[H, W]`` integer parcel ids (0 = no parcel); default ``sample.instances``.
        stats: any of ``"mean"``, ``"std"`` (population std, ddof = 0).
        extra: any of ``"median"``, ``"skew"``, ``"count"`` (pixel count of the parcel).
        label_from: the sample attribute holding the per-pixel class map (``"semantic"``).

    Returns:
        columns ``patch_id, parcel_id, instance, class, region, year, modality, date, band``
        then the statistics, one row per parcel × modality × date × band. Computed without any
        Python loop over parcels (pixels sorted by parcel and reduced with ``np.add.reduceat``).

    Raises:
        ValueError: unknown statistic, no parcel map, map of the wrong shape, pixel-set series.
    """
    stats, extra = tuple(stats), tuple(extra)
    unknown = [s for s in stats if s not in _STATS] + [e for e in extra if e not in _EXTRA]
    if unknown:
        raise ValueError(f"unknown statistics {unknown}; stats: {_STATS}, extra: {_EXTRA}")
    names = list(stats) + list(extra)
    if not names:
        raise ValueError("no statistic requested")
    ids_map = parcel_ids if parcel_ids is not None else sample.instances
    if ids_map is None:
        raise ValueError("sample has no instances map; pass parcel_ids")
    ids = np.asarray(torch.as_tensor(ids_map).cpu(), dtype=np.int64)
    for name, ts in sample.series.items():
        if not ts.is_patch:
            raise ValueError(f"modality {name!r} is a pixel set; aggregation needs patches")
        if tuple(ts.spatial_shape) != ids.shape:
            raise ValueError(
                f"parcel map is {ids.shape} but {name!r} images are {ts.spatial_shape}"
            )
    columns = _KEY_COLUMNS + _ROW_COLUMNS + names
    flat = ids.reshape(-1)
    pix = np.flatnonzero(flat > 0)
    if pix.size == 0:
        return _empty_table(columns)
    # Sort the parcel pixels by parcel id: every parcel is a contiguous run.
    order = pix[np.argsort(flat[pix], kind="stable")]
    sorted_ids = flat[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    parcels = sorted_ids[starts]
    counts = np.diff(np.r_[starts, sorted_ids.size])
    n_parcels = parcels.size
    group = np.repeat(np.arange(n_parcels), counts)  # parcel index of each sorted pixel

    # Majority class: bincount of (parcel, class) pairs, ignored classes zeroed out.
    classes = np.full(n_parcels, -1, dtype=np.int64)
    sem = getattr(sample, label_from, None)
    if sem is not None:
        sem_flat = np.asarray(torch.as_tensor(sem).cpu(), dtype=np.int64).reshape(-1)[order]
        if sem_flat.size and sem_flat.min() >= 0:
            k = int(sem_flat.max()) + 1
            votes = np.bincount(group * k + sem_flat, minlength=n_parcels * k).reshape(-1, k)
            votes[:, [c for c in IGNORED_CLASSES if c < k]] = 0
            has = votes.sum(axis=1) > 0
            classes[has] = votes[has].argmax(axis=1)

    meta = sample.meta
    patch = meta.get("id")
    frames = []
    for modality, ts in sample.series.items():
        t, c = ts.num_dates, ts.num_channels
        out = _parcel_statistics(ts.values, order, starts, counts, group, names)
        rows = n_parcels * t * c
        frame = {
            "patch_id": np.full(rows, patch, dtype=object),
            "parcel_id": np.repeat(np.array([f"{patch}_{p}" for p in parcels]), t * c),
            "instance": np.repeat(parcels, t * c),
            "class": np.repeat(classes, t * c),
            "region": np.full(rows, meta.get("region"), dtype=object),
            "year": np.full(rows, meta.get("year"), dtype=object),
            "modality": np.full(rows, modality, dtype=object),
            "date": np.tile(np.repeat(ts.dates.cpu().numpy().astype(np.int64), c), n_parcels),
            "band": np.tile(np.arange(c, dtype=np.int64), n_parcels * t),
        }
        for name in names:
            arr = out[name].T.reshape(-1)  # [P, T*C] -> parcel-major rows
            frame[name] = arr.astype(np.int64 if name == "count" else np.float32)
        table = pd.DataFrame(frame, columns=columns)
        if meta.get("synthetic") is True:  # simulator output: the table says so too
            table["synthetic"] = True
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def _parcel_statistics(
    values: Tensor,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    group: np.ndarray,
    names: Sequence[str],
) -> dict[str, np.ndarray]:
    """Per-parcel statistics ``{name: [T·C, P]}`` of ``values [T, C, H, W]``.

    Works on blocks of (date, band) rows of a few MB (the temporaries stay in the allocator's
    heap instead of being mapped and faulted in again for every patch): the parcel pixels of
    each row are gathered in parcel order (each parcel a contiguous run) and reduced with
    ``np.add.reduceat``, accumulating in float64; the standard deviation and skewness use the
    deviations from the mean (two passes), not ``E[x²] − E[x]²``. The median sorts each row
    once on the key ``parcel + value scaled into [0, 0.5]``: the values come back exactly
    (float32 inside float64), already grouped by parcel.
    """
    tc = values.shape[0] * values.shape[1]
    x = values.detach().cpu().numpy().reshape(tc, -1)
    n_pix = max(1, order.size)
    block = max(1, _BLOCK_VALUES // n_pix)
    n_f = counts.astype(np.float64)
    lo, hi = starts + (counts - 1) // 2, starts + counts // 2
    out = {name: np.empty((tc, counts.size)) for name in names if name != "count"}
    for r0 in range(0, tc, block):
        rows = slice(r0, min(tc, r0 + block))
        xs = np.take(x[rows], order, axis=1)  # [b, n] float32, grouped by parcel
        mean = np.add.reduceat(xs, starts, axis=1, dtype=np.float64) / n_f
        if "mean" in names:
            out["mean"][rows] = mean
        if "std" in names or "skew" in names:
            dev = xs - mean.astype(np.float32)[:, group]
            dev2 = dev * dev
            m2 = np.add.reduceat(dev2, starts, axis=1, dtype=np.float64) / n_f
            if "std" in names:
                out["std"][rows] = np.sqrt(m2)
            if "skew" in names:
                dev2 *= dev
                m3 = np.add.reduceat(dev2, starts, axis=1, dtype=np.float64) / n_f
                with np.errstate(divide="ignore", invalid="ignore"):
                    out["skew"][rows] = np.where(m2 > 0, m3 / np.power(m2, 1.5), 0.0)
        if "median" in names:
            xmin = xs.min(axis=1).astype(np.float64)[:, None]
            spread = xs.max(axis=1).astype(np.float64)[:, None] - xmin
            scale = np.divide(0.5, spread, out=np.zeros_like(spread), where=spread > 0)
            key = xs.astype(np.float64)
            key -= xmin
            key *= scale
            key += group
            key.sort(axis=1)
            key -= group  # sorted keys stay grouped: the same offsets apply
            np.divide(key, scale, out=key, where=scale > 0)
            key[np.broadcast_to(scale == 0, key.shape)] = 0.0
            key += xmin
            srt = key.astype(np.float32).astype(np.float64)  # exact float32 values again
            out["median"][rows] = (srt[:, lo] + srt[:, hi]) / 2
    if "count" in names:
        out["count"] = np.broadcast_to(counts, (tc, counts.size))
    return out


def aggregate_dataset(
    dataset: Any,
    out: str | Path,
    format: Literal["parquet", "csv"] = "parquet",
    progress: bool = True,
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
    **kwargs: Any,
) -> Path:
    """Aggregate every patch sample of ``dataset`` and write one table atomically.

    ``kwargs`` go to :func:`aggregate_sample`. Patches without any parcel add no row. The
    output is checked before anything is read (:func:`check_table_output`) and locked while
    written (:func:`~sitsfusion.outputs.file_lock`).

    Args:
        dataset: the patch samples (a patch reader).
        out: the table to write.
        format: ``"parquet"`` or ``"csv"``.
        progress: show a progress bar.
        overwrite: replace an existing OAD table at ``out`` (never another file).
        inputs: the dataset's root (``out`` must not be, nor lie inside it); default the
            dataset's ``root`` attribute when it has one.

    Raises:
        ValueError: unknown format.
        OutputError: see :func:`check_table_output`; another process writes ``out``.
        DatasetError: no parcel in the whole dataset (the table would be empty).
    """
    if format not in ("parquet", "csv"):
        raise ValueError(f"format must be 'parquet' or 'csv', got {format!r}")
    inputs = tuple(inputs) or tuple(r for r in (getattr(dataset, "root", None),) if r is not None)
    out = check_table_output(out, overwrite=overwrite, inputs=inputs)
    with file_lock(out):
        return _aggregate(dataset, out, format, progress, **kwargs)


def check_table_output(
    out: str | Path, overwrite: bool = False, inputs: Iterable[str | Path] = ()
) -> Path:
    """The resolved ``out`` if an OAD table may be written there: a writable file path
    outside the ``inputs``; an existing file only with ``overwrite`` and only when it is an
    OAD table (its columns say so), never another file.

    Raises:
        OutputError: naming ``out`` and what to do.
    """
    return prepare_output_file(out, overwrite=overwrite, inputs=inputs, owned=OADDataset.looks_like)


def _aggregate(dataset: Any, out: Path, format: str, progress: bool, **kwargs: Any) -> Path:
    """Aggregate ``dataset`` into the table ``out`` (see :func:`aggregate_dataset`)."""
    indices: Iterable[int] = range(len(dataset))
    if progress:
        from rich.progress import track

        indices = track(indices, description="OAD aggregation", total=len(dataset))
    frames, skipped = [], 0
    for i in indices:
        frame = aggregate_sample(dataset[i], **kwargs)
        if len(frame) == 0:
            skipped += 1
        else:
            frames.append(frame)
    if not frames:
        raise DatasetError(out, f"no parcel in any of the {len(dataset)} patches; nothing to write")
    table = pd.concat(frames, ignore_index=True)
    for column in ("patch_id", "region", "year"):  # keep Parquet columns single-typed
        if table[column].map(type).nunique() > 1:
            table[column] = table[column].astype(str)
    table.attrs["skipped_patches"] = skipped
    with atomic_path(out) as tmp:
        if format == "parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
    return out
