"""Sen4AgriNet patches (PAD, seed 004 Sec. V-B / VI-A) read lazily from their netCDF4 files."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from sitsfusion.data.readers.base import Indices, PatchReader, Reader, register_reader, safe_check
from sitsfusion.data.readers.georef import parse_crs
from sitsfusion.data.readers.ranges import DataWarning, check_band_values
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.data.splits import group_key
from sitsfusion.errors import DatasetError
from sitsfusion.io import require_regular_file
from sitsfusion.optional import require

__all__ = [
    "ALL_BANDS",
    "COUNTRY_REGION",
    "RESOLUTION",
    "Sen4AgriNet",
    "parse_patch_name",
    "utm_crs",
]

ALL_BANDS: tuple[str, ...] = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B09",
    "B10",
    "B11",
    "B12",
    "B8A",
)
"""The 13 Sentinel-2 band groups of a Sen4AgriNet file (their order in the files)."""

RESOLUTION: dict[str, int] = {b: 10 for b in ("B02", "B03", "B04", "B08")}
RESOLUTION |= {b: 20 for b in ("B05", "B06", "B07", "B8A", "B11", "B12")}
RESOLUTION |= {b: 60 for b in ("B01", "B09", "B10")}
"""Native ground sampling distance (m) of every band (Sentinel-2 MSI; 366 / 183 / 61 px)."""

COUNTRY_REGION: dict[str, str] = {"ES": "catalonia", "FR": "france"}
"""Region name of each ``patch_country_code`` (seed 004: Catalonia and France)."""

_NAME = re.compile(r"^(?P<year>\d{4})_(?P<tile>[0-9A-Z]{5})_patch_(?P<i>\d+)_(?P<j>\d+)$")
_REFERENCE_BAND = "B02"  # a 10 m band: defines the patch grid and the dates
_PROGRESS_FILES = 500  # show a progress bar when reading more headers than this


def parse_patch_name(stem: str) -> tuple[int, str, int, int]:
    """``"2019_31TCG_patch_10_14"`` → ``(2019, "31TCG", 10, 14)``; ValueError otherwise."""
    m = _NAME.match(stem)
    if m is None:
        raise ValueError(f"{stem!r} is not a Sen4AgriNet patch name <year>_<tile>_patch_<i>_<j>")
    return int(m["year"]), m["tile"], int(m["i"]), int(m["j"])


@dataclass(frozen=True)
class _PatchInfo:
    path: Path
    size: int  # pixels per side at 10 m
    factors: dict[str, int]  # band -> 10 m pixels per native pixel (1, 2, 6)
    days: np.ndarray  # int64 acquisition days since 1970-01-01
    year: int
    tile: str
    region: str
    synthetic: bool
    crs: str  # "EPSG:326zz" / "EPSG:327zz": the file's crs attribute, else the tile's UTM zone
    origin: tuple[float, float, float, float] | None  # x0, y0 (outer corner), dx, dy (m)
    fills: dict[str, float] = field(default_factory=dict)  # band -> _FillValue (nodata)


def _decode_time(path: Path, var: Any) -> np.ndarray:
    """CF time values → int64 days since 1970-01-01 (via xarray's CF decoder)."""
    times = require("xarray.coding.times", "netcdf", "decoding Sen4AgriNet dates")

    units = var.attrs.get("units")
    if units is None:
        raise DatasetError(path, "the time coordinate has no 'units' attribute")
    if isinstance(units, bytes):
        units = units.decode()
    calendar = var.attrs.get("calendar", "standard")
    if isinstance(calendar, bytes):
        calendar = calendar.decode()
    try:
        stamps = times.decode_cf_datetime(np.asarray(var[:]), units, calendar)
    except Exception as exc:  # any undecodable encoding: name the file
        raise DatasetError(path, f"cannot decode the time coordinate ({exc})") from None
    days = np.asarray(stamps, dtype="datetime64[D]").astype(np.int64)
    return days


def utm_crs(tile: str) -> str:
    """The UTM CRS of an MGRS tile (``"31TCG"`` → ``"EPSG:32631"``; bands C–M are south)."""
    zone, band = int(tile[:2]), tile[2].upper()
    return f"EPSG:{(32700 if band < 'N' else 32600) + zone}"


def _grid(path: Path, f: Any) -> tuple[float, float, float, float] | None:
    """Outer corner and pixel size of the 10 m grid from B02's x / y coordinates, if any;
    DatasetError for a zero or non-finite pixel size."""
    group = f[_REFERENCE_BAND]
    if "x" not in group.variables or "y" not in group.variables:
        return None
    x, y = np.asarray(group["x"][:2], np.float64), np.asarray(group["y"][:2], np.float64)
    if x.size < 2 or y.size < 2:
        return None
    dx, dy = float(x[1] - x[0]), float(y[1] - y[0])
    if not (math.isfinite(dx) and math.isfinite(dy)) or dx == 0 or dy == 0:
        raise DatasetError(
            path,
            f"{_REFERENCE_BAND} x / y coordinates give a pixel size of {dx:g} x {dy:g}; "
            "expected a non-zero finite size (10 m)",
        )
    return float(x[0] - dx / 2), float(y[0] - dy / 2), dx, dy


def _check_coordinates(path: Path, group: Any, band: str, shape: tuple[int, ...]) -> None:
    """The ``time`` / ``y`` / ``x`` coordinates of a band group as long as its variable's axes."""
    for axis, name in enumerate(("time", "y", "x")):
        if name in group.variables and axis < len(shape):
            n = int(group[name].shape[0])
            if n != shape[axis]:
                raise DatasetError(
                    path,
                    f"band {band} has {shape[axis]} values along {name} but its {name} "
                    f"coordinate has {n}",
                )


# UTM zones of each Sen4AgriNet country: mainland Spain and the Canaries 28-31, metropolitan
# France and Corsica 30-32 (the LPIS of seed 004 covers Catalonia and France, Sec. III).
_COUNTRY_ZONES: dict[str, range] = {"ES": range(28, 32), "FR": range(30, 33)}


def _check_attributes(path: Path, attrs: dict[str, str], year: int, tile: str) -> None:
    """Root attributes that agree with the file name ``<year>_<tile>_patch_<i>_<j>.nc``: year,
    tile, full name, a country whose UTM zones hold the tile, a CRS of the tile's zone."""
    name = path.name.removesuffix(".nc")
    for key, expected in (
        ("patch_year", str(year)),
        ("patch_tile", tile),
        ("patch_full_name", name),
    ):
        value = attrs.get(key)
        if value is not None and value.strip() != expected:
            raise DatasetError(
                path, f"attribute {key}={value!r} contradicts the file name (expected {expected!r})"
            )
    country = attrs.get("patch_country_code", "").strip().upper()
    zones = _COUNTRY_ZONES.get(country)
    if zones is not None and int(tile[:2]) not in zones:
        raise DatasetError(
            path,
            f"attribute patch_country_code={country!r} contradicts the tile {tile} (UTM zone "
            f"{tile[:2]}; {country} lies in zones {zones.start}-{zones.stop - 1})",
        )
    crs = attrs.get("crs")
    if crs:
        epsg = parse_crs(path, crs, "attribute crs").to_epsg()
        expected_crs = utm_crs(tile)
        if epsg is not None and f"EPSG:{epsg}" != expected_crs:
            raise DatasetError(
                path,
                f"attribute crs={crs!r} contradicts the tile {tile} (expected {expected_crs}, "
                "its UTM zone)",
            )


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return str(value.item()) if value.size == 1 else str(value)
    return str(value)


@register_reader
class Sen4AgriNet(PatchReader):
    """Sen4AgriNet PAD: 366 × 366 Sentinel-2 patches, or their 61 × 61 sub-patches.

    On-disk layout (one netCDF4 / HDF5 file per patch, anywhere below ``root``)::

        root/
        ├── 2019_31TCG_patch_10_14.nc     <year>_<MGRS tile>_patch_<i>_<j>.nc
        │   ├── attrs: patch_year, patch_country_code (ES | FR), patch_tile, ...
        │   ├── B01/B01   uint16 (time, 61, 61)      60 m: B01, B09, B10
        │   ├── B02/B02   uint16 (time, 366, 366)    10 m: B02, B03, B04, B08
        │   ├── B05/B05   uint16 (time, 183, 183)    20 m: B05, B06, B07, B8A, B11, B12
        │   ├── ...       each band group has its own ``time`` (CF-encoded), ``y``, ``x``
        │   ├── labels/labels    (366, 366)  FAO-ICC crop code, 0 = background
        │   └── parcels/parcels  (366, 366)  parcel id, 0 = no parcel
        └── ...

    Each item is a :class:`~sitsfusion.data.Sample` of one sub-patch (or whole patch):

    * ``series["S2"]``: values float32 ``[T, C, s, s]`` = digital numbers × ``scale``
      (reflectance; 20 m and 60 m bands resampled to 10 m by pixel repetition, as the
      authors' loader), ``dates`` int64 days since the patch's 1 January (or
      ``reference_date``);
    * ``semantic``: int64 ``[s, s]`` class ids of ``nomenclature`` (default the 11 classes of
      seed 004 + background 0): crop codes are mapped through the FAO-ICC hierarchy; codes of
      the taxonomy that no class covers become the background, which training ignores
      (``model.ignore_index: 0``: non-parcel and unknown pixels are masked in the loss and
      the metrics);
    * ``instances``: int64 ``[s, s]`` parcel ids;
    * ``meta``: ``id`` (``<patch>`` or ``<patch>_<r>_<c>``), ``patch``, ``region``, ``year``,
      ``tile``, ``window`` ``(row, col, size)``, ``reference_date``, ``synthetic``, ``crs``
      (the file's ``crs`` attribute, else the tile's UTM zone) and ``transform`` (the window's
      affine ``a, b, c, d, e, f`` as in rasterio, from the ``x`` / ``y`` coordinates).

    Reading is lazy: the constructor reads headers (band shapes, dates, attributes) only, and
    an item reads the hyperslabs of its window from each band (no full-file load). File
    handles are opened on first use in each process (safe with DataLoader workers).

    Args:
        root: folder searched recursively for ``*.nc``; or
        files: explicit patch files (``root`` then only labels the dataset).
        bands: band groups to read, in this channel order (default all 13).
        subpatch: side of the non-overlapping square windows (seed 004 Sec. VI-A: 61); None =
            whole patches. The patch side must be a multiple of it.
        nomenclature: packaged nomenclature with FAO-ICC codes per class.
        target: only ``"semantic"`` (parcel tables come from :mod:`sitsfusion.data.oad`).
        reference_date: day 0 of every patch's dates; default 1 January of the patch year.
        scale: multiplier of the digital numbers (seed 004's loader divides by 10,000).
        modality: name of the series in ``Sample.series``.
        transform: applied to every sample.

    Reader contract: ``modalities`` ``(modality,)``, ``channels`` ``{modality: len(bands)}``,
    ``groups`` ``"<region>/<year>"`` and ``clusters`` (the patch) per item,
    :meth:`label_counts` pixels per class id, georeferencing in every item's ``meta``,
    ``patch_ids`` the file stems; no published statistics.

    Raises:
        DatasetError: no file, a file that is not a Sen4AgriNet patch (name, a missing band,
            ``labels`` or ``parcels`` group), band sizes inconsistent with 10 / 20 / 60 m,
            different dates in two bands, dates not increasing, NaN values, crop codes that
            are not in the FAO-ICC taxonomy (when the item is read).
    """

    format: ClassVar[str] = "sen4agrinet"
    layout: ClassVar[str] = "Sen4AgriNet (<year>_<tile>_patch_<i>_<j>.nc netCDF files)"
    tasks: ClassVar[tuple[str, ...]] = ("semantic",)
    title: ClassVar[str] = "Sen4AgriNet"

    def __init__(
        self,
        root: str | Path,
        files: Sequence[str | Path] | None = None,
        bands: Sequence[str] = ALL_BANDS,
        subpatch: int | None = 61,
        nomenclature: str = "sen4agrinet",
        target: str = "semantic",
        reference_date: str | None = None,
        scale: float = 1e-4,
        modality: str = "S2",
        transform: Callable[[Sample], Sample] | None = None,
    ) -> None:
        from sitsfusion.data.taxonomy import load_faoicc, load_nomenclature

        if target != "semantic":
            raise ValueError(
                f"Sen4AgriNet serves semantic targets; got target={target!r} (for parcels, "
                "aggregate the patches with sitsfusion.data.oad / `sitsfusion aggregate`)"
            )
        self.root = Path(root)
        unknown = [b for b in bands if b not in ALL_BANDS]
        if unknown or not bands:
            raise ValueError(f"bands must be a non-empty subset of {ALL_BANDS}, got {bands}")
        self.bands = tuple(bands)
        self.nomenclature = load_nomenclature(nomenclature)
        if self.nomenclature.faoicc is None:
            raise ValueError(f"nomenclature {nomenclature!r} has no FAO-ICC codes per class")
        self.taxonomy = load_faoicc()
        self.subpatch = None if subpatch is None else int(subpatch)
        self.reference_date = reference_date
        self.scale = float(scale)
        self.modality = modality
        self.transform = transform
        if files is None:
            if not self.root.is_dir():
                raise DatasetError(self.root, "not a folder")
            paths = sorted(
                p for p in self.root.rglob("*.nc") if not p.name.startswith(".")
            )  # skip temporary files of an interrupted writer
        else:
            paths = [Path(f) for f in files]
        if not paths:
            raise DatasetError(self.root, "no Sen4AgriNet patch (*.nc) found")
        listed: Any = paths
        if len(paths) > _PROGRESS_FILES:  # thousands of files: ~50 ms of headers each
            from rich.progress import track

            listed = track(paths, description="reading Sen4AgriNet headers")
        self.patches = [self._read_header(p) for p in listed]
        windows: list[tuple[int, int, int]] = []
        for k, info in enumerate(self.patches):
            side = info.size if self.subpatch is None else self.subpatch
            if info.size % side:
                raise DatasetError(
                    info.path, f"patch side {info.size} is not a multiple of subpatch={side}"
                )
            n = info.size // side
            windows += [(k, r * side, c * side) for r in range(n) for c in range(n)]
        self._windows = np.asarray(windows, dtype=np.int64).reshape(-1, 3)
        self.modalities = (modality,)
        self.channels = {modality: len(self.bands)}
        self._handles: dict[int, Any] = {}
        self._pid = os.getpid()

    # ---- headers --------------------------------------------------------------------------

    def _read_header(self, path: Path) -> _PatchInfo:
        h5netcdf = require("h5netcdf", "netcdf", "reading Sen4AgriNet netCDF files")
        require_regular_file(path)  # a named pipe would block HDF5
        try:
            year, tile, _, _ = parse_patch_name(path.stem)
        except ValueError as exc:
            raise DatasetError(path, str(exc)) from None
        try:
            f = h5netcdf.File(path, "r")
        except Exception as exc:  # not HDF5 / netCDF4
            raise DatasetError(path, f"cannot open as netCDF4 ({exc})") from None
        try:
            with f:
                info = self._parse_header(path, f, year, tile)
        except DatasetError:
            raise
        except Exception as exc:  # h5netcdf: a variable whose extent its dimensions contradict
            raise DatasetError(
                path, f"malformed netCDF file ({type(exc).__name__}: {exc})".splitlines()[0]
            ) from None
        return info

    def _parse_header(self, path: Path, f: Any, year: int, tile: str) -> _PatchInfo:
        """The :class:`_PatchInfo` of the open netCDF file ``f`` named ``<year>_<tile>_...``."""
        groups = set(f.groups)
        need = [*dict.fromkeys([_REFERENCE_BAND, *self.bands]), "labels", "parcels"]
        missing = [g for g in need if g not in groups]
        if missing:
            raise DatasetError(path, f"missing group(s) {missing}; the file has {sorted(groups)}")
        for g in need:
            if g not in f[g].variables:
                raise DatasetError(path, f"group {g!r} has no variable {g!r}")
        ref = f[_REFERENCE_BAND][_REFERENCE_BAND]
        if len(ref.shape) != 3 or ref.shape[1] != ref.shape[2]:
            raise DatasetError(
                path, f"{_REFERENCE_BAND} must be (time, y, x) square, got {ref.shape}"
            )
        t_n, size = int(ref.shape[0]), int(ref.shape[1])
        if "time" not in f[_REFERENCE_BAND].variables:
            raise DatasetError(path, f"group {_REFERENCE_BAND!r} has no time coordinate")
        ref_time = f[_REFERENCE_BAND]["time"]
        raw_time = np.asarray(ref_time[:])
        days = _decode_time(path, ref_time)
        if days.size != t_n:
            raise DatasetError(path, f"{t_n} images but {days.size} dates")
        if np.any(np.diff(days) <= 0):
            raise DatasetError(path, "dates are not strictly increasing")
        factors: dict[str, int] = {}
        fills: dict[str, float] = {}
        for band in self.bands:
            var = f[band][band]
            shape = tuple(int(s) for s in var.shape)
            _check_coordinates(path, f[band], band, shape)
            fill = var.attrs.get("_FillValue")
            if fill is not None:
                fills[band] = float(np.asarray(fill).reshape(-1)[0])
            if len(shape) != 3 or shape[0] != t_n or shape[1] != shape[2]:
                raise DatasetError(path, f"band {band} has shape {shape}; expected ({t_n}, n, n)")
            if size % shape[1] or (size // shape[1]) not in (1, 2, 6):
                raise DatasetError(
                    path,
                    f"band {band} is {shape[1]} px for a {size} px patch; expected 10 m "
                    f"({size}), 20 m ({size // 2}) or 60 m ({size // 6})",
                )
            if "time" in f[band].variables and band != _REFERENCE_BAND:
                tv = f[band]["time"]
                same = tv.attrs.get("units") == ref_time.attrs.get("units") and (
                    np.array_equal(np.asarray(tv[:]), raw_time)
                )  # identical encodings: no need to decode
                if not same and not np.array_equal(_decode_time(path, tv), days):
                    raise DatasetError(path, f"band {band} has other dates than {_REFERENCE_BAND}")
            factors[band] = size // shape[1]
        for g in ("labels", "parcels"):
            shape = tuple(int(s) for s in f[g][g].shape)
            if shape != (size, size):
                raise DatasetError(path, f"{g} is {shape}; expected ({size}, {size})")
        attrs = {k: _text(v) for k, v in f.attrs.items()}
        grid = _grid(path, f)
        _check_attributes(path, attrs, year, tile)
        country = attrs.get("patch_country_code", "")
        region = COUNTRY_REGION.get(country.upper(), country.lower() or "unknown")
        return _PatchInfo(
            path,
            size,
            factors,
            days,
            year,
            tile,
            region,
            attrs.get("synthetic", "false").lower() == "true",
            attrs.get("crs") or utm_crs(tile),
            grid,
            fills,
        )

    # ---- lazy reads -----------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handles"] = {}  # h5py handles do not cross processes
        return state

    def _file(self, k: int) -> Any:
        h5netcdf = require("h5netcdf", "netcdf", "reading Sen4AgriNet netCDF files")
        if self._pid != os.getpid():  # a forked worker: never reuse the parent's handles
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.get(k)
        if handle is None:
            handle = h5netcdf.File(self.patches[k].path, "r")
            self._handles[k] = handle
        return handle

    def close(self) -> None:
        """Close the open file handles of this process."""
        for handle in self._handles.values():
            handle.close()
        self._handles = {}

    def _read_band(self, k: int, band: str, r0: int, c0: int, side: int) -> np.ndarray:
        """``[T, side, side]`` of ``band`` at 10 m over the window (native pixels repeated)."""
        f = self.patches[k].factors[band]
        var = self._file(k)[band][band]
        if f == 1:
            return np.asarray(var[:, r0 : r0 + side, c0 : c0 + side])
        a, b = r0 // f, -(-(r0 + side) // f)
        c, d = c0 // f, -(-(c0 + side) // f)
        native = np.asarray(var[:, a:b, c:d])
        up = native.repeat(f, axis=1).repeat(f, axis=2)
        return up[:, r0 - a * f : r0 - a * f + side, c0 - c * f : c0 - c * f + side]

    def _read_layer(self, k: int, name: str, r0: int, c0: int, side: int) -> np.ndarray:
        return np.asarray(self._file(k)[name][name][r0 : r0 + side, c0 : c0 + side])

    def _encode(self, k: int, codes: np.ndarray) -> np.ndarray:
        from sitsfusion.data.taxonomy import encode_codes

        try:
            return encode_codes(codes.astype(np.int64), self.nomenclature, self.taxonomy)
        except ValueError as exc:
            raise DatasetError(self.patches[k].path, f"labels: {exc}") from None

    def _window(self, index: int) -> tuple[int, int, int, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        k, r0, c0 = (int(v) for v in self._windows[index % len(self)])
        side = self.patches[k].size if self.subpatch is None else self.subpatch
        return k, r0, c0, side

    def __len__(self) -> int:
        return int(self._windows.shape[0])

    def __getitem__(self, index: int) -> Sample:
        return self._read_window(*self._window(index))

    def _read_window(self, k: int, r0: int, c0: int, side: int) -> Sample:
        """The sample of the window ``side × side`` at ``(r0, c0)`` of patch ``k``."""
        info = self.patches[k]
        values = np.empty((info.days.size, len(self.bands), side, side), dtype=np.float32)
        missing: np.ndarray | None = None  # [T, s, s] True where a band holds its fill value
        for ch, band in enumerate(self.bands):
            raw = self._read_band(k, band, r0, c0, side)
            fill = info.fills.get(band)
            if fill is not None:
                nodata = np.isnan(raw) if math.isnan(fill) else raw == fill
                if nodata.any():
                    missing = nodata if missing is None else missing | nodata
                    warnings.warn(
                        f"{info.path}: band {band}: {int(nodata.sum())} fill value(s) "
                        f"(_FillValue {fill:g}) in window {r0, c0} masked as missing "
                        "observations",
                        DataWarning,
                        stacklevel=2,
                    )
                    raw = np.where(nodata, 0, raw)
            check_band_values(info.path, raw[:, None], "S2", band_axis=1, band_names=[band])
            values[:, ch] = raw
        values *= self.scale
        mask = None if missing is None else torch.from_numpy(~missing)
        codes = self._read_layer(k, "labels", r0, c0, side)
        parcels = self._read_layer(k, "parcels", r0, c0, side).astype(np.int64)
        ref = self._reference(info)
        dates = info.days - (ref - dt.date(1970, 1, 1)).days
        stem = info.path.stem
        meta = {
            "id": stem if side == info.size else f"{stem}_{r0 // side}_{c0 // side}",
            "patch": stem,
            "region": info.region,
            "year": info.year,
            "tile": info.tile,
            "window": (r0, c0, side),
            "patch_shape": (info.size, info.size),
            "reference_date": ref.isoformat(),
            "synthetic": info.synthetic,
            "crs": info.crs,
        }
        if info.origin is not None:  # rasterio's affine (a, b, c, d, e, f) of the window
            x0, y0, dx, dy = info.origin
            meta["transform"] = (dx, 0.0, x0 + c0 * dx, 0.0, dy, y0 + r0 * dy)
        series = TimeSeries(
            torch.from_numpy(values), torch.from_numpy(dates), mask=mask, source=str(info.path)
        )
        sample = Sample(
            {self.modality: series},
            semantic=torch.from_numpy(self._encode(k, codes)),
            instances=torch.from_numpy(parcels),
            meta=meta,
        )
        return sample if self.transform is None else self.transform(sample)

    def _reference(self, info: _PatchInfo) -> dt.date:
        if self.reference_date is not None:
            return dt.date.fromisoformat(str(self.reference_date))
        return dt.date(info.year, 1, 1)

    # ---- what the data module needs ------------------------------------------------------

    @property
    def class_names(self) -> list[str]:
        return list(self.nomenclature.names)

    @property
    def num_classes(self) -> int:
        return len(self.nomenclature)

    @property
    def groups(self) -> np.ndarray:
        """``"<region>/<year>"`` of every item (seed 004 scenarios split on these)."""
        keys = [group_key(p.region, p.year) for p in self.patches]
        return np.array([keys[k] for k in self._windows[:, 0]])

    @property
    def clusters(self) -> np.ndarray:
        """The patch of every item: the sub-patches of one patch stay in one split."""
        return np.array([self.patches[k].path.stem for k in self._windows[:, 0]])

    @property
    def synthetic(self) -> bool:
        """True when every file says it was written by the simulator."""
        return all(p.synthetic for p in self.patches)

    def label_counts(self, indices: Indices = None) -> np.ndarray:
        """Pixels per class id over the items ``indices`` (default all): only the labels are
        read, once per patch whatever the number of its windows."""
        k_n = len(self.nomenclature)
        counts = np.zeros(k_n, dtype=np.int64)
        chosen = np.arange(len(self)) if indices is None else np.asarray(indices, np.int64)
        windows = self._windows[chosen % max(len(self), 1)]
        for k in np.unique(windows[:, 0]):
            info = self.patches[int(k)]
            ids = self._encode(int(k), self._read_layer(int(k), "labels", 0, 0, info.size))
            side = info.size if self.subpatch is None else self.subpatch
            for _, r0, c0 in windows[windows[:, 0] == k]:
                window = ids[r0 : r0 + side, c0 : c0 + side]
                counts += np.bincount(window.ravel(), minlength=k_n)[:k_n]
        return counts

    @property
    def band_names(self) -> dict[str, tuple[str, ...]]:
        return {self.modality: self.bands}

    @property
    def patch_ids(self) -> list[str]:  # type: ignore[override]
        """The file stem of every patch (``2019_31TCG_patch_10_14``)."""
        return [p.path.stem for p in self.patches]

    def patch(self, patch_id: str | int) -> Sample:
        """The whole patch ``patch_id`` (a file stem), whatever ``subpatch``."""
        try:
            k = self.patch_ids.index(str(patch_id))
        except ValueError:
            raise DatasetError(
                self.root / f"{patch_id}.nc", "no such patch in this dataset (see patch_ids)"
            ) from None
        return self._read_window(k, 0, 0, self.patches[k].size)

    @property
    def legend(self) -> Any:
        return self.nomenclature

    @property
    def reflectance_factor(self) -> float:
        return 1e-4 / self.scale  # the files hold digital numbers (reflectance x 10^4)

    def observation_dates(self, index: int) -> dict[str, np.ndarray]:
        info = self.patches[int(self._windows[index % len(self), 0])]
        return {self.modality: info.days.astype("datetime64[D]")}

    @classmethod
    def looks_like(cls, root: str | Path) -> bool:
        """A folder with ``<year>_<tile>_patch_<i>_<j>.nc`` files below it."""
        root = Path(root)
        return safe_check(
            lambda: (
                root.is_dir()
                and any(
                    _NAME.match(p.stem) for p in root.rglob("*.nc") if not p.name.startswith(".")
                )
            )
        )

    @classmethod
    def is_synthetic(cls, root: str | Path) -> bool:
        """The simulator sets the attribute ``synthetic = "true"`` in every file."""
        h5netcdf = require("h5netcdf", "netcdf", "reading Sen4AgriNet netCDF files")
        root = Path(root)

        def check() -> bool:
            first = next(
                (p for p in sorted(root.rglob("*.nc")) if not p.name.startswith(".")), None
            )
            if first is None:
                return False
            require_regular_file(first)  # raises (then False): a named pipe would block
            with h5netcdf.File(first, "r") as f:
                return _text(f.attrs.get("synthetic", "false")).lower() == "true"

        return safe_check(check)

    @classmethod
    def open(cls, root: str | Path, **options: Any) -> Reader:
        """Whole patches (``subpatch=None``)."""
        options.setdefault("subpatch", None)
        return cls(root, **options)
