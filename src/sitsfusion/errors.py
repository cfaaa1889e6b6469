"""Errors raised on bad input. Each names the file (or object) and the problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["DatasetError", "read_json"]


class DatasetError(ValueError):
    """A dataset on disk is missing a piece or holds something it must not.

    The message always starts with the offending path, so a user can open that file.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def read_json(path: str | Path) -> Any:
    """The JSON document at ``path``; :class:`DatasetError` if missing or unreadable."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DatasetError(path, "missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(path, f"not a readable JSON file ({exc})") from None
