"""Printing paths: one per line, never wrapped, so a log keeps them whole and copyable."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rich.text import Text

from sitsfusion.cli.app import console

__all__ = ["print_paths"]


def print_paths(paths: Mapping[str, str | Path]) -> None:
    """Print ``label: path`` lines outside any table, with rich's soft wrap: a path longer
    than the console (80 columns when output is not a terminal) is never cut mid-name, and
    brackets in it are not read as markup."""
    for label, path in paths.items():
        console.print(Text.assemble((f"{label}: ", "bold"), str(path)), soft_wrap=True)
