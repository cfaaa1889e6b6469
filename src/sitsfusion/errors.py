"""Errors raised on bad input. Each names the file (or object) and the problem."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DatasetError"]


class DatasetError(ValueError):
    """A dataset on disk is missing a piece or holds something it must not.

    The message always starts with the offending path, so a user can open that file.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")
