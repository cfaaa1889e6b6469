"""Reader for MultiSenGE (Wenger et al. 2022): Sentinel-2 + Sentinel-1 patches, land cover.

The dataset class is :class:`MultiSenGE`. The pieces it is built from are usable on their own:

* :func:`parse_filename` splits ``<tile>_<YYYYMMDD>_S2_<x>_<y>.tif`` (and S1, GR, JSON names);
* :func:`read_patch_metadata` reads and checks one ``labels/<tile>_<x>_<y>.json``;
* :func:`select_dates` is the date selection of seed 003 (Wenger et al. 2022, Sec. 2.2);
* :func:`tile_split` / :data:`PAPER_SPLIT` give the tile-based train / val / test split;
* :func:`regroup` maps the 14 classes to the paper's 10 or 6 (Table 3, as data in
  ``nomenclatures/multisenge.json``).

Every problem with the files on disk raises :class:`~sitsfusion.errors.DatasetError`, whose
message starts with the offending file. GeoTIFFs are read with ``rasterio`` (optional extra
``raster``), imported only when a raster is read: the metadata functions work without it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import torch

from sitsfusion.data.dates import DateLike, reference_day
from sitsfusion.data.readers.base import Indices, PatchReader, register_reader, safe_check
from sitsfusion.data.readers.georef import check_pixel_size, crs_name, parse_crs, same_crs
from sitsfusion.data.readers.ranges import check_band_values
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.data.taxonomy import Nomenclature
from sitsfusion.data.transforms import ChannelStats
from sitsfusion.errors import DatasetError
from sitsfusion.io import read_json, require_regular_file
from sitsfusion.optional import require

__all__ = [
    "BANDS",
    "FOLDERS",
    "JSON_KEYS",
    "NODATA",
    "PAPER_MIN_GAP",
    "PAPER_MONTHS",
    "PAPER_S2_NORM",
    "PAPER_SPLIT",
    "MultiSenGE",
    "PatchFile",
    "class_names",
    "parse_filename",
    "parse_patch_id",
    "read_patch_metadata",
    "regroup",
    "regroup_table",
    "select_dates",
    "tile_split",
]

BANDS: dict[str, tuple[str, ...]] = {
    "S2": ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"),
    "S1": ("VV", "VH"),
}
"""Band order of the GeoTIFFs (S2: 10 bands at 10 m, 20 m bands resampled; S1: dB)."""

FOLDERS: dict[str, str] = {
    "labels": "labels",
    "S2": "s2",
    "S1": "s1",
    "GR": "ground_reference",
}
"""Default sub-folders of the root, as in the published archive and the authors' training code
(``multitemp-multimod/train.py``: ``dataset_v1/{labels,s2,ground_reference}``; ``s1`` alike)."""

JSON_KEYS: tuple[str, ...] = ("corresponding_s2", "corresponding_s1", "projection", "labels")
"""Keys of every ``labels/<tile>_<x>_<y>.json`` file."""

NODATA = 0
"""Ground-reference value 0 = no data / unknown; kept as 0 by every regrouping. Classes are
1..14 (1..10, 1..6 after regrouping), numbered as in the paper."""

PAPER_MONTHS: tuple[int, ...] = (7, 8, 9, 11)
"""Months of the paper's selection: July, August, September, November 2020 (seed 003 Sec. 2.2)."""
PAPER_MIN_GAP = 17
"""Minimum number of days between the selected dates of two consecutive months."""

PAPER_SPLIT: dict[str, tuple[str, ...]] = {
    "train": ("32UMV", "32ULU", "32TLT", "31UGQ", "31TFN", "31UFQ", "31UFR"),
    "val": ("31UFP", "31UGP"),
    "test": ("31UEQ",),
}
"""Tile-based split of seed 003 Sec. 2.2. The dataset has 14 tiles; the paper's training list
names 7 of the remaining 11 and leaves out 32ULV, 31UEP, 32UMU and 31UER, which
:func:`tile_split` with this split puts under ``"unused"``. In ``patch_index.csv`` the val
tiles hold 1,911 patches and the test tile 610, the paper's numbers; its 3,369 + 1,911 + 610 =
5,890 is Table 1's count for the 17-day gap, so the omitted tiles presumably have no patch with
a valid selection (the 11 sampled 31UEP patches have no July image)."""

PAPER_S2_NORM: ChannelStats = (
    (252.629, 323.525, 508.153, 457.655, 506.346, 628.146, 691.054, 675.530, 720.609, 612.932),
    (
        439.628,
        702.224,
        786.595,
        1142.980,
        2129.663,
        2498.619,
        2620.958,
        2816.781,
        2212.923,
        1352.341,
    ),
)
"""Per-band S2 mean / std of the authors' Keras code (``multitemp-multimod/train.py``) for the
17-day-gap Jul/Aug/Sep/Nov 2020 selection (raw digital numbers). Not given for S1."""

