"""``sitsfusion prepare``: the imagery and parcels of your own area → a PASTIS-R dataset."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import click

from sitsfusion.cli.app import SYNTHETIC_NOTE, cli, console


@cli.command()
@click.option(
    "--imagery",
    type=click.Path(path_type=Path),
    required=True,
    help="A STAC catalog (catalog.json or its folder), a STAC API URL (https://...) or a folder "
    "of <SENSOR>_<YYYYMMDD>.tif.",
)
@click.option(
    "--labels",
    type=click.Path(path_type=Path),
    required=True,
    help="The parcels: a vector file (GeoPackage, GeoParquet, Shapefile, GeoJSON).",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New dataset folder.")
@click.option("--class-column", default=None, help="The parcels' class column [detected].")
@click.option(
    "--class-table",
    type=click.Path(path_type=Path),
    default=None,
    help="CSV value,class mapping class values to classes [crop_codes.csv beside the labels].",
)
@click.option("--nomenclature", default="pastis", show_default=True, help="Target classes.")
@click.option(
    "--patch-size",
    type=click.IntRange(min=2),
    default=128,  # seed 001, Sec. 4.1: PASTIS patches of 128 x 128 pixels
    show_default=True,
    help="Patch side in pixels.",
)
@click.option(
    "--sensors",
    default="S2,S1A,S1D",
    show_default=True,
    help="Modalities written, comma-separated.",
)
@click.option("--aoi", type=click.Path(path_type=Path), default=None, help="Area vector file.")
@click.option("--crs", default=None, help="Grid CRS, e.g. EPSG:32630 [the parcels' CRS].")
@click.option("--folds", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--block",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Patches per side of a spatial block of one fold.",
)
@click.option("--start", default=None, help="First date of the season, YYYY-MM-DD [every date].")
@click.option("--end", default=None, help="Last date of the season, YYYY-MM-DD (inclusive).")
@click.option(
    "--max-cloud",
    type=click.FloatRange(0, 100),
    default=None,
    help="Drop Sentinel-2 items whose eo:cloud_cover is above this percentage [keep all].",
)
@click.option(
    "--mode",
    type=click.Choice(["patches", "parcels"]),
    default="patches",
    show_default=True,
    help="patches: the PASTIS-R layout; parcels: every parcel once, whole, as a pixel set "
    "(--patch-size unused; --block counts squares of 128 px).",
)
@click.option("--overwrite", is_flag=True, help="Replace a dataset sitsfusion wrote at --out.")
def prepare(
    imagery: Path,
    labels: Path,
    out: Path,
    class_column: str | None,
    class_table: Path | None,
    nomenclature: str,
    patch_size: int,
    sensors: str,
    aoi: Path | None,
    crs: str | None,
    folds: int,
    block: int,
    start: str | None,
    end: str | None,
    max_cloud: float | None,
    mode: str,
    overwrite: bool,
) -> None:
    """Cut the imagery and parcels of an area into a PASTIS-R-layout dataset at OUT (or, with
    --mode parcels, a pixel-set dataset of whole parcels).

    An interrupted run is resumed with the same arguments (written patches / tiles are
    skipped). See docs/own-area.md, "prepare"."""
    from sitsfusion.errors import DataWarning
    from sitsfusion.geo.prepare import prepare as run_prepare

    # odc-stac logs a failed read before raising it; the error is said once, by sitsfusion
    logging.getLogger("odc.loader").setLevel(logging.CRITICAL)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        common = {
            "class_column": class_column,
            "class_table": class_table,
            "nomenclature": nomenclature,
            "sensors": tuple(s.strip() for s in sensors.split(",") if s.strip()),
            "crs": crs,
            "aoi": aoi,
            "folds": folds,
            "block": block,
            "start": start,
            "end": end,
            "max_cloud": max_cloud,
            "overwrite": overwrite,
            "progress": console.is_terminal,
        }
        if mode == "parcels":
            from sitsfusion.geo.pixelsets import prepare_pixelsets

            summary: Any = prepare_pixelsets(
                imagery, labels, out, **common, command="prepare --mode parcels"
            )
        else:
            summary = run_prepare(
                imagery, labels, out, patch_size=patch_size, **common, command="prepare"
            )
    said = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    for message in dict.fromkeys(said):  # each once (sensors say the same), no source line
        console.print(f"warning: {message}", soft_wrap=True, highlight=False)
    console.print(summary.line(), soft_wrap=True, highlight=False)
    if summary.synthetic:
        console.print(f"note: {SYNTHETIC_NOTE}", highlight=False)
