"""Parcel models in ``sitsfusion map``: every parcel polygon classified once, whole.

A parcel-classification checkpoint (PSE + TAE / L-TAE, any fusion level) does not slide over
the imagery: each parcel of the user's vector file is read from the imagery as the set of its
pixels' time series per sensor, as ``sitsfusion prepare --mode parcels`` reads the training
parcels (:func:`~sitsfusion.geo.pixelsets.prepare_pixelsets`, with ``labelled=False``: a class
column is optional), then goes through what the model saw at evaluation:

* the pixel-set reader in evaluation mode: ``data.n_pixels`` pixels drawn once per parcel
  from ``(train.seed, parcel id)``, as the validation and test parcels; day counts from the
  training data's reference date (the model's positional encoding counts days from it);
* :meth:`~sitsfusion.data.modules.base.SITSDataModule.evaluation_transform`: the config's
  date steps and the normalisation with the training split's statistics (so the training
  data, ``data.root``, must be there);
* the model, in ``torch.inference_mode``; probabilities are the softmax of its logits.

The pixel sets are written into ``work/pixelsets`` (``work``: a folder the caller owns); an
interrupted run started again resumes them tile by tile. Reading the tiles is the costly part:
with ``workers`` or ``scheduler`` the tiles are read by the tasks of a Dask cluster
(:class:`~sitsfusion.mapping.cluster.TileRunner`), as the blocks of a window model's map; the
parcels spanning several tiles are then joined, and all classified, in this process.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sitsfusion.config import ConfigError, ExperimentConfig
from sitsfusion.errors import DatasetError, DataWarning
from sitsfusion.geo.area import MIN_CLEAR, PARCELS_FILE, SENSORS, USER_PARCELS_LAYER
from sitsfusion.geo.grid import DEFAULT_RESOLUTION, Grid

if TYPE_CHECKING:
    import geopandas as gpd

    from sitsfusion.data.modules.base import SITSDataModule
    from sitsfusion.data.readers.pixelset import PixelSetDataset
    from sitsfusion.data.sample import Batch
    from sitsfusion.geo.pixelsets import PixelSetSummary
    from sitsfusion.tasks.base import SupervisedTask

__all__ = ["PIXELSETS", "ParcelPredictions", "map_parcel_model"]

PIXELSETS = "pixelsets"
"""The folder of ``work`` holding the parcels' pixel sets."""


@dataclass(frozen=True)
class ParcelPredictions:
    """The parcels mapped by a parcel model.

    Attributes:
        frame: one row per parcel mapped, by ascending ``parcel_id`` (int64): ``pred_class``
            (int64, 0..K-1), ``pred_name``, ``confidence`` (the largest probability, 0-1),
            ``pixels`` (the parcel's pixels on the grid), ``class_value`` (the file's class
            as text, only when it has a class column), geometry in the grid CRS.
        probabilities: float32 ``[n_parcels, K]``, rows as ``frame``'s, each summing to 1.
        skipped: parcels of the file not mapped (said, not an error): outside the grid,
            smaller than the rasteriser's minimum, or without valid pixels in some sensor.
        synthetic: the imagery is the simulator's (synthetic).
    """

    frame: gpd.GeoDataFrame
    probabilities: np.ndarray
    skipped: int
    synthetic: bool