N_BANDS = {"S2": 10, "S1": 2}
_N_CLASSES = 14
_SENSOR_FILE = re.compile(
    r"^(?P<tile>\d{2}[A-Z]{3})_(?P<date>\d{8})_(?P<sensor>S1|S2)_(?P<x>\d+)_(?P<y>\d+)\.tif$"
)
_GR_FILE = re.compile(r"^(?P<tile>\d{2}[A-Z]{3})_GR_(?P<x>\d+)_(?P<y>\d+)\.tif$")
_PATCH_ID = re.compile(r"^(?P<tile>\d{2}[A-Z]{3})_(?P<x>\d+)_(?P<y>\d+)(?:\.json)?$")

Modality = Literal["S2", "S1"]


# --------------------------------------------------------------------------------------------
# File names
# --------------------------------------------------------------------------------------------


class PatchFile(NamedTuple):
    """The parts of a MultiSenGE file name. ``date`` is None for GR and JSON files."""

    tile: str
    date: dt.date | None
    sensor: str  # "S2", "S1", "GR" or "JSON"
    x: int
    y: int

    @property
    def patch_id(self) -> str:
        return f"{self.tile}_{self.x}_{self.y}"


def parse_filename(name: str | Path) -> PatchFile:
    """Split a MultiSenGE file name into ``(tile, date, sensor, x, y)``.

    Accepts ``<tile>_<YYYYMMDD>_S2_<x>_<y>.tif``, ``<tile>_<YYYYMMDD>_S1_<x>_<y>.tif``,
    ``<tile>_GR_<x>_<y>.tif`` and ``<tile>_<x>_<y>.json`` (any leading folders are ignored).

    Raises:
        ValueError: the name matches none of these patterns or its date is not a calendar date.
    """
    base = Path(name).name
    m = _SENSOR_FILE.match(base)
    if m is not None:
        text = m["date"]
        try:
            date = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            raise ValueError(f"{base!r}: {text} is not a YYYYMMDD calendar date") from None
        return PatchFile(m["tile"], date, m["sensor"], int(m["x"]), int(m["y"]))
    m = _GR_FILE.match(base)
    if m is not None:
        return PatchFile(m["tile"], None, "GR", int(m["x"]), int(m["y"]))
    m = _PATCH_ID.match(base)
    if m is not None and base.endswith(".json"):
        return PatchFile(m["tile"], None, "JSON", int(m["x"]), int(m["y"]))
    raise ValueError(
        f"{base!r} is not a MultiSenGE file name (<tile>_<YYYYMMDD>_S2|S1_<x>_<y>.tif, "
        "<tile>_GR_<x>_<y>.tif or <tile>_<x>_<y>.json)"
    )


def parse_patch_id(patch_id: str) -> tuple[str, int, int]:
    """``"31UFQ_1028_2827"`` (or the JSON file name) → ``("31UFQ", 1028, 2827)``."""
    m = _PATCH_ID.match(Path(str(patch_id)).name)
    if m is None:
        raise ValueError(f"{patch_id!r} is not a MultiSenGE patch id <tile>_<x>_<y>")
    return m["tile"], int(m["x"]), int(m["y"])


def _filename(tile: str, x: int, y: int, sensor: str, date: dt.date | None = None) -> str:
    if sensor == "GR":
        return f"{tile}_GR_{x}_{y}.tif"
    assert date is not None
    return f"{tile}_{date:%Y%m%d}_{sensor}_{x}_{y}.tif"


# --------------------------------------------------------------------------------------------
# Metadata JSON
# --------------------------------------------------------------------------------------------


