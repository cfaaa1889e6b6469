"""The pixel-set reader (:class:`PixelSetDataset`): pytorch-psetae's layout and two variants."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from sitsfusion.data.dates import DateLike, reference_day
from sitsfusion.data.readers.base import Indices, Reader, register_reader, safe_check
from sitsfusion.data.readers.pixelset.layout import (
    DATES_FILE,
    FOLDS_FILE,
    GEOMFEAT_FILE,
    LABELS_FILE,
    Source,
    resolve_roots,
)
from sitsfusion.data.readers.pixelset.meanstd import find_meanstd, read_meanstd
from sitsfusion.data.readers.pixelset.metadata import (
    apply_plan,
    check_labels,
    date_plan,
    natural_key,
    read_dates_file,
)
from sitsfusion.data.readers.ranges import check_band_values, plausible_range
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.data.statistics import ChannelStatistics, pool_moments
from sitsfusion.data.transforms import sample_pixels as draw_pixels
from sitsfusion.errors import DatasetError
from sitsfusion.io import (
    check_numeric_dtype,
    load_npy,
    read_json,
    read_npy_header,
)

__all__ = ["PixelSetDataset", "Variant"]

Variant = Literal["global_dates", "per_parcel_dates", "multi_sensor"]
_PIXEL_SET = "a pixel set"


@register_reader
class PixelSetDataset(Reader):
    """Parcels stored as pixel sets: the pytorch-psetae layout and two variants.

    The pixel-set format (Sainte Fare Garnot et al. 2020, PSE-TAE; S2-Agri) stores each parcel
    as the unordered set of its pixels' time series. On-disk layout::

        ROOT/
          DATA/<id>.npy           (T, C, N) one parcel: T dates, C channels, N pixels (any real
                                  dtype; read as float32)
          META/labels.json        {"<nomenclature>": {"<id>": code, ...}, ...}, e.g.
                                  "label_44class" (S2-Agri) or "CODE_GROUP" (CropTypeMapping)
          META/dates.json         (a) global: {"0": YYYYMMDD, ..., "T-1": YYYYMMDD}
                                  (b) per parcel: {"<id>": [YYYYMMDD, ...], ...}
          META/geomfeat.json      {"<id>": [F floats], ...}   optional (F = 4 in S2-Agri:
                                  perimeter, pixel count, cover ratio, perimeter / surface)
          META/sizes.json         {"<id>": N}                 optional, not read
          META/folds.json         {"<id>": fold}              optional (sitsfusion's): spatial
                                  folds 1, 2, ... (``sitsfusion prepare --mode parcels``)
          <name>-meanstd.pkl      (means, stds) of shape (), (C,) or (T, C)   optional

    Dates are ``YYYYMMDD`` integers or strings, or ISO ``YYYY-MM-DD`` strings.

    (c) Two sensors (CropTypeMapping, seed 000 Sec. 3.4): one such folder per sensor, the same
    parcel ids and the same N pixels, in the same order, in every folder; each sensor has its
    own dates (per parcel or global)::

        s1_data/<region>/{DATA, META}     S1: (T1, 2, N) VV, VH
        s2_data/<region>/{DATA, META}     S2: (T2, 10, N)

    ``root`` may be that mapping ``{"S1": s1_root, "S2": s2_root}`` (any names and any number of
    sensors), one ``s1_data/<region>`` (or ``s2_data/<region>``) folder whose mirror exists, a
    folder holding ``s1_data/`` and ``s2_data/`` with DATA and META directly inside, or a
    folder with one ``<modality>/{DATA, META}`` sub-folder per modality (what
    :func:`export_pixelsets` writes). The first modality's ``labels.json`` is the reference;
    another modality's ``labels.json``, when present, must agree with it, and ``geomfeat.json``
    is read from the first modality that has one.

    Each item is a :class:`~sitsfusion.data.Sample`:

    * ``series[m]``: :class:`~sitsfusion.data.TimeSeries` with ``values`` float32
      ``[T, C, S]``, ``dates`` int64 days since the reference date, ``mask`` bool ``[T, S]``
      of valid observations. ``S = n_pixels`` (the same pixels in every modality) or, with
      ``n_pixels=None``, every stored pixel.
    * ``label``: the class code remapped to ``0..K-1`` (see ``classes``).
    * ``meta``: ``id``, ``code`` (the label code in the file), ``geomfeat`` (float32 tensor, as
      stored: not standardised) when present, ``n_pixels_total`` (pixels holding data),
      ``reference_date`` (ISO string), ``dataset`` = ``"pixelset"``, ``layout`` =
      ``"global_dates"``, ``"per_parcel_dates"`` or ``"multi_sensor"`` (:attr:`variant`).

    Reader contract: ``class_names`` are the label codes as strings (label order),
    ``channels`` per modality, ``labels`` per parcel; no groups, clusters or georeferencing.
    :attr:`folds`: int64 ``[N]`` the fold of each parcel from the first modality's
    ``folds.json`` (every selected parcel must have one), or None without such a file; the
    data module then splits by ``data.train_folds`` / ``val_folds`` / ``test_folds``.
    Values are as stored; :meth:`statistics` returns the folder's ``*meanstd.pkl`` when there
    is one (normalise with :class:`~sitsfusion.data.transforms.Normalize`).

    No-data and padding. An observation (pixel, date) whose C values all equal ``nodata`` (0
    by default) is invalid: ``mask`` False. Hence a pixel zero at every date (padding of the
    pixel dimension) is invalid throughout: such pixels are removed before sampling, so they
    are never drawn while the parcel has a real pixel (in multi-sensor data a pixel is kept when
    it holds data in every modality); with ``n_pixels=None`` they stay, masked. A date where no
    pixel holds data stays, fully masked, unless ``drop_empty_dates``. A parcel without any
    valid pixel raises :class:`DatasetError` when read.

    Pixel sampling (PSE-TAE: S = 64) follows
    :func:`~sitsfusion.data.transforms.sample_pixels`: without replacement; a parcel with fewer
    than S pixels gives all of them, then repeats, marked invalid in ``mask``.

    Duplicate dates. Some data store two observations of one day (e.g. overlapping tiles: the
    real Karnataka HLS files hold two concatenated, separately sorted series for a third of the
    parcels). The default ``duplicate_dates="error"`` refuses unsorted or duplicate dates;
    ``"merge"`` sorts the observations by date (stable) and replaces same-day observations by
    their mean over the valid ones, per pixel (invalid if none is valid).

    Reference date: by default the earliest date found in the ``dates.json`` files of all
    modalities (every parcel, not only the ``ids`` selected), so that the splits of one folder
    share it; it is in ``meta["reference_date"]`` and :attr:`reference_date`. Pass one
    explicitly to compare folders.

    Args:
        root: the dataset folder, or ``{modality: folder}`` (see above).
        nomenclature: the ``labels.json`` key to use; None = the only one it holds (an error
            lists them when there are several).
        classes: the codes to keep, remapped to ``0..K-1`` in this order. None: every code of
            the nomenclature (all parcels of the file, not only ``ids``), sorted. A parcel
            whose code is not in ``classes`` raises :class:`DatasetError` unless
            ``drop_unknown`` (then it is left out; :attr:`n_dropped` counts them).
        modality: the modality name of a single-folder dataset.
        n_pixels: pixels drawn per parcel and item (S); None = all stored pixels (samples then
            differ in N and cannot be collated).
        sample_pixels: ``"random"``: a new draw at each access, from torch's global generator
            (``torch.manual_seed`` and DataLoader workers make it reproducible); ``"fixed"``:
            one draw per parcel from ``(seed, id)``, the same in every run and split.
        seed: seed of the ``"fixed"`` draws.
        reference_date: origin of the day counts; None = the earliest date (see above).
        geometric_features: read ``META/geomfeat.json`` into ``meta["geomfeat"]`` (when the
            file exists; every selected parcel must then have an entry).
        ids: the parcels to load (e.g. a split), in this order; None = every labelled parcel,
            in natural id order.
        transform: ``Sample -> Sample`` applied last.
        drop_unknown: see ``classes``.
        duplicate_dates: ``"error"`` or ``"merge"`` (see above).
        nodata: the value marking no-data observations; None = every observation valid.
        drop_empty_dates: drop the dates on which no (kept) pixel holds data.

    Raises:
        DatasetError: at construction, for problems visible from the folders, JSON files and
            ``.npy`` headers (missing folder or file, parcel without DATA file or dates, rank
            not 3, T different from the number of dates, C differing between parcels, N
            differing between modalities, bad dates, unknown codes, corrupt header); when an
            item is read, for problems in the values (corrupt data, NaN/inf, no valid pixel).
    """

    format: ClassVar[str] = "pixelset"
    layout: ClassVar[str] = (
        "pixel sets (DATA/<id>.npy + META/labels.json, dates.json; or s1_data/ + s2_data/, or "
        "one <modality>/ folder of them each)"
    )
    tasks: ClassVar[tuple[str, ...]] = ("parcel",)
    title: ClassVar[str] = "pixel-set"
    sample_noun: ClassVar[str] = "parcels"

    def __init__(
        self,
        root: str | Path | Mapping[str, str | Path],
        nomenclature: str | None = None,
        classes: Sequence[int] | None = None,
        modality: str = "S2",
        n_pixels: int | None = 64,
        sample_pixels: Literal["random", "fixed"] = "random",
        seed: int = 0,
        reference_date: DateLike | None = None,
        geometric_features: bool = True,
        ids: Sequence[str | int] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
        drop_unknown: bool = False,
        duplicate_dates: Literal["error", "merge"] = "error",
        nodata: float | None = 0.0,
        drop_empty_dates: bool = False,
    ) -> None:
        if n_pixels is not None and (isinstance(n_pixels, bool) or n_pixels < 1):
            raise ValueError(f"n_pixels must be an int >= 1 or None, got {n_pixels!r}")
        if sample_pixels not in ("random", "fixed"):
            raise ValueError(f"sample_pixels must be 'random' or 'fixed', got {sample_pixels!r}")
        if duplicate_dates not in ("error", "merge"):
            raise ValueError(f"duplicate_dates must be 'error' or 'merge', got {duplicate_dates!r}")
        self.n_pixels = n_pixels
        self.sample_pixels = sample_pixels
        self.seed = int(seed)
        self.transform = transform
        self.nodata = nodata
        self.drop_empty_dates = drop_empty_dates
        self.duplicate_dates = duplicate_dates

        roots = resolve_roots(root, modality)
        self.roots = roots
        self.root = Path(root) if not isinstance(root, Mapping) else next(iter(roots.values()))
        self._sources: dict[str, Source] = {m: Source(m, p) for m, p in roots.items()}
        self.modalities: tuple[str, ...] = tuple(self._sources)
        for src in self._sources.values():
            if not src.root.is_dir():
                raise DatasetError(src.root, "dataset folder does not exist")
            for folder in (src.data_dir, src.meta_dir):
                if not folder.is_dir():
                    raise DatasetError(folder, "missing folder (pixel-set layout: DATA/, META/)")

        # labels (the first modality's file is the reference)
        first = self._sources[self.modalities[0]]
        labels_path = first.meta_dir / LABELS_FILE
        self.nomenclature, all_codes = check_labels(
            read_json(labels_path), labels_path, nomenclature
        )
        for src in list(self._sources.values())[1:]:
            other = src.meta_dir / LABELS_FILE
            if other.is_file():
                _, codes = check_labels(read_json(other), other, self.nomenclature)
                diff = sorted(set(codes) ^ set(all_codes), key=natural_key)
                if diff:
                    raise DatasetError(
                        other,
                        f"parcels {diff[:5]} are labelled in only one of {labels_path} "
                        "and this file",
                    )
                bad = [p for p in codes if codes[p] != all_codes[p]]
                if bad:
                    raise DatasetError(
                        other, f"labels of parcels {bad[:5]} differ from {labels_path}"
                    )

        # dates and the reference date
        for src in self._sources.values():
            src.date_layout, src.global_dates, src.parcel_dates = read_dates_file(
                src.meta_dir / DATES_FILE
            )
        if reference_date is None:
            firsts = []
            for src in self._sources.values():
                if src.global_dates is not None:
                    firsts.append(src.global_dates.min())
                firsts.extend(d.min() for d in src.parcel_dates.values())
            self._ref_day = min(firsts)
        else:
            self._ref_day = reference_day(reference_date)
        self.reference_date: str = str(self._ref_day)

        # classes
        if classes is None:
            self.class_codes: tuple[int, ...] = tuple(sorted(set(all_codes.values())))
        else:
            self.class_codes = tuple(int(c) for c in classes)
            if len(set(self.class_codes)) != len(self.class_codes):
                raise ValueError(f"classes must be distinct codes, got {list(classes)}")
        self._label_of = {code: i for i, code in enumerate(self.class_codes)}

        # the parcels
        if ids is None:
            selected = sorted(all_codes, key=natural_key)
        else:
            selected = [str(i) for i in ids]
            unknown = [i for i in selected if i not in all_codes]
            if unknown:
                raise DatasetError(labels_path, f"no label for the requested ids {unknown[:5]}")
            if len(set(selected)) != len(selected):
                raise ValueError("ids must be distinct")
        kept: list[str] = []
        self.n_dropped = 0
        for pid in selected:
            if all_codes[pid] in self._label_of:
                kept.append(pid)
            elif drop_unknown:
                self.n_dropped += 1
            else:
                raise DatasetError(
                    labels_path,
                    f"parcel {pid} has code {all_codes[pid]}, not among classes "
                    f"{list(self.class_codes)} (pass drop_unknown=True to leave such parcels out)",
                )
        self._ids: list[str] = kept
        self._codes = np.array([all_codes[p] for p in kept], dtype=np.int64)
        self._labels = np.array([self._label_of[c] for c in self._codes], dtype=np.int64)

        for src in self._sources.values():
            self._check_arrays(src, labels_path)
        if len(self._sources) > 1:
            self._check_same_pixels()
        if len(self._sources) > 1:
            self.variant: Variant = "multi_sensor"
        elif first.date_layout == "global":
            self.variant = "global_dates"
        else:
            self.variant = "per_parcel_dates"

        self._geomfeat: dict[str, Tensor] | None = None
        if geometric_features:
            self._geomfeat = self._read_geomfeat()
        self.folds: np.ndarray | None = self._read_folds(first.meta_dir / FOLDS_FILE)
        self.synthetic = not isinstance(root, Mapping) and self.is_synthetic(root)
        self.channels = {m: src.channels for m, src in self._sources.items()}
        self.class_names = [str(c) for c in self.class_codes]

    # ---- construction helpers -----------------------------------------------------------------

    def _check_arrays(self, src: Source, labels_path: Path) -> None:
        """DATA file, dates and header of every selected parcel of one modality."""
        try:
            listing = set(os.listdir(src.data_dir))
        except OSError as exc:
            raise DatasetError(src.data_dir, f"cannot list the folder ({exc})") from None
        dates_path = src.meta_dir / DATES_FILE
        merge = self.duplicate_dates == "merge"
        global_plan = None
        if src.date_layout == "global" and src.global_dates is not None:
            global_plan = date_plan(src.global_dates, merge, dates_path, "global date list")
        for pid in self._ids:
            path = src.data_path(pid)
            if path.name not in listing:
                raise DatasetError(path, f"missing (parcel {pid} is labelled in {labels_path})")
            if global_plan is None:
                days = src.parcel_dates.get(pid)
                if days is None:
                    raise DatasetError(dates_path, f"no dates for parcel {pid}")
                plan = date_plan(days, merge, dates_path, f"parcel {pid}")
            else:
                plan = global_plan
            shape, dtype, _, _ = read_npy_header(path)
            check_numeric_dtype(path, dtype, _PIXEL_SET)
            if len(shape) != 3:
                raise DatasetError(path, f"wrong rank: expected 3-D (T, C, N), got shape {shape}")
            t, c, n = shape
            if t != plan.n_stored:
                raise DatasetError(
                    path, f"has T = {t} observations but {dates_path} lists {plan.n_stored} dates"
                )
            if not src.channels:
                src.channels = c
            elif c != src.channels:
                raise DatasetError(
                    path, f"has {c} channels, other parcels of {src.data_dir} have {src.channels}"
                )
            if n == 0:
                raise DatasetError(path, "holds no pixel (N = 0)")
            src.shapes[pid] = (t, c, n)
            src.plans[pid] = plan

    def _check_same_pixels(self) -> None:
        sources = list(self._sources.values())
        ref = sources[0]
        for src in sources[1:]:
            for pid in self._ids:
                if src.shapes[pid][2] != ref.shapes[pid][2]:
                    raise DatasetError(
                        src.data_path(pid),
                        f"has N = {src.shapes[pid][2]} pixels but {ref.data_path(pid)} has "
                        f"{ref.shapes[pid][2]}; the sensors must hold the same pixels",
                    )

    def _read_geomfeat(self) -> dict[str, Tensor] | None:
        for src in self._sources.values():
            path = src.meta_dir / GEOMFEAT_FILE
            if not path.is_file():
                continue
            obj = read_json(path)
            if not isinstance(obj, Mapping):
                raise DatasetError(path, 'expected {"<id>": [features], ...}')
            out: dict[str, Tensor] = {}
            size: int | None = None
            for pid in self._ids:
                if pid not in obj:
                    raise DatasetError(path, f"no geometric features for parcel {pid}")
                value = obj[pid]
                try:
                    feats = np.atleast_1d(np.asarray(value, dtype=np.float64))
                except (TypeError, ValueError):
                    feats = np.array([np.nan])
                if feats.ndim != 1 or not np.isfinite(feats).all():
                    raise DatasetError(
                        path, f"parcel {pid}: features must be a list of finite numbers"
                    )
                if size is None:
                    size = feats.size
                elif feats.size != size:
                    raise DatasetError(
                        path, f"parcel {pid} has {feats.size} features, others have {size}"
                    )
                out[pid] = torch.from_numpy(feats.astype(np.float32))
            return out
        return None

    def _read_folds(self, path: Path) -> np.ndarray | None:
        """int64 ``[N]`` folds of the selected parcels from ``path``; None when it is absent."""
        if not path.is_file():
            return None
        obj = read_json(path)
        if not isinstance(obj, Mapping):
            raise DatasetError(path, 'expected {"<id>": fold, ...}')
        folds = np.zeros(len(self._ids), dtype=np.int64)
        for i, pid in enumerate(self._ids):
            fold = obj.get(pid)
            if isinstance(fold, bool) or not isinstance(fold, int) or fold < 1:
                raise DatasetError(path, f"parcel {pid}: expected a fold >= 1, got {fold!r}")
            folds[i] = fold
        return folds

    @property
    def ids(self) -> tuple[str, ...]:
        """Parcel id of each item."""
        return tuple(self._ids)

    @property
    def codes(self) -> np.ndarray:
        """int64 ``[len]``: the label code of each item as stored in ``labels.json``."""
        return self._codes.copy()

    @property
    def labels(self) -> np.ndarray:
        """int64 ``[len]``: the remapped label (``0..K-1``) of each item."""
        return self._labels.copy()

    def class_counts(self) -> dict[int, int]:
        """``{code: number of items}`` for every class code, in label order (zeros included)."""
        counts = np.bincount(self._labels, minlength=len(self.class_codes))
        return {code: int(counts[i]) for i, code in enumerate(self.class_codes)}

    # ---- the contract ------------------------------------------------------------------------

    def statistics(self, indices: Indices = None) -> ChannelStatistics | None:
        """The ``*meanstd.pkl`` statistics of each modality folder that has one (pytorch-psetae's
        per-dataset statistics, the same whatever ``indices``); None when no folder has one.

        Shape ``()`` applies to every channel; ``(T, C)`` per-date statistics are pooled into
        per-channel ones (equal weight per date, :func:`~sitsfusion.data.statistics.pool_moments`):
        normalisation happens after the transforms over dates, where a date position no longer
        names one acquisition date.

        Raises:
            DatasetError: an unreadable pickle, several of them, or a channel count differing
                from the data's.
        """
        stats: ChannelStatistics = {}
        for m, src in self._sources.items():
            path = find_meanstd(src.root)
            if path is None:
                continue
            mean, std = read_meanstd(path)
            c = src.channels
            if mean.ndim == 2:
                mean, std = pool_moments(mean, std)
            if mean.ndim == 1 and mean.size != c:
                raise DatasetError(path, f"{mean.size} values but modality {m!r} has {c} channels")
            stats[m] = (
                torch.from_numpy(np.broadcast_to(mean, (c,)).copy()),
                torch.from_numpy(np.broadcast_to(std, (c,)).copy()),
            )
        return stats or None

    def observation_dates(self, index: int) -> dict[str, np.ndarray]:
        """The dates of parcel ``index`` (after merging same-day observations)."""
        pid = self._ids[index]
        return {m: src.plans[pid].dates.copy() for m, src in self._sources.items()}

    @classmethod
    def looks_like(cls, root: str | Path) -> bool:
        return safe_check(lambda: bool(resolve_roots(root, "S2")))

    @classmethod
    def is_synthetic(cls, root: str | Path) -> bool:
        """``sitsfusion prepare --mode parcels`` records ``"synthetic": true`` in the folder's
        mark when its imagery is the simulator's scene (the mark of ``root`` or, for one
        modality's folder, of its parent)."""
        from sitsfusion.outputs import read_mark

        def synthetic(folder: Path) -> bool:
            mark = read_mark(folder) or {}
            return mark.get("kind") == "dataset" and mark.get("synthetic") is True

        def check() -> bool:
            return synthetic(Path(root)) or synthetic(Path(root).parent)

        return safe_check(check)

    # ---- public helpers -------------------------------------------------------------------------

    def dates(self, modality: str, pid: str | int) -> Tensor:
        """int64 ``[T]`` days since :attr:`reference_date` of one parcel (after merging)."""
        plan = self._sources[modality].plans[str(pid)]
        return torch.from_numpy((plan.dates - self._ref_day).astype(np.int64))

    @property
    def parcels(self) -> pd.DataFrame:
        """One row per item: id, code, label, stored pixels N, stored and merged T per modality."""
        table: dict[str, Any] = {"id": self._ids, "code": self._codes, "label": self._labels}
        first = self._sources[self.modalities[0]]
        table["n_pixels"] = [first.shapes[p][2] for p in self._ids]
        for m, src in self._sources.items():
            table[f"n_dates_{m}"] = [src.shapes[p][0] for p in self._ids]
            table[f"n_unique_dates_{m}"] = [src.plans[p].dates.size for p in self._ids]
        return pd.DataFrame(table)

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        roots = {m: str(s.root) for m, s in self._sources.items()}
        return (
            f"PixelSetDataset(roots={roots}, variant={self.variant!r}, "
            f"nomenclature={self.nomenclature!r}, parcels={len(self)}, "
            f"classes={list(self.class_codes)}, n_pixels={self.n_pixels})"
        )

    # ---- items --------------------------------------------------------------------------------

    def _generator(self, pid: str) -> torch.Generator | None:
        if self.sample_pixels == "random":
            return None  # torch's global generator
        digest = hashlib.blake2b(f"{self.seed}/{pid}".encode(), digest_size=8).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest, "little") % 2**63)

    def _read(self, src: Source, pid: str) -> tuple[np.ndarray, np.ndarray, Path]:
        """Values ``[T, C, N]`` float32 and valid ``[T, N]`` of one parcel, dates merged."""
        path = src.data_path(pid)
        arr = load_npy(path, _PIXEL_SET)
        if arr.shape != src.shapes[pid]:
            raise DatasetError(
                path, f"shape {arr.shape} differs from {src.shapes[pid]} read at construction"
            )
        checked = arr  # a no-data value outside the plausible range is no band value
        if self.nodata is not None and self.nodata not in plausible_range(src.name):
            checked = np.where(arr == self.nodata, 0, arr)
        check_band_values(path, checked, src.name, band_axis=1)
        values = arr.astype(np.float32)
        if self.nodata is None:
            valid = np.ones((values.shape[0], values.shape[2]), dtype=bool)
        else:
            valid = ~(arr == self.nodata).all(axis=1)
        values, valid = apply_plan(src.plans[pid], values, valid)
        return values, valid, path

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} parcels")
        index = index % n
        pid = self._ids[index]
        read = {m: self._read(src, pid) for m, src in self._sources.items()}
        real = np.logical_and.reduce([valid.any(axis=0) for _, valid, _ in read.values()])
        if not real.any():
            path = next(iter(read.values()))[2]
            what = "in every modality " if len(read) > 1 else ""
            raise DatasetError(path, f"parcel {pid} has no pixel holding data {what}(empty parcel)")
        series = {}
        for m, (values, valid, path) in read.items():
            if self.n_pixels is not None:
                values, valid = values[:, :, real], valid[:, real]
            days = (self._sources[m].plans[pid].dates - self._ref_day).astype(np.int64)
            if self.drop_empty_dates:
                keep = valid[:, real].any(axis=1) if self.n_pixels is None else valid.any(axis=1)
                values, valid, days = values[keep], valid[keep], days[keep]
            series[m] = TimeSeries(
                torch.from_numpy(np.ascontiguousarray(values)),
                torch.from_numpy(days),
                torch.from_numpy(np.ascontiguousarray(valid)),
                source=str(path),
            )
        meta: dict[str, Any] = {
            "id": pid,
            "code": int(self._codes[index]),
            "n_pixels_total": int(real.sum()),
            "reference_date": self.reference_date,
            "dataset": "pixelset",
            "layout": self.variant,
        }
        if self._geomfeat is not None:
            meta["geomfeat"] = self._geomfeat[pid].clone()
        sample = Sample(series, label=int(self._labels[index]), meta=meta)
        if self.n_pixels is not None:
            sample = draw_pixels(sample, self.n_pixels, self._generator(pid))
        if self.transform is not None:
            sample = self.transform(sample)
        return sample
