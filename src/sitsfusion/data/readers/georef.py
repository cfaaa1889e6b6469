"""Checks of the georeferencing readers report: a CRS that parses, a pixel grid of non-zero size.

``meta["crs"]`` and ``meta["transform"]`` go into maps and GeoPackages; an unparsable CRS or
a zero pixel size found there would surface far from the file that holds it, so the readers
check them when they read the file.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sitsfusion.errors import DatasetError

__all__ = ["check_pixel_size", "crs_name", "parse_crs", "same_crs"]


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> Any:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_user_input(text)
    except CRSError:
        return None


def parse_crs(path: str | Path, text: str, what: str = "CRS") -> Any:
    """The :class:`pyproj.CRS` of ``text`` (EPSG code, WKT, PROJ string); parsed once per
    distinct text (datasets repeat a few CRSs over thousands of files).

    Raises:
        DatasetError: ``"<path>: <what> '...' is not a CRS"``.
    """
    crs = _parse(str(text))
    if crs is None:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise DatasetError(path, f"{what} {shown!r} is not a CRS (EPSG code, WKT or PROJ string)")
    return crs


def same_crs(a: str | None, b: str | None) -> bool:
    """Whether two CRS texts describe the same CRS (identical texts need no parsing)."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    crs_a, crs_b = _parse(a), _parse(b)
    return crs_a is not None and crs_b is not None and crs_a == crs_b


def crs_name(text: str | None) -> str:
    """``"EPSG:2154"`` (or the CRS's name, or the text) of a CRS text, for messages."""
    if text is None:
        return "no CRS"
    crs = _parse(str(text))
    if crs is None:
        return repr(text[:40])
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else str(crs.name)


def check_pixel_size(path: str | Path, transform: Sequence[float]) -> None:
    """An affine ``(a, b, c, d, e, f)`` (rasterio order) with finite values and a non-zero
    pixel area (``a e − b d ≠ 0``).

    Raises:
        DatasetError: naming ``path`` and the pixel size found.
    """
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    if not all(math.isfinite(v) for v in (a, b, c, d, e, f)) or a * e - b * d == 0:
        raise DatasetError(
            path,
            f"geotransform has a pixel size of {a:g} x {e:g} (rotation {b:g}, {d:g}); expected "
            "a non-zero finite pixel size",
        )
