"""PASTIS / PASTIS-R as patches: semantic, instance and panoptic targets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from sitsfusion.data.dates import DateLike
from sitsfusion.data.readers.base import Indices, PatchReader, Reader, register_reader
from sitsfusion.data.readers.pastis.arrays import (
    heatmap_path,
    load_heatmap,
    load_zones,
    zones_path,
)
from sitsfusion.data.readers.pastis.dataset import PASTISDataset
from sitsfusion.data.readers.pastis.metadata import METADATA_FILE, REFERENCE_DATE
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.data.taxonomy import Nomenclature
from sitsfusion.data.transforms import ResampleMethod
from sitsfusion.errors import DatasetError

__all__ = ["PASTIS"]

PatchTarget = Literal["semantic", "instance", "panoptic"]
_TARGETS = ("semantic", "instance", "panoptic")


@register_reader
class PASTIS(PASTISDataset, PatchReader):
    """PASTIS / PASTIS-R satellite image time series, one sample per patch.

    PASTIS (Garnot & Landrieu 2021): 2,433 patches of 128 × 128 px at 10 m in four regions of
    France, every Sentinel-2 acquisition of the 2018-2019 season (38-61 dates), semantic and
    instance annotations of 18 crop classes + background (0) + void (19), split into 5 folds.
    PASTIS-R adds Sentinel-1 ascending (S1A) and descending (S1D) series (≈ 70 dates each).
    For one sample per parcel, see :class:`~sitsfusion.data.readers.pastis.PASTISParcels`.

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

    * ``"semantic"``: ``series[m].values`` float32 ``[T, C, H, W]`` (values as stored),
      ``semantic`` long ``[H, W]`` (TARGET channel 0).
    * ``"instance"``: as ``"semantic"`` plus ``instances`` long ``[H, W]`` (INSTANCES).
    * ``"panoptic"``: as ``"semantic"`` plus the PaPs targets: ``instances`` long ``[H, W]``
      with the background removed (INSTANCES × (semantic ≠ 0), reference/anchors-code.md
      §2.6; void parcels keep their ids), ``heatmap`` float32 ``[H, W]`` (HEATMAP, values in
      [0, 1]) and ``zones`` long ``[H, W]`` (ZONES), both as stored (see
      :mod:`sitsfusion.data.centerness` to compute them instead).

    ``meta``: ``id`` (ID_PATCH), ``fold``, ``tile``, ``reference_date``, ``dataset``, ``crs``
    (EPSG:2154), ``bounds``, ``transform`` (the rotated affine of the patch's pixel grid, from
    its footprint's corners) and the other metadata properties with lower-case keys.

    Dates are int64 days since ``reference_date`` (2018-09-01 as in PASTIS); all dates are kept
    (the reference loader silently drops dates outside −200..599 days). Values are as stored:
    normalise with :class:`~sitsfusion.data.transforms.Normalize` and :meth:`statistics` (the
    ``NORM`` files pooled over the training folds; the data modules do it).

    Args:
        root: dataset root.
        folds: folds to load (None = all).
        modalities: any of ``"S2"``, ``"S1A"``, ``"S1D"`` (the ``DATA_<m>`` folders).
        target: ``"semantic"``, ``"instance"`` or ``"panoptic"``.
        reference_date: origin of the day counts.
        cache: keep the arrays read from disk in memory (raw, before transforms). Each
            DataLoader worker holds its own cache.
        transform: ``Sample -> Sample`` applied last.
        resample: ``{source: target}`` modalities to resample onto another loaded modality's
            dates as they are read, e.g. ``{"S1A": "S2", "S1D": "S2"}`` for early fusion (seed
            001 Sec. 4.2: "interpolation is computed on the fly when loading").
        resample_method: ``"linear"``, ``"nearest"`` or ``"nearest_unique"``.

    Raises:
        DatasetError: problems found from the metadata, folders and file names, at
            construction; problems in the arrays, when a sample is read.
    """

    tasks: ClassVar[tuple[str, ...]] = ("semantic", "panoptic")

    def __init__(
        self,
        root: str | Path,
        folds: Iterable[int] | None = None,
        modalities: Sequence[str] | str = ("S2",),
        target: PatchTarget = "semantic",
        reference_date: DateLike = REFERENCE_DATE,
        cache: bool = False,
        transform: Callable[[Sample], Sample] | None = None,
        resample: Mapping[str, str] | None = None,
        resample_method: ResampleMethod = "linear",
    ) -> None:
        if target not in _TARGETS:
            raise ValueError(
                f"target must be 'semantic', 'instance' or 'panoptic' (one sample per parcel: "
                f"PASTISParcels), got {target!r}"
            )
        self.target: PatchTarget = target
        super().__init__(
            root, folds, modalities, reference_date, cache, transform, resample, resample_method
        )
        self.class_names = list(self._nomenclature.names)
        self._instance_files: dict[int, Path] = {}
        if target != "semantic":
            for pid in self.patch_ids:
                self._instance_files[pid] = self.index.instance_file(pid)
                if target == "panoptic":
                    for path in (heatmap_path(self.root, pid), zones_path(self.root, pid)):
                        self.index.require(path, pid)

    # ---- the contract -------------------------------------------------------------------------

    def _patch_positions(self, indices: Indices) -> np.ndarray:
        if indices is None:
            return np.arange(len(self.patch_ids))
        return np.asarray(indices, dtype=np.int64) % max(len(self), 1)

    def label_counts(self, indices: Indices = None) -> np.ndarray:
        """int64 ``[20]``: pixels per class id over the patches ``indices`` (annotations only)."""
        k = self.num_classes
        counts = np.zeros(k, dtype=np.int64)
        for position in self._patch_positions(indices):
            sem = self._semantic(self.patch_ids[int(position)]).ravel()
            counts += np.bincount(sem, minlength=k)[:k]
        return counts

    @property
    def legend(self) -> Nomenclature:
        return self._nomenclature

    def patch(self, patch_id: str | int) -> Sample:
        try:
            position = self.patch_ids.index(int(patch_id))
        except ValueError:
            raise DatasetError(
                self.root / METADATA_FILE, f"no patch with ID_PATCH {patch_id}"
            ) from None
        return self[position]

    @classmethod
    def open(cls, root: str | Path, **options: Any) -> Reader:
        """Every modality; instance maps too when the folder has them."""
        if (Path(root) / "INSTANCE_ANNOTATIONS").is_dir():
            options.setdefault("target", "instance")
        return super().open(root, **options)

    # ---- samples ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.patch_ids)

    def __repr__(self) -> str:
        return (
            f"PASTIS(root={str(self.root)!r}, folds={list(self.folds)}, "
            f"modalities={list(self.modalities)}, target={self.target!r})"
        )

    def __getitem__(self, index: int) -> Sample:
        pid = self.patch_ids[self._check_index(index)]
        semantic = self._semantic(pid)
        spatial = (int(semantic.shape[0]), int(semantic.shape[1]))
        instances = heatmap = zones = None
        if self.target != "semantic":
            path = self._instance_files[pid]
            inst = self._instances(path)
            if inst.shape != semantic.shape:
                raise DatasetError(
                    path,
                    f"spatial size mismatch: {inst.shape} but TARGET_{pid}.npy is {semantic.shape}",
                )
            inst = inst.astype(np.int64)
            if self.target == "panoptic":
                inst = inst * (semantic != 0)  # background removed (reference §2.6)
                heat_file, zones_file = heatmap_path(self.root, pid), zones_path(self.root, pid)
                heatmap = torch.from_numpy(
                    self._cached(
                        heat_file, lambda _: load_heatmap(heat_file, spatial), False
                    ).astype(np.float32, copy=True)
                )
                zones = torch.from_numpy(
                    self._cached(
                        zones_file, lambda _: load_zones(zones_file, spatial), False
                    ).astype(np.int64, copy=True)
                )
            instances = torch.from_numpy(inst)
        series = {}
        for m in self.modalities:
            arr, path = self._series(m, pid, spatial, mmap=False)
            values = torch.from_numpy(arr.astype(np.float32, copy=self.cache))
            series[m] = TimeSeries(values, self.dates(m, pid), source=str(path))
        sample = Sample(
            series,
            semantic=torch.from_numpy(semantic.astype(np.int64)),
            instances=instances,
            meta=self.index.patch_meta(pid, spatial),
            heatmap=heatmap,
            zones=zones,
        )
        return self._finish(sample)
