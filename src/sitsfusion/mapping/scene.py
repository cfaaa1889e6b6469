"""``sitsfusion map``: a trained checkpoint over the imagery of a whole area → maps.

:func:`map_scene` chains the mapping pieces::

    imagery (STAC / GeoTIFFs) ── windows grouped in blocks (mapping.windows)
        └─ each block on a worker: read once, windows → model → weighted sums (mapping.predictor)
    blocks on a Dask cluster, or in this process (mapping.cluster)
    block results → regions → classes.tif, probabilities.tif, parcels (mapping.assemble)

and writes::

    OUT/classes.tif        COG, uint8 bands class (255 = no data), confidence (%), entropy (%)
    OUT/probabilities.tif  COG, uint8, one band per class: probability in percent
    OUT/parcels.gpkg       (with parcels) layer "parcels": the user's columns + pred_class,
                           pred_name, confidence, pixels  (or parcels.parquet, GeoParquet)
    OUT/view.html          (with view) the quick-look
    OUT/.blocks/<r>_<c>.npz  block results while the run is not complete (a run started
                           again skips the blocks found here; removed once the maps are written)

The folder's mark records the arguments that decide the maps: the same command resumes an
interrupted run; the maps appear (renamed into place) only once complete.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.config import ConfigError, ExperimentConfig
from sitsfusion.errors import DatasetError
from sitsfusion.geo.area import MIN_CLEAR, Imagery, area_grid, check_arguments
from sitsfusion.geo.prepare import patch_grid
from sitsfusion.inference.precision import PRECISIONS
from sitsfusion.mapping.assemble import CLASSES_FILE, PROBABILITIES_FILE, SceneMaps
from sitsfusion.mapping.predictor import BlockPredictor, MapSpec
from sitsfusion.mapping.windows import plan_blocks, window_starts
from sitsfusion.optional import require
from sitsfusion.outputs import mark_complete, output_folder, read_mark

__all__ = [
    "AGGREGATIONS",
    "BLOCK_BYTES",
    "MIN_BLOCKS",
    "MIN_BLOCK_PX",
    "OVERLAP_FRACTION",
    "RESULTS",
    "MapResult",
    "default_batch",
    "default_block",
    "map_scene",
]

RESULTS = ".blocks"
BLOCK_BYTES = int(1.6 * 2**30)
"""Own choice: a block holds as many windows per side as keep its imagery in memory (the
numbers as read, uint16 for Sentinel-2 and float32 for Sentinel-1; each window makes its
float32 values from them when it is predicted) under 1.6 GiB (:func:`default_block`), so that
a worker stays under 4 GB with the model. A block reads every file once and decodes every
compressed tile of a file it touches, whole: larger blocks pay the per-file cost (open,
odc-stac) and the tiles shared with their neighbours less often per window. Measured on the
synthetic 2000 px scene (128-px windows, 16 px overlap, 512-px COG tiles), seconds of reading
per window in blocks of 4 / 5 / 6 windows per side, when the blocks still made float32
values: S2 (44 dates) 0.24 / - / 0.18, S2 + S1A + S1D 0.49 / 0.38 / 0.30."""
MIN_BLOCKS = 16
"""Own choice: the default block leaves a scene at least 16 blocks when it has the windows
for them, so that workers stay busy to the end (a worker that finishes early idles while
the last blocks run: on the synthetic 2000 px scene, 9 blocks of 6 x 6 windows gave 2 workers
a 1.73x speed-up over 1, one of them idle while the ninth block ran). The blocks run largest
first."""
MIN_BLOCK_PX = 448
"""Own choice: the default block is not made smaller than this side (4 windows of 128 px
overlapping by 16: 464 px) to leave a scene :data:`MIN_BLOCKS` blocks. A block decodes every
compressed tile it touches whole (512 px in the simulator's COGs) and opens every file: on
the synthetic 20 km scene, S2 with 44 dates, blocks of 2 x 2 windows read 0.48 s per window,
3 x 3 0.24 s, 4 x 4 0.19 s (one process, the first 6 blocks); a 10 km scene cut into 25
blocks of 2 x 2 spent as long reading as in the model."""
OVERLAP_FRACTION = 8
"""Own choice: windows overlap by 1/8 of their side (16 px at 128): (128 / 112)^2 = 1.31 windows
per pixel; the taper then blends every window border."""
AGGREGATIONS = ("mean", "majority")
PARCELS_FORMATS = ("gpkg", "parquet")


@dataclass
class MapResult:
    """What :func:`map_scene` wrote and how long it took."""

    out: Path
    files: dict[str, Path] = field(default_factory=dict)
    grid: Any = None
    blocks: int = 0
    resumed: int = 0
    windows: int = 0
    parcels: int = 0
    synthetic: bool = False
    seconds: float = 0.0
    forward_seconds: float = 0.0
    read_seconds: float = 0.0
    sample_seconds: float = 0.0
    assemble_seconds: float = 0.0
    peak_rss: dict[int, int] = field(default_factory=dict)  # per worker process: bytes

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        h, w = self.grid.shape
        km2 = h * w * self.grid.resolution**2 / 1e6
        text = f"{self.out}: {h} x {w} px ({km2:.1f} km²)"
        if self.blocks:
            text += (
                f" in {self.blocks} blocks of windows ({self.resumed} resumed), "
                f"{self.windows} windows"
            )
        else:
            text += " by the parcel model"
        text += f"; {self.seconds:.1f} s"
        if self.parcels:
            text += f"; {self.parcels} parcels"
        return text + (" (synthetic)" if self.synthetic else "")


def default_batch(cfg: ExperimentConfig, device: object, task_name: str) -> int:
    """Windows per forward of a semantic or panoptic model (``task_name``) when none is
    given: 1 on a CPU, the config's ``data.batch_size`` elsewhere (a GPU fills its cores with
    a batch). A parcel model keeps the config's batch of parcels.

    Own measurement (synthetic 128 px windows, 39 S2 dates / 68 + 67 S1, bf16, one thread):
    on the CPU a batch of 4 windows is slower per window than one at a time (U-TAE S2 0.472
    vs 0.444 s, late fusion S2 + S1A + S1D 2.30 vs 1.98 s) and holds 4 windows' activations
    (peak RSS of the forward 1,067 vs 276 MiB for S2, 1,806 vs 534 MiB for late fusion)."""
    on_cpu = str(device).split(":")[0] == "cpu"
    return 1 if on_cpu and task_name != "parcel" else int(cfg.data.batch_size)


def default_block(
    found: dict[str, Any], window: int, overlap: int, shape: tuple[int, int] | None = None
) -> int:
    """Windows per side of a block (at least 1): the most whose imagery in memory fits
    :data:`BLOCK_BYTES` (for each sensor ``found``, ``{sensor: SensorSource}``: its dates x
    the bands read x 2 bytes (S2, uint16) or 4 (S1, float32)), then, on a scene of ``shape``
    pixels, no more than leave it :data:`MIN_BLOCKS` blocks when it has the windows for them,
    but not below :data:`MIN_BLOCK_PX` (4 windows of 128 px: a 1000 px scene gets 9 blocks).
    For 128-px windows overlapping by 16: 11 (1248 px) over S2 with 44 dates, 8 (912 px) over
    S2 + S1A + S1D with 68 dates per orbit; 5 on a 2000 px scene (16 blocks)."""
    per_pixel = sum(
        len(f.entries) * (2 if f.spec.is_optical else 4) * len(f.spec.read_bands)
        for f in found.values()
    )
    side = math.isqrt(BLOCK_BYTES // max(per_pixel, 1))
    block = max(1, (side - overlap) // (window - overlap))
    if shape is None or not 0 <= overlap < window:  # a bad overlap: plan_blocks says so
        return block
    rows, cols = (len(window_starts(n, window, window - overlap)) for n in shape)
    while (
        block > 1
        and math.ceil(rows / block) * math.ceil(cols / block) < MIN_BLOCKS
        and (block - 1) * (window - overlap) + overlap >= MIN_BLOCK_PX
    ):
        block -= 1
    return block


def read_map_parcels(path: Path, crs: Any = None) -> Any:
    """The parcels to aggregate: every column of ``path`` kept, ``parcel_id`` added (1..N in
    file order) when absent, geometries repaired, empty ones dropped, in ``crs`` when given."""
    gpd = require("geopandas", "geo", "reading parcels")
    from sitsfusion.io import require_regular_file

    require_regular_file(path)
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises DataSourceError, OSError, ...
        raise DatasetError(
            path, f"not a readable vector file ({' '.join(str(exc).split())})"
        ) from None
    if frame.empty or frame.crs is None:
        raise DatasetError(path, "holds no parcel" if frame.empty else "has no CRS")
    if "parcel_id" not in frame.columns:
        frame.insert(0, "parcel_id", np.arange(1, len(frame) + 1, dtype=np.int64))
    frame["geometry"] = frame.geometry.make_valid()
    frame = frame[~frame.geometry.is_empty & frame.geometry.notna()]
    return frame if crs is None else frame.to_crs(crs)


def _say(progress: bool) -> Callable[[str], None]:
    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    return say


def map_scene(
    cfg: ExperimentConfig,
    checkpoint: str | Path,
    imagery: str | Path,
    out: str | Path,
    *,
    aoi: str | Path | None = None,
    parcels: str | Path | None = None,
    aggregation: str = "mean",
    parcels_format: str = "gpkg",
    crs: Any = None,
    resolution: float = 10.0,
    window: int | None = None,
    overlap: int | None = None,
    block: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    precision: str = "fp32",
    batch_size: int | None = None,
    device: str | None = None,
    smooth: float | None = None,
    mmu: int | None = None,
    start: str | None = None,
    end: str | None = None,
    max_cloud: float | None = None,
    min_clear: float = MIN_CLEAR,
    overwrite: bool = False,
    progress: bool = False,
    command: str = "map",
) -> MapResult:
    """Map the area of ``aoi`` (else the parcels' bounds) with ``checkpoint``.

    Args:
        cfg: the experiment config the checkpoint was trained with (its data section: the
            training data, whose normalisation and dates the windows get).
        checkpoint: a semantic or panoptic segmentation checkpoint.
        imagery: a STAC catalog (``catalog.json`` or its folder), a STAC API URL or a
            GeoTIFF folder (:func:`~sitsfusion.geo.imagery.load_sensor`).
        out: the output folder (layout in the module docstring).
        aoi: a vector file of the area to map; parcels: a vector file of parcels to
            aggregate the pixels into (the area is their bounds when no ``aoi``).
        aggregation: ``mean`` (mean probability) or ``majority`` (most frequent class).
        parcels_format: ``gpkg`` (GeoPackage) or ``parquet`` (GeoParquet).
        crs, resolution: the grid (None: the area's CRS when projected, else its UTM zone).
        window: window side in pixels (None: the training samples' side).
        overlap: pixels shared by neighbouring windows (None: 1/8 of the window).
        block: windows per side of a block, the unit of work and of resuming (None: as
            many as keep the block's imagery under :data:`BLOCK_BYTES`: :func:`default_block`).
        workers: LocalCluster processes, one thread each (0: in this process, no Dask).
        scheduler: address of a running Dask scheduler (instead of a LocalCluster).
        precision: ``fp32`` or ``bf16``; batch_size: windows per forward (None:
            :func:`default_batch`); device: None for the config's accelerator.
        smooth, mmu: optional post-processing (:mod:`sitsfusion.mapping.assemble`).
        start, end, max_cloud, min_clear: the acquisitions and dates used (as ``prepare``).
        overwrite: replace maps sitsfusion wrote in ``out``.
        progress: print progress lines (to stderr).
        command: the command line recorded in the folder's mark.

    Raises:
        ConfigError / DatasetError / CheckpointError / OutputError / ValueError: one line.
    """
    tic = time.perf_counter()
    say = _say(progress)
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if aggregation not in AGGREGATIONS:
        raise ConfigError(
            f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}"
        )
    if parcels_format not in PARCELS_FORMATS:
        raise ConfigError(f"parcels format must be gpkg or parquet, got {parcels_format!r}")
    if workers < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}")
    if smooth is not None and not smooth > 0:
        raise ConfigError(f"smooth (sigma in pixels) must be > 0, got {smooth}")
    if mmu is not None and mmu < 1:
        raise ConfigError(f"mmu (pixels) must be >= 1, got {mmu}")
    if aoi is None and parcels is None:
        raise ConfigError("map needs the area: --aoi FILE, or --parcels FILE (their bounds)")
    check_arguments(("S2",), min_clear, max_cloud)
    source = Imagery.of(imagery)
    out = Path(out)
    frame = read_map_parcels(Path(parcels)) if parcels is not None else None
    grid, area = area_grid(frame, aoi, crs, resolution)
    inputs = [checkpoint, *cfg.data.inputs(), *source.folders(), parcels, aoi]

    from sitsfusion.tasks.base import load_task
    from sitsfusion.training import inference_device

    dev = inference_device(cfg, device)
    say(f"loading the model and opening the imagery ({source.record()})")
    task = load_task(checkpoint, map_location=dev)  # once in this process
    spec = MapSpec(
        config=cfg.to_dict(),
        checkpoint=str(Path(checkpoint).resolve()),
        imagery=source.record(),
        grid=grid,
        results=str((out / RESULTS).resolve()),
        window=0,
        overlap=0,
        start=start,
        end=end,
        max_cloud=max_cloud,
        min_clear=min_clear,
        precision=precision,
        device=str(dev),
        batch_size=batch_size or default_batch(cfg, dev, task.task_name),
        threads=1,
    )
    if task.task_name == "parcel":
        if parcels is None:
            raise ConfigError(
                f"{checkpoint}: a parcel-classification checkpoint maps parcels: give --parcels"
            )
        plain = {"start": start, "end": end, "max_cloud": max_cloud, "min_clear": min_clear}
        return _map_parcels(
            cfg, task, spec, source, Path(parcels), out, grid, inputs, tags=_tags(cfg, checkpoint),
            options=plain, parcels_format=parcels_format, overwrite=overwrite,
            progress=progress, command=command, tic=tic, workers=workers, scheduler=scheduler,
        )  # fmt: skip
    local = BlockPredictor(spec, task)  # the inputs checked here, before the output is touched
    size = window or local.training.window
    if size < 1:
        raise ConfigError(
            f"{cfg.data.root}: no training sample to take the window size from; pass --window"
        )
    lap = size // OVERLAP_FRACTION if overlap is None else overlap
    grid = patch_grid(grid, size)
    spec = replace(spec, grid=grid, window=size, overlap=lap)
    local.spec = spec
    local.open_imagery()  # a sensor missing, imagery away from the area: said now
    spec = replace(spec, training=local.training, found=local.found)  # for the workers
    if block is None:
        block = default_block(spec.found, size, lap, grid.shape)
    blocks = plan_blocks(grid.shape, size, lap, block)
    record = {
        **spec.record(),
        "block": block,
        "smooth": smooth,
        "mmu": mmu,
        "aoi": None if aoi is None else str(Path(aoi).resolve()),
        "parcels": None if parcels is None else str(Path(parcels).resolve()),
        "aggregation": aggregation,
    }
    resume = _resumable(out, record, overwrite)
    result = MapResult(out=out, grid=grid, blocks=len(blocks), synthetic=local.synthetic)
    result.windows = sum(len(b.windows) for b in blocks)
    with output_folder(
        out,
        kind="scene-map",
        overwrite=overwrite,
        inputs=inputs,
        command=command,
        reuse=resume,
        map=record,
    ) as root:
        results = root / RESULTS
        results.mkdir(exist_ok=True)
        todo = [b for b in blocks if not (results / f"{b.name}.npz").is_file()]
        todo.sort(key=lambda b: -len(b.windows))  # largest first: the workers end together
        result.resumed = len(blocks) - len(todo)
        where = _where(workers, scheduler)
        say(
            f"mapping {grid.shape[0]} x {grid.shape[1]} px: {len(todo)} blocks of up to "
            f"{block} x {block} windows of {size} px ({lap} px overlap) {where}"
            + (f"; {result.resumed} done before" if result.resumed else "")
        )
        done = [0]

        def on_block(report: dict[str, Any]) -> None:
            done[0] += 1
            result.forward_seconds += report.get("forward_seconds", 0.0)
            result.read_seconds += report.get("read_seconds", 0.0)
            result.sample_seconds += report.get("sample_seconds", 0.0)
            if "pid" in report:
                pid = report["pid"]
                result.peak_rss[pid] = max(result.peak_rss.get(pid, 0), report["peak_rss"])
            say(f"block {report['block']} done ({done[0]}/{len(todo)})")

        from sitsfusion.mapping.cluster import run_blocks

        run_blocks(spec, todo, workers=workers, scheduler=scheduler, local=local, on_block=on_block)
        assemble_tic = time.perf_counter()
        parcels_grid = None if frame is None else frame.to_crs(grid.crs).reset_index(drop=True)
        maps = SceneMaps(
            blocks,
            results,
            grid,
            local.class_names,
            smooth=smooth,
            mmu=mmu,
            area=area,
            parcels=parcels_grid,
        )
        tags = {
            **_tags(cfg, checkpoint),
            "synthetic": str(local.synthetic).lower(),
            "window": size,
            "overlap": lap,
            "precision": precision,
            "smooth": "" if smooth is None else smooth,
            "mmu": "" if mmu is None else mmu,
        }
        say(f"writing {CLASSES_FILE} and {PROBABILITIES_FILE}")
        result.files = maps.write(
            root,
            tags,
            lambda n, total: (
                say(f"region {n}/{total} written") if n % 10 == 0 or n == total else None
            ),
        )
        if parcels_grid is not None:
            table = maps.parcels(aggregation)
            result.parcels = len(table)
            result.files["parcels"] = write_map_parcels(root, table, parcels_format)
        result.assemble_seconds = time.perf_counter() - assemble_tic
        shutil.rmtree(results)
        mark_complete(root, blocks=len(blocks), parcels=result.parcels, synthetic=local.synthetic)
    result.seconds = time.perf_counter() - tic
    return result


def write_map_parcels(root: Path, table: Any, fmt: str) -> Path:
    """The aggregated parcels as ``parcels.gpkg`` (layer ``parcels``) or ``parcels.parquet``."""
    from sitsfusion.inference.maps import write_parcels
    from sitsfusion.io import atomic_path

    if fmt == "gpkg":
        return write_parcels(root / "parcels.gpkg", {"parcels": table})
    path = root / "parcels.parquet"
    with atomic_path(path) as tmp:
        table.to_parquet(tmp)
    return path


def _resumable(out: Path, record: dict[str, Any], overwrite: bool) -> bool:
    """``out`` holds an interrupted map of the same ``record`` (its mark says so): resume it."""
    mark = read_mark(out) if out.is_dir() else None
    return (
        not overwrite
        and mark is not None
        and mark.get("map") == record
        and not mark.get("complete")
    )


def _where(workers: int, scheduler: str | None) -> str:
    """Where the blocks or tiles run, as the progress lines say it."""
    if scheduler:
        return f"on the Dask scheduler {scheduler}"
    return "in this process" if workers == 0 else f"on {workers} local worker(s)"


def _tags(cfg: ExperimentConfig, checkpoint: str | Path) -> dict[str, Any]:
    return {"config": cfg.name, "checkpoint": str(checkpoint)}


def _map_parcels(
    cfg: ExperimentConfig,
    task: Any,
    spec: MapSpec,
    source: Imagery,
    parcels: Path,
    out: Path,
    grid: Any,
    inputs: list[Any],
    *,
    tags: dict[str, Any],
    options: dict[str, Any],
    parcels_format: str,
    overwrite: bool,
    progress: bool,
    command: str,
    tic: float,
    workers: int = 0,
    scheduler: str | None = None,
) -> MapResult:
    """A parcel model's maps: every parcel classified once, whole
    (:func:`~sitsfusion.mapping.parcel_models.map_parcel_model`: its tiles read on the Dask
    cluster of ``workers`` / ``scheduler``, as the blocks), written as the parcels file and
    both rasters (each parcel's pixels get its class and probabilities)."""
    from sitsfusion.mapping.assemble import ParcelMaps, square_regions, write_maps
    from sitsfusion.mapping.parcel_models import map_parcel_model

    record = {**spec.record(), "parcels": str(parcels.resolve()), "mode": "parcel model"}
    resume = _resumable(out, record, overwrite)
    result = MapResult(out=out, grid=grid)
    with output_folder(
        out, kind="scene-map", overwrite=overwrite, inputs=inputs, command=command,
        reuse=resume, map=record,
    ) as root:  # fmt: skip
        work = root / RESULTS
        say = _say(progress)
        say(f"reading the parcels' pixels tile by tile {_where(workers, scheduler)}")
        predictions = map_parcel_model(
            task, cfg, source.source, parcels, work, grid=grid, batch_size=spec.batch_size,
            device=spec.device, progress=progress, workers=workers, scheduler=scheduler,
            **options,
        )  # fmt: skip
        result.synthetic = predictions.synthetic
        maps = ParcelMaps(predictions.frame, predictions.probabilities, grid)
        class_names = list(task.hparams["class_names"])
        tags = {**tags, "synthetic": str(predictions.synthetic).lower(), "mode": "parcel model"}
        result.files = write_maps(
            root, grid, class_names, tags, square_regions(grid.shape), maps.region_maps
        )
        result.parcels = len(predictions.frame)
        result.files["parcels"] = write_map_parcels(root, predictions.frame, parcels_format)
        shutil.rmtree(work, ignore_errors=True)
        mark_complete(root, parcels=result.parcels, skipped=predictions.skipped)
    result.seconds = time.perf_counter() - tic
    return result
