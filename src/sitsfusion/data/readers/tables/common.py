"""What the long and wide table readers share: reading a CSV / Parquet table, parsing date
columns, and the per-sample label accessors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sitsfusion.data.readers.base import safe_check
from sitsfusion.data.readers.ranges import ValueRange, plausible_range
from sitsfusion.errors import DatasetError
from sitsfusion.io import require_regular_file

__all__ = [
    "COORDINATE_COLUMNS",
    "PARQUET_SUFFIXES",
    "TABLE_SUFFIXES",
    "LabelledSamples",
    "numeric_columns",
    "numeric_values",
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
    """The CSV / Parquet table at ``path``; DatasetError if missing, not a regular file (a
    named pipe is refused before opening) or unreadable."""
    require_regular_file(path)
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DatasetError(path, f"not a readable table ({exc})") from None


def _cell(path: Path, frame: pd.DataFrame, row: int, column: str) -> str:
    """``column 'B02', row 3 (file line 5)``: where a cell is (CSV: header on line 1)."""
    label = frame.index[row]
    where = f"column {column!r}, row {label}"
    if path.suffix.lower() == ".csv" and isinstance(label, (int, np.integer)):
        where += f" (file line {int(label) + 2})"
    return where


def numeric_columns(frame: pd.DataFrame, skip: set[str]) -> list[str]:
    """Columns not in ``skip`` that hold numbers: numeric dtype, or text columns where some
    cell reads as a number (a band polluted by a non-numeric cell stays a band, so that
    :func:`numeric_values` refuses the cell instead of the band being silently dropped)."""
    out = []
    for c in frame.columns:
        if c in skip or str(c).lower() in skip:
            continue
        col = frame[c]
        if pd.api.types.is_bool_dtype(col):
            continue
        if pd.api.types.is_numeric_dtype(col) or pd.to_numeric(col, errors="coerce").notna().any():
            out.append(str(c))
    return out


def numeric_values(
    path: Path,
    frame: pd.DataFrame,
    columns: list[str],
    modality: str | None = None,
    allow_nan: bool = False,
    value_range: ValueRange | None = None,
) -> np.ndarray:
    """float64 ``[rows, len(columns)]`` of band columns, every cell checked.

    Refused, naming the column and the row (and the CSV file line): a cell that is not a number
    (``"abc"``, a decimal comma ``"1,5"``), ±inf (also a number too large for float64), a value
    outside the modality's plausible range (:func:`~sitsfusion.data.readers.ranges
    .plausible_range`: a cell of 1e39, which float32 would turn into inf, is refused here);
    NaN (an empty cell) too unless ``allow_nan`` (the caller then reports missing values).

    Raises:
        DatasetError: the first bad cell, with the count of bad cells.
    """
    block = frame[columns]
    numeric = block.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    nan = np.isnan(numeric)
    text = nan & ~block.isna().to_numpy()
    if text.any():
        r, c = (int(v) for v in np.argwhere(text)[0])
        raw = str(block.iat[r, c])
        hint = " (a decimal comma? use a dot)" if "," in raw else ""
        raise DatasetError(
            path,
            f"{_cell(path, frame, r, columns[c])}: non-numeric value {raw!r}{hint}; expected a "
            f"number ({int(text.sum())} such cell(s))",
        )
    if not allow_nan and nan.any():
        r, c = (int(v) for v in np.argwhere(nan)[0])
        raise DatasetError(
            path,
            f"{_cell(path, frame, r, columns[c])}: missing (NaN) value; expected a number "
            f"({int(nan.sum())} such cell(s))",
        )
    inf = np.isinf(numeric)
    if inf.any():
        r, c = (int(v) for v in np.argwhere(inf)[0])
        raise DatasetError(
            path,
            f"{_cell(path, frame, r, columns[c])}: infinite value {numeric[r, c]}; expected a "
            f"finite number ({int(inf.sum())} such cell(s))",
        )
    rng = value_range or plausible_range(modality)
    with np.errstate(invalid="ignore"):
        out = (numeric < rng.low) | (numeric > rng.high)
    if out.any():
        r, c = (int(v) for v in np.argwhere(out)[0])
        raise DatasetError(
            path,
            f"{_cell(path, frame, r, columns[c])}: {numeric[r, c]:g} is out of the plausible "
            f"range {rng.low:g}..{rng.high:g} of {rng.what} ({int(out.sum())} such cell(s))",
        )
    return numeric


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
