"""``sitsfusion experiment ...``: the papers' multi-run protocols and the real-data experiments.

``experiment robustness`` (also ``sitsfusion robustness``, its documented name),
``experiment real-sequences`` and ``experiment real-pixelset``. Each writes to
``runs/<experiment name>`` unless ``--out`` says otherwise. Lists of numbers are written with
commas (``--kept 1,0.5``, ``--seeds 0,1,2``); names are given by repeating the option
(``--models TempCNN --models LSTM``). The experiment modules (torch, scikit-learn) are
imported when a command runs, not when the CLI starts.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from sitsfusion.cli.app import cli, console, load, set_option
from sitsfusion.cli.output import print_paths

__all__ = ["NumberList", "experiment"]


class NumberList(click.ParamType):
    """Comma-separated numbers of one type: ``1,0.5,0.3`` (floats) or ``0,1,2`` (ints)."""

    name = "list"

    def __init__(self, kind: type[int] | type[float], minimum: float | None = None) -> None:
        self.kind, self.minimum = kind, minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            items = tuple(self.kind(v) for v in str(value).split(",") if v.strip())
        except ValueError:
            example = "0,1,2" if self.kind is int else "1,0.5,0.3"
            self.fail(f"{value!r}: expected {self.kind.__name__}s like {example}", param, ctx)
        if not items:
            self.fail("give at least one value", param, ctx)
        if self.minimum is not None and min(items) < self.minimum:
            self.fail(f"{value!r}: every value must be >= {self.minimum}", param, ctx)
        return items


class Name(click.ParamType):
    """One of the names of ``module.attribute``, checked when the command runs (the module
    imports torch: the CLI starts without it)."""

    name = "name"

    def __init__(self, module: str, attribute: str) -> None:
        self.module, self.attribute = module, attribute

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        names = list(getattr(importlib.import_module(self.module), self.attribute))
        if value not in names:
            self.fail(f"{value!r} is not one of {', '.join(map(repr, names))}", param, ctx)
        return value


@cli.group()
def experiment() -> None:
    """The papers' multi-run protocols and the experiments on small real datasets."""


@experiment.command()
@click.option(
    "--config",
    "configs",
    type=click.Path(path_type=Path),
    multiple=True,
    required=True,
    help="Experiment YAML of a model (repeat: one per --ckpt, in the same order).",
)
@click.option(
    "--ckpt",
    "ckpts",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    multiple=True,
    required=True,
    help="Checkpoint of a model (repeat: one per --config).",
)
@set_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("runs/robustness"),
    show_default=True,
    help="Output folder.",
)
@click.option("--modality", default="S2", show_default=True, help="The clouded modality.")
@click.option(
    "--kept",
    type=NumberList(float),
    default="1.0,0.9,0.7,0.5,0.3,0.1",
    show_default=True,
    help="Ratios of remaining observations (seed 001 Fig. 8).",
)
@click.option(
    "--seeds",
    type=NumberList(int, minimum=0),
    default="0",
    show_default=True,
    help="Removal seeds.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Score everything again (default: read the evaluations already in --out).",
)
def robustness(
    configs: tuple[Path, ...],
    ckpts: tuple[Path, ...],
    overrides: tuple[str, ...],
    out: Path,
    modality: str,
    kept: tuple[float, ...],
    seeds: tuple[int, ...],
    overwrite: bool,
) -> None:
    """Varying cloud cover: test scores with random optical acquisitions removed; run again,
    it scores only what is missing in --out."""
    from sitsfusion.experiments.cloud_robustness import run_cloud_robustness

    if len(configs) != len(ckpts):
        raise click.BadParameter(f"{len(configs)} --config for {len(ckpts)} --ckpt: pair them")
    runs = [(load(c, overrides), k) for c, k in zip(configs, ckpts, strict=True)]
    table = run_cloud_robustness(
        runs, out, modality=modality, kept=kept, seeds=seeds, overwrite=overwrite
    )
    summary = table.groupby(["model", "kept"], sort=False).mean(numeric_only=True).reset_index()
    view = Table(title=f"test scores with {modality} observations removed")
    columns = [c for c in ("OA", "mIoU", "macro_F1", "PQ") if c in summary]
    for col in ("model", "kept", *columns):
        view.add_column(col, justify="left" if col == "model" else "right")
    for row in summary.to_dict("records"):
        cells = [f"{100 * row[c]:.1f}" for c in columns]
        view.add_row(str(row["model"]), f"{100 * row['kept']:.0f} %", *cells)
    console.print(view)
    print_paths({"table": out / "robustness.csv", "figure": out / "robustness.png"})


