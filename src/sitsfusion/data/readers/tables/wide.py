"""Reader of wide tables: one row per sample, its label, optional id / cluster columns, then
its ``T x C`` values (the TempCNN data of Pelletier et al. 2019, the UCR / UEA archives),
read once into a ``[N, T, C]`` array.

Every problem with the file raises :class:`~sitsfusion.errors.DatasetError`, whose message
starts with the offending file."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch

from sitsfusion.data.dates import DateLike, reference_day
from sitsfusion.data.readers.base import Reader, register_reader, safe_check
from sitsfusion.data.readers.ranges import plausible_range
from sitsfusion.data.readers.tables.common import (
    PARQUET_SUFFIXES,
    LabelledSamples,
    read_table,
    table_columns,
)
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.errors import DatasetError
from sitsfusion.io import require_regular_file

__all__ = ["WideTableDataset"]


Column = int | str
Layout = Literal["date_major", "band_major"]
_LAYOUTS = ("date_major", "band_major")


def _label_key(value: Any) -> str:
    """A label (or class key) as a string, integral numbers without decimals (``1.0`` -> "1")."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _numeric_sort(keys: Sequence[str]) -> list[str]:
    """Keys sorted as numbers when they all are numbers, else as strings."""
    try:
        return sorted(keys, key=float)
    except ValueError:
        return sorted(keys)


