"""Inference over whole datasets: a trained segmentation model → maps and parcel tables.

:func:`predict_maps` runs a checkpoint over every sample of a split (or of the whole
dataset), stitches the windows of a patch back together (e.g. the 36 sub-patches of a
Sen4AgriNet patch) and writes, per patch, a Cloud-Optimized GeoTIFF with two uint8 bands —
``class`` (255 = no data) and ``confidence`` (the winning class's probability in percent) — and,
when the samples carry parcel ids, one GeoPackage of parcels with their majority predicted
class (and the reference class when labels are known), one layer per CRS. Georeferencing
comes from the samples
(``meta["crs"]``, ``meta["transform"]``); a dataset without it is refused with a clear error.

When the samples lie on one pixel grid (:mod:`sitsfusion.inference.area_maps`), their
probabilities are also blended into ``mosaic.tif`` (one per CRS), and the parcels are those
of the area, aggregated once from the mosaic instead of once per patch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from sitsfusion.config import ConfigError, ExperimentConfig
from sitsfusion.data.sample import Sample, collate
from sitsfusion.inference.area_maps import AreaMaps
from sitsfusion.inference.maps import parcel_polygons, window_origin, write_cog, write_parcels
from sitsfusion.inference.precision import PRECISIONS, prepare_for_inference
from sitsfusion.outputs import check_output_folder, mark_complete, output_folder

__all__ = [
    "INSTANCES_FILE",
    "INSTANCES_FOLDER",
    "MAPS_FOLDER",
    "NODATA",
    "PARCELS_FILE",
    "PredictionResult",
    "predict_maps",
]

NODATA = 255
"""Class value of pixels without a prediction (outside the predicted windows)."""
MAPS_FOLDER = "maps"
"""The output layout: ``<out>/maps/<patch>.tif`` (one COG per patch) ..."""
PARCELS_FILE = "parcels.gpkg"
"""... and ``<out>/parcels.gpkg`` (the parcels of every patch, when the samples have them)."""
INSTANCES_FOLDER = "instances"
"""Panoptic checkpoints: ``<out>/instances/<patch>.tif``, the predicted instance ids (uint32,
0 = none) ..."""
INSTANCES_FILE = "instances.gpkg"
"""... and ``<out>/instances.gpkg``, one polygon per predicted instance."""


@dataclass
class PredictionResult:
    """What :func:`predict_maps` wrote."""

    maps: list[Path] = field(default_factory=list)
    maps_dir: Path | None = None  # <out>/maps when maps were written
    mosaics: list[Path] = field(default_factory=list)  # <out>/mosaic*.tif (one per grid)
    notes: list[str] = field(default_factory=list)  # why some samples got no mosaic
    parcels: Path | None = None
    layers: list[str] = field(default_factory=list)  # GeoPackage layers (one per CRS)
    n_samples: int = 0
    n_parcels: int = 0
    instance_maps: list[Path] = field(default_factory=list)  # panoptic: <out>/instances/*.tif
    instances: Path | None = None  # panoptic: <out>/instances.gpkg
    n_instances: int = 0


@dataclass
class _Canvas:
    """One patch being assembled from its windows."""

    shape: tuple[int, int]
    crs: str
    transform: tuple[float, ...]
    expected: int  # windows to wait for
    group: tuple[str, Any]  # the mosaic it belongs to: (crs, year)
    cls: np.ndarray = field(init=False)
    conf: np.ndarray = field(init=False)
    parcels: np.ndarray = field(init=False)
    truth: np.ndarray = field(init=False)
    panoptic: bool = False
    inst: np.ndarray = field(init=False)  # panoptic: instance ids unique in the patch, 0 = none
    next_id: int = 0  # panoptic: the ids given so far
    seen: int = 0

    def __post_init__(self) -> None:
        self.cls = np.full(self.shape, NODATA, dtype=np.uint8)
        self.conf = np.zeros(self.shape, dtype=np.uint8)
        self.parcels = np.zeros(self.shape, dtype=np.int64)
        self.truth = np.full(self.shape, -1, dtype=np.int64)
        self.inst = np.zeros(self.shape if self.panoptic else (0, 0), dtype=np.uint32)

    def add_instances(self, rows: slice, cols: slice, ids: np.ndarray) -> None:
        """Paste one window's instance ids ``[h, w]`` (1, 2, ... in the window, 0 = none),
        renumbered after those of the patch's earlier windows."""
        found = ids > 0
        self.inst[rows, cols] = np.where(found, ids + self.next_id, 0)
        self.next_id += int(ids.max()) if found.any() else 0


