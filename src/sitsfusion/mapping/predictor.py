"""One block of a scene, predicted: :class:`BlockPredictor`.

A worker builds one predictor (the model loaded once, the imagery opened lazily once) and
runs it on block after block: the block's extent is read from the imagery in one read of
every acquisition (its digital numbers, kept as read), each window is turned into the sample
the model saw in training (its values and clear views made from those numbers), the
windows go through the model in batches, and the block's **weighted sums** of class
probabilities are written to its result file (``<results>/<row>_<col>.npz``, atomically).
The sums, not the probabilities, so that neighbouring blocks can be added where their windows
overlap (:mod:`sitsfusion.mapping.assemble`).

Each window becomes the sample a ``prepare``-d patch would have been (``docs/own-area.md``):
per sensor the dates with at least ``min_clear`` of the window's pixels valid (else the
clearest one), values in PASTIS units (S2 reflectance x 10^4, S1 dB VV, VH, VV/VH; 0 where
not valid), days since the training data's reference date; then the training data module's
evaluation transforms (:meth:`~sitsfusion.data.modules.base.SITSDataModule.evaluation_transform`:
date steps, resampling, the training normalisation).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sitsfusion.config import ConfigError
from sitsfusion.data.sample import Sample, TimeSeries, collate
from sitsfusion.geo.area import MIN_CLEAR, Imagery, pastis_values, select_dates
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.imagery import in_db
from sitsfusion.geo.raw import RawBlock, window_series
from sitsfusion.inference.mosaic import patch_weights
from sitsfusion.io import atomic_path
from sitsfusion.mapping.windows import Block, Window

__all__ = [
    "MAP_TASKS",
    "BlockPredictor",
    "BlockResult",
    "MapSpec",
    "TrainingView",
    "read_result",
]

MAP_TASKS = ("semantic", "panoptic")
"""Tasks mapped window by window (parcel models go through the parcels:
:mod:`sitsfusion.mapping.parcel_models`)."""


@dataclass(frozen=True)
class TrainingView:
    """What the windows take from the training data (computed once, by the command's
    process, and sent to the workers: they never open the training data).

    Attributes:
        transform: the data module's evaluation transforms (date steps, normalisation).
        reference_date: the origin of the training samples' day counts (``YYYY-MM-DD``).
        window: the side of the training samples in pixels.
    """

    transform: Any
    reference_date: str
    window: int


@dataclass(frozen=True)
class MapSpec:
    """What every worker needs to predict blocks (plain values: sent to the workers).

    Attributes:
        config: the experiment config as a dict (``ExperimentConfig.to_dict()``).
        checkpoint: the trained model.
        imagery: a STAC catalog / GeoTIFF folder path or a STAC API URL.
        grid: the scene's grid.
        results: the folder of the block results.
        window, overlap: window side and overlap in pixels.
        start, end, max_cloud, min_clear: which acquisitions and dates (as ``prepare``).
        precision: ``fp32`` or ``bf16``. device: ``cpu``, ``cuda``, ...
        batch_size: windows per forward pass. threads: torch threads of a worker.
        training: what the windows take from the training data (None: read from the config's
            data module).
        found: ``{sensor: SensorSource}``, the imagery's items / files found once (None: found
            from ``imagery``).
    """

    config: dict[str, Any]
    checkpoint: str
    imagery: str
    grid: Grid
    results: str
    window: int
    overlap: int
    start: str | None = None
    end: str | None = None
    max_cloud: float | None = None
    min_clear: float = MIN_CLEAR
    precision: str = "fp32"
    device: str = "cpu"
    batch_size: int = 4
    threads: int = 1
    training: TrainingView | None = None
    found: dict[str, Any] | None = None

    def record(self) -> dict[str, Any]:
        """What decides the block results (a resumed run must have the same)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["grid"] = {
            "crs": self.grid.crs,
            "resolution": self.grid.resolution,
            "bounds": list(self.grid.bounds),
        }
        for key in ("results", "device", "batch_size", "threads", "training", "found"):
            out.pop(key)  # where and how fast, or derived from the rest
        return out


@dataclass
class BlockResult:
    """A block's predictions: ``sums`` float32 ``[K, h, w]`` (the windows' probabilities times
    their weights, summed) and ``weights`` float32 ``[h, w]`` over the block's extent, whose
    first pixel is ``(r0, c0)``; seconds spent in the model (``forward_seconds``), reading the
    block (``read_seconds``) and making its windows' samples (``sample_seconds``)."""

    r0: int
    c0: int
    sums: np.ndarray
    weights: np.ndarray
    forward_seconds: float = 0.0
    read_seconds: float = 0.0
    sample_seconds: float = 0.0


