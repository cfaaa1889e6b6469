"""Write tiny pixel-set datasets for tests (test-only, made-up values).

Three layouts: (a) :func:`write_global` the pytorch-psetae / S2-Agri layout with one global date
list; (b) :func:`write_per_parcel` per-parcel date lists and a zero-padded pixel dimension (the
Karnataka variant); (c) :func:`write_two_sensor` CropTypeMapping's mirrored
``s1_data/<region>`` and ``s2_data/<region>`` folders.

Values encode their position so tests can tell which pixel was drawn: for pixel ``p`` (0-based
among the parcel's real pixels), date ``t`` and channel ``c`` of parcel number ``k``,
``value = 1000 * (p + 1) + 10 * t + 0.5 * c + 0.25 * k`` (exact in float32; never 0).
Padded pixels are 0 at every date and channel.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Written:
    """What a writer put on disk, for the tests to compare against."""

    root: Path
    ids: list[str]
    codes: dict[str, int]
    dates: dict[str, list[date]] = field(default_factory=dict)  # per parcel
    n_real: dict[str, int] = field(default_factory=dict)  # real (unpadded) pixels
    n_stored: dict[str, int] = field(default_factory=dict)  # stored N (with padding)
    geomfeat: dict[str, list[float]] = field(default_factory=dict)


def encode(k: int, t: int, c: int, n_real: int) -> np.ndarray:
    """The ``(t, c, n_real)`` real pixel values of parcel number ``k``."""
    p = np.arange(n_real, dtype=np.float64)
    tt = np.arange(t, dtype=np.float64)[:, None, None]
    cc = np.arange(c, dtype=np.float64)[None, :, None]
    return (1000.0 * (p + 1) + 10.0 * tt + 0.5 * cc + 0.25 * k).astype(np.float32)


def pixel_of(values: np.ndarray) -> np.ndarray:
    """The real-pixel number ``p`` of each column of a ``[T, C, S]`` array (from date 0)."""
    return np.floor(np.asarray(values)[0, 0] / 1000.0).astype(np.int64) - 1


def _ymd(d: date) -> int:
    return int(d.strftime("%Y%m%d"))


def _dump(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def write_global(
    root: Path,
    codes: dict[str, int] | None = None,
    n_real: dict[str, int] | None = None,
    t: int = 6,
    c: int = 10,
    start: date = date(2017, 1, 5),
    step: int = 10,
    nomenclature: str = "label_44class",
    meanstd: tuple[Any, Any] | None = None,
) -> Written:
    """Layout (a): ``DATA/<id>.npy (T, C, N)`` int16-like floats, ``META/dates.json`` global."""
    codes = codes or {"1": 3, "2": 1, "10": 3, "7": 5}
    n_real = n_real or {pid: 3 + 2 * k for k, pid in enumerate(codes)}
    dates = [start + timedelta(days=step * i) for i in range(t)]
    w = Written(root, list(codes), dict(codes))
    for k, pid in enumerate(codes):
        arr = encode(k, t, c, n_real[pid])
        (root / "DATA").mkdir(parents=True, exist_ok=True)
        np.save(root / "DATA" / f"{pid}.npy", arr)
        w.dates[pid] = dates
        w.n_real[pid] = w.n_stored[pid] = n_real[pid]
        w.geomfeat[pid] = [10.0 + k, float(n_real[pid]), 0.5, 1.5]
    _dump(root / "META" / "labels.json", {nomenclature: codes, "other": dict.fromkeys(codes, 0)})
    _dump(root / "META" / "dates.json", {str(i): _ymd(d) for i, d in enumerate(dates)})
    _dump(root / "META" / "geomfeat.json", w.geomfeat)
    _dump(root / "META" / "sizes.json", w.n_real)
    if meanstd is not None:
        with (root / "S2-2017-T31TFM-meanstd.pkl").open("wb") as f:
            pickle.dump(meanstd, f)
    return w


def write_per_parcel(
    root: Path,
    codes: dict[str, int] | None = None,
    n_real: dict[str, int] | None = None,
    n_stored: int = 8,
    c: int = 10,
    iso: bool = True,
    empty_date: bool = True,
) -> Written:
    """Layout (b): per-parcel dates, pixel dimension zero-padded to ``n_stored``, 1 geomfeat.

    Parcel number k has ``4 + k`` dates starting ``2024-10-25 + 3 k`` days, every 5 days,
    written as ISO strings (``iso``) or YYYYMMDD ints. With ``empty_date``, date 1 of the first
    parcel is all zeros (a no-data acquisition).
    """
    codes = codes or {"1": 2, "2": 8, "4": 2, "6": 5}
    n_real = n_real or {pid: [2, 5, 8, 3][k % 4] for k, pid in enumerate(codes)}
    w = Written(root, list(codes), dict(codes))
    per_parcel: dict[str, list[Any]] = {}
    for k, pid in enumerate(codes):
        t = 4 + k
        dates = [date(2024, 10, 25) + timedelta(days=3 * k + 5 * i) for i in range(t)]
        arr = np.zeros((t, c, n_stored), dtype=np.float64)
        arr[:, :, : n_real[pid]] = encode(k, t, c, n_real[pid])
        if empty_date and k == 0:
            arr[1] = 0.0
        (root / "DATA").mkdir(parents=True, exist_ok=True)
        np.save(root / "DATA" / f"{pid}.npy", arr)
        w.dates[pid] = dates
        w.n_real[pid] = n_real[pid]
        w.n_stored[pid] = n_stored
        w.geomfeat[pid] = [float(100 + k)]
        per_parcel[pid] = [d.isoformat() if iso else _ymd(d) for d in dates]
    _dump(root / "META" / "labels.json", {"CODE_GROUP": codes})
    _dump(root / "META" / "dates.json", per_parcel)
    _dump(root / "META" / "geomfeat.json", w.geomfeat)
    return w


def write_two_sensor(base: Path, region: str = "Chateaulin") -> dict[str, Written]:
    """Layout (c): ``base/s1_data/<region>`` (T1 x 2 x N) and ``base/s2_data/<region>``.

    Same parcel ids and the same pixels (the same zero padding) in both; S1 has more dates
    (every 3 days from 2018-10-02), S2 fewer and per parcel.
    """
    codes = {"11": 1, "12": 4, "13": 1}
    n_real = {"11": 5, "12": 2, "13": 7}
    out: dict[str, Written] = {}
    for sensor, c, t0, step, t in (("s1_data", 2, 1, 3, 9), ("s2_data", 10, 4, 7, 5)):
        root = base / sensor / region
        w = Written(root, list(codes), dict(codes))
        per_parcel = {}
        for k, pid in enumerate(codes):
            tk = t + k
            dates = [date(2018, 10, t0) + timedelta(days=k + step * i) for i in range(tk)]
            arr = np.zeros((tk, c, 8), dtype=np.float32)
            arr[:, :, : n_real[pid]] = encode(k, tk, c, n_real[pid])
            (root / "DATA").mkdir(parents=True, exist_ok=True)
            np.save(root / "DATA" / f"{pid}.npy", arr)
            w.dates[pid] = dates
            w.n_real[pid] = n_real[pid]
            w.n_stored[pid] = 8
            per_parcel[pid] = [_ymd(d) for d in dates]
        _dump(root / "META" / "labels.json", {"CODE_GROUP": codes})
        _dump(root / "META" / "dates.json", per_parcel)
        _dump(root / "META" / "geomfeat.json", {pid: [float(n_real[pid])] for pid in codes})
        out[sensor] = w
    return out
