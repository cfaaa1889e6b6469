"""``sitsfusion map``: a checkpoint over the imagery of a whole area (``docs/mapping.md``)."""

from __future__ import annotations

from pathlib import Path

import click

from sitsfusion.cli.app import (
    SYNTHETIC_NOTE,
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


@cli.command(name="map")
@config_option
@set_option
@click.option(
    "--ckpt",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="The trained checkpoint (<run>/checkpoints/best.ckpt): semantic or panoptic.",
)
@click.option(
    "--imagery",
    required=True,
    help="A STAC catalog (catalog.json or its folder), a STAC API URL or a GeoTIFF folder.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Output folder: OUT/classes.tif, OUT/probabilities.tif (+ OUT/parcels.gpkg).",
)
@click.option("--aoi", type=click.Path(path_type=Path), default=None, help="The area to map.")
@click.option(
    "--parcels",
    type=click.Path(path_type=Path),
    default=None,
    help="Parcels to aggregate the pixels into (the area is their bounds without --aoi).",
)
@click.option(
    "--aggregate",
    type=click.Choice(["mean", "majority"]),
    default="mean",
    show_default=True,
    help="A parcel's class: the arg-max of its mean probability, or its most frequent class.",
)
@click.option(
    "--parcels-format",
    type=click.Choice(["gpkg", "parquet"]),
    default="gpkg",
    show_default=True,
    help="OUT/parcels.gpkg (GeoPackage) or OUT/parcels.parquet (GeoParquet).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Processes of a local Dask cluster, one thread each (0: this process, no Dask).",
)
@click.option(
    "--scheduler",
    default=None,
    help="Address of a running Dask scheduler (tcp://host:8786) instead of a local cluster.",
)
@click.option(
    "--window",
    type=click.IntRange(min=8),
    default=None,
    help="Window side in pixels (default: the training samples').",
)
@click.option(
    "--overlap",
    type=click.IntRange(min=0),
    default=None,
    help="Pixels shared by neighbouring windows (default: 1/8 of the window).",
)
@click.option(
    "--block",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many windows per side of a block: one task, one read, one unit of "
    "resuming; each axis is cut into runs as equal as can be (default: as many as keep the "
    "block's imagery under 1.6 GiB — 11 for S2 with 44 dates, 8 for S2 + S1A + S1D — at most "
    "so many that the scene keeps 16 blocks, never below 448 px: 5 on a 2000 px scene, 4 on "
    "a 1000 px scene).",
)
@precision_option
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Windows (parcels) per forward. Default: 1 window on a CPU (fastest there), else "
    "the config's.",
)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: the config's).")
@smooth_option
@mmu_option
@click.option("--start", default=None, help="First date used, YYYY-MM-DD.")
@click.option("--end", default=None, help="Last date used, YYYY-MM-DD.")
@click.option(
    "--max-cloud",
    type=float,
    default=None,
    help="Drop S2 items above this cloud cover (percent).",
)
@click.option(
    "--view", is_flag=True, help="Write OUT/view.html (a quick-look of the map) and open it."
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace maps sitsfusion wrote in OUT (never a folder it did not create).",
)
def map_command(
    config_path: Path,
    overrides: tuple[str, ...],
    ckpt: Path,
    imagery: str,
    out: Path,
    aoi: Path | None,
    parcels: Path | None,
    aggregate: str,
    parcels_format: str,
    workers: int,
    scheduler: str | None,
    window: int | None,
    overlap: int | None,
    block: int | None,
    precision: str,
    batch_size: int | None,
    device: str | None,
    smooth: float | None,
    mmu: int | None,
    start: str | None,
    end: str | None,
    max_cloud: float | None,
    view: bool,
    overwrite: bool,
) -> None:
    """Map the area of --aoi (or of the --parcels) from --imagery with a checkpoint:
    sliding windows blended without seams, blocks of windows run as Dask tasks, written as
    OUT/classes.tif (class, confidence, entropy), OUT/probabilities.tif (one band per class,
    percent) and, with --parcels, OUT/parcels.gpkg (one row per parcel).

    An interrupted run started again with the same arguments resumes: finished blocks are
    skipped. The maps appear only once complete."""
    from sitsfusion.mapping.scene import map_scene

    cfg = load(config_path, overrides)
    result = map_scene(
        cfg,
        ckpt,
        imagery,
        out,
        aoi=aoi,
        parcels=parcels,
        aggregation=aggregate,
        parcels_format=parcels_format,
        window=window,
        overlap=overlap,
        block=block,
        workers=workers,
        scheduler=scheduler,
        precision=precision,
        batch_size=batch_size,
        device=device,
        smooth=smooth,
        mmu=mmu,
        start=start,
        end=end,
        max_cloud=max_cloud,
        overwrite=overwrite,
        progress=True,
        command=f"map {cfg.name}",
    )
    console.print(result.line(), soft_wrap=True)
    paths = dict(result.files)
    if view:
        from sitsfusion.cli.view import display_available, open_in_browser
        from sitsfusion.mapping.view import write_view

        parcels_file = result.files.get("parcels")
        paths["view"] = write_view(
            out.resolve() / "view.html",
            result.files["classes.tif"],
            parcels=parcels_file if parcels_file and parcels_file.suffix == ".gpkg" else None,
            title=f"{cfg.name}: {out.name}",
        )
        if display_available():
            open_in_browser(paths["view"])
    print_paths(paths)
    if result.synthetic:
        console.print(f"[yellow]note:[/] {SYNTHETIC_NOTE}")
