"""What the PASTIS patch and parcel datasets share: the index, array access, the contract."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from sitsfusion.data.dates import DateLike
from sitsfusion.data.readers.base import Indices, Reader, safe_check
from sitsfusion.data.readers.pastis.arrays import (
    SERIES,
    band_names,
    check_series,
    check_series_values,
    load_annotation,
    load_target,
    series_path,
    target_path,
)
from sitsfusion.data.readers.pastis.index import PASTISIndex
from sitsfusion.data.readers.pastis.metadata import (
    METADATA_FILE,
    available_modalities,
)
from sitsfusion.data.readers.pastis.norm import fold_statistics
from sitsfusion.data.sample import Sample
from sitsfusion.data.statistics import ChannelStatistics
from sitsfusion.data.taxonomy import load_nomenclature
from sitsfusion.data.transforms import ResampleMethod
from sitsfusion.data.transforms import resample as resample_modality
from sitsfusion.errors import DatasetError
from sitsfusion.io import load_npy, require_regular_file

__all__ = ["PASTISDataset"]

_SYNTHETIC_FLAG = '"SYNTHETIC": true'
_METADATA_HEAD = 20_000  # characters of metadata.geojson read to find the simulator's flag


class PASTISDataset(Reader):
    """Base of :class:`~sitsfusion.data.readers.pastis.PASTIS` (patches) and
    :class:`~sitsfusion.data.readers.pastis.PASTISParcels` (parcels) over one
    :class:`~sitsfusion.data.readers.pastis.PASTISIndex`.

    Statistics: the format publishes per-fold channel statistics
    (``NORM_<modality>_patch.json``); :meth:`statistics` pools those of the folds of the
    samples asked for (:func:`~sitsfusion.data.readers.pastis.fold_statistics`).
    """

    format: ClassVar[str] = "pastis"
    layout: ClassVar[str] = (
        "PASTIS / PASTIS-R (metadata.geojson, DATA_<modality>/<modality>_<id>.npy, "
        "ANNOTATIONS/TARGET_<id>.npy)"
    )
    title: ClassVar[str] = "PASTIS"

    def __init__(
        self,
        root: str | Path,
        folds: Iterable[int] | None,
        modalities: Sequence[str] | str,
        reference_date: DateLike,
        cache: bool,
        transform: Callable[[Sample], Sample] | None,
        resample: Mapping[str, str] | None,
        resample_method: ResampleMethod,
    ) -> None:
        modalities = (modalities,) if isinstance(modalities, str) else tuple(modalities)
        self.resample = dict(resample or {})
        self.resample_method: ResampleMethod = resample_method
        for src, tgt in self.resample.items():
            if src not in modalities or tgt not in modalities or src == tgt:
                raise ValueError(
                    f"resample={{{src!r}: {tgt!r}}} needs two different loaded modalities; "
                    f"loaded: {list(modalities)}"
                )
        self.index = PASTISIndex(root, folds, modalities, reference_date)
        self.root = self.index.root
        self.modalities = self.index.modalities
        self.folds = self.index.folds
        self.metadata = self.index.metadata
        self.patch_ids: list[int] = self.index.patch_ids
        self.reference_date = self.index.reference_date
        self.channels = dict(self.index.channels)
        self.synthetic = self.index.synthetic
        self.cache = cache
        self.transform = transform
        self._cache: dict[Path, np.ndarray] = {}
        self._nomenclature = load_nomenclature("pastis")

    # ---- the contract -------------------------------------------------------------------------

    @property
    def band_names(self) -> dict[str, tuple[str, ...]]:
        return {m: band_names(m) for m in self.modalities}

    @abc.abstractmethod
    def _patch_positions(self, indices: Indices) -> np.ndarray:
        """Positions in :attr:`patch_ids` of the patches of the samples ``indices``."""

    def statistics(self, indices: Indices = None) -> ChannelStatistics:
        """The ``NORM`` statistics pooled over the folds of the samples ``indices``."""
        folds = sorted(set(self.index.patch_folds[self._patch_positions(indices)].tolist()))
        stats = {}
        for m in self.modalities:
            mean, std = fold_statistics(self.root, m, folds, self.channels[m])
            stats[m] = (torch.from_numpy(mean), torch.from_numpy(std))
        return stats

    def observation_dates(self, index: int) -> dict[str, np.ndarray]:
        pid = self.patch_ids[int(self._patch_positions([index])[0])]
        ref = np.datetime64(self.reference_date, "D")
        return {m: ref + self.index.dates(m, pid).astype("timedelta64[D]") for m in self.modalities}

    @classmethod
    def looks_like(cls, root: str | Path) -> bool:
        return safe_check(lambda: (Path(root) / METADATA_FILE).is_file())

    @classmethod
    def is_synthetic(cls, root: str | Path) -> bool:
        """The simulator writes ``"SYNTHETIC": true`` in every feature of the metadata."""
        path = Path(root) / METADATA_FILE

        def check() -> bool:
            require_regular_file(path)  # raises (then False): a named pipe would block
            with path.open(encoding="utf-8", errors="replace") as f:
                return _SYNTHETIC_FLAG in f.read(_METADATA_HEAD)

        return safe_check(check)

    @classmethod
    def open(cls, root: str | Path, **options: Any) -> Reader:
        if "modalities" not in options:
            options["modalities"] = available_modalities(root)
            if not options["modalities"]:
                raise DatasetError(
                    root,
                    "no modality with both a DATA_<modality> folder and 'dates-<modality>' in "
                    "metadata.geojson (metadata only?); nothing to read",
                )
        return cls(root, **options)

    # ---- metadata ------------------------------------------------------------------------------

    def dates(self, modality: str, patch_id: int) -> Tensor:
        """int64 ``[T]`` days since ``reference_date`` of one patch's acquisitions."""
        return torch.from_numpy(self.index.dates(modality, patch_id).copy())

    # ---- array access ---------------------------------------------------------------------------

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
        """The semantic map ``[H, W]`` of one patch (TARGET channel 0), checked."""
        return self._cached(
            target_path(self.root, pid), lambda _: load_target(self.root, pid), False
        )

    def _instances(self, path: Path) -> np.ndarray:
        """A whole instance map ``[H, W]`` (INSTANCES or ParcelIDs), integer ids checked."""

        def load(mmap: bool) -> np.ndarray:
            arr = load_annotation(path, mmap=mmap)
            if arr.ndim != 2:
                raise DatasetError(path, f"wrong rank: expected 2-D (H, W), got {arr.shape}")
            if not mmap and arr.dtype.kind == "f" and (arr != np.round(arr)).any():
                raise DatasetError(path, "instance ids must be integers")
            return arr

        return self._cached(path, load, False)

    def _series(
        self, modality: str, pid: int, spatial: tuple[int, int], mmap: bool
    ) -> tuple[np.ndarray, Path]:
        """The series ``[T, C, H, W]`` of one patch (memory-mapped when ``mmap``), checked."""
        path = series_path(self.root, modality, pid)

        def load(mm: bool) -> np.ndarray:
            arr = load_npy(path, SERIES, mmap=mm, header=self.index.header(path) if mm else None)
            n_dates = len(self.index.dates(modality, pid))
            check_series(path, arr, n_dates, self.channels[modality], spatial)
            if not mm:
                check_series_values(path, arr, modality)
            return arr

        return self._cached(path, load, mmap), path

    def _finish(self, sample: Sample) -> Sample:
        """Resample on load (``resample``), then ``transform``."""
        for src, tgt in self.resample.items():
            sample = resample_modality(sample, src, tgt, self.resample_method)
        return sample if self.transform is None else self.transform(sample)

    def _check_index(self, index: int) -> int:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        return index % n
