"""``sitsfusion fit``, ``validate``, ``test`` and ``params``: train and score models.

``fit`` writes a run folder (default ``<train.out_dir>/<task>/<name>``); ``validate`` and
``test`` write the report of a checkpoint into its run folder (``<run>/val/``,
``<run>/test/``) unless ``--out`` names another folder (see :mod:`sitsfusion.runs`).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from sitsfusion.cli.app import cli, config_option, console, load, print_scores, set_option
from sitsfusion.cli.output import print_paths


@cli.command()
@config_option
@set_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Run folder (default: <train.out_dir>/<task>/<name>).",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace an earlier run in the run folder (a run only)."
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in the run folder from its last finished epoch (same config); "
    "a finished run is shown as it is, an empty folder starts a new run.",
)
def fit(
    config_path: Path,
    overrides: tuple[str, ...],
    out: Path | None,
    overwrite: bool,
    resume: bool,
) -> None:
    """Train a model, keep the best checkpoint (validation mIoU), test it."""
    from sitsfusion.training import fit as run_fit
    from sitsfusion.training import is_synthetic

    cfg = load(config_path, overrides)
    result = run_fit(cfg, out, overwrite=overwrite, resume=resume)
    if result.resumed == "finished":
        console.print(f"{result.out_dir}: this run had finished; nothing to resume")
    print_scores(f"{cfg.name}: test", result.scores, is_synthetic(cfg.data.root))
    paths: dict[str, Path] = {"run folder": result.out_dir}
    if result.checkpoint is not None:
        paths["best checkpoint"] = result.checkpoint
    if result.report_dir is not None:
        paths["report"] = result.report_dir
    print_paths(paths)


def _evaluate(
    split: str, config_path: Path, overrides: tuple[str, ...], ckpt: Path, out: Path | None
) -> None:
    from sitsfusion.runs import run_folder_of
    from sitsfusion.training import evaluate, is_synthetic

    cfg = load(config_path, overrides)
    report = out if out is not None else run_folder_of(ckpt) / split
    scores = evaluate(cfg, ckpt, report, split=split)
    print_scores(f"{cfg.name}: {split}", scores, is_synthetic(cfg.data.root))
    print_paths({"report": report})


ckpt_option = click.option(
    "--ckpt",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="Checkpoint to score (<run>/checkpoints/best.ckpt).",
)


def _out_option(split: str) -> click.Option:  # a decorator
    return click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=None,
        help=f"Report folder (default: <run>/{split}/, in the checkpoint's run folder; "
        "needed for a checkpoint outside a run folder).",
    )


@cli.command()
@config_option
@set_option
@ckpt_option
@_out_option("val")
def validate(config_path: Path, overrides: tuple[str, ...], ckpt: Path, out: Path | None) -> None:
    """Score a checkpoint on the validation set: val_metrics.json, val_per_class.csv, ..."""
    _evaluate("val", config_path, overrides, ckpt, out)


@cli.command()
@config_option
@set_option
@ckpt_option
@_out_option("test")
def test(config_path: Path, overrides: tuple[str, ...], ckpt: Path, out: Path | None) -> None:
    """Score a checkpoint on the test set: test_metrics.json, test_per_class.csv, ..."""
    _evaluate("test", config_path, overrides, ckpt, out)


# C per modality when no dataset is at hand: PASTIS-R (S2 10 bands, S1 VV/VH/ratio) and
# seed 000's S1 with VV, VH only.
DEFAULT_CHANNELS = {"S2": 10, "S1A": 3, "S1D": 3, "S1": 2}


@cli.command()
@config_option
@set_option
@click.option(
    "--channels",
    default=None,
    help="C per modality, e.g. S2=10,S1=2 (default: from the dataset, else PASTIS-R's).",
)
def params(config_path: Path, overrides: tuple[str, ...], channels: str | None) -> None:
    """Print the trainable parameters of the configured model, per module."""
    from sitsfusion.models.builder import build_model, count_parameters

    cfg = load(config_path, overrides)
    given = dict(DEFAULT_CHANNELS)
    if channels:
        try:
            given |= {k: int(v) for k, v in (item.split("=") for item in channels.split(","))}
        except ValueError:
            raise click.BadParameter(f"{channels!r}: expected MOD=C,MOD=C") from None
    chans = {m: given.get(m, 0) for m in cfg.data.modalities}
    unknown = [m for m, c in chans.items() if c <= 0]
    if unknown:
        raise click.BadParameter(f"give --channels for {unknown}")
    from torch import nn

    model = build_model(cfg, chans)
    table = Table(title=f"{cfg.name}: trainable parameters")
    table.add_column("module")
    table.add_column("parameters", justify="right")
    for name, child in model.named_children():
        if isinstance(child, nn.ModuleDict):
            for sub, mod in child.items():
                table.add_row(f"{name}.{sub}", f"{count_parameters(mod):,}")
        else:
            table.add_row(name, f"{count_parameters(child):,}")
    table.add_row("[bold]total[/]", f"[bold]{count_parameters(model):,}[/]")
    console.print(table)
