"""Valid tiny datasets of every format, and the tools to corrupt a copy and read it back.

PASTIS, Sen4AgriNet and MultiSenGE folders are written by sitsfusion's simulator (SYNTHETIC
data, no satellite pixel); pixel sets and tables are written here with made-up values. Each
dataset is written once per session; a case copies it into its own ``tmp_path`` and changes
one thing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sitsfusion.data.readers import reader_class
from sitsfusion.errors import DatasetError

FORMATS = {
    "pastis": "pastis",
    "sen4agrinet": "sen4agrinet",
    "multisenge": "multisenge",
    "pixelset": "pixelset",
    "long": "long_table",
    "wide": "wide_table",
    "oad": "oad",
    "jrc": "jrc",
}
"""Name of a valid dataset -> its format."""

ROOTS = {
    "long": "long.csv",
    "wide": "wide.csv",
    "oad": "oad.csv",
}
"""Datasets that are one file (the others are folders)."""

OPTIONS: dict[str, dict[str, Any]] = {
    "wide": {"header": True, "label_column": "label", "id_column": "id", "n_bands": 2},
    "jrc": {"modalities": ("S2", "S1")},
}
"""Reader options of each dataset (besides ``open``'s defaults)."""

PASTIS_S2 = "DATA_S2/S2_10001.npy"  # the second patch: the first fixes the channel count
PASTIS_FIRST_S2 = "DATA_S2/S2_10000.npy"
PASTIS_S1A = "DATA_S1A/S1A_10001.npy"
PASTIS_S1D = "DATA_S1D/S1D_10001.npy"
PASTIS_TARGET = "ANNOTATIONS/TARGET_10001.npy"
S4A_FILE = "2019_31TCG_patch_8_14.nc"
PIXELSET_NPY = "DATA/2.npy"


# --------------------------------------------------------------------------------------------
# Valid datasets
# --------------------------------------------------------------------------------------------


def _write_pixelset(root: Path) -> None:
    """pytorch-psetae layout: ``DATA/<id>.npy`` ``[T=3, C=10, N=4]``, global dates, labels."""
    (root / "DATA").mkdir(parents=True)
    (root / "META").mkdir()
    for k, pid in enumerate(("1", "2")):
        values = 100.0 * (k + 1) + np.arange(3 * 10 * 4, dtype=np.float32).reshape(3, 10, 4)
        np.save(root / "DATA" / f"{pid}.npy", values)
    (root / "META" / "labels.json").write_text(json.dumps({"CODE_GROUP": {"1": 2, "2": 5}}))
    (root / "META" / "dates.json").write_text(
        json.dumps({"0": 20170105, "1": 20170115, "2": 20170125})
    )


LONG_HEADER = "sample_id,label,date,B02,B03"
LONG_ROWS = [
    "1,crop,2018-01-01,0.1,0.2",
    "1,crop,2018-01-11,0.3,0.4",
    "2,forest,2018-01-01,0.5,0.6",
    "2,forest,2018-01-11,0.7,0.8",
]
WIDE_HEADER = "label,id,t0_b0,t0_b1,t1_b0,t1_b1"
WIDE_ROWS = ["crop,s0,1.0,2.0,3.0,4.0", "forest,s1,5.0,6.0,7.0,8.0"]


def _write_oad(path: Path) -> None:
    """Two parcels, S2 (2 bands) and S1A (1 band) on 2 dates: the columns of data/oad.py."""
    rows = []
    for parcel, cls in (("7_1", 3), ("7_2", 5)):
        for modality, bands, base in (("S2", 2, 900.0), ("S1A", 1, -12.0)):
            for date in (10, 20):
                for band in range(bands):
                    rows.append(
                        {
                            "patch_id": 7,
                            "parcel_id": parcel,
                            "instance": int(parcel[-1]),
                            "class": cls,
                            "region": "west",
                            "year": 2019,
                            "modality": modality,
                            "date": date,
                            "band": band,
                            "mean": base + date + band,
                            "std": 1.5,
                        }
                    )
    pd.DataFrame(rows).to_csv(path, index=False)


def _write_jrc(root: Path) -> None:
    """JRC SALMS layout: one parcel, S2 (B04, B08 on 2 dates), S1 backscatter (2 dates)."""
    (root / "tsdir").mkdir(parents=True)
    (root / "gtdir").mkdir()
    s2 = [
        {"date": d, "band": b, "count": 10, "MEAN": 0.1 + k, "STD.DEV": 0.01}
        for d in ("2020-01-01", "2020-01-06")
        for k, b in enumerate(("B04", "B08"))
    ]
    s1 = [
        {"date": d, "band": b, "MEAN": -12.0 + k, "STD.DEV": 1.0}
        for d in ("20200103T165850", "20200109T051721")
        for k, b in enumerate(("VV", "VH"))
    ]
    pd.DataFrame(s2).to_csv(root / "tsdir" / "1_s2_ts.csv", index=False)
    pd.DataFrame(s1).to_csv(root / "tsdir" / "1_s1_bs_ts.csv", index=False)
    (root / "gtdir" / "FOIinfo.csv").write_text('"ID","Event_date"\n1,"07/01/2020"\n')


def write_valid(base: Path) -> dict[str, Path]:
    """Every valid dataset below ``base``: ``{name: root}`` (see :data:`FORMATS`)."""
    pytest.importorskip("h5netcdf")
    pytest.importorskip("rasterio")
    from sitsfusion.simulate import simulate_multisenge, simulate_pastis, simulate_sen4agrinet

    roots = {name: base / name for name in FORMATS}
    simulate_pastis(roots["pastis"], patches=2, size=16, seed=1)
    simulate_sen4agrinet(roots["sen4agrinet"], patches=1, size=12, seed=5)
    simulate_multisenge(roots["multisenge"], patches=1, size=16, seed=0, tiles=("31UFQ",))
    _write_pixelset(roots["pixelset"])
    for name, header, rows in (("long", LONG_HEADER, LONG_ROWS), ("wide", WIDE_HEADER, WIDE_ROWS)):
        roots[name].mkdir()
        (roots[name] / ROOTS[name]).write_text(header + "\n" + "\n".join(rows) + "\n")
    roots["oad"].mkdir()
    _write_oad(roots["oad"] / ROOTS["oad"])
    _write_jrc(roots["jrc"])
    return roots


@pytest.fixture(scope="session")
def valid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{name: folder}`` of valid tiny datasets (read-only: :func:`copy_of` before editing)."""
    return write_valid(tmp_path_factory.mktemp("valid_inputs"))


def copy_of(valid: dict[str, Path], name: str, tmp_path: Path) -> Path:
    """A fresh copy of dataset ``name``: its root (the folder, or the table file)."""
    folder = tmp_path / name
    shutil.copytree(valid[name], folder)
    return folder / ROOTS[name] if name in ROOTS else folder


# --------------------------------------------------------------------------------------------
# Reading and the expected refusal
# --------------------------------------------------------------------------------------------


@contextmanager
def no_hang(seconds: int = 10) -> Iterator[None]:
    """Fail instead of hanging when a read blocks (e.g. a named pipe opened by mistake)."""

    def fail(*_: Any) -> None:
        raise TimeoutError(f"the read blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read_all(name: str, root: Path, **options: Any) -> Any:
    """Open dataset ``name`` at ``root`` as the commands do (the reader serving option
    ``task`` when given) and read every sample and the published statistics; the reader."""
    options = {**OPTIONS.get(name, {}), **options}
    task = options.pop("task", None)
    reader = reader_class(FORMATS[name], task).open(root, **options)
    for i in range(len(reader)):
        reader[i]
    reader.statistics()  # the published statistics (PASTIS NORM files, pixel-set pickles)
    return reader


def refused(name: str, root: Path, path: Path, *words: str, **options: Any) -> str:
    """Read dataset ``name`` and assert one clean refusal: a :class:`DatasetError` on one line,
    starting with ``path``, holding every one of ``words``; the message."""
    with no_hang(), pytest.raises(DatasetError) as info:
        read_all(name, root, **options)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}:"), f"expected the message to start with {path}: {message}"
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------------------------
# Edits
# --------------------------------------------------------------------------------------------

Edit = Callable[[Path], None]


def edit_npy(root: Path, rel: str, change: Callable[[np.ndarray], np.ndarray]) -> Path:
    """Replace ``root/rel`` by ``change(its array)``; the path."""
    path = root / rel
    arr = change(np.load(path))
    path.unlink()
    np.save(path, arr)
    return path


def set_value(value: float, dtype: Any = None, at: tuple[int, ...] = (0, 0, 0, 0)) -> Callable:
    """An array change: cast to ``dtype`` (when given) and set one cell to ``value``."""

    def change(arr: np.ndarray) -> np.ndarray:
        out = arr.astype(dtype) if dtype is not None else arr.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # float16 overflow on purpose
            out[at[: out.ndim]] = value
        return out

    return change


def replace_by_fifo(path: Path) -> Path:
    """Replace a file by a named pipe of the same name (opening it would block)."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    os.mkfifo(path)
    return path


def replace_by_folder(path: Path) -> Path:
    path.unlink()
    path.mkdir()
    return path


def set_cell(path: Path, row: int, column: str, value: str) -> Path:
    """Set one cell of a CSV (``row`` counted among the data rows) to the raw text ``value``."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row + 1].split(",")
    cells[header.index(column)] = value
    lines[row + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def edit_json(path: Path, change: Callable[[Any], None]) -> Path:
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))
    return path


def first_tif(root: Path, folder: str) -> Path:
    return sorted((root / folder).glob("*.tif"))[0]


def edit_tif(path: Path, change: Callable[[np.ndarray, dict], tuple[np.ndarray, dict]]) -> Path:
    """Rewrite a GeoTIFF with ``change(array [C, H, W], profile)``."""
    import rasterio

    with rasterio.open(path) as src:
        arr, profile = src.read(), dict(src.profile)
    arr, profile = change(arr, profile)
    profile["count"] = arr.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotGeoreferencedWarning on purpose
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(arr)
    return path


def edit_netcdf(path: Path, change: Callable[[Any], None]) -> Path:
    """Change a netCDF file in place with h5py (``change(file)``)."""
    import h5py

    with h5py.File(path, "r+") as f:
        change(f)
    return path


@dataclass(frozen=True)
class Case:
    """Change dataset ``name`` with ``edit(root) -> the file changed``, to be named in the
    refusal; expect ``words`` in it."""

    id: str
    name: str
    edit: Callable[[Path], Path]
    words: tuple[str, ...]
    options: tuple[tuple[str, Any], ...] = ()
