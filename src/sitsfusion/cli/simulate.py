"""``sitsfusion simulate``: synthetic datasets in the real on-disk formats.

Defaults depend on ``--format`` (:data:`sitsfusion.simulate.formats.FORMATS`): each format gets
its real patch size, a region it knows, and, for MultiSenGE, tiles of the paper's train, val
and test split, so that the format's configs train on the default output.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sitsfusion.cli.app import SYNTHETIC_NOTE, cli, console
from sitsfusion.simulate.formats import FORMATS, SimulatorFormat, uncovered_splits

T = TypeVar("T")
_PATCHES = 20  # default number of patches of the patch formats


def _per_format(describe: Callable[[SimulatorFormat], object | None]) -> str:
    """``"pastis-r: 128, sen4agrinet: 366, ..."`` for the formats where the option applies."""
    parts = [f"{f.name}: {describe(f)}" for f in FORMATS.values() if describe(f) is not None]
    return "; ".join(parts)


def _checked(option: str, check: Callable[[Any], T], value: Any) -> T:
    """``check(value)``, its ValueError turned into click's one-line usage error."""
    try:
        return check(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'--{option}'") from None


def _size_rule(f: SimulatorFormat) -> str:
    step, low, _ = f.size_rule()
    return f"{f.size} ({f'a multiple of {step}' if step > 1 else f'>= {low}'})"


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="New folder (sen4agrinet: may hold patches of other regions / years).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="pastis-r",
    show_default=True,
    help="On-disk layout to write.",
)
@click.option(
    "--patches",
    type=int,
    default=None,
    help=f"Number of patches [default: {_PATCHES}; scene: one scene, not an option].",
)
@click.option(
    "--size",
    type=int,
    default=None,
    help=f"Patch side H = W in pixels [default per format: {_per_format(_size_rule)}].",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Random seed (deterministic).",
)
@click.option(
    "--region",
    default=None,
    help="Region (shifts phenology, weather, crops) [default per format: "
    + _per_format(lambda f: f.region)
    + "; valid: "
    + _per_format(lambda f: None if f.region is None else "|".join(f.regions))
    + " (pastis-r, scene: any other name is hashed into a shifted region)].",
)
@click.option(
    "--year",
    type=int,
    default=None,
    help=f"Season year [default per format: {_per_format(lambda f: f.year)}; "
    "multisenge: 2020 only].",
)
@click.option(
    "--cloud-cover",
    type=float,
    default=None,
    help="Fraction of cloudy S2 pixels, 0..1 (pastis-r, sen4agrinet, scene) "
    "[default: the simulator's].",
)
@click.option(
    "--subpatch",
    type=int,
    default=None,
    help="Sen4AgriNet only: side of the sub-patches the training config cuts "
    "(data.reader.subpatch); --size must be a multiple of it "
    f"[default: {FORMATS['sen4agrinet'].subpatch}, as configs/sykas2022].",
)
@click.option(
    "--tiles",
    default=None,
    help="MultiSenGE only: comma-separated Sentinel-2 tiles, patches spread over them in turn "
    f"[default: {','.join(FORMATS['multisenge'].tiles or ())}: train, val and test tiles of "
    "the paper's split].",
)
@click.option(
    "--geotiff",
    is_flag=True,
    help="Scene only: also write the GeoTIFF-folder layout, "
    "OUT/geotiff/<S2|S1A|S1D>_<YYYYMMDD>.tif (one multi-band file per date).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a dataset sitsfusion simulated at OUT (never a folder it did not create).",
)
def simulate(
    out: Path,
    fmt: str,
    patches: int | None,
    size: int | None,
    seed: int,
    region: str | None,
    year: int | None,
    cloud_cover: float | None,
    subpatch: int | None,
    tiles: str | None,
    geotiff: bool,
    overwrite: bool,
) -> None:
    """Write a synthetic dataset in the exact PASTIS-R, MultiSenGE or Sen4AgriNet format, or
    an own-area scene (``--format scene``: Sentinel-2 / Sentinel-1 COGs in a STAC catalog,
    OUT/catalog.json, and the parcels, OUT/parcels.gpkg).

    The files are written into a hidden sibling of OUT and moved in when complete: a run
    that is killed leaves no folder that reads as a dataset, and running it again works."""
    spec = FORMATS[fmt]
    kwargs: dict[str, Any] = {"seed": seed}
    if not spec.patches:
        if patches is not None:
            raise click.BadParameter(
                f"{spec.title} is one area, not patches: do not pass it (--size sets its side)",
                param_hint="'--patches'",
            )
    else:
        patches = _PATCHES if patches is None else patches
        if patches < 1:
            raise click.BadParameter(f"must be >= 1, got {patches}", param_hint="'--patches'")
        kwargs["patches"] = patches
    if geotiff:
        if not spec.geotiff:
            raise click.BadParameter(
                f"{spec.title} has no GeoTIFF-folder layout (--format scene has)",
                param_hint="'--geotiff'",
            )
        kwargs["geotiff"] = True
    _checked("subpatch", spec.check_subpatch, subpatch)  # None: the configs' side
    kwargs["size"] = size = _checked("size", lambda v: spec.check_size(v, subpatch), size)
    values = {
        "region": _checked("region", spec.check_region, region),
        "year": _checked("year", spec.check_year, year),
        "cloud_cover": _checked("cloud-cover", spec.check_cloud_cover, cloud_cover),
        "tiles": _checked("tiles", spec.check_tiles, tiles),
    }
    kwargs |= {k: v for k, v in values.items() if v is not None}
    if spec.tiles is not None and patches is not None:
        missing = uncovered_splits(kwargs["tiles"], patches)
        if missing:
            console.print(
                f"[yellow]note:[/] no patch falls in the {'/'.join(missing)} tiles of the "
                "paper's split: configs/wenger2022 need data.*_tiles overrides to train on it"
            )
    if spec.progress:
        kwargs["progress"] = True
    if overwrite:
        kwargs["overwrite"] = True
    if spec.any_region and values["region"] not in spec.regions:
        console.print(
            f"[yellow]note:[/] region {values['region']!r} is not one of "
            f"{', '.join(spec.regions)}: its phenology is shifted by a hash of the name"
        )
    where = ", ".join(str(values[k]) for k in ("region", "year") if values[k] is not None)
    t0 = time.perf_counter()
    spec.writer(out, **kwargs)
    what = f"{patches} {spec.title}-format patches" if spec.patches else f"an {spec.title}"
    console.print(
        f"wrote {what}{f' ({where})' if where else ''} of "
        f"{size}x{size} to [bold]{out}[/] in {time.perf_counter() - t0:.1f} s ({SYNTHETIC_NOTE})"
    )
