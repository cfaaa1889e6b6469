"""The ``sitsfusion`` command group and what its commands share (console, options, scores)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from sitsfusion import __version__

console = Console()

SYNTHETIC_NOTE = "synthetic data from the sitsfusion simulator, not a real dataset"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, package_name="sitsfusion")
def cli() -> None:
    """Crop and land-cover mapping from multi-sensor satellite image time series."""


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    multiple=True,
    required=True,
    help="Experiment YAML (configs/...); repeat to merge several files, left to right.",
)
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help=(
        "Override a config value, e.g. --set train.epochs=2 --set data.root=DATA. Text keys "
        "(paths, names, choices) take VALUE literally (data.root=2019 is the folder '2019'); "
        "other keys read it as YAML ([S2, S1A], 1e-3, true), then check its type."
    ),
)


batch_size_option = click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Default: the config's."
)
smooth_option = click.option(
    "--smooth",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Smooth the class probabilities with a Gaussian of this sigma (pixels).",
)
mmu_option = click.option(
    "--mmu",
    type=click.IntRange(min=1),
    default=None,
    help="Minimum mapping unit in pixels (smaller regions take their largest neighbour's class).",
)
precision_option = click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    show_default=True,
    help="Inference precision (bf16: about 2-3x faster on CPUs with bf16 units, >= 99 % of "
    "pixels as fp32; docs/benchmarks.md).",
)


def load(config_path: Path | Sequence[Path], overrides: Sequence[str]) -> Any:  # ExperimentConfig
    """The config of one file or several (merged left to right), then the overrides."""
    from sitsfusion.config import load_config

    return load_config(config_path, overrides)


def print_scores(title: str, scores: dict, synthetic: bool) -> None:
    table = Table(title=title + (" (synthetic data)" if synthetic else ""))
    columns = {"OA": "overall_accuracy", "mIoU": "miou", "macro F1": "macro_f1"}
    columns |= {"kappa": "kappa", "weighted F1": "weighted_f1"}
    if "PQ" in scores:  # panoptic segmentation (seed 001 Sec. 4.5)
        columns |= {"SQ": "SQ", "RQ": "RQ", "PQ": "PQ"}
    for col in columns:
        table.add_column(col, justify="right")
    table.add_row(*(f"{100 * float(scores[k]):.1f}" for k in columns.values()))
    console.print(table)
