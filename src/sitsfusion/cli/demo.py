"""``sitsfusion demo``: the main job on the embedded (synthetic) default."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from sitsfusion.cli.app import SYNTHETIC_NOTE, cli, console
from sitsfusion.cli.datasets import print_summary, show_patch
from sitsfusion.cli.output import print_paths

DATA = "pastis_r_synthetic"
"""The demo's dataset, OUT/pastis_r_synthetic."""
DEMO_RUNS = (  # (label, config) trained by the demo: seed 001 Table 1's S2 row and best row
    ("S2 only", "garnot2021/parcel/s2.yaml"),
    ("late fusion + aux + temporal dropout", "garnot2021/parcel/late_aux_td.yaml"),
)


def _config_dir() -> Path:
    """The repository's ``configs/`` folder (the demo runs from a clone)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "configs" / "garnot2021").is_dir():
            return parent / "configs"
    raise FileNotFoundError("configs/ folder not found: run the demo from a sitsfusion clone")


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Demo folder [runs/demo; with --own-area: runs/demo-area].",
)
@click.option("--patches", type=click.IntRange(min=1), default=30, show_default=True)
@click.option(
    "--size",
    type=click.IntRange(min=1),
    default=None,
    help="Patch side in pixels [64]; with --own-area: the scene's side [200, 2 km].",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--epochs",
    type=click.IntRange(min=0),
    default=None,
    help="Epochs per model (0: no training) [15; with --own-area: 10].",
)
@click.option(
    "--own-area",
    is_flag=True,
    help="The own-area path instead: simulated scene -> prepare -> fit -> maps of the area.",
)
def demo(
    out: Path | None, patches: int, size: int | None, seed: int, epochs: int | None, own_area: bool
) -> None:
    """The main job on the embedded default: simulate, read, plot, train and compare.

    Writes OUT/pastis_r_synthetic/ (the dataset), OUT/patch_<id>.png and one run folder per
    model, OUT/parcel/<name>/ (replaced when the demo runs again). With --own-area: a
    synthetic scene OUT/area/ (STAC catalog of COGs, parcels), the dataset OUT/area_ds/, the
    run OUT/semantic/<name>/ and the maps OUT/maps/ (mosaic of the area, parcels). OUT must be
    new, empty or an earlier demo's folder; it is locked while the demo runs."""
    from sitsfusion.outputs import mark_complete, output_folder

    if own_area and size is not None and size < 16:  # simulate_scene's smallest scene
        raise click.BadParameter(f"{size} is below 16 pixels for --own-area", param_hint="--size")
    if out is None:
        out = Path("runs/demo-area" if own_area else "runs/demo")
    with output_folder(out, kind="demo", reuse=True, owned=_old_demo, command="demo"):
        if own_area:
            from sitsfusion.cli.demo_area import demo_area

            demo_area(out, size or 200, seed, 10 if epochs is None else epochs, _config_dir())
        else:
            _demo(out, patches, size or 64, seed, 15 if epochs is None else epochs)
        mark_complete(out)


def _old_demo(folder: Path) -> bool:
    """A demo folder written before sitsfusion marked its folders."""
    return (folder / DATA / "metadata.geojson").is_file() and _reusable(folder / DATA)


def _reusable(data: Path) -> bool:
    """A complete synthetic dataset the simulator wrote (marked, or from before marks)."""
    from sitsfusion.data.readers import is_synthetic
    from sitsfusion.outputs import read_mark

    mark = read_mark(data)
    if mark is not None:
        return mark.get("kind") == "dataset" and bool(mark.get("complete"))
    return is_synthetic(data)


def _demo(out: Path, patches: int, size: int, seed: int, epochs: int) -> None:
    """The steps of :func:`demo` in the (locked) folder ``out``."""
    from sitsfusion.config import load_config
    from sitsfusion.data.readers.pastis import read_metadata
    from sitsfusion.simulate import simulate_pastis
    from sitsfusion.training import fit as run_fit

    data = out / DATA
    if not _reusable(data):  # absent, or interrupted while simulated: written anew
        console.rule(f"1. simulating {patches} synthetic PASTIS-R patches")
        simulate_pastis(data, patches=patches, size=size, seed=seed, progress=True)
    else:
        print_paths({"reusing": data})
    console.rule("2. reading it back through the PASTIS-R reader")
    print_summary(data)
    console.rule("3. figure")
    first = int(read_metadata(data)["ID_PATCH"].iloc[0])
    png = show_patch(data, str(first), out / f"patch_{first}.png", max_dates=8)
    print_paths({"figure": png})
    if epochs > 0:
        rows = []
        for i, (label, config) in enumerate(DEMO_RUNS, start=1):
            console.rule(f"4.{i} training PSE + L-TAE, {label} ({epochs} epochs)")
            overrides = [f"data.root={data}", f"train.epochs={epochs}", "data.batch_size=64"]
            cfg = load_config(_config_dir() / config, overrides)
            cfg.train.out_dir = str(out)  # run folders OUT/<task>/<name>
            result = run_fit(cfg, overwrite=True)
            rows.append((label, result.scores, result.report_dir))
        table = Table(title=f"parcel classification, test fold 5 ({SYNTHETIC_NOTE})")
        for col in ("model", "OA", "mIoU", "macro F1"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for label, scores, _ in rows:
            table.add_row(
                label,
                f"{100 * scores['overall_accuracy']:.1f}",
                f"{100 * scores['miou']:.1f}",
                f"{100 * scores['macro_f1']:.1f}",
            )
        console.rule("5. comparison")
        console.print(table)
        console.print("per-class scores and confusion matrices:")
        print_paths({label: report for label, _, report in rows})
    console.print(f"[yellow]note:[/] every number above is from {SYNTHETIC_NOTE}")
