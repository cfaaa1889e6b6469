"""Readers for labelled time-series tables (CSV or Parquet): :class:`LongTableDataset` (one
row per sample and date) and :class:`WideTableDataset` (one row per sample)."""

from sitsfusion.data.readers.tables.common import LabelledSamples, table_columns, table_is_synthetic
from sitsfusion.data.readers.tables.long import LongTableDataset
from sitsfusion.data.readers.tables.wide import WideTableDataset

__all__ = [
    "LabelledSamples",
    "LongTableDataset",
    "WideTableDataset",
    "table_columns",
    "table_is_synthetic",
]
