"""Reader for the JRC per-parcel Sentinel-1 / Sentinel-2 statistics layout (SALMS).

The EC JRC R package SALMS (signal analysis for land monitoring systems, Zielinski et al. 2022)
works on *per-parcel statistics*: for every parcel ("feature of interest", FOI), date and band,
one row of descriptors (count, min, quartiles, mean, std, …) of the pixels inside the parcel.
:class:`JRCParcelStatistics` serves these tables as paired-sensor samples for fusion: one
:class:`~sitsfusion.data.Sample` per parcel, one one-pixel :class:`~sitsfusion.data.TimeSeries`
per sensor, each on its own dates. :func:`event_targets` turns the parcel's mowing events into
per-date targets.

Every problem with the files raises :class:`~sitsfusion.errors.DatasetError`, whose message
starts with the offending file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from sitsfusion.data.dates import DateLike, reference_day
from sitsfusion.data.readers.base import Reader, register_reader, safe_check
from sitsfusion.data.readers.tables import LabelledSamples
from sitsfusion.data.readers.tables.common import numeric_values
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.errors import DatasetError
from sitsfusion.io import require_regular_file

__all__ = ["CLOUD_CLASSES", "MODALITIES", "STATISTICS", "JRCParcelStatistics", "event_targets"]

#: Modality name -> the ``tsdir`` file kinds (``<parcel>_<kind>_ts.csv``) it is read from.
#: Signals of one modality share its dates, so each modality is one acquisition schedule.
MODALITIES: dict[str, tuple[str, ...]] = {
    "S2": ("s2", "s2_idx"),  # S2 bands (B02..B12, B8A) from s2, any other name from s2_idx
    "S1": ("s1_bs",),  # weekly S1 backscatter signals (orbit ratios *_rAD in the example)
    "S1_COH": ("s1_coh6",),  # weekly S1 6-day coherence
    "S1_IDX": ("s1_bsidx",),  # S1 backscatter indices (RVI) on every acquisition
}

#: Statistic name -> descriptor column of the files. Any other name is looked up as a column
#: name itself, case-insensitively (e.g. ``"CI.MEAN.0.95"``, ``"NORMTEST.W"``).
STATISTICS: dict[str, str] = {
    "mean": "MEAN",
    "std": "STD.DEV",
    "median": "MEDIAN",
    "min": "MIN",
    "p25": "P25",
    "p50": "P50",
    "p75": "P75",
    "max": "MAX",
    "var": "VAR",
    "se_mean": "SE.MEAN",
    "cv": "COEF.VAR",
    "skewness": "SKEWNESS",
    "kurtosis": "KURTOSIS",
    "entropy": "ENTROPY",
    "count": "COUNT",
}

#: Sentinel-2 scene-classification classes counted as cloud by SALMS (``hist.<class>``
#: columns): 3 cloud shadow, 8 cloud medium probability, 9 cloud high probability,
#: 10 thin cirrus, 11 snow.
CLOUD_CLASSES = (3, 8, 9, 10, 11)

_S2_BAND = re.compile(r"B(0?[1-9]|1[0-2]|8A)")
_ID_COLUMNS = ("ID", "PSEUDO_ID", "FIELD_ID")
_EVENT_DATE_COLUMNS = ("EVENT_DATE", "ACTIVITY_DATE", "EVENT_START_DATE")
_HIST = re.compile(r"hist\.(\d+)", re.IGNORECASE)


def _natural_key(pid: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order ("2" < "10"), then the others alphabetically."""
    return (0, int(pid), pid) if pid.isdigit() else (1, 0, pid)


def _read_csv(path: Path) -> pd.DataFrame:
    require_regular_file(path)  # a named pipe would block the read
    try:
        return pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DatasetError(path, f"not a readable CSV ({exc})") from None


def _columns(path: Path, df: pd.DataFrame, wanted: Sequence[str]) -> dict[str, str]:
    """``{wanted name: actual column}`` matched case-insensitively; missing ones raise."""
    upper = {str(c).upper(): str(c) for c in df.columns}
    missing = [w for w in wanted if w.upper() not in upper]
    if missing:
        raise DatasetError(path, f"missing column(s) {missing}; the file has {list(df.columns)}")
    return {w: upper[w.upper()] for w in wanted}


