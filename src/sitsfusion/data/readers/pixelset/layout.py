"""Pixel-set folders: the three accepted layouts and one modality's files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sitsfusion.data.readers.pixelset.metadata import DateLayout, DatePlan
from sitsfusion.errors import DatasetError

__all__ = [
    "DATA_DIR",
    "DATES_FILE",
    "FOLDS_FILE",
    "GEOMFEAT_FILE",
    "LABELS_FILE",
    "META_DIR",
    "SIZES_FILE",
    "Source",
    "is_pixelset_folder",
    "resolve_roots",
]

DATA_DIR = "DATA"
META_DIR = "META"
LABELS_FILE = "labels.json"
DATES_FILE = "dates.json"
FOLDS_FILE = "folds.json"  # optional, sitsfusion's: {"<id>": fold} spatial folds
GEOMFEAT_FILE = "geomfeat.json"
SIZES_FILE = "sizes.json"

# CropTypeMapping's mirrored sensor folders and the modality names they get here.
_SENSOR_FOLDERS = {"s1_data": "S1", "s2_data": "S2"}
_MIRROR = {"s1_data": "s2_data", "s2_data": "s1_data"}


def is_pixelset_folder(path: Path) -> bool:
    """Whether ``path`` holds a ``DATA/`` or ``META/`` folder."""
    return (path / DATA_DIR).is_dir() or (path / META_DIR).is_dir()


def resolve_roots(root: str | Path | Mapping[str, str | Path], modality: str) -> dict[str, Path]:
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
    if is_pixelset_folder(path):
        return {modality: path}
    subdirs = sorted(p for p in path.iterdir() if p.is_dir())
    sensors = [p for p in subdirs if p.name in _SENSOR_FOLDERS]
    if len(sensors) == 2:
        if all(is_pixelset_folder(p) for p in sensors):
            return {_SENSOR_FOLDERS[p.name]: p for p in sensors}
        regions = sorted({r.name for p in sensors for r in p.iterdir() if r.is_dir()})
        raise DatasetError(
            path,
            f"s1_data/ and s2_data/ hold region folders {regions}; pass one region, e.g. "
            f"{path / 's1_data' / (regions[0] if regions else '<region>')}",
        )
    per_modality = [p for p in subdirs if is_pixelset_folder(p)]
    if per_modality:
        return {p.name: p for p in per_modality}
    raise DatasetError(
        path / DATA_DIR,
        "missing: expected DATA/<id>.npy and META/*.json here, or one such folder per modality",
    )


@dataclass
class Source:
    """One modality: its folder, its dates and the shapes of its arrays."""

    name: str
    root: Path
    date_layout: DateLayout = "global"
    global_dates: np.ndarray | None = None  # datetime64[D], file order
    parcel_dates: dict[str, np.ndarray] = field(default_factory=dict)
    plans: dict[str, DatePlan] = field(default_factory=dict)
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
