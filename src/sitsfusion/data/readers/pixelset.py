"""Reader and writer for the pixel-set layout of pytorch-psetae and its variants.

:class:`PixelSetDataset` reads one sample per parcel from ``DATA/<id>.npy`` arrays of shape
``(T, C, N)`` and the ``META/*.json`` files beside them, in three layouts:

* the original S2-Agri layout (PSE-TAE, L-TAE): one global date list for every parcel;
* the per-parcel dates variant (each parcel has its own acquisition dates), e.g. the real
  Karnataka HLS folder used by the tests;
* the two-sensor layout of CropTypeMapping (Ofori-Ampofo et al. 2021, seed 000): mirrored
  ``s1_data/<region>`` and ``s2_data/<region>`` folders holding the same parcels and pixels.

:func:`export_pixelsets` writes any parcel-mode dataset (such as
``PASTIS(target="parcel", n_pixels=None, norm=False)``) in that layout, one folder per modality
when there are several, so that the result reads back with :class:`PixelSetDataset`.

Every problem with the files on disk raises :class:`~sitsfusion.errors.DatasetError`, whose
message starts with the offending file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sitsfusion.data.dates import DateLike, reference_day
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.data.transforms import normalize_zscore
from sitsfusion.data.transforms import sample_pixels as draw_pixels
from sitsfusion.errors import DatasetError
from sitsfusion.io import atomic_path, read_json

__all__ = ["PixelSetDataset", "export_pixelsets", "read_meanstd"]

Layout = Literal["global_dates", "per_parcel_dates", "multi_sensor"]
DateLayout = Literal["global", "per_parcel"]

DATA_DIR = "DATA"
META_DIR = "META"
LABELS_FILE = "labels.json"
DATES_FILE = "dates.json"
GEOMFEAT_FILE = "geomfeat.json"
SIZES_FILE = "sizes.json"

# CropTypeMapping's mirrored sensor folders and the modality names they get here.
_SENSOR_FOLDERS = {"s1_data": "S1", "s2_data": "S2"}
_MIRROR = {"s1_data": "s2_data", "s2_data": "s1_data"}


# --------------------------------------------------------------------------------------------
# Small file helpers
# --------------------------------------------------------------------------------------------


def _natural_key(pid: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order ("2" < "10"), then the others alphabetically."""
    return (0, int(pid), pid) if pid.isdigit() else (1, 0, pid)


