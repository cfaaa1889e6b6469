"""``sitsfusion view``: a self-contained HTML look at a class map (works offline)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.text import Text

from sitsfusion.cli.app import SYNTHETIC_NOTE, cli, console
from sitsfusion.cli.output import print_paths

__all__ = ["VIEW_FILE", "display_available", "open_in_browser"]

VIEW_FILE = "view.html"
"""The page's default name, beside the class map."""

_vector = click.Path(path_type=Path, dir_okay=False)


def display_available() -> bool:
    """Whether a browser window can be shown: always on macOS and Windows; on other systems
    when an X11 or Wayland display is set."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_in_browser(page: Path) -> bool:
    """Open ``page`` in the default browser; False (never an error) when none opens it."""
    import webbrowser

    try:
        return bool(webbrowser.open(page.resolve().as_uri()))
    except Exception:  # webbrowser.Error, a browser that fails to start: the page is written
        return False


@cli.command()
@click.argument("classes_tif", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--parcels",
    type=_vector,
    default=None,
    help="Parcels to draw: a GeoPackage with a 'parcels' layer (as 'sitsfusion map' writes).",
)
@click.option(
    "--points",
    type=_vector,
    default=None,
    help="Assessment points to draw: the GeoPackage 'sitsfusion assess design' writes.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"The page to write. Default: {VIEW_FILE} beside CLASSES_TIF.",
)
@click.option("--title", default=None, help="Page title. Default: the map's folder and name.")
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many pixels of the map are embedded (the map is decimated). "
    "Default 2,000,000.",
)
@click.option(
    "--open/--no-open",
    "open_page",
    default=None,
    help="Open the page in the browser. Default: when a display is available.",
)
def view(
    classes_tif: Path,
    parcels: Path | None,
    points: Path | None,
    out: Path | None,
    title: str | None,
    max_pixels: int | None,
    open_page: bool | None,
) -> None:
    """Write a self-contained HTML look at a class map (CLASSES_TIF: the classes.tif of
    'sitsfusion map' or the mosaic.tif of 'predict'): the map with its legend, the parcels and
    the assessment points, with pan, zoom, layer toggles and tooltips. The page needs no
    network: open it anywhere, send it by mail.

    An existing file at --out is replaced only when it is a page sitsfusion wrote."""
    from sitsfusion.mapping.view import MAX_PIXELS, write_view

    page = write_view(
        out if out is not None else classes_tif.parent / VIEW_FILE,
        classes_tif,
        parcels=parcels,
        points=points,
        title=title,
        max_pixels=max_pixels or MAX_PIXELS,
    )
    print_paths({"view": page})
    if _is_synthetic(classes_tif):
        console.print(f"[yellow]note:[/] the map was made from {SYNTHETIC_NOTE}")
    if open_page is None:
        open_page = display_available()
    if open_page and not open_in_browser(page):
        console.print(
            Text.assemble(("note: ", "yellow"), "no browser opened it; open ", str(page)),
            soft_wrap=True,
        )


def _is_synthetic(classes_tif: Path) -> bool:
    """The map's ``synthetic`` tag (read again: the page is written, the file is known good)."""
    from sitsfusion.assessment.classmap import open_class_map

    return open_class_map(classes_tif).synthetic