def read_patch_metadata(json_path: str | Path) -> dict[str, Any]:
    """Read and check one ``labels/<tile>_<x>_<y>.json``.

    Returns:
        ``{"id", "tile", "x", "y", "S2": [file names], "S2_dates": [dates], "S1": [...],
        "S1_dates": [...], "projection": WKT str, "labels": [class codes], "synthetic": bool}``;
        file lists sorted by date (the JSONs list them in no particular order).

    Raises:
        DatasetError: missing or unreadable file, not a JSON object, a key of
            :data:`JSON_KEYS` missing or not a string, a file name that does not parse or names
            another patch or sensor, duplicate dates, label codes outside 1..14.
    """
    path = Path(json_path)
    try:
        tile, x, y = parse_patch_id(path.name)
    except ValueError as exc:
        raise DatasetError(path, str(exc)) from None
    obj = read_json(path)
    if not isinstance(obj, Mapping):
        raise DatasetError(path, f"expected a JSON object with keys {list(JSON_KEYS)}")
    for key in JSON_KEYS:
        if key not in obj:
            raise DatasetError(path, f"key {key!r} missing (expected keys {list(JSON_KEYS)})")
        if not isinstance(obj[key], str):
            raise DatasetError(path, f"{key!r} must be a string, got {type(obj[key]).__name__}")
    out: dict[str, Any] = {"id": f"{tile}_{x}_{y}", "tile": tile, "x": x, "y": y}
    for sensor in ("S2", "S1"):
        key = f"corresponding_{sensor.lower()}"
        names = [n.strip() for n in obj[key].split(";") if n.strip()]
        if not names:
            raise DatasetError(path, f"{key!r} lists no file")
        parsed = []
        for name in names:
            try:
                pf = parse_filename(name)
            except ValueError as exc:
                raise DatasetError(path, f"{key}: {exc}") from None
            if pf.sensor != sensor or (pf.tile, pf.x, pf.y) != (tile, x, y):
                raise DatasetError(
                    path, f"{key}: {name!r} is not a {sensor} file of patch {tile}_{x}_{y}"
                )
            parsed.append((pf.date, name))
        parsed.sort()
        dates = [d for d, _ in parsed]
        dup = sorted({d for d in dates if dates.count(d) > 1})
        if dup:
            raise DatasetError(path, f"{key}: duplicate dates {[f'{d:%Y%m%d}' for d in dup]}")
        out[sensor] = [n for _, n in parsed]
        out[f"{sensor}_dates"] = dates
    out["projection"] = obj["projection"]
    try:
        labels = [int(v) for v in obj["labels"].split(";") if v.strip()]
    except ValueError:
        raise DatasetError(
            path, f"'labels' must be ';'-separated integers: {obj['labels']!r}"
        ) from None
    bad = [v for v in labels if not 1 <= v <= _N_CLASSES]
    if bad:
        raise DatasetError(path, f"'labels' holds codes outside 1..{_N_CLASSES}: {bad}")
    out["labels"] = labels
    out["synthetic"] = bool(obj.get("synthetic", False))
    return out


# --------------------------------------------------------------------------------------------
# Date selection (seed 003 Sec. 2.2)
# --------------------------------------------------------------------------------------------


def _as_date(d: dt.date | str | int) -> dt.date:
    if isinstance(d, dt.datetime):
        return d.date()
    if isinstance(d, dt.date):
        return d
    text = str(d).replace("-", "")
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def select_dates(
    s2_dates: Iterable[dt.date | str | int],
    s1_dates: Iterable[dt.date | str | int],
    months: Sequence[int] = PAPER_MONTHS,
    min_gap: int = PAPER_MIN_GAP,
    year: int = 2020,
    s1_rule: Literal["first_of_month", "nearest"] = "first_of_month",
) -> tuple[list[dt.date], list[dt.date]] | None:
    """The paper's selection: one S2 date per month, ``min_gap`` days apart, and S1 dates.

    Seed 003 Sec. 2.2 keeps the patches with a Sentinel-2 image in each of July, August,
    September and November 2020 such that two consecutive months' images are **at least**
    17 days apart ("a constraint on the number of days between two consecutive months"; Table 1:
    a larger gap leaves fewer patches, so the gap is a minimum). The authors' code
    (``MultiSenGE-Tools/Patch.py``, ``has_days_gap_s2(months, days_gap=17)``, called by
    ``multitemp-multimod/train.py``) makes it exact: it returns the **earliest** feasible chain,
    i.e. the earliest date of the first month that starts a chain, then month by month the
    earliest date ``>= previous + min_gap`` that still lets the chain continue. This function
    returns the same chain (the greedy earliest choice is also the feasible one whenever any
    chain exists).

    Sentinel-1 (the paper gives no rule; 4 S1 dates enter the ConvLSTM-S1 branch):
    ``"first_of_month"`` (default) = the first S1 acquisition of each selected month, the
    authors' ``Patch.get_s1_dates``; ``"nearest"`` = the S1 acquisition closest to each selected
    S2 date (ties → earlier), required within ``min_gap`` days of it.

    Args:
        s2_dates, s1_dates: acquisition dates (``datetime.date``, ``"YYYYMMDD"``, ``YYYYMMDD``
            or ISO strings), in any order.
        months: months of ``year`` to select, in calendar order.
        min_gap: minimum gap in days between the dates of consecutive months (inclusive).
        year: year of the months.
        s1_rule: see above.

    Returns:
        ``(s2_sel, s1_sel)``, each one sorted date per month, or None when there is no valid
        selection (a month without S2 or S1 image, or no chain respecting ``min_gap``).
    """
    s2 = sorted({_as_date(d) for d in s2_dates})
    s1 = sorted({_as_date(d) for d in s1_dates})
    per_month = [[d for d in s2 if d.year == year and d.month == m] for m in months]
    if any(not c for c in per_month):
        return None
    # feasible[k] = dates of month k that start a valid chain through the remaining months
    feasible: list[list[dt.date]] = [[] for _ in months]
    feasible[-1] = per_month[-1]
    for k in range(len(months) - 2, -1, -1):
        nxt = feasible[k + 1]
        feasible[k] = [d for d in per_month[k] if any((n - d).days >= min_gap for n in nxt)]
    if not feasible[0]:
        return None
    chain = [feasible[0][0]]
    for k in range(1, len(months)):
        chain.append(next(d for d in feasible[k] if (d - chain[-1]).days >= min_gap))
    if s1_rule == "first_of_month":
        s1_sel = []
        for m in months:
            first = next((d for d in s1 if d.year == year and d.month == m), None)
            if first is None:
                return None
            s1_sel.append(first)
    elif s1_rule == "nearest":
        if not s1:
            return None
        s1_sel = []
        for d in chain:
            best = min(s1, key=lambda s, d=d: (abs((s - d).days), s))
            if abs((best - d).days) > min_gap:
                return None
            s1_sel.append(best)
        if len(set(s1_sel)) != len(s1_sel):
            return None
    else:
        raise ValueError(f"s1_rule must be 'first_of_month' or 'nearest', got {s1_rule!r}")
    return chain, s1_sel


