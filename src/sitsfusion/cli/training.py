"""``sitsfusion fit``, ``validate``, ``test`` and ``params``: train and score models."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from sitsfusion.cli.app import cli, config_option, console, load, print_scores, set_option


@cli.command()
@config_option
@set_option
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Run folder.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier run in the run folder.")
def fit(config_path: Path, overrides: tuple[str, ...], out: Path | None, overwrite: bool) -> None:
    """Train a model, keep the best checkpoint (validation mIoU), test it."""
    from sitsfusion.training import fit as run_fit
    from sitsfusion.training import is_synthetic

    cfg = load(config_path, overrides)
    result = run_fit(cfg, out, overwrite=overwrite)
    print_scores(f"{cfg.name}: test", result.scores, is_synthetic(cfg.data.root))
    console.print(f"best checkpoint: {result.checkpoint}\nreport: {result.out_dir / 'test'}")


def _evaluate(split: str, config_path: Path, overrides: tuple[str, ...], ckpt: Path, out: Path):
    from sitsfusion.training import evaluate, is_synthetic

    cfg = load(config_path, overrides)
    scores = evaluate(cfg, ckpt, out, split=split)
    print_scores(f"{cfg.name}: {split}", scores, is_synthetic(cfg.data.root))
    console.print(f"report: {out / split}")


@cli.command()
@config_option
@set_option
@click.option("--ckpt", type=click.Path(path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/validate"))
def validate(config_path: Path, overrides: tuple[str, ...], ckpt: Path, out: Path) -> None:
    """Score a checkpoint on the validation folds."""
    _evaluate("val", config_path, overrides, ckpt, out)


@cli.command()
@config_option
@set_option
@click.option("--ckpt", type=click.Path(path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/test"))
def test(config_path: Path, overrides: tuple[str, ...], ckpt: Path, out: Path) -> None:
    """Score a checkpoint on the test folds."""
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
