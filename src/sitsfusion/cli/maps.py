"""``sitsfusion predict``: maps of a dataset from a segmentation checkpoint."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from sitsfusion.cli.app import (
    SYNTHETIC_NOTE,
    batch_size_option,
    cli,
    config_option,
    console,
    load,
    mmu_option,
    precision_option,
    set_option,
    smooth_option,
)
from sitsfusion.cli.output import print_paths


@cli.command()
@config_option
@set_option
@click.option(
    "--ckpt",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="Semantic segmentation checkpoint (<run>/checkpoints/best.ckpt).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Output folder: OUT/maps/<patch>.tif, OUT/mosaic.tif and OUT/parcels.gpkg.",
)
@click.option(
    "--split",
    type=click.Choice(["test", "val", "train", "all"]),
    default="test",
    show_default=True,
    help="Which samples to map ('all': the whole dataset).",
)
@batch_size_option
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the maps an earlier predict wrote in OUT (never a folder sitsfusion did not "
    "create).",
)
@smooth_option
@mmu_option
@precision_option
def predict(
    config_path: Path,
    overrides: tuple[str, ...],
    ckpt: Path,
    out: Path,
    split: str,
    batch_size: int | None,
    overwrite: bool,
    smooth: float | None,
    mmu: int | None,
    precision: str,
) -> None:
    """Map a dataset with a segmentation checkpoint: OUT/maps/<patch>.tif (Cloud-Optimized
    GeoTIFF per patch), OUT/mosaic.tif (the patches blended into one map of the area, when
    they lie on one pixel grid; one mosaic_EPSG_<code>.tif per CRS when several) and
    OUT/parcels.gpkg (GeoPackage of parcels, when the data has them: the area's parcels with a
    mosaic, else each patch's). A panoptic checkpoint also writes OUT/instances/<patch>.tif
    (instance ids) and OUT/instances.gpkg (one polygon per predicted parcel instance).
    --split all maps the whole area.

    OUT is locked while written; OUT/.sitsfusion.json says "complete": true once it is."""
    from sitsfusion.inference import predict_maps
    from sitsfusion.training import is_synthetic

    cfg = load(config_path, overrides)
    t0 = time.perf_counter()
    progress = sys.stdout.isatty()  # a progress bar on a terminal only
    result = predict_maps(
        cfg,
        ckpt,
        out,
        split=split,
        batch_size=batch_size,
        progress=progress,
        overwrite=overwrite,
        smooth=smooth,
        mmu=mmu,
        precision=precision,
    )
    table = Table(title=f"{cfg.name}: maps of the {split} split")
    row = {
        "samples": result.n_samples,
        "patch maps": len(result.maps),
        "mosaics": len(result.mosaics),
        "parcels": result.n_parcels,
    }
    if result.instance_maps:  # a panoptic checkpoint
        row["instances"] = result.n_instances
    row["seconds"] = f"{time.perf_counter() - t0:.1f}"
    for col in row:
        table.add_column(col, justify="right")
    table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    paths: dict[str, Path] = {}
    if result.maps_dir is not None:
        paths["maps"] = result.maps_dir
    for mosaic in result.mosaics:
        paths[mosaic.stem] = mosaic  # "mosaic", or "mosaic_EPSG_<code>" per CRS
    if result.parcels is not None:
        paths["parcels"] = result.parcels
    if result.instance_maps:
        paths["instance maps"] = result.instance_maps[0].parent
    if result.instances is not None:
        paths["instances"] = result.instances
    print_paths(paths)
    for note in result.notes:
        console.print(Text.assemble(("note: ", "yellow"), note), soft_wrap=True)
    if is_synthetic(cfg.data.root):
        console.print(f"[yellow]note:[/] {SYNTHETIC_NOTE}")
