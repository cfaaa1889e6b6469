"""Bad values in every reader: NaN / ±inf, overflow, non-numeric cells, implausible magnitudes.

Each case corrupts one value of a copy of a valid tiny dataset (PASTIS, Sen4AgriNet and
MultiSenGE written by the simulator: SYNTHETIC data) and asserts one clean refusal: a
``DatasetError`` on one line, starting with the file, naming the band / column / row and the
count. The MASK cases (Sen4AgriNet ``_FillValue`` pixels: legitimate no-data) assert the
warning with the count and the mask. Policies: docs/formats.md, "Bad values".
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from readers_inputs import (
    PASTIS_FIRST_S2,
    PASTIS_S1A,
    PASTIS_S1D,
    PASTIS_S2,
    PIXELSET_NPY,
    S4A_FILE,
    Case,
    copy_of,
    edit_netcdf,
    edit_npy,
    edit_tif,
    first_tif,
    read_all,
    refused,
    set_cell,
    set_value,
    valid,  # noqa: F401  (the session fixture)
)

from sitsfusion.data.readers import reader_class
from sitsfusion.data.readers.ranges import DataWarning


def npy(rel: str, value: float, dtype: Any = np.float32, at: tuple[int, ...] = (0, 0, 0, 0)):
    return lambda root: edit_npy(root, rel, set_value(value, dtype, at))


def cell(row: int, column: str, value: str):
    return lambda root: set_cell(root, row, column, value)


def jrc_cell(kind: str, row: int, column: str, value: str):
    return lambda root: set_cell(root / "tsdir" / f"1_{kind}_ts.csv", row, column, value)


def s4a_band(value: float, band: str = "B02"):
    """Store ``band`` as float32 with ``value`` in 2 pixels of date 0."""

    def change(f: Any) -> None:
        data = f[f"{band}/{band}"][...].astype(np.float32)
        data[0, 0, :2] = value
        _replace_dataset(f, band, data)

    return lambda root: edit_netcdf(root / S4A_FILE, change)


def _replace_dataset(f: Any, band: str, data: np.ndarray) -> None:
    """Replace ``band/band`` by ``data`` (another dtype), dimension scales re-attached."""
    group = f[band]
    old = group[band]
    scales = [old.dims[i][0] for i in range(old.ndim)]
    for i, scale in enumerate(scales):
        old.dims[i].detach_scale(scale)
    del group[band]
    new = group.create_dataset(band, data=data)
    for i, scale in enumerate(scales):
        new.dims[i].attach_scale(scale)


def tif(folder: str, value: float):
    def change(arr: np.ndarray, profile: dict) -> tuple[np.ndarray, dict]:
        out = arr.astype(np.float32)
        out[0, 0, :3] = value
        return out, {**profile, "dtype": "float32"}

    return lambda root: edit_tif(first_tif(root, folder), change)


S2, S1 = ("S2",), ("S1",)  # MultiSenGE cases read one modality (fewer files)
C1, C2, C3, C4, C9 = ((0, c, 0, 0) for c in (1, 2, 3, 4, 9))  # one cell of band (channel) c
CASES = [
    # PASTIS .npy series: refused with the file, the count and the band
    Case("pastis-s2-nan", "pastis", npy(PASTIS_S2, np.nan), ("1 NaN, 0 inf", "band 'B2'")),
    Case("pastis-s2-inf", "pastis", npy(PASTIS_S2, np.inf), ("0 NaN, 1 inf", "band 'B2'")),
    Case("pastis-s2-neg-inf", "pastis", npy(PASTIS_S2, -np.inf, at=C3), ("1 inf", "'B5'")),
    Case("pastis-s2-f16-overflow", "pastis", npy(PASTIS_S2, 1e39, np.float16), ("1 inf",)),
    Case("pastis-s2-3e38", "pastis", npy(PASTIS_S2, 3e38), ("'B2'", "-32768..65535", "3e+38")),
    Case("pastis-s2-neg-huge", "pastis", npy(PASTIS_S2, -5e6, at=C9), ("'B12'", "-5e+06")),
    Case("pastis-s2-int32-huge", "pastis", npy(PASTIS_S2, 2**30, np.int32), ("1.07374e+09",)),
    Case("pastis-first-patch-3e38", "pastis", npy(PASTIS_FIRST_S2, 3e38), ("3e+38",)),
    Case("pastis-s1a-nan", "pastis", npy(PASTIS_S1A, np.nan, None), ("1 NaN", "band 'VV'")),
    Case("pastis-s1a-1e5-db", "pastis", npy(PASTIS_S1A, 1e5, None, C1), ("'VH'", "e.g. 100000")),
    Case("pastis-s1d-neg-2e4", "pastis", npy(PASTIS_S1D, -2e4, None, C2), ("'VV/VH'",)),
    Case(
        "pastis-parcels-s2-nan",
        "pastis",
        npy(PASTIS_S2, np.nan, at=(0, 0, slice(None), slice(None))),
        ("NaN",),
        (("task", "parcel"),),
    ),
    # pixel sets .npy: refused with the file, the count and the band
    Case("pixelset-nan", "pixelset", npy(PIXELSET_NPY, np.nan, None, C4), ("1 NaN", "band 4")),
    Case("pixelset-inf", "pixelset", npy(PIXELSET_NPY, np.inf, None), ("1 inf",)),
    Case("pixelset-3e38", "pixelset", npy(PIXELSET_NPY, 3e38, None, C1), ("band 1", "3e+38")),
    Case("pixelset-f64-1e39", "pixelset", npy(PIXELSET_NPY, 1e39, np.float64), ("1e+39",)),
    # long tables: the column, the row, the file line and the count
    Case("long-inf", "long", cell(1, "B02", "inf"), ("'B02', row 1 (file line 3)", "infinite")),
    Case("long-neg-inf", "long", cell(2, "B03", "-inf"), ("'B03', row 2", "infinite")),
    Case("long-text", "long", cell(0, "B02", "abc"), ("'B02', row 0", "non-numeric value 'abc'")),
    Case("long-comma", "long", cell(3, "B03", '"1,5"'), ("'B03', row 3", "decimal comma")),
    Case("long-1e39", "long", cell(0, "B03", "1e39"), ("'B03', row 0", "1e+39", "plausible")),
    Case("long-3e38", "long", cell(1, "B02", "3e38"), ("'B02', row 1", "3e+38")),
    Case("long-1e400", "long", cell(1, "B02", "1e400"), ("'B02', row 1", "infinite")),
    Case("long-nan", "long", cell(2, "B02", "nan"), ("NaN band values", "band 'B02'")),
    Case("long-text-all-rows", "long", cell(0, "B03", "x"), ("'B03'", "1 such cell")),
    # wide tables
    Case("wide-text", "wide", cell(0, "t0_b1", "abc"), ("row 0", "'t0_b1'", "'abc'")),
    Case("wide-inf", "wide", cell(1, "t1_b0", "inf"), ("row 1", "'t1_b0'")),
    Case("wide-1e39", "wide", cell(1, "t0_b0", "1e39"), ("'t0_b0'", "1e+39", "plausible")),
    Case("wide-3e38", "wide", cell(0, "t1_b1", "-3e38"), ("'t1_b1'", "-3e+38")),
    # OAD tables: every statistic of every modality, and integer keys
    Case("oad-nan", "oad", cell(0, "mean", ""), ("'mean', row 0", "missing (NaN)")),
    Case(
        "oad-std-inf",
        "oad",
        cell(3, "std", "inf"),
        ("'std', row 3", "infinite"),
        (("stat", "mean_std"),),
    ),
    Case("oad-text", "oad", cell(2, "mean", "abc"), ("'mean', row 2", "'abc'")),
    Case("oad-1e39", "oad", cell(1, "mean", "1e39"), ("'mean', row 1", "1e+39")),
    Case("oad-s1-1e5", "oad", cell(4, "mean", "1e5"), ("'mean', row 4", "Sentinel-1")),
    Case("oad-fractional-date", "oad", cell(0, "date", "10.5"), ("'date', row 0", "integer")),
    Case("oad-fractional-band", "oad", cell(0, "band", "0.5"), ("'band'", "integer")),
    # JRC per-parcel statistics (NaN is the on_nan policy's: tests/data/readers/test_jrc.py)
    Case("jrc-inf", "jrc", jrc_cell("s2", 0, "MEAN", "inf"), ("'MEAN', row 0", "infinite")),
    Case("jrc-1e39", "jrc", jrc_cell("s2", 1, "STD.DEV", "1e39"), ("'STD.DEV', row 1",)),
    Case("jrc-3e38", "jrc", jrc_cell("s2", 2, "MEAN", "3e38"), ("3e+38",)),
    Case("jrc-s1-neg-2e4", "jrc", jrc_cell("s1_bs", 0, "MEAN", "-2e4"), ("Sentinel-1",)),
    # Sen4AgriNet netCDF bands without a fill value: refused
    Case("s4a-nan", "sen4agrinet", s4a_band(np.nan), ("2 NaN", "'B02'")),
    # B05 is a 20 m band: its 2 native pixels are 8 pixels of the 10 m window read
    Case("s4a-inf", "sen4agrinet", s4a_band(np.inf, "B05"), ("8 inf", "'B05'")),
    Case("s4a-3e38", "sen4agrinet", s4a_band(3e38, "B01"), ("'B01'", "3e+38")),
    # MultiSenGE GeoTIFFs
    Case("msg-s2-nan", "multisenge", tif("s2", np.nan), ("3 NaN", "'B2'"), (("modalities", S2),)),
    Case("msg-s2-inf", "multisenge", tif("s2", np.inf), ("3 inf",), (("modalities", S2),)),
    Case("msg-s2-3e38", "multisenge", tif("s2", 3e38), ("'B2'", "3e+38"), (("modalities", S2),)),
    Case("msg-s1-1e5", "multisenge", tif("s1", 1e5), ("'VV'", "100000"), (("modalities", S1),)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_value_refused(case: Case, valid: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    root = copy_of(valid, case.name, tmp_path)
    path = case.edit(root)
    refused(case.name, root, path, *case.words, **dict(case.options))


# ---- MASK: legitimate no-data of a format with a mask --------------------------------------


def _fill(value: float, as_float: bool) -> Callable[[Any], None]:
    """B02 with ``_FillValue`` ``value`` in 3 pixels of date 1 (as float32 when asked)."""

    def change(f: Any) -> None:
        data = f["B02/B02"][...]
        if as_float:
            data = data.astype(np.float32)
        data[1, 2, :3] = value
        if as_float:
            _replace_dataset(f, "B02", data)
        else:
            f["B02/B02"][...] = data
        f["B02/B02"].attrs["_FillValue"] = np.asarray(value, dtype=data.dtype)

    return change


@pytest.mark.parametrize(("value", "as_float"), [(0, False), (np.nan, True)], ids=["zero", "nan"])
def test_fill_values_masked_with_a_count(
    value: float,
    as_float: bool,
    valid: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    root = copy_of(valid, "sen4agrinet", tmp_path)
    path = edit_netcdf(root / S4A_FILE, _fill(value, as_float))
    reader = reader_class("sen4agrinet").open(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sample = reader[0]
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"{path}: band B02: 3 fill value(s)"), messages[0]
    assert "masked as missing observations" in messages[0]
    ts = sample["S2"]
    assert ts.mask is not None and ts.mask.shape == (ts.values.shape[0], 12, 12)
    assert int((~ts.mask).sum()) == 3 and not bool(ts.mask[1, 2, :3].any())
    assert bool(ts.values.isfinite().all())  # masked pixels hold 0, never NaN


def test_no_fill_value_no_mask(valid: dict[str, Path]) -> None:  # noqa: F811
    """A file without ``_FillValue`` (the simulator's) gets no mask and no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        sample = read_all("sen4agrinet", valid["sen4agrinet"])[0]
    assert sample["S2"].mask is None
