"""``sitsfusion simulate``: synthetic datasets in the real on-disk formats."""

from __future__ import annotations

import time
from pathlib import Path

import click

from sitsfusion.cli.app import SYNTHETIC_NOTE, cli, console


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New folder.")
@click.option("--patches", default=20, show_default=True, help="Number of patches.")
@click.option("--size", default=128, show_default=True, help="Patch side H = W in pixels.")
@click.option("--seed", default=0, show_default=True, help="Random seed (deterministic).")
@click.option("--region", default="west", show_default=True, help="Shifts phenology.")
@click.option("--year", default=2019, show_default=True, help="Season year (shifts dates).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pastis-r", "multisenge", "sen4agrinet"]),
    default="pastis-r",
    show_default=True,
    help="On-disk layout to write.",
)
@click.option(
    "--cloud-cover",
    type=float,
    default=None,
    help="Fraction of cloudy S2 pixels (default: simulator's).",
)
def simulate(
    out: Path,
    patches: int,
    size: int,
    seed: int,
    region: str,
    year: int,
    fmt: str,
    cloud_cover: float | None,
) -> None:
    """Write a synthetic dataset in the exact PASTIS-R, MultiSenGE or Sen4AgriNet format."""
    common = {"patches": patches, "size": size, "seed": seed}
    clouds = {} if cloud_cover is None else {"cloud_cover": cloud_cover}
    if fmt == "multisenge":
        from sitsfusion.data.simulate_multisenge import simulate_multisenge as writer

        kwargs, label = common, "MultiSenGE-format patches"
    elif fmt == "sen4agrinet":
        from sitsfusion.data.simulate_sen4agrinet import simulate_sen4agrinet as writer

        kwargs = {**common, **clouds, "region": region, "year": year, "progress": True}
        label = f"Sen4AgriNet-format patches ({region}, {year})"
    else:
        from sitsfusion.data.simulate import simulate_pastis as writer

        kwargs = {**common, **clouds, "region": region, "year": year, "progress": True}
        label = "PASTIS-R-format patches"
    t0 = time.perf_counter()
    writer(out, **kwargs)
    console.print(
        f"wrote {patches} {label} of {size}x{size} to [bold]{out}[/] in "
        f"{time.perf_counter() - t0:.1f} s ({SYNTHETIC_NOTE})"
    )