def _georeference(meta: Mapping[str, Any]) -> tuple[str, tuple[float, ...]]:
    crs, transform = meta.get("crs"), meta.get("transform")
    if crs is None or transform is None:
        raise ConfigError(
            f"sample {meta.get('id')!r} has no georeferencing (meta 'crs' and 'transform'); "
            "maps can be written for readers that provide it (PASTIS, Sen4AgriNet, MultiSenGE)"
        )
    return str(crs), tuple(float(v) for v in transform)


def _batches(
    task: Any, dataset: Dataset[Sample], batch_size: int, device: torch.device
) -> Iterator[tuple[Any, torch.Tensor, torch.Tensor | None]]:
    """``(batch, probabilities [B, K, H, W], instance ids [B, H, W] or None)``: a semantic
    model's class probabilities; a panoptic model's are those of each pixel's instance
    (one-hot background outside every instance) with its instance ids (1, 2, ... per sample,
    0 = none)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    with torch.inference_mode():
        for batch in loader:
            out = task(batch.to(device))
            if task.task_name == "panoptic":
                yield batch, out.panoptic_semantic.float().cpu(), out.panoptic_instance.cpu()
            else:
                yield batch, out.logits.float().softmax(dim=1).cpu(), None


def _parcel_rows(canvas: _Canvas, patch: str, class_names: list[str], zones: str = "parcel") -> Any:
    """The parcels (``zones="parcel"``: the dataset's) or the predicted instances
    (``"instance"``) of one patch: polygons, majority predicted / reference class, mean
    confidence, pixels."""
    zone_ids = canvas.parcels if zones == "parcel" else canvas.inst.astype(np.int64)
    frame = parcel_polygons(zone_ids, canvas.crs, canvas.transform)
    if zones != "parcel":
        frame = frame.rename(columns={"parcel": zones})
    if frame.empty:
        return frame
    ids = zone_ids.ravel()
    keep = (ids > 0) & (canvas.cls.ravel() != NODATA)
    uniq, index = np.unique(ids[keep], return_inverse=True)
    k = len(class_names)
    pred = np.bincount(index * k + canvas.cls.ravel()[keep], minlength=uniq.size * k)
    pred = pred.reshape(uniq.size, k)
    pixels = pred.sum(axis=1)
    conf = np.bincount(index, weights=canvas.conf.ravel()[keep], minlength=uniq.size)
    truth = canvas.truth.ravel()[keep]
    known = truth >= 0
    ref = np.bincount(index[known] * k + truth[known], minlength=uniq.size * k).reshape(-1, k)
    polygons = frame[zones].to_numpy(np.int64)
    at = np.minimum(np.searchsorted(uniq, polygons), max(uniq.size - 1, 0))
    found = uniq[at] == polygons if uniq.size else np.zeros(polygons.size, dtype=bool)
    frame = frame[found].copy()
    at = at[found]
    best = pred.argmax(axis=1)[at]
    frame.insert(0, "patch", patch)
    frame["pred_class"] = best
    frame["pred_name"] = [class_names[c] for c in best]
    frame["confidence"] = conf[at] / np.maximum(pixels[at], 1) / 100.0
    frame["pixels"] = pixels[at]
    has_ref = ref.sum(axis=1)[at] > 0
    ref_class = np.where(has_ref, ref.argmax(axis=1)[at], -1)
    frame["ref_class"] = ref_class
    frame["ref_name"] = [class_names[c] if c >= 0 else "" for c in ref_class]
    return frame


def predict_maps(
    cfg: ExperimentConfig,
    checkpoint: str | Path,
    out: str | Path,
    split: str = "test",
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    overwrite: bool = False,
    smooth: float | None = None,
    mmu: int | None = None,
    precision: str = "fp32",
) -> PredictionResult:
    """Predict every sample of ``split`` with ``checkpoint`` and write maps and parcels.

    Args:
        cfg: the experiment config (its data section says what to read; the model comes
            from the checkpoint, which must be a semantic segmentation checkpoint).
        checkpoint: a ``best.ckpt`` written by ``sitsfusion fit``.
        out: output folder: ``maps/<patch>.tif``, ``mosaic.tif`` (samples on one pixel grid;
            ``mosaic_EPSG_<code>.tif`` per CRS when several) and ``parcels.gpkg`` (those of
            the area with a mosaic, else those of each patch); absent or empty, or
            maps sitsfusion wrote whose writing was interrupted (replaced), or (``overwrite``)
            any maps folder sitsfusion wrote, cleared first so that no map of an earlier run
            stays beside the new ones. Locked while written; its mark
            (:data:`~sitsfusion.outputs.MARK`) says ``complete: true`` only once every map and
            the parcels are written.
        split: ``"test"``, ``"val"``, ``"train"`` or ``"all"`` (every sample of the dataset).
        batch_size: default the config's.
        device: default CUDA when available, else CPU.
        progress: show a progress bar.
        overwrite: replace the maps of an earlier ``predict`` in ``out``.
        smooth: smooth the mosaic's class probabilities with a Gaussian of this sigma in
            pixels before the arg-max (:mod:`~sitsfusion.inference.postprocess`); None: not.
        mmu: minimum mapping unit of the mosaic's class band, in pixels; None: none. The
            patch maps are written as predicted.
        precision: ``"fp32"`` or ``"bf16"``: the model's inference path
            (:func:`~sitsfusion.inference.precision.prepare_for_inference`; bf16 agrees with
            fp32 on >= 99 % of the pixels and is about 2-3x faster on a CPU with bf16 units).

    Raises:
        ConfigError: a parcel-classification checkpoint, an unknown split, samples without
            georeferencing, a batch size below 1.
        OutputError: ``out`` is a file, under a file, not writable, is / contains / lies in
            the dataset or holds the checkpoint, a folder sitsfusion did not create, or one
            another process is writing.
    """
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if smooth is not None and not smooth > 0:
        raise ConfigError(f"smooth (sigma in pixels) must be > 0, got {smooth}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if mmu is not None and mmu < 1:
        raise ConfigError(f"mmu (pixels) must be >= 1, got {mmu}")
    inputs = (*cfg.data.inputs(), checkpoint)
    claim = {"kind": "maps", "overwrite": overwrite, "inputs": inputs, "owned": _old_maps_folder}
    check_output_folder(out, **claim, replace_incomplete=True)  # before the model is loaded
    from sitsfusion.tasks.base import check_same_dataset, load_task
    from sitsfusion.training import datamodule, is_synthetic

    dev = torch.device(device) if device is not None else None
    if dev is None:
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    task = load_task(checkpoint, map_location=dev)
    if task.task_name not in ("semantic", "panoptic"):
        raise ConfigError(
            f"{checkpoint}: a {task.task_name!r} checkpoint; maps are written by semantic "
            "and panoptic segmentation models"
        )
    task.eval().to(dev)
    prepare_for_inference(task.model, precision)  # type: ignore[arg-type]
    class_names = list(task.hparams["class_names"])
    dm = datamodule(cfg)
    dataset = dm.predict_dataset(split)
    check_same_dataset(task, dm.channels, dm.class_names, checkpoint)
    tags = {
        "classes": json.dumps(dict(enumerate(class_names))),
        "nodata_class": NODATA,
        "config": cfg.name,
        "checkpoint": str(checkpoint),
        "synthetic": str(is_synthetic(cfg.data.root)).lower(),
    }
    out = Path(out)
    with output_folder(
        out,
        **claim,
        replace_incomplete=True,
        command=f"predict {cfg.name} {split}",
        checkpoint=str(checkpoint),
    ):
        size = batch_size or cfg.data.batch_size
        area = AreaMaps(Path(cfg.data.root), class_names, smooth=smooth, mmu=mmu)
        result = _predict(task, class_names, dataset, out, tags, size, dev, progress, area)
        mark_complete(
            out, maps=len(result.maps), mosaics=len(result.mosaics), parcels=result.n_parcels
        )
    return result


def _old_maps_folder(folder: Path) -> bool:
    """Maps written before sitsfusion marked its folders: only ``maps/*.tif`` and
    ``parcels.gpkg``."""
    names = {p.name for p in folder.iterdir()}
    maps = folder / MAPS_FOLDER
    return (
        names <= {MAPS_FOLDER, PARCELS_FILE}
        and maps.is_dir()
        and all(p.suffix == ".tif" for p in maps.iterdir())
    )


def _predict(
    task: Any,
    class_names: list[str],
    dataset: Dataset[Sample],
    out: Path,
    tags: Mapping[str, Any],
    batch_size: int,
    dev: torch.device,
    progress: bool,
    area: AreaMaps,
) -> PredictionResult:
    """Predict ``dataset`` with ``task`` (``batch_size`` samples at a time on ``dev``) and
    write the maps (GeoTIFF ``tags``), the mosaics gathered by ``area`` and the parcels into
    ``out``."""
    result = PredictionResult()
    canvases: dict[str, _Canvas] = {}
    frames: list[tuple[tuple[str, Any], Any]] = []  # (mosaic group, parcels of one patch)
    predicted_rows: list[Any] = []  # panoptic: the predicted instances of each patch

    def flush(patch: str) -> None:
        canvas = canvases.pop(patch)
        path = out / MAPS_FOLDER / f"{patch}.tif"
        write_cog(
            path,
            np.stack([canvas.cls, canvas.conf]),
            canvas.crs,
            canvas.transform,
            nodata=NODATA,
            band_names=("class", "confidence"),
            tags=tags,
        )
        result.maps.append(path)
        result.maps_dir = path.parent
        if canvas.parcels.any():
            frames.append((canvas.group, _parcel_rows(canvas, patch, class_names)))
        if canvas.panoptic:
            ipath = out / INSTANCES_FOLDER / f"{patch}.tif"
            write_cog(
                ipath,
                canvas.inst[None],
                canvas.crs,
                canvas.transform,
                nodata=0,
                band_names=("instance",),
                tags=tags,
            )
            result.instance_maps.append(ipath)
            if canvas.inst.any():
                predicted_rows.append(_parcel_rows(canvas, patch, class_names, "instance"))

    batches: Any = _batches(task, dataset, batch_size, dev)
    if progress:
        from rich.progress import track

        n_batches = -(-len(dataset) // batch_size)
        batches = track(batches, description="predicting", total=n_batches)
    ignore = task.cfg.model.ignore_index
    for batch, probs, predicted in batches:
        conf, cls = probs.max(dim=1)
        for i, meta in enumerate(batch.meta):
            crs, transform = _georeference(meta)
            patch = str(meta.get("patch", meta.get("id")))
            h, w = cls.shape[-2:]
            r0, c0, _ = meta.get("window", (0, 0, h))
            shape = tuple(meta.get("patch_shape", (h, w)))
            if patch not in canvases:
                n_windows = (shape[0] // h) * (shape[1] // w)
                origin = window_origin(transform, r0, c0)
                group = (crs, meta.get("year"))
                canvases[patch] = _Canvas(
                    shape, crs, origin, n_windows, group, panoptic=predicted is not None
                )
            canvas = canvases[patch]
            rows, cols = slice(r0, r0 + h), slice(c0, c0 + w)
            canvas.cls[rows, cols] = cls[i].numpy().astype(np.uint8)
            canvas.conf[rows, cols] = np.rint(100.0 * conf[i].numpy()).astype(np.uint8)
            if predicted is not None:
                canvas.add_instances(rows, cols, predicted[i].numpy().astype(np.int64))
            instances = truth = None
            if batch.instances is not None:
                instances = batch.instances[i].cpu().numpy().astype(np.int64)
                canvas.parcels[rows, cols] = instances
            if batch.semantic is not None:
                truth = batch.semantic[i].cpu().numpy().astype(np.int64)
                if ignore is not None:
                    truth = np.where(truth == ignore, -1, truth)
                canvas.truth[rows, cols] = truth
            parcel_ids = area.parcel_ids(meta, rows, cols, instances)
            area.add(meta, crs, transform, probs[i].numpy(), parcel_ids, truth)
            canvas.seen += 1
            result.n_samples += 1
            if canvas.seen >= canvas.expected:
                flush(patch)
    for patch in list(canvases):  # patches of which the split holds only some windows
        flush(patch)
    mosaics = area.write(out, tags, NODATA)
    result.mosaics = [m.path for m in mosaics]
    result.notes = area.notes()
    # Parcels: those of each mosaic (aggregated once over the area), else those of each patch.
    layers = {area.layer_name(m.key): m.parcels for m in mosaics if m.parcels is not None}
    in_area = {m.key for m in mosaics if m.parcels is not None}
    per_patch = [f for key, f in frames if key not in in_area and not f.empty]
    if per_patch:
        layers |= _by_crs(per_patch, "parcels", several=len({key[0] for key in area.groups}) > 1)
    layers = {name: frame for name, frame in layers.items() if not frame.empty}
    if layers:
        result.parcels = write_parcels(out / PARCELS_FILE, layers)
        result.layers = list(layers)
        result.n_parcels = sum(len(f) for f in layers.values())
    if predicted_rows:
        layer = _by_crs(predicted_rows, "instances")
        result.instances = write_parcels(out / INSTANCES_FILE, layer)
        result.n_instances = sum(len(f) for f in predicted_rows)
    return result


def _by_crs(frames: list[Any], name: str, several: bool | None = None) -> dict[str, Any]:
    """``frames`` concatenated per CRS, as GeoPackage layers: ``name``, or ``name_<EPSG
    code>`` per CRS when there are ``several`` (default: when ``frames`` are in several).
    Patches of several UTM zones are never reprojected: areas and shapes stay exact."""
    import pandas as pd

    groups: dict[str, list[Any]] = {}
    for frame in frames:
        groups.setdefault(frame.crs.to_string(), []).append(frame)
    several = len(groups) > 1 if several is None else several
    return {
        (f"{name}_{crs.replace(':', '_')}" if several else name): pd.concat(
            group, ignore_index=True
        )
        for crs, group in groups.items()
    }
