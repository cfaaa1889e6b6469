"""``sitsfusion robustness``: the papers' multi-run protocols."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from sitsfusion.cli.app import cli, console, load, set_option


@cli.command()
@click.option(
    "--config",
    "configs",
    type=click.Path(path_type=Path),
    multiple=True,
    required=True,
    help="Experiment YAML of a model (repeat: one per --ckpt, in the same order).",
)
@click.option("--ckpt", "ckpts", type=click.Path(path_type=Path), multiple=True, required=True)
@set_option
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--modality", default="S2", show_default=True, help="The clouded modality.")
@click.option(
    "--kept",
    default="1.0,0.9,0.7,0.5,0.3,0.1",
    show_default=True,
    help="Ratios of remaining observations (seed 001 Fig. 8).",
)
@click.option("--seeds", default="0", show_default=True, help="Seeds of the random removal.")
def robustness(
    configs: tuple[Path, ...],
    ckpts: tuple[Path, ...],
    overrides: tuple[str, ...],
    out: Path,
    modality: str,
    kept: str,
    seeds: str,
) -> None:
    """Varying cloud cover: test scores with random optical acquisitions removed."""
    from sitsfusion.experiments.cloud_robustness import run_cloud_robustness

    if len(configs) != len(ckpts):
        raise click.BadParameter(f"{len(configs)} --config for {len(ckpts)} --ckpt: pair them")
    try:
        ratios = [float(k) for k in kept.split(",") if k.strip()]
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("--kept: numbers like 1,0.5,0.3; --seeds: integers") from None
    runs = [(load(c, overrides), k) for c, k in zip(configs, ckpts, strict=True)]
    table = run_cloud_robustness(runs, out, modality=modality, kept=ratios, seeds=seed_list)
    summary = table.groupby(["model", "kept"], sort=False).mean(numeric_only=True).reset_index()
    view = Table(title=f"test scores with {modality} observations removed")
    columns = [c for c in ("OA", "mIoU", "macro_F1", "PQ") if c in summary]
    for col in ("model", "kept", *columns):
        view.add_column(col, justify="left" if col == "model" else "right")
    for row in summary.to_dict("records"):
        cells = [f"{100 * row[c]:.1f}" for c in columns]
        view.add_row(str(row["model"]), f"{100 * row['kept']:.0f} %", *cells)
    console.print(view)
    console.print(f"table: {out / 'robustness.csv'}\nfigure: {out / 'robustness.png'}")