def event_targets(
    dates: Tensor,
    event_days: Sequence[int] | Tensor,
    target: Literal["mown", "days_since"] = "mown",
) -> Tensor:
    """Per-date targets from event days (e.g. ``sample.meta["events"]["days"]``).

    Args:
        dates: int ``[T]`` sorted days of one modality (``sample["S2"].dates``).
        event_days: event days on the same reference, any order.
        target: ``"mown"``: bool ``[T]``, True at ``t`` when an event falls in
            ``(dates[t-1], dates[t]]`` (``t = 0``: any event on or before ``dates[0]``), i.e.
            ``dates[t]`` is the first observation after the event; an event on an acquisition
            day counts for that day. ``"days_since"``: float32 ``[T]``, days since the last
            event on or before ``dates[t]``, NaN before the first event.

    Returns:
        bool ``[T]`` or float32 ``[T]`` on the device of ``dates``.
    """
    d = dates.long()
    ev = torch.as_tensor(event_days, dtype=torch.long, device=d.device).flatten().sort().values
    if target == "mown":
        out = torch.zeros(d.shape[0], dtype=torch.bool, device=d.device)
        first_after = torch.searchsorted(d, ev, side="left")  # first t with dates[t] >= event
        out[first_after[first_after < d.shape[0]]] = True
        return out
    if target == "days_since":
        last = torch.searchsorted(ev, d, side="right") - 1  # last event <= dates[t]
        since = (d - ev[last.clamp(min=0)]).float() if ev.numel() else d.float()
        return torch.where(last >= 0, since, torch.full_like(since, float("nan")))
    raise ValueError(f"target must be 'mown' or 'days_since', got {target!r}")


@dataclass
class _Modality:
    """One modality of every parcel, rows sorted by (parcel, day)."""

    values: Tensor  # float32 [rows, C, 1]
    day: np.ndarray  # datetime64[D] [rows]
    offsets: np.ndarray  # int64 [P + 1]: rows of parcel i are offsets[i]:offsets[i + 1]
    mask: Tensor | None  # bool [rows] (S2 cloud mask) or None
    orbits: np.ndarray | None  # str [rows]: "A", "D", "A+D" (merged) or None
    sources: list[str]  # per parcel, the first file read