# --------------------------------------------------------------------------------------------
# Split and classes
# --------------------------------------------------------------------------------------------


def tile_split(
    patch_ids: Iterable[str],
    val_tiles: Iterable[str] = PAPER_SPLIT["val"],
    test_tiles: Iterable[str] = PAPER_SPLIT["test"],
    train_tiles: Iterable[str] | None = PAPER_SPLIT["train"],
) -> dict[str, list[str]]:
    """Split patch ids by their Sentinel-2 tile (geographical stratification, seed 003 Sec. 2.2).

    Tile names may carry the paper's ``T`` prefix (``"T31UFP"``). With ``train_tiles=None``
    every tile not in val or test goes to train; otherwise patches of unlisted tiles are left
    out (returned under ``"unused"``). The defaults are the paper's lists (:data:`PAPER_SPLIT`).

    Returns:
        ``{"train": [...], "val": [...], "test": [...], "unused": [...]}`` in input order.
    """

    def norm(tiles: Iterable[str]) -> set[str]:
        return {t.upper().removeprefix("T") for t in tiles}

    val, test = norm(val_tiles), norm(test_tiles)
    if val & test:
        raise ValueError(f"tiles both in val and test: {sorted(val & test)}")
    train = None if train_tiles is None else norm(train_tiles)
    if train is not None and train & (val | test):
        raise ValueError(f"tiles both in train and val/test: {sorted(train & (val | test))}")
    out: dict[str, list[str]] = {"train": [], "val": [], "test": [], "unused": []}
    for pid in patch_ids:
        tile = parse_patch_id(pid)[0]
        if tile in val:
            out["val"].append(pid)
        elif tile in test:
            out["test"].append(pid)
        elif train is None or tile in train:
            out["train"].append(pid)
        else:
            out["unused"].append(pid)
    return out


@cache
def _nomenclature_spec() -> dict[str, Any]:
    path = resources.files("sitsfusion.data") / "nomenclatures" / "multisenge.json"
    return json.loads(path.read_text())


def regroup_table(classes: int) -> np.ndarray:
    """Lookup table ``[15]``: 14-class code (0 = no data) → id in the 14/10/6-class scheme."""
    if classes == _N_CLASSES:
        return np.arange(_N_CLASSES + 1, dtype=np.int64)
    if classes not in (10, 6):
        raise ValueError(f"classes must be 14, 10 or 6 (seed 003 Table 3), got {classes}")
    mapping = _nomenclature_spec()[f"regroup_{classes}"]["mapping"]
    table = np.zeros(_N_CLASSES + 1, dtype=np.int64)
    for src, dst in mapping.items():
        table[int(src)] = int(dst)
    return table


def regroup(semantic: np.ndarray | torch.Tensor, classes: int) -> np.ndarray | torch.Tensor:
    """Map a 14-class map (values 0..14) to the 10- or 6-class scheme of seed 003 Table 3."""
    table = regroup_table(classes)
    if isinstance(semantic, torch.Tensor):
        return torch.as_tensor(table, device=semantic.device)[semantic.long()]
    return table[np.asarray(semantic)]


