"""``sitsfusion reproduce NAME [--quick|--full] [--data ROOT] --out DIR`` and
``sitsfusion reproduce --list``: a paper's table or figure by one command
(:mod:`sitsfusion.reproduce`)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from sitsfusion.cli.app import SYNTHETIC_NOTE, cli, console, set_option
from sitsfusion.cli.output import print_paths

__all__ = ["reproduce"]


def _list() -> None:
    from sitsfusion.reproduce.registry import EXPERIMENTS

    view = Table(title="sitsfusion reproduce NAME")
    for col in ("name", "paper", "source", "dataset", "runs (quick / full)"):
        view.add_column(col)
    from sitsfusion.reproduce.runner import grid

    for exp in EXPERIMENTS.values():
        sizes = " / ".join(str(len(grid(exp, p))) for p in ("quick", "full"))
        view.add_row(exp.name, exp.paper, exp.source, exp.dataset.name, sizes)
    console.print(view)


@cli.command()
@click.argument("name", required=False)
@click.option("--list", "show_list", is_flag=True, help="List the experiments and exit.")
@click.option(
    "--quick",
    "preset",
    flag_value="quick",
    default=True,
    help="Small grid on a small simulated (synthetic) dataset, for a CPU [default].",
)
@click.option(
    "--full", "preset", flag_value="full", help="The paper's protocol (needs --data ROOT)."
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="A real dataset root (default with --quick: simulate one into OUT/data).",
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder.")
@set_option
def reproduce(
    name: str | None,
    show_list: bool,
    preset: str,
    data: Path | None,
    out: Path | None,
    overrides: tuple[str, ...],
) -> None:
    """Run a paper's experiment (its configs x folds x seeds) and write OUT/results.csv,
    OUT/report.md and OUT/report.html; run again, finished runs are read back."""
    from sitsfusion.reproduce.registry import EXPERIMENTS

    if show_list:
        _list()
        return
    if name is None:
        raise click.UsageError("give an experiment NAME (sitsfusion reproduce --list names them)")
    if name not in EXPERIMENTS:
        raise click.BadParameter(
            f"{name!r} is not an experiment; known: {', '.join(EXPERIMENTS)}",
            param_hint="'NAME'",
        )
    if out is None:
        raise click.UsageError("Missing option '--out'.")
    from sitsfusion.reproduce.runner import RESULTS, run_experiment

    exp = EXPERIMENTS[name]
    table = run_experiment(exp, out, preset=preset, data=data, overrides=overrides, console=console)
    if data is None:
        console.print(f"[yellow]note:[/] {SYNTHETIC_NOTE} ({out / 'data'})")
    console.print(f"{len(table)} runs")
    print_paths(
        {
            "results": out / RESULTS,
            "report": out / "report.md",
            "html": out / "report.html",
            "figure": out / "figure.png",
        }
    )