@register_reader
class JRCParcelStatistics(LabelledSamples, Reader):
    """Per-parcel Sentinel-1 / Sentinel-2 statistics of the JRC SALMS layout, for fusion.

    On-disk layout (the SALMS example data, 10 grassland parcels, 2020)::

        root/
        ├── tsdir/                          one file per parcel and sensor group (read)
        │   ├── <id>_s2_ts.csv              S2 L2A bands (B04, B08), one row per (date, band)
        │   ├── <id>_s2_idx_ts.csv          S2 indices (GARI, NDVI, BSI), same dates
        │   ├── <id>_s1_bs_ts.csv           S1 backscatter signals, one acquisition per week
        │   ├── <id>_s1_coh6_ts.csv         S1 6-day coherence (s1_coh6, _VV, _VH), weekly
        │   └── <id>_s1_bsidx_ts.csv        S1 backscatter index RVI, every acquisition
        ├── gtdir/
        │   └── FOIinfo.csv                 ground truth: ID, area, Event_date, Event_type
        └── signals/<signal>.csv            event-centred weekly windows (not read, see below)

    Columns of a ``tsdir`` file: ``cwithin``, ``chalf``, ``call`` (pixels entirely inside /
    at least half inside / touching the parcel), ``date`` (``2020-01-04`` for S2,
    ``2020-01-02 05:17:47`` for S1 indices, ``20200116T165850`` for the weekly S1 files,
    which also carry the ISO ``week``), ``band``, ``count`` (pixels used, = ``cwithin``), the
    19 descriptors ``MIN P25 P50 P75 MAX MEDIAN MEAN SE.MEAN CI.MEAN.0.95 VAR STD.DEV
    COEF.VAR SKEWNESS SKEW.2SE KURTOSIS KURT.2SE NORMTEST.W NORMTEST.P ENTROPY`` of the pixel
    values, and for S2 ``hist.0`` … ``hist.11``: the parcel's pixels per scene-classification
    (SCL) class. ``FOIinfo.csv`` has one row per event, dates ``dd/mm/yyyy``.

    ``signals/`` holds SALMS ``createSignals`` output: for each event, 15 weekly values
    (``WEEK`` 1–15, the event in week 8) per parcel — derived, with no acquisition date, so
    it is not read.

    What the real files hold (checked on the 10 parcels of 2020): S2 71 dates
    (2020-01-04 … 12-29, bands B04, B08; indices GARI, NDVI, BSI) of which only 21–26 per
    parcel are cloud-free, hence the mask; GARI and BSI are NaN on six March dates of parcels
    1 and 9 (use ``on_nan="drop"``); ``s1_bs`` 47 and ``s1_coh6`` 48 dates, one acquisition
    per ISO week 3–50 picked from either orbit (35 / 37 ascending), on different days for
    the two; ``s1_bsidx`` (RVI) 180 acquisitions of both orbits. The ``s1_bs`` bands are
    ``s1_bs_rAD`` and ``s1_bs_VH_rAD``: in SALMS naming ``_rAD`` marks ratios between the
    ascending and descending orbits (its ``s1_bsrat`` group), not σ⁰ — no plain VV / VH
    backscatter is in the example data. No two acquisitions of one band share a day.

    Each item is a :class:`~sitsfusion.data.Sample` for one parcel:

    * ``series[modality]``: :class:`~sitsfusion.data.TimeSeries`, ``values`` float32
      ``[T, C, 1]`` (a one-pixel set) with C = signals × statistics in signal-major order (see
      :attr:`channel_names`), ``dates`` int64 ``[T]`` days since ``reference_date``, strictly
      increasing. Each modality keeps its own dates (S2 and S1 dates differ). S2 has a bool
      ``mask`` ``[T]``: False on a cloudy date (more than ``max_cloud_fraction`` of the
      pixels in ``cloud_classes``);
    * ``label``: -1 (``label="none"``: no crop classes) or the number of events of the
      parcel (``label="num_events"``);
    * ``meta``: ``id``, ``events`` = ``{"days": [...], "dates": [ISO...], "types": [...]}``
      sorted by date (days on the same reference as ``dates``; see :func:`event_targets`),
      ``area`` (FOIinfo ``area``, ha) when present, ``orbits`` = ``{modality: ["A"|"D", ...]}``
      per date for the S1 modalities (from the acquisition hour, as SALMS does: after 12:00
      UTC ascending), ``reference_date`` (ISO), ``dataset="jrc_salms"``.

    Args:
        root: the folder holding ``tsdir/`` and ``gtdir/``.
        modalities: modality names of :data:`MODALITIES` (default signals), or
            ``{name: signals or None}``. Default signals: the bands of the modality's first
            file kind (S2: the optical bands of ``s2``; S1, S1_COH, S1_IDX: all bands).
        statistics: descriptors per signal, names of :data:`STATISTICS` or column names.
        parcels: keep these parcel ids (compared as strings); default every parcel with a file
            of each kind read. An absent parcel is an error.
        reference_date: day 0 of ``dates``; default the earliest date served.
        on_nan: ``"raise"`` on a NaN statistic or a signal missing on a date; ``"drop"``
            drops that date from that parcel's modality.
        same_day: two acquisitions of one signal on the same day with different times (two
            S1 orbits) raise (``"raise"``) or are averaged (``"mean"``; orbit ``"A+D"``).
            Rows with identical timestamps always raise.
        cloud_classes: SCL classes counted as cloud for the S2 mask; None: no mask.
        max_cloud_fraction: largest cloudy pixel fraction of a valid S2 date.
        events: read ``gtdir/FOIinfo.csv`` (required then); False: no events.
        label: ``"none"`` (label -1) or ``"num_events"``.
        transform: applied to each sample on access.

    Reader contract: ``modalities`` and ``channels`` (signals × statistics) of the requested
    modalities, ``labels`` (see ``label``), ``class_names`` (event counts as text, empty with
    ``label="none"``); no groups, clusters, georeferencing or published statistics.
    :attr:`statistic_names` lists the descriptors read per signal.

    Raises:
        DatasetError: missing folder, file or column; unparsable date; NaN statistic;
            duplicate (parcel, date, band) row; two acquisitions on one day; a requested
            parcel or signal that is absent; an empty parcel file or a parcel with no date
            left.
    """

    format: ClassVar[str] = "jrc"
    layout: ClassVar[str] = (
        "JRC SALMS per-parcel statistics (tsdir/<id>_<kind>_ts.csv, gtdir/FOIinfo.csv)"
    )
    tasks: ClassVar[tuple[str, ...]] = ("parcel",)
    title: ClassVar[str] = "JRC SALMS"
    sample_noun: ClassVar[str] = "parcels"

    def __init__(
        self,
        root: str | Path,
        modalities: Sequence[str] | Mapping[str, Sequence[str] | None] = ("S2", "S1", "S1_COH"),
        statistics: Sequence[str] = ("mean", "std"),
        parcels: Sequence[Any] | None = None,
        reference_date: DateLike | None = None,
        on_nan: Literal["raise", "drop"] = "raise",
        same_day: Literal["raise", "mean"] = "raise",
        cloud_classes: Sequence[int] | None = CLOUD_CLASSES,
        max_cloud_fraction: float = 0.0,
        events: bool = True,
        label: Literal["none", "num_events"] = "none",
        transform: Callable[[Sample], Sample] | None = None,
    ) -> None:
        if on_nan not in ("raise", "drop"):
            raise ValueError(f"on_nan must be 'raise' or 'drop', got {on_nan!r}")
        if same_day not in ("raise", "mean"):
            raise ValueError(f"same_day must be 'raise' or 'mean', got {same_day!r}")
        if label not in ("none", "num_events"):
            raise ValueError(f"label must be 'none' or 'num_events', got {label!r}")
        self.root = Path(root)
        self.tsdir = self.root / "tsdir"
        self.transform = transform
        self.on_nan = on_nan
        self.same_day = same_day
        self.cloud_classes = None if cloud_classes is None else [int(c) for c in cloud_classes]
        self.max_cloud_fraction = float(max_cloud_fraction)
        if not self.root.is_dir():
            raise DatasetError(self.root, "missing folder")
        if not self.tsdir.is_dir():
            raise DatasetError(self.tsdir, "missing folder (per-parcel time series)")

        requested = self._parse_modalities(modalities)
        self.statistic_names = [str(s).lower() for s in statistics]
        names = self.statistic_names
        if not names or len(set(names)) != len(names):
            raise ValueError(f"statistics must be non-empty and unique, got {list(statistics)}")
        self._stat_columns = [STATISTICS.get(s, s.upper()) for s in names]

        kinds = [k for name, sig in requested.items() for k in self._kinds_of(name, sig)]
        self._ids = self._find_parcels(list(dict.fromkeys(kinds)), parcels)

        self.signals: dict[str, list[str]] = {}
        self._data: dict[str, _Modality] = {}
        for name, sig in requested.items():
            self._data[name] = self._load(name, sig)

        first = min(m.day.min() for m in self._data.values())
        self._ref = first if reference_date is None else reference_day(reference_date)
        self.reference_date = str(self._ref)
        self._days = {
            name: torch.from_numpy((m.day - self._ref).astype(np.int64))
            for name, m in self._data.items()
        }

        empty: dict[str, Any] = {"days": [], "dates": [], "types": []}
        self._events: dict[str, dict[str, Any]] = {pid: empty for pid in self._ids}
        self._area: dict[str, float] = {}
        if events:
            self._read_events(self.root / "gtdir" / "FOIinfo.csv")
        if label == "none":
            self._labels = np.full(len(self._ids), -1, dtype=np.int64)
            self._class_names: list[str] = []
        else:
            self._labels = np.array(
                [len(self._events[p]["days"]) for p in self._ids], dtype=np.int64
            )
            top = int(self._labels.max()) if len(self._labels) else 0
            self._class_names = [str(k) for k in range(top + 1)]

    # ----------------------------------------------------------------------------------------
    # Construction helpers
    # ----------------------------------------------------------------------------------------

    @staticmethod
    def _parse_modalities(
        modalities: Sequence[str] | Mapping[str, Sequence[str] | None],
    ) -> dict[str, list[str] | None]:
        if isinstance(modalities, str):
            modalities = [modalities]
        items = (
            list(modalities.items())
            if isinstance(modalities, Mapping)
            else [(m, None) for m in modalities]
        )
        if not items:
            raise ValueError("at least one modality is needed")
        out: dict[str, list[str] | None] = {}
        for name, sig in items:
            if name not in MODALITIES:
                raise ValueError(f"unknown modality {name!r}; known: {sorted(MODALITIES)}")
            if isinstance(sig, str):
                sig = [sig]
            if sig is not None and (not sig or len(set(sig)) != len(sig)):
                raise ValueError(f"signals of {name!r} must be non-empty and unique: {sig}")
            out[name] = None if sig is None else [str(s) for s in sig]
        return out

    @staticmethod
    def _kinds_of(name: str, signals: Sequence[str] | None) -> list[str]:
        """The file kinds holding ``signals`` of modality ``name``, in file order."""
        kinds = MODALITIES[name]
        if signals is None or len(kinds) == 1:
            return [kinds[0]]
        used = {kinds[0] if _S2_BAND.fullmatch(s) else kinds[1] for s in signals}
        return [k for k in kinds if k in used]

    def _path(self, pid: str, kind: str) -> Path:
        return self.tsdir / f"{pid}_{kind}_ts.csv"

    def _find_parcels(self, kinds: list[str], parcels: Sequence[Any] | None) -> list[str]:
        if parcels is not None:
            ids = list(dict.fromkeys(str(p) for p in parcels))
            if not ids:
                raise ValueError("parcels must not be empty")
            for pid in ids:
                for kind in kinds:
                    path = self._path(pid, kind)
                    if not path.is_file():
                        raise DatasetError(
                            path, f"missing: parcel {pid!r} was requested but has no {kind} file"
                        )
            return ids
        found: dict[str, set[str]] = {}
        for kind in kinds:
            suffix = f"_{kind}_ts.csv"
            found[kind] = {p.name[: -len(suffix)] for p in self.tsdir.glob(f"*{suffix}")}
            if not found[kind]:
                raise DatasetError(self.tsdir, f"no <parcel>{suffix} file")
        ids = sorted(set().union(*found.values()), key=_natural_key)
        for pid in ids:
            for kind in kinds:
                if pid not in found[kind]:
                    raise DatasetError(
                        self._path(pid, kind),
                        f"missing, but parcel {pid!r} has other files; pass parcels= to skip it",
                    )
        return ids

    def _read_kind(
        self, kind: str, signals: list[str] | None, files: list[Path], with_cloud: bool
    ) -> tuple[pd.DataFrame, list[str]]:
        """All parcels' rows of one file kind: columns parcel, file, date, band, v0.., cloud."""
        frames: list[pd.DataFrame] = []
        raw: list[tuple[Path, pd.DataFrame]] = []
        for pid in self._ids:
            path = self._path(pid, kind)
            df = _read_csv(path)
            cols = _columns(path, df, ["date", "band", *self._stat_columns])
            if len(df) == 0:
                raise DatasetError(path, "no rows (empty parcel)")
            raw.append((path, df.assign(**{"band": df[cols["band"]].astype(str)})))
        if signals is None:
            signals = [str(b) for b in pd.unique(pd.concat([d["band"] for _, d in raw]))]
        wanted = set(signals)
        for code, (path, df) in enumerate(raw):
            have = pd.unique(df["band"]).tolist()
            absent = [s for s in signals if s not in have]
            if absent:
                raise DatasetError(path, f"signal(s) {absent} absent; the file has {have}")
            cols = _columns(path, df, ["date", *self._stat_columns])
            df = df[df["band"].isin(wanted).to_numpy()]
            out = pd.DataFrame(
                {
                    "parcel": code,
                    "file": len(files),
                    "date": df[cols["date"]].astype(str).to_numpy(),
                    "band": df["band"].to_numpy(),
                }
            )
            for k, stat in enumerate(self._stat_columns):
                vals = pd.to_numeric(df[cols[stat]], errors="coerce")
                text = df[cols[stat]].notna().to_numpy() & vals.isna().to_numpy()
                if text.any():
                    example = df[cols[stat]].to_numpy()[text][0]
                    raise DatasetError(
                        path, f"non-numeric value {example!r} in column {cols[stat]!r}"
                    )
                out[f"v{k}"] = vals.to_numpy(dtype=np.float64)
            # ±inf, overflow and implausible magnitudes (NaN is the on_nan policy's)
            numeric_values(path, df, [cols[s] for s in self._stat_columns], kind, allow_nan=True)
            if with_cloud:
                out["cloud"] = self._cloud_fraction(df)
            files.append(path)
            frames.append(out)
        return pd.concat(frames, ignore_index=True), signals

    def _cloud_fraction(self, df: pd.DataFrame) -> np.ndarray:
        """float64 ``[rows]`` fraction of the parcel's pixels in ``cloud_classes`` (NaN if no
        ``hist.*`` columns)."""
        hist = {int(m.group(1)): c for c in df.columns if (m := _HIST.fullmatch(str(c)))}
        if not hist or self.cloud_classes is None:
            return np.full(len(df), np.nan)
        counts = df[list(hist.values())].to_numpy(dtype=np.float64)
        cloudy = df[[hist[c] for c in self.cloud_classes if c in hist]].to_numpy(np.float64)
        total = counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, cloudy.sum(axis=1) / total, np.nan)

    def _load(self, name: str, signals: list[str] | None) -> _Modality:
        kinds = self._kinds_of(name, signals)
        is_s2 = name == "S2"
        files: list[Path] = []
        frames = []
        resolved: list[str] = []
        for kind in kinds:
            sub = None
            if signals is not None:
                sub = [s for s in signals if self._kinds_of(name, [s]) == [kind]]
            df, got = self._read_kind(kind, sub, files, with_cloud=is_s2)
            frames.append(df)
            resolved += got
        signals = signals if signals is not None else resolved
        self.signals[name] = list(signals)
        df = pd.concat(frames, ignore_index=True)
        vcols = [f"v{k}" for k in range(len(self._stat_columns))]
        n_files_per_kind = len(self._ids)

        def where(rows: np.ndarray) -> tuple[Path, str]:
            """The file and 'parcel p, date d, band b' of the first row in ``rows``."""
            i = int(np.flatnonzero(rows)[0])
            r = df.iloc[i]
            return files[int(r["file"])], f"parcel {self._ids[int(r['parcel'])]!r}, " + (
                f"date {r['date']}, band {r['band']!r}"
            )

        stamp = pd.to_datetime(df["date"], format="ISO8601", errors="coerce")
        bad = stamp.isna().to_numpy()
        if bad.any():
            path, _ = where(bad)
            examples = sorted({str(v) for v in df["date"][bad].head(5)})
            raise DatasetError(
                path, f"{int(bad.sum())} unparsable value(s) in column 'date', e.g. {examples}"
            )
        df["stamp"] = stamp.to_numpy()
        df["day"] = stamp.to_numpy().astype("datetime64[D]")
        has_time = df["date"].str.len().to_numpy() > 10
        hour = stamp.dt.hour.to_numpy()
        df["orbit"] = np.where(has_time, np.where(hour >= 12, "A", "D"), "")

        dup = df.duplicated(["parcel", "band", "stamp"]).to_numpy()
        if dup.any():
            path, what = where(dup)
            raise DatasetError(
                path, f"{int(dup.sum())} duplicate (parcel, date, band) row(s), first: {what}"
            )

        nan = df[vcols].isna().to_numpy()
        if nan.any():
            if self.on_nan == "raise":
                rows = nan.any(axis=1)
                path, what = where(rows)
                col = self._stat_columns[int(np.flatnonzero(nan[rows][0])[0])]
                raise DatasetError(
                    path,
                    f"{int(rows.sum())} row(s) with NaN statistics, first: {what}, column "
                    f"{col!r} (on_nan='drop' drops such dates)",
                )
            df = df[~nan.any(axis=1)]

        same = df.duplicated(["parcel", "band", "day"], keep=False).to_numpy()
        if same.any():
            if self.same_day == "raise":
                path, what = where(same)
                keys = ["parcel", "band", "day"]
                first = df.loc[same, keys].iloc[0]
                group = (df[keys] == first).all(axis=1).to_numpy()
                n = int(df.loc[same, keys].drop_duplicates().shape[0])
                raise DatasetError(
                    path,
                    f"{n} (parcel, day, band) with several acquisitions (e.g. two S1 orbits), "
                    f"first: {what}, acquisitions {df.loc[group, 'date'].tolist()}; "
                    "same_day='mean' averages them",
                )
            agg = {c: "mean" for c in [*vcols, "cloud"] if c in df.columns}
            grouped = df.groupby(["parcel", "day", "band"], sort=False)
            merged = grouped.agg({**agg, "file": "first", "date": "first"})
            lo, hi = grouped["orbit"].min(), grouped["orbit"].max()
            merged["orbit"] = lo.where(lo == hi, lo + "+" + hi)
            df = merged.reset_index()

        wide = df.set_index(["parcel", "day", "band"])[vcols].unstack("band").sort_index()
        columns = pd.MultiIndex.from_tuples([(v, s) for s in signals for v in vcols])
        values = wide.reindex(columns=columns).to_numpy(dtype=np.float64)
        parcel = wide.index.get_level_values("parcel").to_numpy()
        day = wide.index.get_level_values("day").to_numpy().astype("datetime64[D]")
        hole = np.isnan(values)
        if hole.any():
            rows = hole.any(axis=1)
            if self.on_nan == "raise":
                r = int(np.flatnonzero(rows)[0])
                signal = signals[int(np.flatnonzero(hole[r])[0]) // len(vcols)]
                kind_index = kinds.index(self._kinds_of(name, [signal])[0])
                path = files[kind_index * n_files_per_kind + int(parcel[r])]
                raise DatasetError(
                    path,
                    f"band {signal!r} has no row on {day[r]} for parcel "
                    f"{self._ids[int(parcel[r])]!r}, where other bands have one "
                    "(on_nan='drop' drops such dates)",
                )
            keep = ~rows
            values, parcel, day = values[keep], parcel[keep], day[keep]
            wide = wide[keep]

        counts = np.bincount(parcel, minlength=len(self._ids))
        if (counts == 0).any():
            code = int(np.flatnonzero(counts == 0)[0])
            raise DatasetError(
                files[code], f"parcel {self._ids[code]!r} has no {name} date left (empty parcel)"
            )
        offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)

        per_date = df.groupby(["parcel", "day"])
        index = wide.index
        mask = None
        if is_s2 and self.cloud_classes is not None and df["cloud"].notna().any():
            cloud = per_date["cloud"].max().reindex(index).to_numpy()
            mask = torch.from_numpy(~(cloud > self.max_cloud_fraction))
        orbits = None
        if name.startswith("S1") and (df["orbit"] != "").any():
            orbits = per_date["orbit"].first().reindex(index).to_numpy().astype(str)
        vals = torch.from_numpy(values.astype(np.float32)).unsqueeze(-1)  # [rows, C, 1]
        sources = [str(files[i]) for i in range(len(self._ids))]
        return _Modality(vals, day, offsets, mask, orbits, sources)

    def _read_events(self, path: Path) -> None:
        df = _read_csv(path)
        upper = {str(c).upper(): str(c) for c in df.columns}
        id_col = next((upper[c] for c in _ID_COLUMNS if c in upper), None)
        date_col = next((upper[c] for c in _EVENT_DATE_COLUMNS if c in upper), None)
        if id_col is None or date_col is None:
            need = [n for n, c in (("ID", id_col), ("Event_date", date_col)) if c is None]
            raise DatasetError(path, f"missing column(s) {need}; the file has {list(df.columns)}")
        ids = df[id_col].astype(str).str.strip().to_numpy()
        raw = df[date_col].astype(str).str.strip()
        parsed = pd.to_datetime(raw, format="%d/%m/%Y", errors="coerce")
        iso = pd.to_datetime(raw, format="ISO8601", errors="coerce")
        parsed = parsed.fillna(iso)
        bad = parsed.isna().to_numpy()
        if bad.any():
            examples = sorted(set(raw[bad].head(5)))
            raise DatasetError(
                path,
                f"{int(bad.sum())} unparsable value(s) in column {date_col!r} "
                f"(expected dd/mm/yyyy or ISO), e.g. {examples}",
            )
        type_col = upper.get("EVENT_TYPE")
        types = df[type_col].astype(str).to_numpy() if type_col else np.full(len(df), "")
        day = parsed.to_numpy().astype("datetime64[D]")
        table = pd.DataFrame({"id": ids, "day": day, "type": types})
        dup = table.duplicated().to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise DatasetError(
                path, f"duplicate event row: ID {ids[i]!r}, date {day[i]}, type {types[i]!r}"
            )
        table = table[table["id"].isin(self._ids).to_numpy()].sort_values(["id", "day"])
        offsets = (table["day"].to_numpy().astype("datetime64[D]") - self._ref).astype(np.int64)
        table = table.assign(offset=offsets, iso=table["day"].dt.strftime("%Y-%m-%d"))
        for pid, group in table.groupby("id", sort=False):
            self._events[str(pid)] = {
                "days": group["offset"].tolist(),
                "dates": group["iso"].tolist(),
                "types": group["type"].tolist(),
            }
        area_col = upper.get("AREA")
        if area_col is not None:
            area = pd.to_numeric(df[area_col], errors="coerce").to_numpy(dtype=np.float64)
            for pid, a in zip(ids, area, strict=True):
                if pid in self._events and not np.isnan(a):
                    self._area.setdefault(str(pid), float(a))

    # ----------------------------------------------------------------------------------------
    # Dataset API
    # ----------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} parcels")
        index = index % len(self)
        pid = self._ids[index]
        series: dict[str, TimeSeries] = {}
        orbits: dict[str, list[str]] = {}
        for name, m in self._data.items():
            a, b = int(m.offsets[index]), int(m.offsets[index + 1])
            mask = None if m.mask is None else m.mask[a:b].clone()
            series[name] = TimeSeries(
                m.values[a:b].clone(), self._days[name][a:b].clone(), mask, m.sources[index]
            )
            if m.orbits is not None:
                orbits[name] = m.orbits[a:b].tolist()
        ev = self._events[pid]
        meta: dict[str, Any] = {
            "id": pid,
            "events": {k: list(v) for k, v in ev.items()},
        }
        if pid in self._area:
            meta["area"] = self._area[pid]
        if orbits:
            meta["orbits"] = orbits
        meta["reference_date"] = self.reference_date
        meta["dataset"] = "jrc_salms"
        sample = Sample(series, label=int(self._labels[index]), meta=meta)
        return sample if self.transform is None else self.transform(sample)

    @property
    def modalities(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(self._data)

    @property
    def channels(self) -> dict[str, int]:  # type: ignore[override]
        return {name: len(names) for name, names in self.channel_names.items()}

    @classmethod
    def looks_like(cls, root: str | Path) -> bool:
        return safe_check(lambda: (Path(root) / "tsdir").is_dir())

    @property
    def channel_names(self) -> dict[str, list[str]]:
        """``{modality: ["<signal>_<statistic>", ...]}`` in channel order."""
        return {
            name: [f"{s}_{st}" for s in sig for st in self.statistic_names]
            for name, sig in self.signals.items()
        }
