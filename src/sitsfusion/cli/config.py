"""``sitsfusion config``: a resolved config with the files it came from, and the key reference."""

from __future__ import annotations

from pathlib import Path

import click

from sitsfusion.cli.app import cli, console, set_option


@cli.group("config")
def config_group() -> None:
    """Experiment configs: resolved values and the reference of every key."""


@config_group.command("show")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@set_option
def show(files: tuple[Path, ...], overrides: tuple[str, ...]) -> None:
    """Print the config resolved from FILES and --set, as YAML naming each value's source.

    FILES merge left to right, each after its `extends` bases (no file: the defaults); the
    overrides apply last. The output is itself a valid config file.
    """
    from sitsfusion.config import compose_config
    from sitsfusion.config_docs import annotated_yaml

    click.echo(annotated_yaml(compose_config(files, overrides)), nl=False)


@config_group.command("keys")
@click.argument("section", required=False, type=click.Choice(["data", "model", "train"]))
def keys(section: str | None) -> None:
    """Print every config key (or those of SECTION): type, default, meaning and source."""
    from sitsfusion.config_docs import keys_text

    click.echo(keys_text(section), nl=False)


@config_group.command("docs")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the page to this file (docs/configuration.md) instead of printing it.",
)
def docs(out: Path | None) -> None:
    """Print (or write) the Markdown key reference, docs/configuration.md."""
    from sitsfusion.config_docs import GENERATED_MARK, markdown_page
    from sitsfusion.io import write_text_atomic

    page = markdown_page()
    if out is None:
        click.echo(page, nl=False)
        return
    if out.exists() and GENERATED_MARK not in out.read_text(encoding="utf-8", errors="replace"):
        raise click.ClickException(
            f"{out}: exists and was not written by `sitsfusion config docs`; not overwritten"
        )
    write_text_atomic(out, page)
    console.print(f"wrote {out}", soft_wrap=True)