def _npy_shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a ``.npy`` header, without reading the data."""
    try:
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except FileNotFoundError:
        raise DatasetError(path, "missing") from None
    except (ValueError, EOFError, OSError, SyntaxError) as exc:
        raise DatasetError(path, f"corrupt or truncated .npy file ({exc})") from None
    return tuple(int(s) for s in shape), np.dtype(dtype)


def _load_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DatasetError(path, "missing") from None
    except (ValueError, EOFError, OSError, SyntaxError) as exc:
        raise DatasetError(path, f"corrupt or truncated .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise DatasetError(path, "not a single .npy array")
    return arr


def _save_atomic(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        write(f)


def _save_json(path: Path, obj: Any) -> None:
    _save_atomic(path, lambda f: f.write(json.dumps(obj, indent=1).encode()))


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


def _to_day(value: Any) -> np.datetime64:
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


def _parse_dates(values: Any, path: Path, what: str, cache: dict[Any, np.datetime64]) -> np.ndarray:
    """A list of dates -> ``datetime64[D]`` array; ``DatasetError`` naming ``path`` and ``what``."""
    if not isinstance(values, list) or not values:
        raise DatasetError(path, f"{what}: expected a non-empty list of dates, got {values!r:.80}")
    out = np.empty(len(values), dtype="datetime64[D]")
    for i, v in enumerate(values):
        key = (type(v), v) if isinstance(v, int | str) else None
        day = cache.get(key) if key is not None else None
        if day is None:
            try:
                day = _to_day(v)
            except ValueError:
                raise DatasetError(
                    path, f"{what}: not a YYYYMMDD or YYYY-MM-DD date at position {i}: {v!r}"
                ) from None
            if key is not None:
                cache[key] = day
        out[i] = day
    return out


@dataclass(frozen=True)
class _DatePlan:
    """How the stored observations of a series become its (sorted, unique) dates.

    ``order is None``: the stored dates are already strictly increasing. Otherwise the
    observations are taken in ``order`` (a stable sort by date) and ``groups[k]`` (the position
    of each sorted observation among the ``dates``) tells which ones fall on the same day.
    """

    dates: np.ndarray  # datetime64[D], strictly increasing
    n_stored: int
    order: np.ndarray | None = None
    groups: np.ndarray | None = None


def _date_plan(days: np.ndarray, merge: bool, path: Path, what: str) -> _DatePlan:
    steps = np.diff(days).astype(np.int64)
    if (steps > 0).all():
        return _DatePlan(days, days.size)
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
    return _DatePlan(unique, days.size, order, groups.reshape(-1))


def _apply_plan(
    plan: _DatePlan, values: np.ndarray, valid: np.ndarray
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


# --------------------------------------------------------------------------------------------
# The mean/std pickle
# --------------------------------------------------------------------------------------------

_PICKLE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numbers, lists, tuples and numpy arrays only: no arbitrary code from a file."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PICKLE_GLOBALS or (
            module == "numpy.dtypes" and name.endswith("DType")
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays)")


def read_meanstd(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a pytorch-psetae ``*-meanstd.pkl`` file: ``(mean, std)`` as float64 arrays.

    The pickle holds ``(means, stds)`` of shape ``()`` (one value for everything), ``(C,)``
    (per channel) or ``(T, C)`` (per date and channel). Only numbers, lists, tuples and numpy
    arrays are unpickled, so a malicious file cannot run code.

    Raises:
        DatasetError: missing or unreadable file, not a pair of equal-shape finite arrays with
            std > 0, rank above 2.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            obj = _ArrayUnpickler(f).load()
    except FileNotFoundError:
        raise DatasetError(path, "missing") from None
    except Exception as exc:  # pickle raises many types on corrupt input
        raise DatasetError(path, f"not a readable mean/std pickle ({exc})") from None
    if not isinstance(obj, tuple | list) or len(obj) != 2:
        raise DatasetError(path, f"expected a pair (means, stds), got {type(obj).__name__}")
    try:
        mean, std = (np.asarray(x, dtype=np.float64) for x in obj)
    except (TypeError, ValueError):
        raise DatasetError(path, "means and stds must be numbers or arrays of numbers") from None
    if mean.shape != std.shape or mean.ndim > 2:
        raise DatasetError(
            path,
            f"means and stds must have one shape (), (C,) or (T, C): {mean.shape}, {std.shape}",
        )
    if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std <= 0).any():
        raise DatasetError(path, "means must be finite and stds finite and > 0")
    return mean, std


def _find_meanstd(root: Path) -> Path:
    found = sorted(p for folder in (root, root / META_DIR) for p in folder.glob("*.pkl"))
    named = [p for p in found if "meanstd" in p.name.lower()]
    found = named or found
    if len(found) != 1:
        what = "no *.pkl file" if not found else f"several: {[p.name for p in found]}"
        raise DatasetError(
            root / "<name>-meanstd.pkl",
            f"norm='file' needs exactly one mean/std pickle in the root or META folder; {what}",
        )
    return found[0]


# --------------------------------------------------------------------------------------------
# Folder layout
# --------------------------------------------------------------------------------------------


def _is_pixelset_folder(path: Path) -> bool:
    return (path / DATA_DIR).is_dir() or (path / META_DIR).is_dir()


def _resolve_roots(root: str | Path | Mapping[str, str | Path], modality: str) -> dict[str, Path]:
    """``{modality: folder holding DATA and META}`` for the three accepted forms of ``root``."""
    if isinstance(root, Mapping):
        if not root:
            raise ValueError("root: the mapping {modality: folder} is empty")
        return {str(m): Path(p) for m, p in root.items()}
    path = Path(root)
    if not path.is_dir():
        raise DatasetError(path, "dataset root does not exist or is not a folder")
    # a region folder of one sensor, e.g. .../s1_data/Chateaulin, with its mirror
    for i in range(len(path.parts) - 1, -1, -1):
        part = path.parts[i]
        if part in _MIRROR:
            mirror = Path(*path.parts[:i], _MIRROR[part], *path.parts[i + 1 :])
            if mirror.is_dir():
                pair = {part: path, _MIRROR[part]: mirror}
                return {_SENSOR_FOLDERS[k]: pair[k] for k in sorted(pair)}
            break
    if _is_pixelset_folder(path):
        return {modality: path}
    subdirs = sorted(p for p in path.iterdir() if p.is_dir())
    sensors = [p for p in subdirs if p.name in _SENSOR_FOLDERS]
    if len(sensors) == 2:
        if all(_is_pixelset_folder(p) for p in sensors):
            return {_SENSOR_FOLDERS[p.name]: p for p in sensors}
        regions = sorted({r.name for p in sensors for r in p.iterdir() if r.is_dir()})
        raise DatasetError(
            path,
            f"s1_data/ and s2_data/ hold region folders {regions}; pass one region, e.g. "
            f"{path / 's1_data' / (regions[0] if regions else '<region>')}",
        )
    per_modality = [p for p in subdirs if _is_pixelset_folder(p)]
    if per_modality:
        return {p.name: p for p in per_modality}
    raise DatasetError(
        path / DATA_DIR,
        "missing: expected DATA/<id>.npy and META/*.json here, or one such folder per modality",
    )


@dataclass
class _Source:
    """One modality: its folder, its dates and the shapes of its arrays."""

    name: str
    root: Path
    date_layout: DateLayout = "global"
    global_dates: np.ndarray | None = None  # datetime64[D], file order
    parcel_dates: dict[str, np.ndarray] = field(default_factory=dict)
    plans: dict[str, _DatePlan] = field(default_factory=dict)
    shapes: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    channels: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / DATA_DIR

    @property
    def meta_dir(self) -> Path:
        return self.root / META_DIR

    def data_path(self, pid: str) -> Path:
        return self.data_dir / f"{pid}.npy"


def _read_dates_file(src: _Source) -> None:
    path = src.meta_dir / DATES_FILE
    obj = read_json(path)
    cache: dict[Any, np.datetime64] = {}
    if isinstance(obj, list):
        src.date_layout = "global"
        src.global_dates = _parse_dates(obj, path, "global date list", cache)
        return
    if not isinstance(obj, Mapping) or not obj:
        raise DatasetError(
            path,
            'expected {"0": YYYYMMDD, ...} (global dates) or {"<id>": [dates], ...} (per parcel)',
        )
    lists = [isinstance(v, list) for v in obj.values()]
    if all(lists):
        src.date_layout = "per_parcel"
        src.parcel_dates = {
            str(k): _parse_dates(v, path, f"parcel {k}", cache) for k, v in obj.items()
        }
        return
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
    src.date_layout = "global"
    src.global_dates = _parse_dates([v for _, v in keyed], path, "global date list", cache)


def _check_labels(obj: Any, path: Path, nomenclature: str | None) -> tuple[str, dict[str, int]]:
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


# --------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------


class PixelSetDataset(Dataset[Sample]):
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
      ``"global_dates"``, ``"per_parcel_dates"`` or ``"multi_sensor"``.

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
        norm: None (values as stored), ``"file"`` (each modality's ``*meanstd.pkl``), or
            ``{modality: (mean, std)}``; statistics of shape ``()``, ``[C]`` or ``[T, C]``
            (per date: global-date layout only, applied by date position before merging).
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
        norm: Literal["file"] | Mapping[str, tuple[Any, Any]] | None = None,
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
        if not (norm is None or norm == "file" or isinstance(norm, Mapping)):
            raise ValueError(
                f"norm must be None, 'file' or {{modality: (mean, std)}}, got {norm!r}"
            )
        self.n_pixels = n_pixels
        self.sample_pixels = sample_pixels
        self.seed = int(seed)
        self.transform = transform
        self.nodata = nodata
        self.drop_empty_dates = drop_empty_dates
        self.duplicate_dates = duplicate_dates

        roots = _resolve_roots(root, modality)
        self._sources: dict[str, _Source] = {m: _Source(m, p) for m, p in roots.items()}
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
        self.nomenclature, all_codes = _check_labels(
            read_json(labels_path), labels_path, nomenclature
        )
        for src in list(self._sources.values())[1:]:
            other = src.meta_dir / LABELS_FILE
            if other.is_file():
                _, codes = _check_labels(read_json(other), other, self.nomenclature)
                diff = sorted(set(codes) ^ set(all_codes), key=_natural_key)
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
            _read_dates_file(src)
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
            selected = sorted(all_codes, key=_natural_key)
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
            self.layout: Layout = "multi_sensor"
        elif first.date_layout == "global":
            self.layout = "global_dates"
        else:
            self.layout = "per_parcel_dates"

        self._geomfeat: dict[str, Tensor] | None = None
        if geometric_features:
            self._geomfeat = self._read_geomfeat()

        self._date_stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.norm_stats: dict[str, tuple[Tensor, Tensor]] = {}
        if norm is not None:
            self._set_norm(norm)

    # ---- construction helpers -----------------------------------------------------------------

    def _check_arrays(self, src: _Source, labels_path: Path) -> None:
        """DATA file, dates and header of every selected parcel of one modality."""
        try:
            listing = set(os.listdir(src.data_dir))
        except OSError as exc:
            raise DatasetError(src.data_dir, f"cannot list the folder ({exc})") from None
        dates_path = src.meta_dir / DATES_FILE
        merge = self.duplicate_dates == "merge"
        global_plan = None
        if src.date_layout == "global" and src.global_dates is not None:
            global_plan = _date_plan(src.global_dates, merge, dates_path, "global date list")
        for pid in self._ids:
            path = src.data_path(pid)
            if path.name not in listing:
                raise DatasetError(path, f"missing (parcel {pid} is labelled in {labels_path})")
            if global_plan is None:
                days = src.parcel_dates.get(pid)
                if days is None:
                    raise DatasetError(dates_path, f"no dates for parcel {pid}")
                plan = _date_plan(days, merge, dates_path, f"parcel {pid}")
            else:
                plan = global_plan
            shape, dtype = _npy_shape(path)
            if dtype.kind not in "iuf":
                raise DatasetError(path, f"wrong dtype {dtype}; expected a real numeric type")
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

    def _set_norm(self, norm: Literal["file"] | Mapping[str, tuple[Any, Any]]) -> None:
        if norm == "file":
            stats: dict[str, tuple[np.ndarray, np.ndarray, Path | None]] = {}
            for m, src in self._sources.items():
                path = _find_meanstd(src.root)
                mean, std = read_meanstd(path)
                stats[m] = (mean, std, path)
        else:
            assert isinstance(norm, Mapping)
            stats = {}
            for m, pair in norm.items():
                if m not in self._sources:
                    raise ValueError(f"norm: unknown modality {m!r}; modalities: {self.modalities}")
                mean, std = (np.asarray(x, dtype=np.float64) for x in pair)
                if mean.shape != std.shape or mean.ndim > 2:
                    raise ValueError(
                        f"norm[{m!r}]: mean and std must share a shape (), [C], [T, C]"
                    )
                if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std <= 0).any():
                    raise ValueError(f"norm[{m!r}]: mean must be finite and std finite and > 0")
                stats[m] = (mean, std, None)
        for m, (mean, std, path) in stats.items():
            src = self._sources[m]
            c = src.channels

            def fail(problem: str, path: Path | None = path, m: str = m) -> Exception:
                return (
                    DatasetError(path, problem) if path else ValueError(f"norm[{m!r}]: {problem}")
                )

            if mean.ndim == 2:
                if src.date_layout != "global" or src.global_dates is None:
                    raise fail("per-date (T, C) statistics need the global-date layout")
                if mean.shape != (src.global_dates.size, c):
                    raise fail(
                        f"statistics of shape {mean.shape}, the data are "
                        f"({src.global_dates.size}, {c}) (T, C)"
                    )
                self._date_stats[m] = (mean.astype(np.float32), std.astype(np.float32))
                continue
            if mean.ndim == 1 and mean.size != c:
                raise fail(f"{mean.size} values but modality {m!r} has {c} channels")
            mean_c = np.broadcast_to(mean, (c,)).astype(np.float32)
            std_c = np.broadcast_to(std, (c,)).astype(np.float32)
            self.norm_stats[m] = (torch.from_numpy(mean_c), torch.from_numpy(std_c))

    # ---- public helpers -----------------------------------------------------------------------

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

    @property
    def num_classes(self) -> int:
        return len(self.class_codes)

    def class_counts(self) -> dict[int, int]:
        """``{code: number of items}`` for every class code, in label order (zeros included)."""
        counts = np.bincount(self._labels, minlength=len(self.class_codes))
        return {code: int(counts[i]) for i, code in enumerate(self.class_codes)}

    def num_channels(self, modality: str) -> int:
        return self._sources[modality].channels

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
            f"PixelSetDataset(roots={roots}, layout={self.layout!r}, "
            f"nomenclature={self.nomenclature!r}, parcels={len(self)}, "
            f"classes={list(self.class_codes)}, n_pixels={self.n_pixels})"
        )

    # ---- items --------------------------------------------------------------------------------

    def _generator(self, pid: str) -> torch.Generator | None:
        if self.sample_pixels == "random":
            return None  # torch's global generator
        digest = hashlib.blake2b(f"{self.seed}/{pid}".encode(), digest_size=8).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest, "little") % 2**63)

    def _read(self, src: _Source, pid: str) -> tuple[np.ndarray, np.ndarray, Path]:
        """Values ``[T, C, N]`` float32 and valid ``[T, N]`` of one parcel, dates merged."""
        path = src.data_path(pid)
        arr = _load_npy(path)
        if arr.shape != src.shapes[pid]:
            raise DatasetError(
                path, f"shape {arr.shape} differs from {src.shapes[pid]} read at construction"
            )
        if arr.dtype.kind not in "iuf":
            raise DatasetError(path, f"wrong dtype {arr.dtype}; expected a real numeric type")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
            raise DatasetError(path, f"holds NaN/inf values ({n_nan} NaN, {n_inf} inf)")
        values = arr.astype(np.float32)
        if self.nodata is None:
            valid = np.ones((values.shape[0], values.shape[2]), dtype=bool)
        else:
            valid = ~(arr == self.nodata).all(axis=1)
        if src.name in self._date_stats:
            mean, std = self._date_stats[src.name]
            values = (values - mean[:, :, None]) / std[:, :, None]
        values, valid = _apply_plan(src.plans[pid], values, valid)
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
            "layout": self.layout,
        }
        if self._geomfeat is not None:
            meta["geomfeat"] = self._geomfeat[pid].clone()
        sample = Sample(series, label=int(self._labels[index]), meta=meta)
        if self.n_pixels is not None:
            sample = draw_pixels(sample, self.n_pixels, self._generator(pid))
        if self.norm_stats:
            sample = normalize_zscore(sample, self.norm_stats)
        if self.transform is not None:
            sample = self.transform(sample)
        return sample


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def _geometric_features(
    pixel_index: np.ndarray, patch_shape: tuple[int, int], pixel_size: float
) -> list[float]:
    """Perimeter, pixel count, cover ratio, perimeter / surface of a parcel in a patch."""
    height, width = patch_shape
    flat = np.unique(pixel_index.astype(np.int64))
    if flat.size == 0 or flat.min() < 0 or flat.max() >= height * width:
        raise ValueError(f"pixel_index outside a {height} x {width} patch")
    rows, cols = flat // width, flat % width
    r0, c0 = rows.min(), cols.min()
    box = np.zeros((rows.max() - r0 + 1, cols.max() - c0 + 1), dtype=bool)
    box[rows - r0, cols - c0] = True
    count = int(flat.size)
    shared = int((box[1:] & box[:-1]).sum() + (box[:, 1:] & box[:, :-1]).sum())
    perimeter = (4 * count - 2 * shared) * pixel_size  # edges between the parcel and the rest
    cover = count / box.size
    return [
        float(perimeter),
        float(count),
        float(cover),
        float(perimeter / (count * pixel_size**2)),
    ]


def _patch_shape(meta: Mapping[str, Any], patch_size: int | tuple[int, int] | None) -> Any:
    value = patch_size
    if value is None:
        value = meta.get("patch_shape", meta.get("patch_size"))
    if value is None:
        return None
    if isinstance(value, int | np.integer):
        return (int(value), int(value))
    h, w = value
    return (int(h), int(w))


def _yyyymmdd(days: Tensor, reference: np.datetime64) -> list[int]:
    dates = reference + days.detach().cpu().numpy().astype("timedelta64[D]")
    return [int(str(d).replace("-", "")) for d in dates]


def export_pixelsets(
    dataset: Sequence[Sample] | Dataset[Sample],
    out: str | Path,
    nomenclature_name: str = "label",
    date_layout: Literal["per_parcel", "global", "auto"] = "per_parcel",
    patch_size: int | tuple[int, int] | None = None,
    pixel_size: float = 1.0,
    progress: bool = True,
) -> Path:
    """Write a parcel-mode dataset in the pytorch-psetae pixel-set layout; return ``out``.

    ``dataset`` yields one :class:`~sitsfusion.data.Sample` per parcel, every pixel of it
    (e.g. ``PASTIS(root, modalities=..., target="parcel", n_pixels=None, norm=False)``):
    pixel-set series ``[T, C, N]``, an integer ``label``, dates counted from
    ``meta["reference_date"]`` (or the dataset's ``reference_date`` attribute). Written::

        OUT/DATA/<id>.npy          (T, C, N) every pixel of the parcel, the series' dtype
        OUT/META/labels.json       {nomenclature_name: {"<id>": sample.label}}
        OUT/META/dates.json        per parcel {"<id>": [YYYYMMDD, ...]} or global {"0": ...}
        OUT/META/geomfeat.json     {"<id>": [features]}
        OUT/META/sizes.json        {"<id>": N}

    With several modalities, one such folder per modality: ``OUT/<modality>/{DATA, META}``,
    which :class:`PixelSetDataset` reads back as a multi-sensor dataset
    (``PixelSetDataset(out)``).

    * Ids: ``<patch_id>_<parcel_id>`` from ``meta`` (PASTIS), else ``meta["id"]``, else the
      item's position; they must be unique.
    * Dates: ``"per_parcel"``; ``"global"`` (an error unless every parcel of a modality has the
      same dates); ``"auto"``: global when they are the same, per parcel otherwise.
    * Geometric features: with ``meta["pixel_index"]`` (flat ``row * W + col`` positions of
      the parcel's pixels in its patch) and the patch size (``patch_size``, else
      ``meta["patch_shape"]`` / ``meta["patch_size"]``): the four PSE-TAE features computed
      from the rasterised parcel: perimeter (pixel edges between the parcel and the rest,
      times ``pixel_size``), pixel count, cover ratio (pixel count over the area of its
      bounding box) and perimeter / surface (``surface = count * pixel_size²``). Otherwise the
      pixel count only (one feature). Raw values: standardise them before training.
    * Invalid observations (``mask`` False) are written as zeros, which
      :class:`PixelSetDataset` (``nodata=0``) reads back as invalid.
    * Files are written to a temporary name and renamed (a reader never sees half a file);
      existing files of the same names are replaced.

    Raises:
        ValueError: a sample without label, not a pixel set, with repeated pixels (a
            pixel-sampled dataset: build it with ``n_pixels=None``), without reference date,
            with other modalities than the first; duplicate ids; ``date_layout="global"`` with
            differing dates.
    """
    if date_layout not in ("per_parcel", "global", "auto"):
        raise ValueError(
            f"date_layout must be 'per_parcel', 'global' or 'auto', got {date_layout!r}"
        )
    out = Path(out)
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError("export_pixelsets: the dataset is empty")
    iterator: Iterable[int] = range(n)
    if progress:
        from rich.progress import track

        iterator = track(iterator, description=f"exporting {n} parcels", total=n)
    default_ref = getattr(dataset, "reference_date", None)

    modalities: list[str] | None = None
    folders: dict[str, Path] = {}
    labels: dict[str, int] = {}
    dates: dict[str, dict[str, list[int]]] = {}
    sizes: dict[str, int] = {}
    geomfeat: dict[str, list[float]] = {}
    n_features: int | None = None
    for i in iterator:
        sample = dataset[i]
        meta = sample.meta
        if "patch_id" in meta and "parcel_id" in meta:
            pid = f"{meta['patch_id']}_{meta['parcel_id']}"
        else:
            pid = str(meta.get("id", i))
        where = f"export_pixelsets: sample {i} (id {pid})"
        if pid in labels:
            raise ValueError(f"{where}: duplicate id")
        if sample.label is None or int(sample.label) != sample.label:
            raise ValueError(f"{where}: needs an integer label, got {sample.label!r}")
        if modalities is None:
            modalities = sample.modalities
            for m in modalities:
                folder = out / m if len(modalities) > 1 else out
                (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
                (folder / META_DIR).mkdir(parents=True, exist_ok=True)
                folders[m] = folder
                dates[m] = {}
        elif sorted(sample.modalities) != sorted(modalities):
            raise ValueError(f"{where}: modalities {sample.modalities}, the first had {modalities}")
        ref = meta.get("reference_date", default_ref)
        if ref is None:
            raise ValueError(f"{where}: no meta['reference_date'] to turn days into dates")
        reference = reference_day(ref)
        n_pix: int | None = None
        for m in modalities:
            ts = sample[m]
            if ts.is_patch:
                raise ValueError(f"{where}: modality {m!r} is a patch, not a pixel set [T, C, N]")
            values = ts.values.detach().cpu()
            if ts.mask is not None and not bool(ts.mask.all()):
                mask = ts.mask.detach().cpu()
                mask = mask.view(-1, 1, 1) if mask.ndim == 1 else mask.unsqueeze(1)
                values = values.masked_fill(~mask, 0)
            arr = values.numpy()
            if n_pix is not None and arr.shape[2] != n_pix:
                raise ValueError(f"{where}: modalities differ in their number of pixels")
            n_pix = int(arr.shape[2])
            _save_atomic(folders[m] / DATA_DIR / f"{pid}.npy", lambda f, a=arr: np.save(f, a))
            dates[m][pid] = _yyyymmdd(ts.dates, reference)
        assert n_pix is not None
        index = meta.get("pixel_index")
        shape = _patch_shape(meta, patch_size)
        if index is not None:
            index = np.asarray(torch.as_tensor(index).cpu()).reshape(-1)
            if np.unique(index).size != index.size:
                raise ValueError(
                    f"{where}: repeated pixels (a pixel-sampled dataset?); export needs every "
                    "pixel of each parcel: build the dataset with n_pixels=None"
                )
        if index is not None and shape is not None:
            feats = _geometric_features(index, shape, pixel_size)
        else:
            feats = [float(n_pix)]
        if n_features is None:
            n_features = len(feats)
        elif len(feats) != n_features:
            raise ValueError(
                f"{where}: {len(feats)} geometric features, earlier parcels had {n_features}"
            )
        labels[pid] = int(sample.label)
        sizes[pid] = n_pix
        geomfeat[pid] = feats

    assert modalities is not None
    for m in modalities:
        meta_dir = folders[m] / META_DIR
        per_parcel = dates[m]
        first = next(iter(per_parcel.values()))
        shared = all(d == first for d in per_parcel.values())
        if date_layout == "global" and not shared:
            odd = next(p for p, d in per_parcel.items() if d != first)
            raise ValueError(
                f"export_pixelsets: date_layout='global' but parcel {odd} of {m} has other dates "
                "than the first parcel; use 'per_parcel' or 'auto'"
            )
        if date_layout == "global" or (date_layout == "auto" and shared):
            dates_obj: Any = {str(k): d for k, d in enumerate(first)}
        else:
            dates_obj = per_parcel
        _save_json(meta_dir / LABELS_FILE, {nomenclature_name: labels})
        _save_json(meta_dir / DATES_FILE, dates_obj)
        _save_json(meta_dir / GEOMFEAT_FILE, geomfeat)
        _save_json(meta_dir / SIZES_FILE, sizes)
    return out
