"""``sitsfusion predict``: maps of a dataset from a segmentation checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.table import Table

from sitsfusion.cli.app import SYNTHETIC_NOTE, cli, config_option, console, load, set_option


@cli.command()
@config_option
@set_option
@click.option("--ckpt", type=click.Path(path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option(
    "--split",
    type=click.Choice(["test", "val", "train", "all"]),
    default="test",
    show_default=True,
    help="Which samples to map ('all': the whole dataset).",
)
@click.option("--batch-size", type=int, default=None, help="Default: the config's.")
def predict(
    config_path: Path,
    overrides: tuple[str, ...],
    ckpt: Path,
    out: Path,
    split: str,
    batch_size: int | None,
) -> None:
    """Map a dataset with a segmentation checkpoint: COG GeoTIFFs per patch, parcels GeoPackage."""
    from sitsfusion.inference import predict_maps
    from sitsfusion.training import is_synthetic

    cfg = load(config_path, overrides)
    t0 = time.perf_counter()
    result = predict_maps(cfg, ckpt, out, split=split, batch_size=batch_size)
    table = Table(title=f"{cfg.name}: maps of the {split} split")
    for col in ("samples", "patch maps", "parcels", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(
        str(result.n_samples),
        str(len(result.maps)),
        str(result.n_parcels),
        f"{time.perf_counter() - t0:.1f}",
    )
    console.print(table)
    console.print(
        f"maps: {out / 'maps'}" + (f"\nparcels: {result.parcels}" if result.parcels else "")
    )
    if is_synthetic(cfg.data.root):
        console.print(f"[yellow]note:[/] {SYNTHETIC_NOTE}")
