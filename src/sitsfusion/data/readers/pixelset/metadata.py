"""Pixel-set metadata: ``META/dates.json`` and ``META/labels.json``, parsed and checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sitsfusion.errors import DatasetError
from sitsfusion.io import read_json

__all__ = [
    "DateLayout",
    "DatePlan",
    "apply_plan",
    "check_labels",
    "date_plan",
    "natural_key",
    "parse_dates",
    "read_dates_file",
    "to_day",
]

DateLayout = Literal["global", "per_parcel"]


def natural_key(pid: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order ("2" < "10"), then the others alphabetically."""
    return (0, int(pid), pid) if pid.isdigit() else (1, 0, pid)


def to_day(value: Any) -> np.datetime64:
    """One date, as ``YYYYMMDD`` (int or str) or ISO ``YYYY-MM-DD`` -> ``datetime64[D]``."""
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, int | np.integer):
        text = str(int(value))
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValueError(f"not a date: {value!r}")
    if len(text) == 8 and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError(f"not a YYYYMMDD or YYYY-MM-DD date: {value!r}")
    return np.datetime64(text, "D")  # raises ValueError on 2019-02-30


def parse_dates(values: Any, path: Path, what: str, cache: dict[Any, np.datetime64]) -> np.ndarray:
    """A list of dates -> ``datetime64[D]`` array; ``DatasetError`` naming ``path`` and ``what``."""
    if not isinstance(values, list) or not values:
        raise DatasetError(path, f"{what}: expected a non-empty list of dates, got {values!r:.80}")
    out = np.empty(len(values), dtype="datetime64[D]")
    for i, v in enumerate(values):
        key = (type(v), v) if isinstance(v, int | str) else None
        day = cache.get(key) if key is not None else None
        if day is None:
            try:
                day = to_day(v)
            except ValueError:
                raise DatasetError(
                    path, f"{what}: not a YYYYMMDD or YYYY-MM-DD date at position {i}: {v!r}"
                ) from None
            if key is not None:
                cache[key] = day
        out[i] = day
    return out


@dataclass(frozen=True)
class DatePlan:
    """How the stored observations of a series become its (sorted, unique) dates.

    ``order is None``: the stored dates are already strictly increasing. Otherwise the
    observations are taken in ``order`` (a stable sort by date) and ``groups[k]`` (the position
    of each sorted observation among the ``dates``) tells which ones fall on the same day.
    """

    dates: np.ndarray  # datetime64[D], strictly increasing
    n_stored: int
    order: np.ndarray | None = None
    groups: np.ndarray | None = None


def date_plan(days: np.ndarray, merge: bool, path: Path, what: str) -> DatePlan:
    steps = np.diff(days).astype(np.int64)
    if (steps > 0).all():
        return DatePlan(days, days.size)
    if not merge:
        i = int(np.flatnonzero(steps <= 0)[0])
        kind = "duplicate" if steps[i] == 0 else "unsorted"
        raise DatasetError(
            path,
            f"{what}: dates are not strictly increasing ({kind} dates {days[i]}, {days[i + 1]} "
            f"at positions {i}, {i + 1}); pass duplicate_dates='merge' to sort them and merge "
            "same-day observations",
        )
    order = np.argsort(days, kind="stable")
    unique, groups = np.unique(days[order], return_inverse=True)
    return DatePlan(unique, days.size, order, groups.reshape(-1))


def apply_plan(
    plan: DatePlan, values: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sort observations by date and average same-day ones over their valid observations."""
    if plan.order is None or plan.groups is None:
        return values, valid
    v, m = values[plan.order], valid[plan.order]
    u = plan.dates.size
    if u == v.shape[0]:  # sorting was enough
        return v, m
    count = np.zeros((u, v.shape[2]), dtype=np.float32)
    np.add.at(count, plan.groups, m.astype(np.float32))
    total = np.zeros((u, *v.shape[1:]), dtype=np.float32)
    np.add.at(total, plan.groups, v * m[:, None, :])
    first = np.searchsorted(plan.groups, np.arange(u))  # first observation of each day
    merged = np.where(
        count[:, None, :] > 0, total / np.maximum(count, 1.0)[:, None, :], v[first]
    ).astype(np.float32)
    return merged, count > 0


def read_dates_file(
    path: Path,
) -> tuple[DateLayout, np.ndarray | None, dict[str, np.ndarray]]:
    """Read a ``META/dates.json``: ``("global", dates, {})`` for one list shared by every parcel
    (``{"0": YYYYMMDD, ...}`` or a plain list), ``("per_parcel", None, {id: dates})`` for one
    list per parcel; dates as ``datetime64[D]`` in file order.

    Raises:
        DatasetError: missing or unreadable file, another structure, unparsable dates.
    """
    obj = read_json(path)
    cache: dict[Any, np.datetime64] = {}
    if isinstance(obj, list):
        return "global", parse_dates(obj, path, "global date list", cache), {}
    if not isinstance(obj, Mapping) or not obj:
        raise DatasetError(
            path,
            'expected {"0": YYYYMMDD, ...} (global dates) or {"<id>": [dates], ...} (per parcel)',
        )
    lists = [isinstance(v, list) for v in obj.values()]
    if all(lists):
        parcel_dates = {str(k): parse_dates(v, path, f"parcel {k}", cache) for k, v in obj.items()}
        return "per_parcel", None, parcel_dates
    if any(lists):
        raise DatasetError(path, "mixes date lists (per parcel) and single dates (global list)")
    try:
        keyed = sorted((int(k), v) for k, v in obj.items())
    except (TypeError, ValueError):
        raise DatasetError(
            path, 'a global date list must be keyed by positions "0", "1", ...'
        ) from None
    if [k for k, _ in keyed] != list(range(len(keyed))):
        raise DatasetError(path, f"global date positions must be 0..{len(keyed) - 1}")
    return "global", parse_dates([v for _, v in keyed], path, "global date list", cache), {}


def check_labels(obj: Any, path: Path, nomenclature: str | None) -> tuple[str, dict[str, int]]:
    if not isinstance(obj, Mapping) or not obj:
        raise DatasetError(path, 'expected {"<nomenclature>": {"<id>": label, ...}, ...}')
    names = list(obj)
    if nomenclature is None:
        if len(names) != 1:
            raise DatasetError(
                path, f"holds several nomenclatures {names}; choose one with nomenclature=..."
            )
        nomenclature = str(names[0])
    if nomenclature not in obj:
        raise DatasetError(path, f"no nomenclature {nomenclature!r}; it has {names}")
    table = obj[nomenclature]
    if not isinstance(table, Mapping):
        raise DatasetError(path, f"{nomenclature!r} must map parcel ids to labels")
    codes: dict[str, int] = {}
    for pid, code in table.items():
        if isinstance(code, float) and code.is_integer():
            code = int(code)
        if isinstance(code, bool) or not isinstance(code, int):
            raise DatasetError(
                path, f"{nomenclature!r}: label of parcel {pid} must be an integer, got {code!r}"
            )
        codes[str(pid)] = code
    if not codes:
        raise DatasetError(path, f"{nomenclature!r} labels no parcel")
    return nomenclature, codes