def _is_number(text: Any) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _as_keys(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Ids / cluster keys as int64 when they are all integers, else as strings."""
    keys = [_label_key(v) for v in values]
    try:
        return np.array([int(k) for k in keys], dtype=np.int64)
    except ValueError:
        return np.array(keys, dtype=object)


@register_reader
class WideTableDataset(LabelledSamples, Reader):
    """Labelled time series stored as a wide table: one row per sample.

    File layout (CSV with or without a header row, or Parquet for a ``.parquet`` / ``.pq``
    suffix): a label column, optional id and cluster (e.g. polygon) columns, then the
    ``T × C`` values of the sample, ``layout="date_major"`` (all bands of the first date,
    then of the second...)::

        label, polygon, t0.NIR, t0.R, t0.G, t1.NIR, t1.R, t1.G, ..., t148.G
        0,     21,      143,    62,   50,   143,    62,   50,   ...,  50

    or ``layout="band_major"`` (the whole series of the first band, then of the second...)::

        label, polygon, NIR.t0, ..., NIR.t148, R.t0, ..., R.t148, G.t0, ..., G.t148

    Every column that is not the label, id or cluster column is a value column, in file order.
    The files carry no dates: give them (``dates``) or the series are indexed ``0..T-1``
    (one unit = one step of the table's temporal grid, not necessarily one day).

    Each item is a :class:`~sitsfusion.data.Sample`:

    * ``series[modality]``: :class:`~sitsfusion.data.TimeSeries` with ``values`` float32
      ``[T, C, 1]`` (a one-pixel set) and ``dates`` int64 ``[T]`` days since
      ``reference_date`` (or the date indices);
    * ``label``: index of the row's label in ``classes`` (``0..K-1``);
    * ``meta``: ``id``, ``cluster`` (None without a cluster column), ``label_name``,
      ``reference_date`` (ISO string or None), ``dataset="wide_table"``.

    Args:
        path: the CSV or Parquet file.
        n_bands: channels ``C`` per date (default 1: univariate); the number of value columns
            must be a multiple.
        band_names: names of the ``C`` bands (default ``B0..B{C-1}``).
        label_column: position (int, 0-based) or header name (str) of the label column.
        id_column: position or name of a sample-id column; None = the row number is the id.
        cluster_column: position or name of a column that groups samples which must stay in
            one split part (e.g. the polygon a pixel was drawn from); exposed as
            :attr:`clusters` for the splits.
        layout: ``"date_major"`` or ``"band_major"`` order of the value columns.
        dates: the ``T`` dates: ISO strings / dates, or integer day offsets from
            ``reference_date``; strictly increasing. Default ``0..T-1``.
        reference_date: day 0 of ``dates`` (default: the first of ISO ``dates``).
        classes: the label values mapped to ``0..K-1`` in this order (a sequence; class names
            = the values as strings), or ``{label value: class name}`` (a mapping, in order).
            Values compare as strings, integral numbers without decimals (``1.0`` = ``1``).
            Default: the sorted unique labels (numerically when they are all numbers). A label
            not in ``classes`` is an error.
        header: CSV only: whether the first row is a header; None = detect it (a header iff a
            value cell of the first row is not a number). A column given by name needs one.
        modality: name of the modality in ``Sample.series``.
        ids: keep only these sample ids (compared as strings), in file order; an absent id is
            an error.
        transform: applied to each sample on access.

    Reader contract: ``root`` is the file, ``modalities`` ``(modality,)``, ``channels``
    ``{modality: n_bands}``, ``labels`` and ``clusters`` (with a cluster column) per sample; no
    groups, georeferencing or published statistics. :meth:`looks_like` any CSV / Parquet file
    (the wide table is detected last, after the formats with named columns).

    Raises:
        DatasetError: missing or unreadable file, a missing column, a value count not
            divisible by ``n_bands``, a NaN or non-numeric value (naming its row and column), a
            missing label, a label not in ``classes``, a number of ``dates`` different from
            ``T``, dates not strictly increasing, duplicate sample ids, a requested id absent.
    """

    format: ClassVar[str] = "wide_table"
    layout: ClassVar[str] = "wide table (CSV / Parquet, one row per sample: label, T x C values)"
    catch_all: ClassVar[bool] = True
    tasks: ClassVar[tuple[str, ...]] = ("parcel",)
    title: ClassVar[str] = "wide-table"

    def __init__(
        self,
        path: str | Path,
        n_bands: int = 1,  # univariate series, as most of the UCR archive
        band_names: Sequence[str] | None = None,
        label_column: Column = 0,
        id_column: Column | None = None,
        cluster_column: Column | None = None,
        layout: Layout = "date_major",
        dates: Sequence[DateLike | int] | None = None,
        reference_date: DateLike | None = None,
        classes: Sequence[Any] | Mapping[Any, str] | None = None,
        header: bool | None = None,
        modality: str = "S2",
        ids: Sequence[Any] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
    ) -> None:
        self.path = self.root = Path(path)
        self.modality = modality
        self.modalities = (modality,)
        self.transform = transform
        path = self.path
        if int(n_bands) < 1:
            raise ValueError(f"n_bands must be >= 1, got {n_bands}")
        if layout not in _LAYOUTS:
            raise ValueError(f"layout must be one of {_LAYOUTS}, got {layout!r}")
        n_bands = int(n_bands)
        if band_names is not None and len(band_names) != n_bands:
            raise ValueError(f"{len(band_names)} band_names for n_bands={n_bands}")
        self.bands = (
            [str(b) for b in band_names] if band_names else [f"B{k}" for k in range(n_bands)]
        )
        self.value_order: Layout = layout
        self.channels = {modality: n_bands}

        specs = {"label": label_column, "id": id_column, "cluster": cluster_column}
        df, line_offset = self._read(path, specs, header)
        names = list(df.columns)
        positions: dict[str, int] = {}
        for role, spec in specs.items():
            if spec is None:
                continue
            if isinstance(spec, str):
                if spec not in names:
                    raise DatasetError(
                        path, f"{role} column {spec!r} not in the table's columns {names[:10]}..."
                    )
                positions[role] = names.index(spec)
            elif not -len(names) <= int(spec) < len(names):
                raise DatasetError(
                    path, f"{role} column {spec} out of range: the table has {len(names)} columns"
                )
            else:
                positions[role] = int(spec) % len(names)
        if len(set(positions.values())) < len(positions):
            raise ValueError(f"label / id / cluster columns must differ, got {specs}")
        value_pos = [i for i in range(len(names)) if i not in positions.values()]
        n_values = len(value_pos)
        if n_values == 0 or n_values % n_bands:
            raise DatasetError(
                path,
                f"{n_values} value columns is not a multiple of n_bands={n_bands} "
                f"({len(names)} columns minus {len(positions)} label / id / cluster columns)",
            )
        t = n_values // n_bands
        if len(df) == 0:
            raise DatasetError(path, "no rows")

        def where(row: int, col: int) -> str:
            line = f" (file line {row + line_offset})" if line_offset else ""
            name = f" {names[col]!r}" if line_offset != 1 else ""
            return f"row {row}{line}, column {col}{name}"

        # values: parse every cell, name the first NaN / non-numeric one
        block = df.iloc[:, value_pos]
        numeric = block.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(numeric)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raw = block.iat[int(r), int(c)]
            raise DatasetError(
                path,
                f"{int(bad.sum())} NaN, infinite or non-numeric value(s); first at "
                f"{where(int(r), value_pos[int(c)])}: {raw!r}",
            )
        rng = plausible_range(modality)
        out = (numeric < rng.low) | (numeric > rng.high)
        if out.any():  # e.g. 1e39, which float32 would turn into inf
            r, c = np.argwhere(out)[0]
            raise DatasetError(
                path,
                f"{int(out.sum())} value(s) out of the plausible range {rng.low:g}..{rng.high:g} "
                f"of {rng.what}; first at {where(int(r), value_pos[int(c)])}: {numeric[r, c]:g}",
            )
        values = numeric.astype(np.float32).reshape(
            len(df), *((t, n_bands) if layout == "date_major" else (n_bands, t))
        )
        if layout == "band_major":
            values = values.transpose(0, 2, 1)  # [N, T, C]

        # labels
        raw_labels = df.iloc[:, positions["label"]].to_numpy()
        missing = [i for i, v in enumerate(raw_labels) if pd.isna(v) or str(v).strip() == ""]
        if missing:
            raise DatasetError(
                path,
                f"{len(missing)} missing label(s); first at "
                f"{where(missing[0], positions['label'])}",
            )
        keys = np.array([_label_key(v) for v in raw_labels], dtype=object)
        if classes is None:
            class_keys = _numeric_sort(sorted(set(keys.tolist())))
            class_names = list(class_keys)
        elif isinstance(classes, Mapping):
            class_keys = [_label_key(k) for k in classes]
            class_names = [str(v) for v in classes.values()]
        else:
            class_keys = [_label_key(k) for k in classes]
            class_names = list(class_keys)
        if len(set(class_keys)) < len(class_keys):
            raise ValueError(f"classes: duplicate label values in {class_keys}")
        index = {k: i for i, k in enumerate(class_keys)}
        unknown = sorted(set(keys.tolist()) - set(index))
        if unknown:
            raise DatasetError(path, f"label(s) {unknown} not in classes {class_keys}")

        # ids and clusters
        if "id" in positions:
            id_values = _as_keys(df.iloc[:, positions["id"]].to_numpy()).tolist()
            id_keys = [str(v) for v in id_values]
            counts = pd.Series(id_keys).value_counts()
            dups = sorted(counts.index[counts > 1].tolist())
            if dups:
                raise DatasetError(path, f"duplicate sample id(s) {dups[:10]}")
        else:
            id_values = list(range(len(df)))
            id_keys = [str(i) for i in id_values]
        rows = np.arange(len(df))
        if ids is not None:
            wanted = [_label_key(i) for i in ids]
            absent = sorted(set(wanted) - set(id_keys))
            if absent:
                raise DatasetError(path, f"sample id(s) not in the table: {absent[:10]}")
            keep = set(wanted)
            rows = np.array([i for i, k in enumerate(id_keys) if k in keep], dtype=np.int64)
        clusters = None
        if "cluster" in positions:
            clusters = _as_keys(df.iloc[:, positions["cluster"]].to_numpy())[rows]

        # dates
        days, ref = self._dates(path, dates, reference_date, t)

        self._class_names = class_names
        self._ids = [id_values[i] for i in rows]
        self._label_names = [class_names[index[k]] for k in keys[rows]]
        self._labels = np.array([index[k] for k in keys[rows]], dtype=np.int64)
        self._clusters = clusters
        self._values = torch.from_numpy(np.ascontiguousarray(values[rows]))  # [N, T, C]
        self._days = torch.from_numpy(days)
        self.reference_date = ref

    @staticmethod
    def _read(
        path: Path, specs: Mapping[str, Column | None], header: bool | None
    ) -> tuple[pd.DataFrame, int]:
        """The table and the 1-based file line of its first data row (0 for Parquet)."""
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return read_table(path), 0
        require_regular_file(path)  # a named pipe would block the read
        try:
            df = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
        except Exception as exc:  # pandas raises many types for unreadable files
            raise DatasetError(path, f"not a readable table ({exc})") from None
        by_name = [r for r, s in specs.items() if isinstance(s, str)]
        if header is None:
            if by_name:
                header = True
            elif len(df) == 0:
                header = False
            else:
                meta = {int(s) % df.shape[1] for s in specs.values() if s is not None}
                first = [v for i, v in enumerate(df.iloc[0].tolist()) if i not in meta]
                header = not all(_is_number(v) for v in first)
        elif by_name and not header:
            raise DatasetError(path, f"{by_name} column(s) given by name but header=False")
        if header:
            df.columns = [str(c).strip() for c in df.iloc[0].tolist()]
            df = df.iloc[1:].reset_index(drop=True)
            return df, 2
        return df, 1

    def _dates(
        self,
        path: Path,
        dates: Sequence[DateLike | int] | None,
        reference_date: DateLike | None,
        t: int,
    ) -> tuple[np.ndarray, str | None]:
        """int64 ``[T]`` days and the reference date (ISO string, or None for offsets)."""
        if dates is None:
            days = np.arange(t, dtype=np.int64)
            ref = None if reference_date is None else str(reference_day(reference_date))
        else:
            if len(dates) != t:
                raise DatasetError(
                    path,
                    f"{len(dates)} dates given but the table holds T = {t} dates per sample "
                    f"({t * len(self.bands)} value columns / {len(self.bands)} bands)",
                )
            if all(isinstance(d, int | np.integer) and not isinstance(d, bool) for d in dates):
                days = np.asarray(dates, dtype=np.int64)
                ref = None if reference_date is None else str(reference_day(reference_date))
            else:
                try:
                    day = np.array([reference_day(d) for d in dates], dtype="datetime64[D]")
                except (TypeError, ValueError) as exc:
                    raise DatasetError(path, f"unparsable date in `dates` ({exc})") from None
                origin = day.min() if reference_date is None else reference_day(reference_date)
                days = (day - origin).astype(np.int64)
                ref = str(origin)
        steps = np.diff(days)
        if (steps <= 0).any():
            i = int(np.flatnonzero(steps <= 0)[0])
            raise DatasetError(
                path,
                f"dates must be strictly increasing; positions {i}, {i + 1} have days "
                f"{int(days[i])}, {int(days[i + 1])}",
            )
        return days, ref

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        index = index % len(self)
        cluster = None if self._clusters is None else self._clusters[index]
        meta: dict[str, Any] = {
            "id": self._ids[index],
            "cluster": cluster.item() if isinstance(cluster, np.generic) else cluster,
            "label_name": self._label_names[index],
            "reference_date": self.reference_date,
            "dataset": "wide_table",
        }
        values = self._values[index].unsqueeze(-1).clone()  # [T, C, 1]
        ts = TimeSeries(values, self._days.clone(), source=str(self.path))
        sample = Sample({self.modality: ts}, label=int(self._labels[index]), meta=meta)
        return sample if self.transform is None else self.transform(sample)

    @property
    def clusters(self) -> np.ndarray | None:
        """``[len(self)]`` cluster key of every sample (int64 when all integers, else str);
        None without a cluster column."""
        return None if self._clusters is None else self._clusters.copy()

    @property
    def num_dates(self) -> int:
        """``T``, dates per sample."""
        return int(self._days.numel())

    @property
    def dates(self) -> np.ndarray:
        """int64 ``[T]`` days (or date indices) shared by every sample."""
        return self._days.numpy().copy()

    def series_array(self) -> np.ndarray:
        """float32 ``[N, T, C]`` values of every sample (before ``transform``), a copy."""
        return self._values.numpy().copy()

    @property
    def band_names(self) -> dict[str, tuple[str, ...]]:
        return {self.modality: tuple(self.bands)}

    def observation_dates(self, index: int) -> dict[str, np.ndarray]:
        days = self._days.numpy()
        if self.reference_date is None:
            return {self.modality: days.copy()}
        return {
            self.modality: np.datetime64(self.reference_date, "D") + days.astype("timedelta64[D]")
        }

    @classmethod
    def looks_like(cls, root: str | Path) -> bool:
        return safe_check(lambda: table_columns(root) is not None)