def read_result(path: Path) -> BlockResult:
    """A block result file written by :meth:`BlockPredictor.run`."""
    with np.load(path) as data:
        r0, c0 = (int(v) for v in data["origin"])
        seconds = [float(v) for v in data["seconds"]]  # 2 values in files of earlier versions
        return BlockResult(r0, c0, data["sums"], data["weights"], *seconds)


@dataclass
class BlockPredictor:
    """The model and the imagery of a map, ready to predict blocks (built once per worker).

    Raises (at construction):
        CheckpointError: an unreadable checkpoint, or one trained on other data than the
            config's. ConfigError: a parcel-classification checkpoint (mapped through the
            parcels), training data without a reference date. DatasetError: imagery without
            a sensor the model needs.
    """

    spec: MapSpec
    task: Any = field(default=None, repr=False)
    """The task already loaded from ``spec.checkpoint`` (None: loaded here)."""
    training: TrainingView = field(init=False, repr=False)
    transform: Any = field(init=False, repr=False)
    reference: np.datetime64 = field(init=False)
    device: torch.device = field(init=False)
    num_classes: int = field(init=False)
    class_names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        from sitsfusion.inference.precision import prepare_for_inference
        from sitsfusion.tasks.base import load_task

        spec = self.spec
        torch.set_num_threads(spec.threads)
        self.device = torch.device(spec.device)
        task = (
            self.task
            if self.task is not None
            else load_task(spec.checkpoint, map_location=self.device)
        )
        if task.task_name not in MAP_TASKS:
            raise ConfigError(
                f"{spec.checkpoint}: a {task.task_name!r} checkpoint is mapped through the "
                "parcels (--parcels); windows are for semantic / panoptic models"
            )
        task.eval().to(self.device)
        prepare_for_inference(task.model, spec.precision)  # type: ignore[arg-type]
        self.task = task
        self.training = spec.training or _training_view(spec, task)
        self.transform = self.training.transform
        self.reference = np.datetime64(self.training.reference_date, "D")
        self.class_names = list(task.hparams["class_names"])
        self.num_classes = len(self.class_names)
        self._imagery = Imagery.of(spec.imagery)
        self._cubes: dict[str, Any] | None = None
        self._found: dict[str, Any] = dict(spec.found or {})

    @property
    def cubes(self) -> dict[str, Any]:
        """``{sensor: lazy cube}`` on the spec's whole grid (opened at first use:
        :meth:`open_imagery`)."""
        if self._cubes is None:
            self.open_imagery()
        return self._cubes  # type: ignore[return-value]

    @property
    def synthetic(self) -> bool:
        """The imagery is the simulator's."""
        return self._imagery.synthetic(self.cubes)

    def open_imagery(self) -> None:
        """Find the items / files of the sensors the model needs over the spec's grid, once
        (:meth:`~sitsfusion.geo.area.Imagery.find`), and open them lazily (nothing read).

        Raises:
            DatasetError: imagery without a sensor, not overlapping the grid, unreadable.
        """
        spec = self.spec
        sensors = list(self.task.hparams["channels"])
        self._found = self._found or self._imagery.find(
            spec.grid, sensors, spec.start, spec.end, spec.max_cloud
        )
        self._cubes = self._imagery.load(spec.grid, sensors, None, found=self._found)

    @property
    def found(self) -> dict[str, Any]:
        """``{sensor: SensorSource}`` of the imagery (found at :meth:`open_imagery`)."""
        if self._cubes is None:
            self.open_imagery()
        return self._found

    def block_raw(self, block: Block) -> dict[str, RawBlock]:
        """``{sensor: RawBlock}``: the digital numbers of ``block``'s extent alone, read now
        into memory (no Dask inside a worker), each file read once, only over the block
        (:meth:`~sitsfusion.geo.area.Imagery.read_raw`); its windows make their values from
        them (:meth:`window_sample`)."""
        if self._cubes is None:
            self.open_imagery()
        with self._imagery.reading(Path(self.spec.results)):
            return self._imagery.read_raw(self.spec.grid, self._found, block.extent)

    def window_sample(
        self, data: dict[str, RawBlock], window: Window, origin: tuple[int, int]
    ) -> Sample:
        """The sample of ``window`` from the block's digital numbers ``data`` (read at
        ``origin``): per sensor, the window's values and clear views
        (:func:`~sitsfusion.geo.raw.window_series`), its dates with at least ``min_clear`` of
        the pixels clear, in PASTIS units, days from the training data's reference date; then
        the training data's evaluation transforms."""
        ys = slice(window.r0 - origin[0], window.r0 - origin[0] + window.size)
        xs = slice(window.c0 - origin[1], window.c0 - origin[1] + window.size)
        series = {}
        for sensor, raw in data.items():
            spec = self._found[sensor].spec
            values, valid, days, _ = window_series(
                raw, ys, xs, optical=spec.is_optical, to_db=in_db(spec)
            )
            keep = select_dates(valid, self.spec.min_clear)
            arr = pastis_values(sensor, values[keep], valid[keep], as_float=True)
            offsets = (days[keep].astype("datetime64[D]") - self.reference).astype(np.int64)
            series[sensor] = TimeSeries(torch.from_numpy(arr), torch.from_numpy(offsets))
        sample = Sample(series, meta={"id": f"{window.r0}_{window.c0}"})
        return sample if self.transform is None else self.transform(sample)

    def _probabilities(self, samples: list[Sample]) -> torch.Tensor:
        """float32 ``[B, K, h, w]`` class probabilities of a batch of windows."""
        batch = collate(samples).to(self.device)
        with torch.inference_mode():
            out = self.task(batch)
            if self.task.task_name == "panoptic":  # the class probabilities of each instance
                return out.panoptic_semantic.float().cpu()
            return out.logits.float().softmax(dim=1).cpu()

    def predict(self, block: Block) -> BlockResult:
        """The weighted sums of ``block``'s windows (:class:`BlockResult`)."""
        tic = time.perf_counter()
        data = self.block_raw(block)
        read = time.perf_counter() - tic
        r0, c0, r1, c1 = block.extent
        sums = np.zeros((self.num_classes, r1 - r0, c1 - c0), dtype=np.float32)
        weights = np.zeros((r1 - r0, c1 - c0), dtype=np.float32)
        forward = prepare = 0.0
        weight = patch_weights(self.spec.window, self.spec.window)  # every window's side
        for windows in _batches(block.windows, self.spec.batch_size):
            tic = time.perf_counter()
            samples = [self.window_sample(data, w, (r0, c0)) for w in windows]
            prepare += time.perf_counter() - tic
            tic = time.perf_counter()
            probs = self._probabilities(samples).numpy()
            forward += time.perf_counter() - tic
            for window, p in zip(windows, probs, strict=True):
                rows = slice(window.r0 - r0, window.r0 - r0 + window.size)
                cols = slice(window.c0 - c0, window.c0 - c0 + window.size)
                sums[:, rows, cols] += p * weight
                weights[rows, cols] += weight
        return BlockResult(r0, c0, sums, weights, forward, read, prepare)

    def run(self, block: Block) -> dict[str, Any]:
        """Predict ``block`` and write its result file, unless it is there (a resumed run);
        returns ``{"block", "resumed", "forward_seconds", "read_seconds", "sample_seconds",
        "seconds", "peak_rss", "pid"}``."""
        path = Path(self.spec.results) / f"{block.name}.npz"
        if path.is_file():
            return {"block": block.name, "resumed": True}
        tic = time.perf_counter()
        result = self.predict(block)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                origin=np.array([result.r0, result.c0]),
                sums=result.sums,
                weights=result.weights,
                seconds=np.array(
                    [result.forward_seconds, result.read_seconds, result.sample_seconds]
                ),
            )
        return {
            "block": block.name,
            "resumed": False,
            "forward_seconds": result.forward_seconds,
            "read_seconds": result.read_seconds,
            "sample_seconds": result.sample_seconds,
            "seconds": time.perf_counter() - tic,
            "peak_rss": _peak_rss(),
            "pid": os.getpid(),
        }


def _training_view(spec: MapSpec, task: Any) -> TrainingView:
    """The :class:`TrainingView` of the config's data module (the training data read)."""
    from sitsfusion.tasks.base import check_same_dataset, config_from_dict
    from sitsfusion.training import datamodule

    cfg = config_from_dict(spec.config)
    dm = datamodule(cfg)
    transform = dm.evaluation_transform()
    check_same_dataset(task, dm.channels, dm.class_names, spec.checkpoint)
    if dm.reference_date is None:
        raise ConfigError(
            f"data.root: {cfg.data.root} has no reference date for the day counts; "
            "map models trained on PASTIS-layout data (sitsfusion prepare)"
        )
    first = dm.train[0] if dm.train is not None and len(dm.train) else None
    window = 0 if first is None else int(first.semantic.shape[-1])
    return TrainingView(transform, str(np.datetime64(str(dm.reference_date), "D")), window)


def _peak_rss() -> int:
    """Bytes: the peak resident memory of this process so far (the worker's)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes, Linux: KiB


def _batches(windows: tuple[Window, ...], size: int) -> Iterator[tuple[Window, ...]]:
    for i in range(0, len(windows), size):
        yield windows[i : i + size]
