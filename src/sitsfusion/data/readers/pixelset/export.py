"""Export any parcel dataset to the pixel-set layout (:func:`export_pixelsets`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sitsfusion.data.dates import reference_day
from sitsfusion.data.readers.pixelset.layout import (
    DATA_DIR,
    DATES_FILE,
    GEOMFEAT_FILE,
    LABELS_FILE,
    META_DIR,
    SIZES_FILE,
)
from sitsfusion.data.sample import Sample
from sitsfusion.io import save_npy_atomic, write_json_atomic

__all__ = ["export_pixelsets", "geometric_features"]


def _write_json(path: Path, obj: Any) -> None:
    write_json_atomic(path, obj, indent=1, newline=False)  # the layout's compact JSON


def geometric_features(
    pixel_index: np.ndarray, patch_shape: tuple[int, int], pixel_size: float
) -> list[float]:
    """Perimeter, pixel count, cover ratio, perimeter / surface of a parcel in a patch (or
    any grid), from the flat positions ``row * W + col`` of its pixels (``[n]``) in the
    ``(H, W)`` ``patch_shape``; see :func:`export_pixelsets`."""
    height, width = patch_shape
    flat = np.unique(pixel_index.astype(np.int64))
    if flat.size == 0 or flat.min() < 0 or flat.max() >= height * width:
        raise ValueError(f"pixel_index outside a {height} x {width} patch")
    rows, cols = flat // width, flat % width
    r0, c0 = rows.min(), cols.min()
    box = np.zeros((rows.max() - r0 + 1, cols.max() - c0 + 1), dtype=bool)
    box[rows - r0, cols - c0] = True
    count = int(flat.size)
    shared = int((box[1:] & box[:-1]).sum() + (box[:, 1:] & box[:, :-1]).sum())
    perimeter = (4 * count - 2 * shared) * pixel_size  # edges between the parcel and the rest
    cover = count / box.size
    return [
        float(perimeter),
        float(count),
        float(cover),
        float(perimeter / (count * pixel_size**2)),
    ]


def _patch_shape(meta: Mapping[str, Any], patch_size: int | tuple[int, int] | None) -> Any:
    value = patch_size
    if value is None:
        value = meta.get("patch_shape", meta.get("patch_size"))
    if value is None:
        return None
    if isinstance(value, int | np.integer):
        return (int(value), int(value))
    h, w = value
    return (int(h), int(w))


def _yyyymmdd(days: Tensor, reference: np.datetime64) -> list[int]:
    dates = reference + days.detach().cpu().numpy().astype("timedelta64[D]")
    return [int(str(d).replace("-", "")) for d in dates]


def export_pixelsets(
    dataset: Sequence[Sample] | Dataset[Sample],
    out: str | Path,
    nomenclature_name: str = "label",
    date_layout: Literal["per_parcel", "global", "auto"] = "per_parcel",
    patch_size: int | tuple[int, int] | None = None,
    pixel_size: float = 1.0,
    progress: bool = True,
) -> Path:
    """Write a parcel-mode dataset in the pytorch-psetae pixel-set layout; return ``out``.

    ``dataset`` yields one :class:`~sitsfusion.data.Sample` per parcel, every pixel of it
    (e.g. ``PASTISParcels(root, modalities=..., n_pixels=None)``):
    pixel-set series ``[T, C, N]``, an integer ``label``, dates counted from
    ``meta["reference_date"]`` (or the dataset's ``reference_date`` attribute). Written::

        OUT/DATA/<id>.npy          (T, C, N) every pixel of the parcel, the series' dtype
        OUT/META/labels.json       {nomenclature_name: {"<id>": sample.label}}
        OUT/META/dates.json        per parcel {"<id>": [YYYYMMDD, ...]} or global {"0": ...}
        OUT/META/geomfeat.json     {"<id>": [features]}
        OUT/META/sizes.json        {"<id>": N}

    With several modalities, one such folder per modality: ``OUT/<modality>/{DATA, META}``,
    which :class:`PixelSetDataset` reads back as a multi-sensor dataset
    (``PixelSetDataset(out)``).

    * Ids: ``<patch_id>_<parcel_id>`` from ``meta`` (PASTIS), else ``meta["id"]``, else the
      item's position; they must be unique.
    * Dates: ``"per_parcel"``; ``"global"`` (an error unless every parcel of a modality has the
      same dates); ``"auto"``: global when they are the same, per parcel otherwise.
    * Geometric features: with ``meta["pixel_index"]`` (flat ``row * W + col`` positions of
      the parcel's pixels in its patch) and the patch size (``patch_size``, else
      ``meta["patch_shape"]`` / ``meta["patch_size"]``): the four PSE-TAE features computed
      from the rasterised parcel: perimeter (pixel edges between the parcel and the rest,
      times ``pixel_size``), pixel count, cover ratio (pixel count over the area of its
      bounding box) and perimeter / surface (``surface = count * pixel_size²``). Otherwise the
      pixel count only (one feature). Raw values: standardise them before training.
    * Invalid observations (``mask`` False) are written as zeros, which
      :class:`PixelSetDataset` (``nodata=0``) reads back as invalid.
    * Files are written to a temporary name and renamed (a reader never sees half a file);
      existing files of the same names are replaced.

    Raises:
        ValueError: a sample without label, not a pixel set, with repeated pixels (a
            pixel-sampled dataset: build it with ``n_pixels=None``), without reference date,
            with other modalities than the first; duplicate ids; ``date_layout="global"`` with
            differing dates.
    """
    if date_layout not in ("per_parcel", "global", "auto"):
        raise ValueError(
            f"date_layout must be 'per_parcel', 'global' or 'auto', got {date_layout!r}"
        )
    out = Path(out)
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError("export_pixelsets: the dataset is empty")
    iterator: Iterable[int] = range(n)
    if progress:
        from rich.progress import track

        iterator = track(iterator, description=f"exporting {n} parcels", total=n)
    default_ref = getattr(dataset, "reference_date", None)

    modalities: list[str] | None = None
    folders: dict[str, Path] = {}
    labels: dict[str, int] = {}
    dates: dict[str, dict[str, list[int]]] = {}
    sizes: dict[str, int] = {}
    geomfeat: dict[str, list[float]] = {}
    n_features: int | None = None
    for i in iterator:
        sample = dataset[i]
        meta = sample.meta
        if "patch_id" in meta and "parcel_id" in meta:
            pid = f"{meta['patch_id']}_{meta['parcel_id']}"
        else:
            pid = str(meta.get("id", i))
        where = f"export_pixelsets: sample {i} (id {pid})"
        if pid in labels:
            raise ValueError(f"{where}: duplicate id")
        if sample.label is None or int(sample.label) != sample.label:
            raise ValueError(f"{where}: needs an integer label, got {sample.label!r}")
        if modalities is None:
            modalities = sample.modalities
            for m in modalities:
                folder = out / m if len(modalities) > 1 else out
                (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
                (folder / META_DIR).mkdir(parents=True, exist_ok=True)
                folders[m] = folder
                dates[m] = {}
        elif sorted(sample.modalities) != sorted(modalities):
            raise ValueError(f"{where}: modalities {sample.modalities}, the first had {modalities}")
        ref = meta.get("reference_date", default_ref)
        if ref is None:
            raise ValueError(f"{where}: no meta['reference_date'] to turn days into dates")
        reference = reference_day(ref)
        n_pix: int | None = None
        for m in modalities:
            ts = sample[m]
            if ts.is_patch:
                raise ValueError(f"{where}: modality {m!r} is a patch, not a pixel set [T, C, N]")
            values = ts.values.detach().cpu()
            if ts.mask is not None and not bool(ts.mask.all()):
                mask = ts.mask.detach().cpu()
                mask = mask.view(-1, 1, 1) if mask.ndim == 1 else mask.unsqueeze(1)
                values = values.masked_fill(~mask, 0)
            arr = values.numpy()
            if n_pix is not None and arr.shape[2] != n_pix:
                raise ValueError(f"{where}: modalities differ in their number of pixels")
            n_pix = int(arr.shape[2])
            save_npy_atomic(folders[m] / DATA_DIR / f"{pid}.npy", arr)
            dates[m][pid] = _yyyymmdd(ts.dates, reference)
        assert n_pix is not None
        index = meta.get("pixel_index")
        shape = _patch_shape(meta, patch_size)
        if index is not None:
            index = np.asarray(torch.as_tensor(index).cpu()).reshape(-1)
            if np.unique(index).size != index.size:
                raise ValueError(
                    f"{where}: repeated pixels (a pixel-sampled dataset?); export needs every "
                    "pixel of each parcel: build the dataset with n_pixels=None"
                )
        if index is not None and shape is not None:
            feats = geometric_features(index, shape, pixel_size)
        else:
            feats = [float(n_pix)]
        if n_features is None:
            n_features = len(feats)
        elif len(feats) != n_features:
            raise ValueError(
                f"{where}: {len(feats)} geometric features, earlier parcels had {n_features}"
            )
        labels[pid] = int(sample.label)
        sizes[pid] = n_pix
        geomfeat[pid] = feats

    assert modalities is not None
    for m in modalities:
        meta_dir = folders[m] / META_DIR
        per_parcel = dates[m]
        first = next(iter(per_parcel.values()))
        shared = all(d == first for d in per_parcel.values())
        if date_layout == "global" and not shared:
            odd = next(p for p, d in per_parcel.items() if d != first)
            raise ValueError(
                f"export_pixelsets: date_layout='global' but parcel {odd} of {m} has other dates "
                "than the first parcel; use 'per_parcel' or 'auto'"
            )
        if date_layout == "global" or (date_layout == "auto" and shared):
            dates_obj: Any = {str(k): d for k, d in enumerate(first)}
        else:
            dates_obj = per_parcel
        _write_json(meta_dir / LABELS_FILE, {nomenclature_name: labels})
        _write_json(meta_dir / DATES_FILE, dates_obj)
        _write_json(meta_dir / GEOMFEAT_FILE, geomfeat)
        _write_json(meta_dir / SIZES_FILE, sizes)
    return out