def _scheme_classes(classes: int) -> list[dict[str, Any]]:
    spec = _nomenclature_spec()
    return spec["classes"] if classes == _N_CLASSES else spec[f"regroup_{classes}"]["classes"]


def class_names(classes: int = 14) -> list[str]:
    """Names of ids ``0..classes`` (0 = "No data") of the 14-, 10- or 6-class scheme."""
    return [c["name"] for c in _scheme_classes(classes)]


def legend(classes: int = 14) -> Nomenclature:
    """The 14-, 10- or 6-class scheme as a :class:`~sitsfusion.data.taxonomy.Nomenclature`
    (ids, names, map colours; 0 = "No data" is the background)."""
    entries = _scheme_classes(classes)
    return Nomenclature(
        name=f"multisenge_{classes}",
        ids=tuple(int(c["id"]) for c in entries),
        names=tuple(str(c["name"]) for c in entries),
        colors=tuple(str(c["color"]) for c in entries),
        background=NODATA,
    )


# --------------------------------------------------------------------------------------------
# GeoTIFFs
# --------------------------------------------------------------------------------------------


def _rasterio() -> Any:
    return require("rasterio", "raster", "reading MultiSenGE GeoTIFFs")


def _read_tif(path: Path) -> tuple[np.ndarray, Any, str | None]:
    """``(array [C, H, W], affine transform, CRS WKT)`` of one GeoTIFF.

    Raises:
        DatasetError: missing, not a regular file (refused before GDAL opens it), unreadable,
            or without a geotransform (GDAL would report the identity: a pixel of 1 x 1).
    """
    rasterio = _rasterio()
    require_regular_file(path)  # a named pipe would block GDAL
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                arr = src.read()
                transform = src.transform
                crs = src.crs.to_wkt() if src.crs is not None else None
    except rasterio.errors.RasterioIOError as exc:
        if not path.exists():
            raise DatasetError(path, "missing") from None
        raise DatasetError(path, f"cannot read as a GeoTIFF ({exc})") from None
    if transform.is_identity:
        raise DatasetError(path, "has no geotransform; MultiSenGE GeoTIFFs are georeferenced")
    return arr, transform, crs


def _check_raster(
    path: Path, arr: np.ndarray, bands: int, spatial: tuple[int, int] | None, what: str
) -> None:
    if arr.shape[0] != bands:
        raise DatasetError(path, f"has {arr.shape[0]} bands, a {what} file has {bands}")
    if spatial is not None and tuple(arr.shape[1:]) != tuple(spatial):
        raise DatasetError(
            path,
            f"size {arr.shape[1]}x{arr.shape[2]} differs from the patch's ground reference "
            f"({spatial[0]}x{spatial[1]})",
        )
    if arr.dtype.kind not in "iuf":
        raise DatasetError(path, f"non-numeric dtype {arr.dtype}")
    check_band_values(path, arr, what, band_axis=0, band_names=BANDS.get(what))


def _check_same_grid(
    path: Path, grid: tuple[str | None, Any], reference: tuple[str | None, Any]
) -> None:
    """A patch's image on the ground reference's grid: same CRS, same affine transform."""
    (crs, transform), (ref_crs, ref_transform) = grid, reference
    if not same_crs(crs, ref_crs):
        raise DatasetError(
            path,
            "CRS differs from the patch's ground reference "
            f"({crs_name(crs)} vs {crs_name(ref_crs)}); a patch has one CRS",
        )
    if tuple(transform)[:6] != tuple(ref_transform)[:6]:
        raise DatasetError(
            path,
            f"geotransform {tuple(transform)[:6]} differs from the patch's ground reference "
            f"{tuple(ref_transform)[:6]}; a patch has one pixel grid",
        )


# --------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------


