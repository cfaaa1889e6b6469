"""PASTIS / PASTIS-R as parcels: one pixel-set sample per parcel of the patches."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

from sitsfusion.data.dates import DateLike
from sitsfusion.data.readers.base import Indices, register_reader
from sitsfusion.data.readers.pastis.arrays import ANNOTATION, check_series_values, load_annotation
from sitsfusion.data.readers.pastis.dataset import PASTISDataset
from sitsfusion.data.readers.pastis.metadata import REFERENCE_DATE
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.data.transforms import ResampleMethod
from sitsfusion.errors import DatasetError
from sitsfusion.io import load_npy

__all__ = ["PASTISParcels"]


@dataclass(frozen=True)
class _ParcelIndex:
    """One row per kept parcel (numpy columns), plus the count of skipped parcels."""

    patch: np.ndarray  # position in PASTISParcels.patch_ids
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


@register_reader
class PASTISParcels(PASTISDataset):
    """PASTIS / PASTIS-R parcels: one pixel-set sample per parcel of the selected patches.

    A parcel is an instance id of a patch (the raw ``ParcelIDs`` when a patch has no
    ``INSTANCES`` file) whose majority class over its pixels, ignoring background and void
    pixels, is a crop 1..18 (seed 001 Sec. 4.2: K = 18). ``label`` = class − 1 (0..17, names
    in :attr:`class_names`). Parcels without any crop pixel are skipped
    (:attr:`n_skipped_parcels`). The parcel index (:attr:`parcels`) is built on first use
    from the annotations only.

    ``series[m].values`` is float32 ``[T, C, S]`` (values as stored) with ``S = n_pixels``
    pixels of the parcel, the same pixels for every modality, and ``mask`` bool ``[T, S]`` False
    on pixels repeated to fill a parcel smaller than S. ``meta`` holds the patch's metadata
    (see :class:`~sitsfusion.data.readers.pastis.PASTIS`, georeferencing included) plus ``id``
    ``"<patch>_<parcel>"``, ``patch_id``, ``parcel_id``, ``class_id``, ``n_pixels_total``,
    ``pixel_index`` (the sampled pixels' flat positions ``row * W + col`` in the patch) and
    ``patch_shape``. :attr:`clusters` is the patch of every parcel.

    Args:
        root, folds, modalities, reference_date, cache, transform, resample, resample_method:
            as :class:`~sitsfusion.data.readers.pastis.PASTIS`.
        n_pixels: pixels sampled per parcel (S = 64 in the reference); None keeps every pixel
            (then samples differ in N and cannot be collated together).
        sample_pixels: ``"random"`` draws new pixels at each access (training), from torch's
            random generator so that ``torch.manual_seed`` and DataLoader workers give
            reproducible, independent draws; ``"fixed"`` draws them once per parcel from
            ``(seed, patch id, parcel id)``, the same in every run and every fold selection
            (evaluation).
        seed: seed of the ``"fixed"`` pixel sampling.

    Raises:
        DatasetError: problems found from the metadata, folders and file names, at
            construction; problems in the arrays, when the parcel index or a sample is read.
    """

    tasks: ClassVar[tuple[str, ...]] = ("parcel",)
    sample_noun: ClassVar[str] = "parcels"

    def __init__(
        self,
        root: str | Path,
        folds: Iterable[int] | None = None,
        modalities: Sequence[str] | str = ("S2",),
        n_pixels: int | None = 64,  # seed 001 Sec. 4.2 / PSE-TAE: S = 64 pixels per parcel
        sample_pixels: Literal["random", "fixed"] = "random",
        seed: int = 0,
        reference_date: DateLike = REFERENCE_DATE,
        cache: bool = False,
        transform: Callable[[Sample], Sample] | None = None,
        resample: Mapping[str, str] | None = None,
        resample_method: ResampleMethod = "linear",
    ) -> None:
        if sample_pixels not in ("random", "fixed"):
            raise ValueError(f"sample_pixels must be 'random' or 'fixed', got {sample_pixels!r}")
        if n_pixels is not None and n_pixels < 1:
            raise ValueError(f"n_pixels must be >= 1 or None, got {n_pixels}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.n_pixels = n_pixels
        self.sample_pixels = sample_pixels
        self.seed = seed
        super().__init__(
            root, folds, modalities, reference_date, cache, transform, resample, resample_method
        )
        nom = self._nomenclature
        self.class_names = [nom.name_of(i) for i in nom.crop_ids]
        self._instance_files = {
            pid: self.index.instance_file(pid, parcel_ids=True) for pid in self.patch_ids
        }
        self._index: _ParcelIndex | None = None
        self._spatial: dict[int, tuple[int, int]] = {}

    # ---- the contract -------------------------------------------------------------------------

    @property
    def labels(self) -> np.ndarray:  # type: ignore[override]
        """int64 ``[N]``: the label (crop class − 1) of every parcel."""
        return self._parcel_index().class_id - 1

    @property
    def clusters(self) -> np.ndarray:  # type: ignore[override]
        """int64 ``[N]``: the patch of every parcel (a patch's parcels stay in one split)."""
        return np.asarray(self.patch_ids, dtype=np.int64)[self._parcel_index().patch]

    def _patch_positions(self, indices: Indices) -> np.ndarray:
        patch = self._parcel_index().patch
        return patch if indices is None else patch[np.asarray(indices, dtype=np.int64)]

    # ---- the parcel index -----------------------------------------------------------------------

    @property
    def parcels(self) -> pd.DataFrame:
        """The parcel index: patch, parcel id, class, label, size, bounding box."""
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
        """Parcels dropped because none of their pixels is a crop (1..18)."""
        return self._parcel_index().n_skipped

    def _parcel_index(self) -> _ParcelIndex:
        if self._index is None:
            self._index = self._build_parcel_index()
        return self._index

    def _build_parcel_index(self) -> _ParcelIndex:
        nom = self._nomenclature
        n_classes = max(nom.ids) + 1
        is_crop = np.zeros(n_classes, dtype=bool)
        is_crop[list(nom.crop_ids)] = True
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("patch", "parcel", "cls", "n", "box")}
        skipped = 0
        for position, pid in enumerate(self.patch_ids):
            semantic = self._semantic(pid)
            inst = self._instances(self._instance_files[pid])
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

    # ---- samples ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._parcel_index().parcel)

    def __repr__(self) -> str:
        return (
            f"PASTISParcels(root={str(self.root)!r}, folds={list(self.folds)}, "
            f"modalities={list(self.modalities)}, n_pixels={self.n_pixels}, "
            f"sample_pixels={self.sample_pixels!r})"
        )

    def _instances_window(self, pid: int, box: np.ndarray) -> np.ndarray:
        path = self._instance_files[pid]

        def load(mmap: bool) -> np.ndarray:
            if not mmap:
                return load_annotation(path)
            arr = load_npy(path, ANNOTATION, mmap=True, header=self.index.header(path))
            if arr.ndim != 2:
                raise DatasetError(path, f"wrong rank: expected 2-D (H, W), got {arr.shape}")
            return arr

        arr = self._cached(path, load, True)
        return np.asarray(arr[box[0] : box[1], box[2] : box[3]])

    def _pixel_rng(self, pid: int, parcel_id: int) -> np.random.Generator:
        if self.sample_pixels == "fixed":
            return np.random.default_rng([self.seed, pid, parcel_id % 2**63])
        return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))

    def __getitem__(self, index: int) -> Sample:
        idx = self._parcel_index()
        index = self._check_index(index)
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
            check_series_values(path, values, m)
            mask = None
            if valid is not None:
                mask = torch.from_numpy(np.broadcast_to(valid, (values.shape[0], s)).copy())
            series[m] = TimeSeries(
                torch.from_numpy(values), self.dates(m, pid), mask=mask, source=str(path)
            )
        class_id = int(idx.class_id[index])
        meta = self.index.patch_meta(pid, (height, width))
        meta.update(
            id=f"{pid}_{parcel_id}",
            patch_id=pid,
            parcel_id=parcel_id,
            class_id=class_id,
            n_pixels_total=int(n_total),
            pixel_index=torch.from_numpy((rows + box[0]) * width + (cols + box[2])),
            patch_shape=(height, width),
        )
        return self._finish(Sample(series, label=class_id - 1, meta=meta))
