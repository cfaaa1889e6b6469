"""One sensor's imagery of a block read now into memory, and its ``values`` / ``valid``.

:func:`~sitsfusion.geo.imagery.load_sensor` with ``lazy=False`` (a block of ``sitsfusion
map`` inside a worker) reads each file once over the block (``geo.stac.read_stac``,
``geo.geotiff.read_geotiffs``) into a :class:`RawBlock` of digital numbers, then
:func:`clear` turns it into the contract's ``values`` and ``valid`` in one pass per band: no
NaN round trip, no concatenation of the bands, the output arrays allocated once. The lazy
(Dask) path uses the same :func:`clear` per chunk, so the two agree to the bit. A block of
``sitsfusion map`` keeps its digital numbers and makes each window's values when the window
is predicted (:func:`window_series`): the same numbers, without a float32 copy of the block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sitsfusion.geo.sensors import S2_INVALID_SCL

__all__ = ["RawBlock", "clear", "merge_days", "window_series"]


@dataclass(frozen=True)
class RawBlock:
    """A sensor's imagery on a grid, read now.

    Attributes:
        bands: one array ``[T, h, w]`` per read band (:attr:`SensorSpec.read_bands` order:
            the mask band ``SCL`` last for Sentinel-2), as read: digital numbers (uint16) or
            float32.
        scales, offsets: float32 ``[T, C]``: a band's value is ``number * scale + offset``
            (per item; 1 and 0 for the mask band and for bands already in physical units).
        zero_is_nodata: a number 0 is no data (Sentinel-2 items); else no data is NaN.
        times: datetime64[ns] ``[T]``, the day of each item / file, sorted.
        items: the item id / file name of each date.
        source_crs: the CRSs of the items / files.
        synthetic: every item is the simulator's (``sitsfusion:synthetic``).
    """

    bands: tuple[np.ndarray, ...]
    scales: np.ndarray
    offsets: np.ndarray
    zero_is_nodata: bool
    times: np.ndarray
    items: tuple[str, ...]
    source_crs: tuple[str, ...]
    synthetic: bool


def clear(
    bands: Sequence[np.ndarray],
    scales: np.ndarray,
    offsets: np.ndarray,
    *,
    optical: bool,
    to_db: bool,
    zero_is_nodata: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``(values, valid)`` of one sensor's ``bands`` (``[T, h, w]`` each, as
    :attr:`RawBlock.bands`).

    ``valid`` bool ``[T, h, w]`` is a clear view: for Sentinel-2 (``optical``, the mask band
    last) the SCL class is not one of ``S2_INVALID_SCL`` and every band has data; for
    Sentinel-1 every band has data and, when ``to_db``, a positive linear power. ``values``
    float32 ``[T, B, h, w]`` (the bands without the mask band) is ``number * scale + offset``,
    or ``10 log10`` of it when ``to_db``, and **0 where not valid**.
    """
    data = bands[:-1] if optical else bands
    t, h, w = data[0].shape
    values = np.empty((t, len(data), h, w), dtype=np.float32)
    if optical:
        scl = bands[-1]
        valid = np.isin(scl, S2_INVALID_SCL, invert=True)
        if scl.dtype.kind == "f":
            valid &= ~np.isnan(scl)
    else:
        valid = np.ones((t, h, w), dtype=bool)
    seen = np.empty_like(valid)  # one scratch mask for every band: no temporary per band
    for j, band in enumerate(data):
        out = values[:, j]
        if to_db:
            np.greater(band, 0, out=seen)  # NaN (no data) and <= 0 are not valid
            valid &= seen
            np.log10(band, out=out, where=seen)
            out *= np.float32(10.0)
            continue
        np.multiply(band, scales[:, j, None, None], out=out)
        out += offsets[:, j, None, None]
        if zero_is_nodata:
            valid &= np.not_equal(band, 0, out=seen)
        if band.dtype.kind == "f":
            np.isnan(band, out=seen)
            valid &= np.logical_not(seen, out=seen)
    np.copyto(values, np.float32(0.0), where=~valid[:, None])
    return values, valid


def merge_days(
    values: np.ndarray, valid: np.ndarray, times: np.ndarray, items: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """One observation per day: ``values`` ``[T, B, h, w]`` (0 where not ``valid``
    ``[T, h, w]``) of the items of one day replaced by the mean of their valid values, valid
    where one of them is; ``times`` floored to days, ``items`` the first of each day. The
    arrays are returned as they are when every day has one item."""
    days = times.astype("datetime64[D]")
    unique, first, inverse = np.unique(days, return_index=True, return_inverse=True)
    if len(unique) == len(days):
        return values, valid, days.astype("datetime64[ns]"), list(items)
    out_values = np.empty((len(unique), *values.shape[1:]), dtype=np.float32)
    out_valid = np.empty((len(unique), *valid.shape[1:]), dtype=bool)
    for u in range(len(unique)):
        same = np.flatnonzero(inverse == u)
        if len(same) == 1:
            out_values[u], out_valid[u] = values[same[0]], valid[same[0]]
            continue
        count = valid[same].sum(axis=0, dtype=np.float32)
        total = values[same].sum(axis=0, dtype=np.float32)
        np.divide(total, np.maximum(count, 1.0), out=out_values[u])
        np.greater(count, 0, out=out_valid[u])
    return out_values, out_valid, unique.astype("datetime64[ns]"), [items[i] for i in first]


def window_series(
    raw: RawBlock, ys: slice, xs: slice, *, optical: bool, to_db: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``(values, valid, times, items)`` of the rows ``ys`` and columns ``xs`` of ``raw``:
    :func:`clear` then :func:`merge_days` on that window alone. Both work pixel by pixel, so a
    window's numbers are those of the same pixels of the whole block made at once."""
    bands = [band[:, ys, xs] for band in raw.bands]
    values, valid = clear(
        bands,
        raw.scales,
        raw.offsets,
        optical=optical,
        to_db=to_db,
        zero_is_nodata=raw.zero_is_nodata,
    )
    return merge_days(values, valid, raw.times, raw.items)
