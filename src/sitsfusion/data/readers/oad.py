"""Reader of object-level (OAD) tables: one parcel sample per parcel of the table.

The tables are written by :func:`sitsfusion.data.oad.aggregate_dataset` (``sitsfusion
aggregate``): one row per parcel × modality × date × band with the parcel's statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import torch

from sitsfusion.data.readers.base import Reader, register_reader, safe_check
from sitsfusion.data.readers.ranges import ANY
from sitsfusion.data.readers.tables import table_columns, table_is_synthetic
from sitsfusion.data.readers.tables.common import numeric_values, read_table
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.errors import DatasetError

__all__ = ["OADDataset"]

_OAD_COLUMNS = ("parcel_id", "patch_id", "modality", "date", "band", "mean")


@register_reader
class OADDataset(Reader):
    """One parcel :class:`Sample` per parcel of an OAD table written by :func:`aggregate_dataset`.

    ``series[m].values`` is ``[T, C·k, 1]`` float32 (a pixel set of one "pixel"): the C band
    means, then (``stat="mean_std"``) the C band stds. ``label`` is the parcel's class
    remapped to ``0..K-1``: by position in ``classes`` (parcels of other classes are dropped),
    or over the sorted classes present. ``meta`` = ``{id, patch_id, region, year, class}``.

    Reader contract: ``root`` is the table, ``modalities``, ``channels`` (C·k), ``labels``,
    ``groups`` ``"<region>/<year>"`` and ``clusters`` (the patch) per parcel, ``synthetic``
    (the table's ``synthetic`` column); no georeferencing or published statistics. Dates are
    the days of the aggregated patches (each counted from its own patch's reference date).

    Raises:
        DatasetError: missing file, unreadable or empty table, missing columns, a parcel
            lacking a requested modality or with an incomplete date × band grid.
        ValueError: bad ``stat``.
    """

    format: ClassVar[str] = "oad"
    layout: ClassVar[str] = (
        "OAD table (CSV / Parquet from `sitsfusion aggregate`: parcel_id, patch_id, modality, "
        "date, band, mean, std)"
    )
    tasks: ClassVar[tuple[str, ...]] = ("parcel",)
    title: ClassVar[str] = "OAD"
    sample_noun: ClassVar[str] = "parcels"

    def __init__(
        self,
        path: str | Path,
        modalities: Sequence[str] | None = None,
        stat: Literal["mean", "mean_std"] = "mean",
        classes: Sequence[int] | None = None,
        nomenclature: str | None = None,
    ) -> None:
        if stat not in ("mean", "mean_std"):
            raise ValueError(f"stat must be 'mean' or 'mean_std', got {stat!r}")
        self.path = self.root = path = Path(path)
        table = read_table(path)
        stat_cols = ["mean"] if stat == "mean" else ["mean", "std"]
        need = ["parcel_id", "patch_id", "class", "modality", "date", "band", *stat_cols]
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise DatasetError(path, f"missing columns {missing}")
        if len(table) == 0:
            raise DatasetError(path, "empty table")
        present = sorted(table["modality"].astype(str).unique())
        self.modalities = tuple(modalities) if modalities is not None else tuple(present)
        absent = [m for m in self.modalities if m not in present]
        if absent:
            raise DatasetError(path, f"modalities {absent} not in the table ({present})")
        table = table[table["modality"].isin(self.modalities)]
        self._check_values(path, table, stat_cols)
        parcel_class = table.groupby("parcel_id", sort=True)["class"].first()
        if classes is None:
            classes = sorted(int(c) for c in parcel_class.unique())
        self.classes = [int(c) for c in classes]
        self.nomenclature = nomenclature
        lookup = {c: i for i, c in enumerate(self.classes)}
        keep = parcel_class[parcel_class.isin(self.classes)]
        if keep.empty:
            raise DatasetError(path, f"no parcel of classes {self.classes}")
        table = table[table["parcel_id"].isin(keep.index)]
        table = table.sort_values(["parcel_id", "modality", "date", "band"], kind="stable")
        self.parcel_ids = [str(p) for p in keep.index]
        self._labels = [lookup[int(c)] for c in keep.to_numpy()]
        first = table.groupby("parcel_id", sort=True).first()
        self._meta = {
            str(pid): {
                "patch_id": row["patch_id"],
                "region": row.get("region"),
                "year": row.get("year"),
            }
            for pid, row in first.iterrows()
        }
        self._series: dict[str, dict[str, TimeSeries]] = {p: {} for p in self.parcel_ids}
        values = table[stat_cols].to_numpy(np.float32)
        dates_col = table["date"].to_numpy(np.int64)
        bands_col = table["band"].to_numpy(np.int64)
        groups = table.groupby(["parcel_id", "modality"], sort=False).indices
        for (pid, modality), rows in groups.items():
            d = np.unique(dates_col[rows])
            c = np.unique(bands_col[rows]).size
            if d.size * c != rows.size:
                raise DatasetError(
                    path,
                    f"parcel {pid} {modality}: {rows.size} rows, not {d.size} dates x {c} bands",
                )
            v = values[rows].reshape(d.size, c, len(stat_cols))  # [T, C, k]
            v = np.ascontiguousarray(v.transpose(0, 2, 1)).reshape(d.size, -1, 1)
            self._series[str(pid)][str(modality)] = TimeSeries(
                torch.from_numpy(v), torch.from_numpy(d), source=str(path)
            )
        for pid, series in self._series.items():
            lacking = [m for m in self.modalities if m not in series]
            if lacking:
                raise DatasetError(path, f"parcel {pid} has no rows for modalities {lacking}")
        first = self._series[self.parcel_ids[0]]
        self.channels = {m: first[m].num_channels for m in self.modalities}
        self.synthetic = "synthetic" in table.columns and bool(table["synthetic"].all())

    @staticmethod
    def _check_values(path: Path, table: pd.DataFrame, stat_cols: list[str]) -> None:
        """Every statistic finite and plausible for its modality, every date / band / class
        an integer; DatasetError naming the column and row of the first bad cell."""
        for modality, rows in table.groupby("modality", sort=False):
            numeric_values(path, rows, stat_cols, str(modality))
        keys = ["date", "band", "class"]
        numbers = numeric_values(path, table, keys, value_range=ANY)
        fractional = numbers != np.round(numbers)
        if fractional.any():
            r, c = (int(v) for v in np.argwhere(fractional)[0])
            raise DatasetError(
                path,
                f"column {keys[c]!r}, row {table.index[r]}: {numbers[r, c]:g} is not an integer "
                f"({int(fractional.sum())} such cell(s))",
            )

    def __len__(self) -> int:
        return len(self.parcel_ids)

    @property
    def labels(self) -> np.ndarray:
        """int64 ``[N]`` class index (``0..K-1``) of every parcel."""
        return np.asarray(self._labels, dtype=np.int64)

    @property
    def class_names(self) -> list[str]:
        """Names of :attr:`classes` (from ``nomenclature`` when given, else the ids)."""
        if self.nomenclature is None:
            return [str(c) for c in self.classes]
        from sitsfusion.data.taxonomy import load_nomenclature

        nom = load_nomenclature(self.nomenclature)
        return [nom.name_of(c) for c in self.classes]

    @property
    def groups(self) -> np.ndarray:
        """``"<region>/<year>"`` of every parcel (seed 004 scenarios split on these)."""
        from sitsfusion.data.splits import group_key

        return np.array(
            [group_key(self._meta[p]["region"], self._meta[p]["year"]) for p in self.parcel_ids]
        )

    @property
    def clusters(self) -> np.ndarray:
        """The patch of every parcel: splits keep a patch's parcels together."""
        return np.array([str(self._meta[p]["patch_id"]) for p in self.parcel_ids])

    def __getitem__(self, index: int) -> Sample:
        pid = self.parcel_ids[index]
        series = self._series[pid]
        meta = {"id": pid, **self._meta[pid]}
        return Sample({m: series[m] for m in self.modalities}, label=self._labels[index], meta=meta)

    @classmethod
    def looks_like(cls, root: str | Path) -> bool:
        return safe_check(lambda: set(_OAD_COLUMNS) <= set(table_columns(root) or []))

    @classmethod
    def is_synthetic(cls, root: str | Path) -> bool:
        return table_is_synthetic(root)
