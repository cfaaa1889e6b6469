"""sitsfusion: crop and land-cover mapping from multi-sensor satellite image time series."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["__version__"]


def _version() -> str:
    """The ``version`` of ``pyproject.toml``, the one place it is written.

    From a source checkout (``src/sitsfusion`` two levels below ``pyproject.toml``) it is read
    from the file, since an editable install keeps the version of the day it was installed;
    otherwise from the installed distribution's metadata; ``0+unknown`` when neither exists.
    """
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        except (OSError, tomllib.TOMLDecodeError):
            project = {}
        if project.get("name") == "sitsfusion" and isinstance(project.get("version"), str):
            return project["version"]
    try:
        return version("sitsfusion")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()