cli.add_command(robustness)  # the documented top-level name, same command


@experiment.command("real-sequences")
@click.option(
    "--dataset",
    type=Name("sitsfusion.experiments.real_sequences", "DATASETS"),
    required=True,
    help="formosat2 (Formosat-2, Toulouse 2006) or rondonia (Sentinel-2, Rondonia 2018-19).",
)
@click.option(
    "--root",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    required=True,
    help="The dataset folder: tempcnn_formosat2/ or sits_s2_rondonia/.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder (default: runs/real_<dataset>).",
)
@click.option(
    "--repetitions",
    type=NumberList(int, minimum=0),
    default=None,
    help="Seeds (formosat2, default 0,1,2) or folds (rondonia, default 0,1,2,3,4).",
)
@click.option(
    "--models",
    type=Name("sitsfusion.experiments.real_sequences", "MODELS"),
    multiple=True,
    help="A model to train (repeat; default: TempCNN, LSTM, Transformer, PSE+L-TAE).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Default: the configs'.")
@set_option
@click.option(
    "--trees",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Random-forest trees.",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Torch threads."
)
@click.option("--overwrite", is_flag=True, help="Restart instead of resuming.")
def real_sequences(
    dataset: str,
    root: Path,
    out: Path | None,
    repetitions: tuple[int, ...] | None,
    models: tuple[str, ...],
    epochs: int | None,
    overrides: tuple[str, ...],
    trees: int,
    threads: int,
    overwrite: bool,
) -> None:
    """TempCNN, LSTM, Transformer, PSE + L-TAE and a random forest on small real datasets
    (docs/real-data.md); resumable."""
    from sitsfusion.experiments.real_sequences import DEFAULT_MODELS, run_real_sequences

    run_real_sequences(
        dataset,
        root,
        out or Path(f"runs/real_{dataset}"),
        repetitions=repetitions,
        models=models or DEFAULT_MODELS,
        epochs=epochs,
        overrides=overrides,
        n_estimators=trees,
        overwrite=overwrite,
        num_threads=threads,
        console=console,
    )


@experiment.command("real-pixelset")
@click.option(
    "--root",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    required=True,
    help="The pixelset_karnataka_hls folder.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("runs/real_pixelset"),
    show_default=True,
    help="Output folder.",
)
@click.option(
    "--seeds",
    type=NumberList(int, minimum=0),
    default="0,1,2,3,4",
    show_default=True,
    help="Seeds.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Default: the config's.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="PSE + L-TAE config (default: configs/real/karnataka_s2.yaml).",
)
@set_option
@click.option("--rf-fit-on-val", is_flag=True, help="Fit the forest on train + val.")
@click.option(
    "--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Torch threads."
)
@click.option("--overwrite", is_flag=True, help="Replace an earlier run.")
def real_pixelset(
    root: Path,
    out: Path,
    seeds: tuple[int, ...],
    epochs: int | None,
    config_path: Path | None,
    overrides: tuple[str, ...],
    rf_fit_on_val: bool,
    threads: int,
    overwrite: bool,
) -> None:
    """PSE + L-TAE against a random forest on a small real dataset (369 parcels, Karnataka,
    HLS; docs/real-data.md)."""
    from sitsfusion.experiments.real_pixelset import run_real_pixelset

    run_real_pixelset(
        root,
        seeds=seeds,
        out_dir=out,
        epochs=epochs,
        config=config_path,
        overrides=overrides,
        rf_fit_on_val=rf_fit_on_val,
        overwrite=overwrite,
        num_threads=threads,
        console=console,
    )
