"""Reader of long tables: one row per (sample, date), as exported from Google Earth Engine or
the R package ``sits``; grouped once, at construction, into one sample per sample id.

Every problem with the file raises :class:`~sitsfusion.errors.DatasetError`, whose message
starts with the offending file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from sitsfusion.data.dates import DateLike, reference_day
from sitsfusion.data.readers.base import Reader, register_reader, safe_check
from sitsfusion.data.readers.tables.common import (
    COORDINATE_COLUMNS,
    LabelledSamples,
    numeric_columns,
    numeric_values,
    parse_dates,
    read_table,
    table_columns,
)
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.errors import DatasetError

__all__ = ["LongTableDataset"]


@register_reader
class LongTableDataset(LabelledSamples, Reader):
    """Labelled time series stored as a long table: one row per (sample, date).

    File layout (CSV, or Parquet for a ``.parquet`` / ``.pq`` suffix)::

        sample_id, label, longitude, latitude, date, B02, B03, ..., NDVI
        0,  NonForest, -64.83, -10.11, 2018-08-12, 0.0341, 0.0605, ..., 0.7555
        0,  NonForest, -64.83, -10.11, 2018-08-22, 0.0300, 0.0573, ..., 0.7766
        ...

    ``longitude`` / ``latitude`` are optional. Dates are ISO strings (any format pandas
    parses) or ``YYYYMMDD`` integers. Samples may have different numbers of dates.

    Each item is a :class:`~sitsfusion.data.Sample`:

    * ``series[modality]``: :class:`~sitsfusion.data.TimeSeries` with ``values`` float32
      ``[T, C, 1]`` (a one-pixel set) and ``dates`` int64 days since ``reference_date``,
      sorted;
    * ``label``: index of the sample's label in :attr:`class_names`;
    * ``meta``: ``id``, ``label_name``, ``longitude`` / ``latitude`` (when present),
      ``reference_date`` (ISO string), ``dataset="long_table"``.

    Args:
        path: the CSV or Parquet file.
        id_column: column holding the sample id.
        label_column: column holding the class name (read as a string).
        date_column: column holding the acquisition date.
        bands: band columns, in this channel order; default every numeric column except the
            id, label, date, longitude and latitude columns, in file order.
        modality: name of the modality in ``Sample.series``.
        classes: class names mapped to ``0..K-1`` in this order; default the sorted unique
            labels. A label not in ``classes`` is an error.
        reference_date: day 0 of ``dates``; default the earliest date in the table.
        ids: keep only these sample ids (compared as strings); an absent id is an error.
        transform: applied to each sample on access.

    Reader contract: ``root`` is the file, ``modalities`` ``(modality,)``, ``channels``
    ``{modality: len(bands)}``, ``labels`` per sample; no groups, clusters, georeferencing or
    published statistics. :meth:`looks_like` a table with the default id, label and date
    columns.

    Raises:
        DatasetError: missing file, missing columns, unparsable dates, duplicate
            (id, date) rows, a NaN band value, a label that changes over time within a sample,
            a label not in ``classes``, a requested id not in the table.
    """

    format: ClassVar[str] = "long_table"
    layout: ClassVar[str] = (
        "long table (CSV / Parquet, one row per sample and date: sample_id, label, date, bands)"
    )
    tasks: ClassVar[tuple[str, ...]] = ("parcel",)
    title: ClassVar[str] = "long-table"

    def __init__(
        self,
        path: str | Path,
        id_column: str = "sample_id",
        label_column: str = "label",
        date_column: str = "date",
        bands: Sequence[str] | None = None,
        modality: str = "S2",
        classes: Sequence[str] | None = None,
        reference_date: DateLike | None = None,
        ids: Sequence[Any] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
    ) -> None:
        self.path = self.root = Path(path)
        self.modality = modality
        self.modalities = (modality,)
        self.transform = transform
        path = self.path
        df = read_table(path)

        required = [id_column, label_column, date_column, *(bands or [])]
        missing = [c for c in dict.fromkeys(required) if c not in df.columns]
        if missing:
            raise DatasetError(
                path, f"missing column(s) {missing}; the table has {list(df.columns)}"
            )
        if bands is None:
            bands = numeric_columns(df, {id_column, label_column, date_column, *COORDINATE_COLUMNS})
            if not bands:
                raise DatasetError(path, "no numeric band column")
        self.bands = [str(b) for b in bands]
        self.channels = {modality: len(self.bands)}

        if ids is not None:
            wanted = [str(i) for i in ids]
            str_ids = df[id_column].astype(str)
            absent = sorted(set(wanted) - set(str_ids))
            if absent:
                raise DatasetError(path, f"sample id(s) not in the table: {absent[:10]}")
            df = df[str_ids.isin(wanted).to_numpy()]
        if len(df) == 0:
            raise DatasetError(path, "no rows")
        # every band cell checked where the file has it (rows named by their file line)
        checked = numeric_values(path, df, self.bands, modality, allow_nan=True)

        day = parse_dates(path, df[date_column], date_column)
        ref = day.min() if reference_date is None else reference_day(reference_date)
        days = (day - ref).astype(np.int64)

        codes, uniq_ids = pd.factorize(df[id_column], sort=True)
        order = np.lexsort((days, codes))
        codes, days, day = codes[order], days[order], day[order]
        df = df.iloc[order].reset_index(drop=True)

        dup = (codes[1:] == codes[:-1]) & (days[1:] == days[:-1])
        if dup.any():
            rows = np.nonzero(dup)[0]
            examples = [(str(uniq_ids[codes[i]]), str(day[i])) for i in rows[:5]]
            raise DatasetError(
                path, f"{len(rows)} duplicate (id, date) row(s), e.g. (id, date) {examples}"
            )

        values = checked[order].astype(np.float32)
        nan = np.isnan(values)
        if nan.any():
            r, c = np.argwhere(nan)[0]
            raise DatasetError(
                path,
                f"{int(nan.any(axis=1).sum())} row(s) with NaN band values, first: id "
                f"{uniq_ids[codes[r]]!s}, date {day[r]}, band {self.bands[c]!r}",
            )

        labels = df[label_column].astype(str).to_numpy()
        starts = np.r_[0, np.nonzero(codes[1:] != codes[:-1])[0] + 1]
        first_label = labels[starts]
        changed = labels != np.repeat(first_label, np.diff(np.r_[starts, len(codes)]))
        if changed.any():
            bad = sorted({str(uniq_ids[c]) for c in codes[changed]})
            raise DatasetError(path, f"label changes over time in sample(s) {bad[:10]}")

        if classes is None:
            class_names = sorted(set(first_label.tolist()))
        else:
            class_names = [str(c) for c in classes]
            unknown = sorted(set(first_label.tolist()) - set(class_names))
            if unknown:
                raise DatasetError(path, f"label(s) {unknown} not in classes {class_names}")
        index = {name: k for k, name in enumerate(class_names)}

        self._class_names = class_names
        self._ids = uniq_ids.tolist()
        self._label_names = first_label
        self._labels = np.array([index[n] for n in first_label], dtype=np.int64)
        self._offsets = np.r_[starts, len(codes)]
        self._values = torch.from_numpy(np.array(values, copy=True)).unsqueeze(-1)  # [rows, C, 1]
        self._days = torch.from_numpy(np.array(days, copy=True))
        self._coords = {
            c: df[c].to_numpy(dtype=np.float64)[starts]
            for c in COORDINATE_COLUMNS
            if c in df.columns
        }
        self.reference_date = str(ref)

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        index = index % len(self)
        a, b = int(self._offsets[index]), int(self._offsets[index + 1])
        meta: dict[str, Any] = {
            "id": self._ids[index],
            "label_name": str(self._label_names[index]),
        }
        for c, arr in self._coords.items():
            meta[c] = float(arr[index])
        meta["reference_date"] = self.reference_date
        meta["dataset"] = "long_table"
        ts = TimeSeries(self._values[a:b].clone(), self._days[a:b].clone(), source=str(self.path))
        sample = Sample({self.modality: ts}, label=int(self._labels[index]), meta=meta)
        return sample if self.transform is None else self.transform(sample)

    @property
    def band_names(self) -> dict[str, tuple[str, ...]]:
        return {self.modality: tuple(self.bands)}

    def observation_dates(self, index: int) -> dict[str, np.ndarray]:
        a, b = int(self._offsets[index]), int(self._offsets[index + 1])
        days = self._days[a:b].numpy().astype("timedelta64[D]")
        return {self.modality: np.datetime64(self.reference_date, "D") + days}

    @classmethod
    def looks_like(cls, root: str | Path) -> bool:
        return safe_check(lambda: {"sample_id", "label", "date"} <= set(table_columns(root) or []))
