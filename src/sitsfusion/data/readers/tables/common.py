"""What the long and wide table readers share: reading a CSV / Parquet table, parsing date
columns, and the per-sample label accessors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sitsfusion.data.readers.base import safe_check
from sitsfusion.errors import DatasetError

__all__ = [
    "COORDINATE_COLUMNS",
    "PARQUET_SUFFIXES",
    "TABLE_SUFFIXES",
    "LabelledSamples",
    "parse_dates",
    "read_table",
    "table_columns",
    "table_is_synthetic",
]


COORDINATE_COLUMNS = ("longitude", "latitude")
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (".csv", *PARQUET_SUFFIXES)


def table_columns(path: str | Path) -> list[str] | None:
    """The column names of a CSV (its first row) or Parquet (its schema) file, without reading
    the rows; None for anything else. May raise on an unreadable file."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() not in TABLE_SUFFIXES:
        return None
    if path.suffix.lower() in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        return [str(c) for c in pq.read_schema(path).names]
    return [str(c) for c in pd.read_csv(path, nrows=0).columns]


def table_is_synthetic(path: str | Path) -> bool:
    """True when the table has a ``synthetic`` column that is True (the simulator's tables,
    e.g. an OAD table aggregated from simulated patches); never raises."""
    path = Path(path)

    def check() -> bool:
        if "synthetic" not in (table_columns(path) or []):
            return False
        if path.suffix.lower() in PARQUET_SUFFIXES:
            head = pd.read_parquet(path, columns=["synthetic"])
        else:
            head = pd.read_csv(path, usecols=["synthetic"], nrows=5)
        return bool(head["synthetic"].all())

    return safe_check(check)


def read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(path, "missing")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DatasetError(path, f"not a readable table ({exc})") from None


def parse_dates(path: Path, column: pd.Series, name: str) -> np.ndarray:
    """The column as ``datetime64[D]``; ``YYYYMMDD`` integers or any date string pandas reads."""
    raw = column
    if pd.api.types.is_integer_dtype(raw):
        parsed = pd.to_datetime(raw.astype(str), format="%Y%m%d", errors="coerce")
    else:
        parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        examples = sorted({str(v) for v in raw[bad].head(5)})
        raise DatasetError(
            path, f"{int(bad.sum())} unparsable value(s) in date column {name!r}, e.g. {examples}"
        )
    return parsed.to_numpy().astype("datetime64[D]")


class LabelledSamples:
    """The accessors every per-sample table reader shares: ``labels``, ``class_names``,
    ``ids`` (from the ``_labels``, ``_class_names``, ``_ids`` the reader fills), and the
    synthetic flag of its table."""

    _labels: np.ndarray
    _class_names: list[str]
    _ids: list[Any]

    @property
    def labels(self) -> np.ndarray:
        """int64 ``[len(self)]`` label of every sample (a copy)."""
        return self._labels.copy()

    @property
    def class_names(self) -> list[str]:
        return list(self._class_names)

    @property
    def ids(self) -> list[Any]:
        """Sample ids in dataset order."""
        return list(self._ids)

    @classmethod
    def is_synthetic(cls, root: str | Path) -> bool:
        return table_is_synthetic(root)
