"""One index of a PASTIS folder, shared by the patch and parcel datasets."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from sitsfusion.data.dates import DateLike, reference_day
from sitsfusion.data.readers.pastis.arrays import (
    PASTIS_CHANNELS,
    SERIES,
    band_names,
    instances_path,
    parcel_ids_path,
    series_path,
    target_path,
)
from sitsfusion.data.readers.pastis.metadata import (
    DATES_PREFIX,
    METADATA_FILE,
    REFERENCE_DATE,
    dates_to_days,
    modalities_with_dates,
    patch_corners,
    python_scalar,
    read_metadata,
)
from sitsfusion.errors import DatasetError
from sitsfusion.io import NpyHeader, check_numeric_dtype, read_npy_header

__all__ = ["PASTISIndex"]

# Properties that get their own key in Sample.meta; the feature "id" GDAL adds is dropped.
_CORE_PROPERTIES = {"ID_PATCH", "Fold", "TILE", "id", "geometry"}


def _listing(folder: Path) -> set[str] | None:
    try:
        return set(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return None


class PASTISIndex:
    """What a PASTIS folder holds for some folds and modalities, read once, without the arrays.

    * ``metadata``: the ``metadata.geojson`` rows of the selected folds, ``patch_ids`` their
      ``ID_PATCH`` values in file order, ``folds`` the folds selected;
    * acquisition days of every (modality, patch) since ``reference_date`` (:meth:`dates`);
    * the listing of the ``DATA_<modality>``, ``ANNOTATIONS`` and ``INSTANCE_ANNOTATIONS``
      folders (every selected patch's series and ``TARGET`` files are checked to exist);
    * ``channels`` ``{modality: C}`` from the first patch's ``.npy`` header, and the headers of
      memory-mapped files (:meth:`header`, read once);
    * per patch, the sample metadata (:meth:`patch_meta`, georeferencing included) and
      ``synthetic`` (the simulator's ``SYNTHETIC`` property).

    Raises:
        DatasetError: problems visible from the metadata, folder listings and file names.
        ValueError: empty or repeated modality names.
    """

    def __init__(
        self,
        root: str | Path,
        folds: Iterable[int] | None = None,
        modalities: Sequence[str] = ("S2",),
        reference_date: DateLike = REFERENCE_DATE,
    ) -> None:
        modalities = tuple(modalities)
        if not modalities or len(set(modalities)) != len(modalities):
            raise ValueError(f"modalities must be distinct names, got {modalities}")
        self.root = Path(root)
        self.modalities = modalities
        self.ref_day = reference_day(reference_date)
        self.reference_date = str(self.ref_day)
        if not self.root.is_dir():
            raise DatasetError(self.root, "dataset root does not exist or is not a folder")
        self.metadata_path = self.root / METADATA_FILE
        full = read_metadata(self.metadata_path)
        with_dates = modalities_with_dates(full)
        for m in modalities:
            if m not in with_dates:
                raise DatasetError(
                    self.metadata_path,
                    f"no 'dates-{m}' property, needed for modality {m!r} (this file has dates "
                    f"for: {', '.join(with_dates) or 'no modality'})",
                )
        present = sorted(int(f) for f in full["Fold"].unique())
        self.folds: tuple[int, ...] = tuple(present if folds is None else sorted(set(folds)))
        unknown = [f for f in self.folds if f not in present]
        if unknown:
            raise DatasetError(
                self.metadata_path, f"no patch in fold(s) {unknown}; folds: {present}"
            )
        self.metadata: gpd.GeoDataFrame = full[full["Fold"].isin(self.folds)].copy()
        self.patch_ids: list[int] = [int(p) for p in self.metadata.index]
        self.patch_folds = self.metadata["Fold"].to_numpy(np.int64)
        self.synthetic = "SYNTHETIC" in self.metadata.columns and bool(
            self.metadata["SYNTHETIC"].fillna(False).astype(bool).any()
        )
        self._check_files()
        self._dates = self._read_dates()
        self._meta, self._corners = self._read_patch_meta()
        self._headers: dict[Path, NpyHeader] = {}
        self.channels = {m: self._header_channels(m) for m in modalities}

    # ---- construction ---------------------------------------------------------------------

    def _check_files(self) -> None:
        """Folders present and, for every selected patch, its series and TARGET files."""
        existing = sorted(
            p.name.removeprefix("DATA_") for p in self.root.glob("DATA_*") if p.is_dir()
        )
        self.listing: dict[str, set[str] | None] = {}
        for m in self.modalities:
            folder = self.root / f"DATA_{m}"
            names = _listing(folder)
            if names is None:
                raise DatasetError(
                    folder,
                    f"modality folder missing; this dataset has "
                    f"{', '.join(existing) or 'no DATA_* folder'}",
                )
            self.listing[folder.name] = names
        for folder in ("ANNOTATIONS", "INSTANCE_ANNOTATIONS"):
            self.listing[folder] = _listing(self.root / folder)
        for pid in self.patch_ids:
            for m in self.modalities:
                self.require(series_path(self.root, m, pid), pid)
            self.require(target_path(self.root, pid), pid)

    def _read_dates(self) -> dict[tuple[str, int], np.ndarray]:
        dates: dict[tuple[str, int], np.ndarray] = {}
        for m in self.modalities:
            per_patch = list(self.metadata[DATES_PREFIX + m])
            for pid, yyyymmdd in zip(self.patch_ids, per_patch, strict=True):
                if yyyymmdd is None:
                    raise DatasetError(self.metadata_path, f"patch {pid} has no dates-{m}")
            if per_patch:  # one conversion for all patches, then split
                days = dates_to_days(np.concatenate(per_patch), self.ref_day)
                ends = np.cumsum([len(d) for d in per_patch])
                for pid, d in zip(self.patch_ids, np.split(days, ends[:-1]), strict=True):
                    dates[(m, pid)] = d
        return dates

    def _read_patch_meta(self) -> tuple[dict[int, dict[str, Any]], dict[int, np.ndarray]]:
        meta = self.metadata
        crs = None if meta.crs is None else meta.crs.to_string()
        extra = [
            c
            for c in meta.columns
            if c not in _CORE_PROPERTIES and not str(c).startswith(DATES_PREFIX)
        ]
        tiles = meta["TILE"] if "TILE" in meta.columns else None
        infos: dict[int, dict[str, Any]] = {}
        corners: dict[int, np.ndarray] = {}
        for i, pid in enumerate(self.patch_ids):
            info: dict[str, Any] = {
                "id": pid,
                "fold": int(self.patch_folds[i]),
                "tile": None if tiles is None else python_scalar(tiles.iat[i]),
                "reference_date": self.reference_date,
                "dataset": "PASTIS",
                "crs": crs,
            }
            geometry = meta.geometry.iat[i]
            if geometry is not None and not geometry.is_empty:
                info["bounds"] = tuple(float(b) for b in geometry.bounds)
                found = patch_corners(geometry)
                if found is not None and crs is not None:
                    (x0, y0), (x1, y1), (x2, y2) = found
                    if (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0) == 0:
                        raise DatasetError(
                            self.metadata_path,
                            f"patch {pid}: its footprint has zero area (pixel size 0); expected "
                            "the four corners of the patch",
                        )
                    corners[pid] = found
            for column in extra:
                info[str(column).lower()] = python_scalar(meta[column].iat[i])
            infos[pid] = info
        return infos, corners

    def _header_channels(self, modality: str) -> int:
        if not self.patch_ids:
            raise DatasetError(self.metadata_path, f"no patch in folds {self.folds}")
        path = series_path(self.root, modality, self.patch_ids[0])
        shape, dtype, _, _ = self.header(path)
        check_numeric_dtype(path, dtype, SERIES)
        if len(shape) != 4:
            raise DatasetError(path, f"wrong rank: expected 4-D (T, C, H, W), got shape {shape}")
        expected = PASTIS_CHANNELS.get(modality)
        if expected is not None and shape[1] != expected:
            raise DatasetError(
                path,
                f"has {shape[1]} channels; PASTIS {modality} has {expected} "
                f"({', '.join(band_names(modality))})",
            )
        return int(shape[1])

    # ---- queries --------------------------------------------------------------------------

    def require(self, path: Path, patch_id: int) -> None:
        """DatasetError unless ``path`` (a file of a listed folder) exists."""
        names = self.listing.get(path.parent.name)
        if names is None or path.name not in names:
            raise DatasetError(path, f"missing (patch {patch_id} is in {METADATA_FILE})")

    def instance_file(self, patch_id: int, parcel_ids: bool = False) -> Path:
        """``INSTANCES_<id>.npy``; with ``parcel_ids``, ``ParcelIDs_<id>.npy`` when a patch has
        no instance file. DatasetError naming the instance file when neither exists."""
        path = instances_path(self.root, patch_id)
        if path.name in (self.listing.get("INSTANCE_ANNOTATIONS") or ()):
            return path
        fallback = parcel_ids_path(self.root, patch_id)
        if parcel_ids and fallback.name in (self.listing.get("ANNOTATIONS") or ()):
            return fallback
        raise DatasetError(path, f"missing (patch {patch_id} is in {METADATA_FILE})")

    def dates(self, modality: str, patch_id: int) -> np.ndarray:
        """int64 ``[T]`` days since ``reference_date`` of one patch's acquisitions."""
        try:
            return self._dates[(modality, int(patch_id))]
        except KeyError:
            raise KeyError(
                f"no dates for modality {modality!r} of patch {patch_id} in this dataset"
            ) from None

    def patch_meta(self, patch_id: int, shape: tuple[int, int]) -> dict[str, Any]:
        """``Sample.meta`` of a patch of ``shape`` (H, W): id, fold, tile, reference date, crs,
        bounds, the other properties (lower-case keys) and, when the footprint is a four-corner
        ring, ``transform``: the affine ``(a, b, c, d, e, f)`` of the pixel grid (rotated,
        since the footprints are UTM squares drawn in Lambert-93)."""
        meta = dict(self._meta[patch_id])
        corners = self._corners.get(patch_id)
        if corners is not None and meta.get("transform") is None:
            (x0, y0), (x1, y1), (x2, y2) = (tuple(map(float, c)) for c in corners)
            h, w = shape
            meta["transform"] = ((x1 - x0) / w, (x2 - x0) / h, x0, (y1 - y0) / w, (y2 - y0) / h, y0)
        return meta

    def header(self, path: Path) -> NpyHeader:
        """The ``.npy`` header of ``path`` (read once)."""
        header = self._headers.get(path)
        if header is None:
            header = self._headers[path] = read_npy_header(path)
        return header
