"""Errors raised on bad input. Each names the file (or object) and the problem."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError", "DataWarning", "DatasetError"]


class DatasetError(ValueError):
    """A dataset on disk is missing a piece or holds something it must not.

    The message always starts with the offending path, so a user can open that file.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the file and key.

    ``keys``: the dotted keys at fault, when known (lets a caller name the files that wrote
    them).
    """

    def __init__(self, message: str, *keys: str) -> None:
        super().__init__(message)
        self.keys = keys


class DataWarning(UserWarning):
    """Input repaired, masked or dropped instead of refused, with the count: a format's
    legitimate no-data (the ``_FillValue`` of a netCDF band), parcels a label file lost, ..."""
