"""Plausible band values per modality, and the one check of band values every reader runs.

A reader refuses a band value that no sensor gives: NaN or ±inf (and a table cell that
overflows float32 to inf), or a finite magnitude outside the modality's plausible range
(a reflectance of 3e38, a backscatter of 1e5 dB). The ranges are deliberately wide (storage
limits, not physics), so real data in any of the units sitsfusion reads passes; they catch
garbage, not outliers.

=========  =======================  ==============================================================
modality   range                    source
=========  =======================  ==============================================================
``S2*``    −32,768 … 65,535         Sentinel-2 L2A stores BOA reflectance × 10,000 (quantification
                                    value) as 16-bit integers, with an offset of −1,000 since
                                    processing baseline 04.00 (ESA L2A product specification);
                                    PASTIS S2 spans −10,000 … 22,626 (anchors-code.md §3,
                                    pangaea-bench). Reflectances (× 1e-4), indices (−1 … 1) and
                                    normalised values lie inside too.
``S1*``    −10,000 … 10,000         Sentinel-1 σ0 of land lies within about −50 … +30 dB (PASTIS-R
                                    S1 means −10.9 / −17.4 / 6.4 dB, anchors-code.md §3); linear
                                    power, VV/VH ratios and coherence (0 … 1) lie inside too.
other      −1e6 … 1e6               a modality of unknown unit (a table's bands, another sensor):
                                    16-bit digital numbers, reflectances, indices, statistics of
                                    them (OAD / JRC tables) all lie far inside.
=========  =======================  ==============================================================

Integer arrays whose dtype cannot leave the range (``int16`` / ``uint16`` optical digital
numbers, the PASTIS S2 arrays) cost nothing; float arrays cost one ``min`` and one ``max``
pass (which also detect NaN / inf); the per-band search runs only when a check fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sitsfusion.errors import DatasetError, DataWarning  # DataWarning: re-exported

__all__ = [
    "ANY",
    "OPTICAL",
    "RADAR",
    "DataWarning",
    "ValueRange",
    "check_band_values",
    "plausible_range",
]


@dataclass(frozen=True)
class ValueRange:
    """Closed interval of plausible values of one modality (see the module table)."""

    low: float
    high: float
    what: str
    """What the values are, for the error message."""

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


OPTICAL = ValueRange(-32768.0, 65535.0, "optical values (Sentinel-2 digital numbers)")
"""16-bit storage of Sentinel-2 L2A digital numbers (ESA L2A: reflectance × 10,000)."""
RADAR = ValueRange(-1e4, 1e4, "Sentinel-1 values (dB, linear power, ratio, coherence)")
"""Sentinel-1 backscatter: land σ0 lies within about −50 … +30 dB."""
ANY = ValueRange(-1e6, 1e6, "satellite values")
"""A modality of unknown unit."""

_BY_PREFIX = (("S2", OPTICAL), ("S1", RADAR))


def plausible_range(modality: str | None) -> ValueRange:
    """The :class:`ValueRange` of a modality name: ``S2…`` optical, ``S1…`` radar (``S1A``,
    ``S1D``), anything else :data:`ANY`."""
    name = (modality or "").upper()
    for prefix, value_range in _BY_PREFIX:
        if name.startswith(prefix):
            return value_range
    return ANY


def _band_name(index: int, band_names: Sequence[str] | None) -> str:
    if band_names is not None and index < len(band_names):
        return f"{band_names[index]!r}"
    return f"{index}"


def _first_band(bad: np.ndarray, band_axis: int | None) -> int | None:
    """The first band index along ``band_axis`` holding a True of ``bad``."""
    if band_axis is None:
        return None
    axes = tuple(a for a in range(bad.ndim) if a != band_axis % bad.ndim)
    return int(np.flatnonzero(bad.any(axis=axes))[0])


def check_band_values(
    path: str | Path,
    arr: np.ndarray,
    modality: str | None = None,
    band_axis: int | None = None,
    band_names: Sequence[str] | None = None,
    value_range: ValueRange | None = None,
) -> None:
    """Refuse NaN / ±inf and implausible magnitudes in the band values ``arr`` read from ``path``.

    Args:
        path: the file the values come from (first in the message).
        arr: numeric values of any shape (``[T, C, H, W]``, ``[T, C, N]``, ``[rows, C]``).
        modality: its modality name, choosing the range (:func:`plausible_range`).
        band_axis: the axis of the bands (channels), to name the offending band.
        band_names: names of the bands along ``band_axis`` (default their index).
        value_range: the range, when not the modality's.

    Raises:
        DatasetError: ``"<path>: holds NaN/inf values (n NaN, m inf) (first in band 'B4');
            ..."`` or ``"<path>: band 'B4' out of the plausible range: 1 value(s) outside
            -32768..65535 expected of optical values (...), e.g. 3e+38"``.
    """
    if arr.size == 0 or arr.dtype.kind not in "iuf":
        return
    rng = value_range or plausible_range(modality)
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        if info.min >= rng.low and info.max <= rng.high:
            return  # the dtype cannot hold an implausible value
    low, high = float(arr.min()), float(arr.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        nan, inf = np.isnan(arr), np.isinf(arr)
        band = _first_band(nan | inf, band_axis)
        where = "" if band is None else f" (first in band {_band_name(band, band_names)})"
        raise DatasetError(
            path,
            f"holds NaN/inf values ({int(nan.sum())} NaN, {int(inf.sum())} inf){where}; "
            "expected finite numbers",
        )
    if low in rng and high in rng:
        return
    bad = (arr < rng.low) | (arr > rng.high)
    band = _first_band(bad, band_axis)
    if band is None:
        which, values = "values", arr[bad]
    else:
        which = f"band {_band_name(band, band_names)}"
        values = np.take(arr, band, axis=band_axis)[np.take(bad, band, axis=band_axis)]
    worst = float(values[np.argmax(np.abs(values.astype(np.float64)))])
    raise DatasetError(
        path,
        f"{which} out of the plausible range: {values.size} value(s) outside "
        f"{rng.low:g}..{rng.high:g} expected of {rng.what}, e.g. {worst:g}",
    )
