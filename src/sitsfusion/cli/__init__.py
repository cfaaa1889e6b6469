"""The ``sitsfusion`` command line, one module per group of commands.

``app`` holds the group and what the commands share; ``simulate`` (synthetic datasets),
``datasets`` (``info``, ``show``, ``aggregate``), ``training`` (``fit``, ``validate``, ``test``,
``params``), ``maps`` (``predict``), ``mapping`` (``map``), ``view``, ``assess``,
``experiments`` (multi-run protocols), ``reproduce`` (the papers' experiments) and ``demo``
each register their commands on it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click
from rich.text import Text

from sitsfusion.cli import (  # noqa: F401
    assess,
    config,
    datasets,
    demo,
    experiments,
    mapping,
    maps,
    prepare,
    reproduce,
    simulate,
    training,
    view,
)
from sitsfusion.cli.app import cli, console
from sitsfusion.errors import DatasetError

__all__ = ["LOG_WIDTH", "cli", "main"]

LOG_WIDTH = 160
"""Console width when output goes to a file or a pipe (rich would wrap at 80 columns)."""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point (``argv``: the arguments, default the command line's): bad input ends with
    its one-line message, not a traceback. When output is not a terminal (a log file, a pipe),
    printed lines are not wrapped at 80 columns, so paths stay whole, and tables get
    :data:`LOG_WIDTH` columns (the console is set back afterwards)."""
    wrap, width = console.soft_wrap, console._width  # what the console was built with
    if not console.is_terminal:
        console.soft_wrap = True
        if "COLUMNS" not in os.environ:  # a log file has no width: keep table rows on one line
            console.width = LOG_WIDTH
    try:
        cli.main(args=None if argv is None else list(argv), standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (
        DatasetError,
        FileExistsError,
        FileNotFoundError,
        ValueError,
        KeyError,
        ImportError,
    ) as exc:
        console.print(Text.assemble(("error: ", "red"), str(exc)), soft_wrap=True)
        sys.exit(2)
    except OSError as exc:  # the system refused (disk full, permission, ...): say what, where
        where = f"{exc.filename}: " if exc.filename else ""
        console.print(
            Text.assemble(("error: ", "red"), where, exc.strerror or str(exc)), soft_wrap=True
        )
        sys.exit(2)
    finally:
        console.soft_wrap, console._width = wrap, width