def map_parcel_model(
    task: SupervisedTask,
    cfg: ExperimentConfig,
    imagery: str | Path,
    parcels: str | Path,
    work: Path,
    *,
    grid: Grid | None = None,
    start: str | None = None,
    end: str | None = None,
    max_cloud: float | None = None,
    min_clear: float = MIN_CLEAR,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    class_column: str | None = None,
    workers: int = 0,
    scheduler: str | None = None,
) -> ParcelPredictions:
    """Classify every parcel of ``parcels`` with the parcel model ``task`` (module docstring).

    Args:
        task: a parcel-classification task (:func:`~sitsfusion.tasks.base.load_task`).
        cfg: its experiment config; ``data`` names the training data (``data.root``), read
            for the normalisation statistics and the reference date.
        imagery: a STAC catalog (or its folder), a GeoTIFF folder or a STAC API URL.
        parcels: the parcels' vector file, labelled or not.
        work: a folder for the pixel sets (``work/pixelsets``, kept: a rerun resumes it).
        grid: the grid to read the parcels on; None: the parcels' bounds in their CRS (their
            UTM zone when not projected) at the training data's resolution (10 m when not
            recorded), as ``prepare --mode parcels``.
        start, end: the first / last date read (inclusive, ``YYYY-MM-DD``).
        max_cloud: drop S2 items above this cloud cover (percent).
        min_clear: the valid fraction of a parcel's pixels for a date to be kept for it; a
            grid resolution or ``min_clear`` other than the training data's (recorded by
            ``prepare --mode parcels``) is said (DataWarning): the model sees other series.
        batch_size: parcels per forward pass; default ``data.batch_size``.
        device: default the config's ``train.accelerator`` (``auto``: CUDA when available).
        progress: show progress bars (reading, classifying).
        class_column: the parcels' class column, kept as ``class_value`` in the frame; None:
            the one column named like a class column, if any.
        workers: processes of a local Dask cluster reading the tiles, one thread each (0: in
            this process, without Dask).
        scheduler: the address of a running Dask scheduler reading the tiles instead
            (``workers`` then unused); its workers must see the imagery and ``work`` at the
            same paths.

    Returns:
        :class:`ParcelPredictions`.

    Raises:
        ConfigError: not a parcel checkpoint or config, modalities that are not imagery
            sensors, missing training data, a batch size or workers below 1 / 0 (one line).
        CheckpointError: the checkpoint's channels or classes differ from the training data's.
        DatasetError: unreadable parcels or imagery (one line naming the file).
    """
    from sitsfusion.tasks.base import check_same_dataset
    from sitsfusion.training import datamodule

    _check(task, cfg, batch_size)
    if workers < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}")
    resolution = _as_prepared(cfg, grid, min_clear)
    dm = datamodule(cfg)
    transform = dm.evaluation_transform()
    check_same_dataset(task, dm.channels, dm.class_names, "the checkpoint")
    summary = _pixel_sets(
        imagery,
        parcels,
        Path(work) / PIXELSETS,
        grid=grid,
        resolution=resolution,
        class_column=class_column,
        sensors=list(cfg.data.modalities),
        start=start,
        end=end,
        max_cloud=max_cloud,
        min_clear=min_clear,
        progress=progress,
        run_tiles=_tile_runner(workers, scheduler),
    )
    reader = _evaluation_reader(cfg, dm, summary.out)
    from sitsfusion.training import inference_device

    dev = inference_device(cfg, device)
    task.eval().to(dev)
    unread: list[str] = []
    rows, probabilities = _classify(
        task, reader, transform, batch_size or cfg.data.batch_size, dev, progress, unread
    )
    if unread:
        warnings.warn(
            f"{len(unread)} parcel(s) left out, their pixel sets unreadable: {unread[0]}",
            DataWarning,
            stacklevel=2,
        )
    names = [str(n) for n in task.hparams["class_names"]]
    frame = _frame(summary.out, reader, rows, probabilities, names)
    skipped = summary.n_small + summary.n_no_data + summary.n_outside + len(reader) - len(rows)
    return ParcelPredictions(frame, probabilities, skipped, summary.synthetic)


def _check(task: SupervisedTask, cfg: ExperimentConfig, batch_size: int | None) -> None:
    """The refusals before any work, one line each (ConfigError)."""
    if task.task_name != "parcel":
        raise ConfigError(
            f"the checkpoint holds a {task.task_name!r} model; this path maps parcel "
            "classification checkpoints (task: parcel)"
        )
    if cfg.task != "parcel":
        raise ConfigError(f"task: {cfg.task!r}; a parcel checkpoint needs its parcel config")
    foreign = [m for m in cfg.data.modalities if m not in SENSORS]
    if foreign:
        raise ConfigError(
            f"data.modalities: {foreign} are not imagery sensors; a map reads {', '.join(SENSORS)}"
        )
    trained = list(task.hparams["channels"])
    if sorted(trained) != sorted(cfg.data.modalities):
        raise ConfigError(
            f"data.modalities: {list(cfg.data.modalities)}, the checkpoint was trained on {trained}"
        )
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    missing = [p for p in cfg.data.inputs() if p and not Path(p).exists()]
    if missing:
        key = "data.root" if missing[0] == cfg.data.root else "data.*_roots"
        raise ConfigError(
            f"{key}: {missing[0]} not found; mapping needs the training data (its "
            "normalisation statistics and reference date)"
        )


def _as_prepared(cfg: ExperimentConfig, grid: Grid | None, min_clear: float) -> float:
    """The pixel size of the training data (``data.root`` prepared by ``prepare --mode
    parcels`` records it; else 10 m, the Sentinel-2 bands' and prepare's default); a grid
    resolution or ``min_clear`` differing from the recorded ones said in a DataWarning."""
    from sitsfusion.outputs import read_mark

    recorded = ((read_mark(cfg.data.root) if cfg.data.root else None) or {}).get("pixelsets")
    recorded = recorded if isinstance(recorded, dict) else {}
    resolution = float(recorded.get("resolution", DEFAULT_RESOLUTION))
    differ = []
    if grid is not None and grid.resolution != resolution and "resolution" in recorded:
        differ.append(f"a {grid.resolution:g} m grid, not {resolution:g} m")
    if recorded.get("min_clear", min_clear) != min_clear:
        differ.append(f"min_clear {min_clear:g}, not {recorded['min_clear']:g}")
    if differ:
        warnings.warn(
            f"{cfg.data.root} was prepared otherwise than this map ({'; '.join(differ)}): the "
            "model sees series unlike those it was trained on",
            DataWarning,
            stacklevel=3,
        )
    return resolution


def _tile_runner(workers: int, scheduler: str | None) -> Any:
    """``run_tiles`` of :func:`~sitsfusion.geo.pixelsets.prepare_pixelsets`: None (in this
    process) for ``workers=0`` without a scheduler, else the Dask cluster's."""
    if workers == 0 and scheduler is None:
        return None
    from sitsfusion.mapping.cluster import TileRunner

    return TileRunner(workers, scheduler)