@register_reader
class MultiSenGE(PatchReader):
    """MultiSenGE: Sentinel-2 and Sentinel-1 time series of 2020 with 14 land-cover classes.

    MultiSenGE (Wenger et al. 2022, ISPRS Annals; used by seed 003, Wenger et al. 2022, Remote
    Sensing): 8,157 patches of 256 × 256 px at 10 m over the Grand-Est region (France), 14
    Sentinel-2 tiles (UTM 31N / 32N), year 2020. Every patch has 2-23 Sentinel-2 L2A dates
    (< 10 % cloud), 89-181 Sentinel-1 GRD dates, and a ground-reference map from the BDOCGE2
    land-cover database in 14 classes (:func:`class_names`).

    On-disk layout (folder names are the defaults of :data:`FOLDERS`, changeable with
    ``folders``)::

        ROOT/
          labels/<tile>_<x>_<y>.json     {"corresponding_s2": "<S2 file>;<S2 file>;...",
                                          "corresponding_s1": "<S1 file>;...",
                                          "projection": "<WKT>", "labels": "2;5;6;9;11"}
          s2/<tile>_<YYYYMMDD>_S2_<x>_<y>.tif   10 bands B2 B3 B4 B5 B6 B7 B8 B8A B11 B12
          s1/<tile>_<YYYYMMDD>_S1_<x>_<y>.tif   2 bands VV VH (dB)
          ground_reference/<tile>_GR_<x>_<y>.tif 1 band, class codes 1..14 (0 = no data)

    ``x`` and ``y`` are the pixel offsets of the patch in its tile (steps of 257); the
    georeferencing (CRS, affine transform) is read from the GeoTIFFs. File lists in the JSONs
    are unordered; they are sorted by date here.

    Each item is a :class:`Sample` with ``series = {"S2": TimeSeries([T, 10, H, W]),
    "S1": TimeSeries([T, 2, H, W])}`` (float32; dates = int64 days since ``reference_date``),
    ``semantic`` long ``[H, W]`` with ids 1..``classes`` and **0 = no data / unknown** (ignore it
    in the loss), and ``meta = {"id": "<tile>_<x>_<y>", "tile", "x", "y", "crs" (WKT of the
    ground-reference GeoTIFF), "transform" (its affine, 6 numbers a b c d e f as in rasterio),
    "reference_date", "dates" {modality: ["YYYYMMDD", ...]}, "labels" (codes the JSON lists),
    "synthetic"}``.

    Date selection:

    * ``select="paper"``: the selection of seed 003 (:func:`select_dates`): one S2 date in each
      of July, August, September and November 2020, consecutive ones at least 17 days apart
      (the earliest such chain, as the authors' code), and one S1 date per month (first
      acquisition of the month by default, ``s1_rule``). T = 4 for both sensors. Patches
      without a valid selection are skipped (:attr:`n_skipped`, :attr:`skipped`), or raise
      ``DatasetError`` with ``on_invalid="raise"``.
    * ``select="all"``: every date listed in the JSON.

    Values are as stored. The paper's multitemporal per-band normalisation (seed 003 Sec. 3.4)
    is a channel z-score with the statistics of all dates and pixels of the training set:
    :func:`~sitsfusion.data.statistics.compute_statistics` over the training patches then
    :class:`~sitsfusion.data.transforms.Normalize` (the data module does it);
    :data:`PAPER_S2_NORM` holds the authors' S2 values. The format publishes no statistics
    (:meth:`statistics` is None).

    Reader contract: ``class_names`` of the chosen scheme (``class_scheme``), ``channels``
    ``{"S2": 10, "S1": 2}``, :meth:`label_counts` pixels per class id, georeferencing in every
    sample's ``meta``, ``patch_ids`` ``"<tile>_<x>_<y>"``.

    Args:
        root: dataset root.
        patches: patch ids ``"<tile>_<x>_<y>"`` to load (None = every JSON of ``labels/``).
        modalities: any of ``"S2"``, ``"S1"``.
        classes: 14 (original codes), 10 or 6 (seed 003 Table 3).
        select: ``"paper"`` or ``"all"``.
        reference_date: origin of the day counts.
        transform: ``Sample -> Sample`` applied last.
        folders: overrides of :data:`FOLDERS`.
        on_invalid: ``"skip"`` or ``"raise"`` for patches without a paper selection.
        s1_rule, months, min_gap: passed to :func:`select_dates`.

    Raises:
        DatasetError: at construction, a bad JSON or a listed GeoTIFF missing from its folder;
            when a sample is read, a GeoTIFF with the wrong band count, size, NaN values, or a
            ground reference with codes outside 0..14.
    """

    format: ClassVar[str] = "multisenge"
    layout: ClassVar[str] = (
        "MultiSenGE (labels/<tile>_<x>_<y>.json, s2/, s1/ and ground_reference/ GeoTIFFs)"
    )
    tasks: ClassVar[tuple[str, ...]] = ("semantic",)
    title: ClassVar[str] = "MultiSenGE"

    def __init__(
        self,
        root: str | Path,
        patches: Sequence[str] | None = None,
        modalities: Sequence[Modality] = ("S2", "S1"),
        classes: int = 14,
        select: Literal["paper", "all"] = "paper",
        reference_date: DateLike = "2020-01-01",
        transform: Callable[[Sample], Sample] | None = None,
        folders: Mapping[str, str] | None = None,
        on_invalid: Literal["skip", "raise"] = "skip",
        s1_rule: Literal["first_of_month", "nearest"] = "first_of_month",
        months: Sequence[int] = PAPER_MONTHS,
        min_gap: int = PAPER_MIN_GAP,
    ) -> None:
        self.root = Path(root)
        if isinstance(modalities, str):
            modalities = (modalities,)
        self.modalities = tuple(modalities)
        if (
            not self.modalities
            or any(m not in N_BANDS for m in self.modalities)
            or len(set(self.modalities)) != len(self.modalities)
        ):
            raise ValueError(f"modalities must be distinct among ('S2', 'S1'), got {modalities}")
        self.table = regroup_table(int(classes))
        self.class_scheme = int(classes)
        self.class_names = class_names(self.class_scheme)
        self.channels = {m: N_BANDS[m] for m in self.modalities}
        if select not in ("paper", "all"):
            raise ValueError(f"select must be 'paper' or 'all', got {select!r}")
        if on_invalid not in ("skip", "raise"):
            raise ValueError(f"on_invalid must be 'skip' or 'raise', got {on_invalid!r}")
        self.select = select
        self.reference_date = str(reference_day(reference_date))
        self._ref = reference_day(reference_date)
        self.transform = transform
        self.folders = {**FOLDERS, **(folders or {})}
        labels_dir = self.root / self.folders["labels"]
        if not labels_dir.is_dir():
            raise DatasetError(labels_dir, "missing (MultiSenGE keeps one JSON per patch here)")
        if patches is None:
            json_files = sorted(p for p in labels_dir.iterdir() if p.suffix == ".json")
            if not json_files:
                raise DatasetError(labels_dir, "holds no <tile>_<x>_<y>.json file")
        else:
            json_files = []
            for pid in patches:
                tile, x, y = parse_patch_id(pid)
                json_files.append(labels_dir / f"{tile}_{x}_{y}.json")
        listings: dict[str, set[str]] = {}
        for key in (*self.modalities, "GR"):
            folder = self.root / self.folders[key]
            try:
                listings[key] = set(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                raise DatasetError(folder, f"missing ({key} folder)") from None
        self.records: list[dict[str, Any]] = []
        self.skipped: list[str] = []
        for path in json_files:
            meta = read_patch_metadata(path)
            parse_crs(path, meta["projection"], "'projection'")
            if select == "paper":
                sel = select_dates(
                    meta["S2_dates"], meta["S1_dates"], months, min_gap, s1_rule=s1_rule
                )
                if sel is None:
                    if on_invalid == "raise":
                        raise DatasetError(
                            path,
                            f"no valid date selection (one S2 date in each of months "
                            f"{tuple(months)}, >= {min_gap} days apart, and S1 dates)",
                        )
                    self.skipped.append(meta["id"])
                    continue
                chosen = {"S2": sel[0], "S1": sel[1]}
            else:
                chosen = {"S2": meta["S2_dates"], "S1": meta["S1_dates"]}
            files: dict[str, list[tuple[dt.date, str]]] = {}
            for m in self.modalities:
                names = [_filename(meta["tile"], meta["x"], meta["y"], m, d) for d in chosen[m]]
                for name in names:
                    if name not in listings[m]:
                        raise DatasetError(
                            self.root / self.folders[m] / name, f"missing (listed in {path})"
                        )
                files[m] = list(zip(chosen[m], names, strict=True))
            gr = _filename(meta["tile"], meta["x"], meta["y"], "GR")
            if gr not in listings["GR"]:
                raise DatasetError(self.root / self.folders["GR"] / gr, f"missing (for {path})")
            self.records.append({**meta, "files": files, "gr": gr, "json": path})
        self.synthetic = bool(self.records) and all(r["synthetic"] for r in self.records)

    @property
    def n_skipped(self) -> int:
        """Number of patches without a valid ``select="paper"`` selection (skipped)."""
        return len(self.skipped)

    @property
    def patch_ids(self) -> list[str]:
        return [r["id"] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def _semantic(self, rec: dict[str, Any]) -> tuple[torch.Tensor, Any, str | None]:
        path = self.root / self.folders["GR"] / rec["gr"]
        arr, transform, crs = _read_tif(path)
        if arr.shape[0] != 1:
            raise DatasetError(path, f"has {arr.shape[0]} bands, a ground reference has 1")
        gr = arr[0]
        if gr.dtype.kind == "f":
            if not np.isfinite(gr).all():
                raise DatasetError(path, f"holds {int((~np.isfinite(gr)).sum())} NaN/inf values")
            if (gr != np.round(gr)).any():
                raise DatasetError(path, "holds non-integer class codes")
        elif gr.dtype.kind not in "iu":
            raise DatasetError(path, f"non-numeric dtype {gr.dtype}")
        codes = np.unique(gr)
        bad = codes[(codes < 0) | (codes > _N_CLASSES)]
        if bad.size:
            raise DatasetError(
                path,
                f"class codes outside 1..{_N_CLASSES} (0 = no data): {bad[:10].tolist()}",
            )
        check_pixel_size(path, tuple(transform))
        sem = torch.from_numpy(self.table[gr.astype(np.int64)])
        return sem, transform, crs

    def __getitem__(self, index: int) -> Sample:
        rec = self.records[index]
        semantic, transform, crs = self._semantic(rec)
        spatial = (int(semantic.shape[0]), int(semantic.shape[1]))
        series: dict[str, TimeSeries] = {}
        dates_meta: dict[str, list[str]] = {}
        for m in self.modalities:
            folder = self.root / self.folders[m]
            arrays = []
            for _, name in rec["files"][m]:
                path = folder / name
                arr, file_transform, file_crs = _read_tif(path)
                _check_raster(path, arr, N_BANDS[m], spatial, m)
                _check_same_grid(path, (file_crs, file_transform), (crs, transform))
                arrays.append(arr.astype(np.float32, copy=False))
            days = np.array(
                [(np.datetime64(d, "D") - self._ref).astype(np.int64) for d, _ in rec["files"][m]],
                dtype=np.int64,
            )
            series[m] = TimeSeries(
                torch.from_numpy(np.stack(arrays)), torch.from_numpy(days), source=str(folder)
            )
            dates_meta[m] = [f"{d:%Y%m%d}" for d, _ in rec["files"][m]]
        meta = {
            "id": rec["id"],
            "tile": rec["tile"],
            "x": rec["x"],
            "y": rec["y"],
            "crs": crs if crs is not None else rec["projection"],
            "transform": tuple(float(v) for v in tuple(transform)[:6]),
            "reference_date": self.reference_date,
            "dates": dates_meta,
            "labels": list(rec["labels"]),
            "synthetic": rec["synthetic"],
        }
        sample = Sample(series, semantic=semantic, meta=meta)
        if self.transform is not None:
            sample = self.transform(sample)
        return sample

    # ---- the contract -------------------------------------------------------------------------

    @property
    def band_names(self) -> dict[str, tuple[str, ...]]:
        return {m: BANDS[m] for m in self.modalities}

    @property
    def legend(self) -> Nomenclature:
        return legend(self.class_scheme)

    def label_counts(self, indices: Indices = None) -> np.ndarray:
        """int64 ``[K + 1]``: pixels per class id (0 = no data) over the patches ``indices``
        (default all). Reads the ground-reference rasters only (for inverse-frequency class
        weights, seed 003 Sec. 3.4)."""
        k = len(self.class_names)
        counts = np.zeros(k, dtype=np.int64)
        chosen = range(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        for i in chosen:
            semantic, _, _ = self._semantic(self.records[int(i)])
            counts += np.bincount(semantic.numpy().ravel(), minlength=k)[:k]
        return counts

    def observation_dates(self, index: int) -> dict[str, np.ndarray]:
        files = self.records[index]["files"]
        return {m: np.array([np.datetime64(d, "D") for d, _ in files[m]]) for m in self.modalities}

    def patch(self, patch_id: str | int) -> Sample:
        try:
            position = self.patch_ids.index(str(patch_id))
        except ValueError:
            raise DatasetError(
                self.root / self.folders["labels"] / f"{patch_id}.json",
                "no such patch in this dataset (patch ids are <tile>_<x>_<y>)",
            ) from None
        return self[position]

    @classmethod
    def looks_like(cls, root: str | Path) -> bool:
        """A ``labels/`` folder of ``<tile>_<x>_<y>.json`` files and a ``ground_reference/``."""
        root = Path(root)

        def check() -> bool:
            if not (root / FOLDERS["GR"]).is_dir():
                return False
            with os.scandir(root / FOLDERS["labels"]) as entries:
                return any(_PATCH_ID.match(e.name) and e.name.endswith(".json") for e in entries)

        return safe_check(check)

    @classmethod
    def is_synthetic(cls, root: str | Path) -> bool:
        """The simulator marks every JSON ``"synthetic": true``."""
        folder = Path(root) / FOLDERS["labels"]

        def check() -> bool:
            first = next(iter(sorted(folder.glob("*.json"))), None)
            if first is None:
                return False
            require_regular_file(first)  # raises (then False): a named pipe would block
            return '"synthetic": true' in first.read_text()[:20000]

        return safe_check(check)

    @classmethod
    def open(cls, root: str | Path, **options: Any) -> MultiSenGE:
        """Every patch with every date (``select="all"``)."""
        options.setdefault("select", "all")
        return cls(root, **options)