def _pixel_sets(
    imagery: str | Path, parcels: str | Path, out: Path, **kwargs: Any
) -> PixelSetSummary:
    """:func:`~sitsfusion.geo.pixelsets.prepare_pixelsets` of the parcels to classify into
    ``out``: resumed when an interrupted run of the same arguments left it, replaced when an
    earlier run of other arguments did."""
    from sitsfusion.geo.pixelsets import prepare_pixelsets
    from sitsfusion.outputs import OutputExistsError

    args = {"labelled": False, "command": "map", **kwargs}
    try:
        return prepare_pixelsets(imagery, parcels, out, **args)
    except OutputExistsError:  # other arguments: the pixel sets of an earlier map
        return prepare_pixelsets(imagery, parcels, out, overwrite=True, **args)


def _evaluation_reader(cfg: ExperimentConfig, dm: SITSDataModule, root: Path) -> PixelSetDataset:
    """The pixel sets of ``root`` as the data module reads its evaluated parcels
    (:class:`~sitsfusion.data.modules.pixelset.PixelSetDataModule`): fixed pixels from the
    data module's seed, the training data's reference date."""
    from sitsfusion.data.readers.pixelset import PixelSetDataset

    data = cfg.data
    reference = data.reference_date
    if reference is None:  # one training root (several need data.reference_date)
        dm.setup()
        reference = getattr(getattr(dm.train, "dataset", None), "reference_date", None)
    if reference is None:
        raise ConfigError("data.reference_date: the training data give none; set it")
    return PixelSetDataset(
        root,
        modality=data.modalities[0],
        n_pixels=data.n_pixels,
        sample_pixels="fixed",
        seed=dm.seed,
        reference_date=reference,
        duplicate_dates=data.duplicate_dates,
    )


def _batches(samples: Any, size: int, unread: list[str]) -> Iterator[tuple[list[int], Batch]]:
    """Batches of ``size`` samples with their indices; a parcel that cannot be read (e.g. its
    sensors hold data on no common pixel) is left out, its error appended to ``unread``."""
    from sitsfusion.data.sample import collate

    rows: list[int] = []
    items = []
    for i in range(len(samples)):
        try:
            items.append(samples[i])
        except DatasetError as exc:
            unread.append(str(exc))
            continue
        rows.append(i)
        if len(items) == size:
            yield rows, collate(items)
            rows, items = [], []
    if items:
        yield rows, collate(items)


def _classify(
    task: SupervisedTask,
    reader: PixelSetDataset,
    transform: Any,
    batch_size: int,
    device: torch.device,
    progress: bool,
    unread: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """The class probabilities of the parcels of ``reader`` (those it cannot read: their
    errors appended to ``unread``).

    Returns:
        ``rows`` int64 ``[P]``: the reader's indices classified (ascending), and float32
        ``[P, K]`` probabilities (softmax of the logits ``[B, K]``).
    """
    from sitsfusion.data.modules.base import ReaderSubset

    samples = ReaderSubset(reader, np.arange(len(reader)), transform)
    batches: Any = _batches(samples, batch_size, unread)
    if progress:
        from rich.progress import track

        batches = track(batches, "classifying", total=-(-len(samples) // batch_size))
    rows: list[int] = []
    probabilities = []
    with torch.inference_mode():
        for index, batch in batches:
            logits = task(batch.to(device)).logits  # [B, K]
            probabilities.append(logits.float().softmax(dim=1).cpu().numpy())
            rows += index
    k = len(task.hparams["class_names"])
    stacked = np.concatenate(probabilities) if probabilities else np.zeros((0, k))
    return np.asarray(rows, dtype=np.int64), stacked.astype(np.float32)


def _frame(
    root: Path,
    reader: PixelSetDataset,
    rows: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
) -> gpd.GeoDataFrame:
    """The parcels classified (``rows`` of ``reader``, probabilities ``[P, K]``) with their
    polygons from ``root``'s ``parcels.gpkg`` (grid CRS), in the reader's order: ascending
    parcel ids."""
    import geopandas as gpd

    polygons = gpd.read_file(root / PARCELS_FILE, layer=USER_PARCELS_LAYER)
    polygons = polygons.set_index(polygons["parcel_id"].astype(np.int64))
    table = reader.parcels.iloc[rows]
    ids = table["id"].astype(np.int64).to_numpy()
    best = probabilities.argmax(axis=1) if len(rows) else np.zeros(0, dtype=np.int64)
    columns: dict[str, Any] = {
        "parcel_id": ids,
        "pred_class": best.astype(np.int64),
        "pred_name": [class_names[c] for c in best],
        "confidence": probabilities.max(axis=1, initial=0.0).astype(np.float64),
        "pixels": table["n_pixels"].to_numpy(np.int64),
    }
    values = polygons.loc[ids, "class_value"]
    if not values.fillna("").eq("").all():  # the file has a class column
        columns["class_value"] = values.to_numpy()
    return gpd.GeoDataFrame(
        columns, geometry=polygons.loc[ids].geometry.to_numpy(), crs=polygons.crs
    )
