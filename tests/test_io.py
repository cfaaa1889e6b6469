"""The shared file helpers: checked ``.npy`` / JSON reads and atomic writes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from sitsfusion.errors import DatasetError
from sitsfusion.io import (
    check_finite,
    load_npy,
    read_json,
    read_npy_header,
    save_npy_atomic,
    write_json_atomic,
)


def test_save_and_load_round_trip_c_and_fortran_order(tmp_path: Path) -> None:
    arr = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    for order, name in (("C", "c.npy"), ("F", "f.npy")):
        path = save_npy_atomic(tmp_path / name, np.asarray(arr, order=order))
        header = read_npy_header(path)
        assert header.shape == (2, 3, 4) and header.dtype == np.int16
        assert header.fortran == (order == "F")
        np.testing.assert_array_equal(load_npy(path), arr)
        mapped = load_npy(path, mmap=True, header=header)
        np.testing.assert_array_equal(np.asarray(mapped), arr)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_non_numeric_dtype_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match=r"obj\.npy: wrong dtype object for a mask"):
        load_npy(path, what="a mask")
    with pytest.raises(DatasetError, match="wrong dtype"):
        load_npy(path, mmap=True)


def test_truncated_corrupt_and_missing_files(tmp_path: Path) -> None:
    path = save_npy_atomic(tmp_path / "x.npy", np.zeros((10, 10), np.float32))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) - 40])
    with pytest.raises(
        DatasetError, match=r"x\.npy: corrupt or truncated .npy file \(90 of the 100"
    ):
        load_npy(path)
    path.write_bytes(b"not an npy file at all")
    with pytest.raises(DatasetError, match="corrupt or truncated"):
        read_npy_header(path)
    with pytest.raises(DatasetError, match=r"gone\.npy: missing"):
        load_npy(tmp_path / "gone.npy")


def test_check_finite_counts_nan_and_inf(tmp_path: Path) -> None:
    check_finite(tmp_path / "a.npy", np.array([1, 2], dtype=np.int64))
    with pytest.raises(DatasetError, match=r"a\.npy: holds NaN/inf values \(2 NaN, 1 inf\)"):
        check_finite(tmp_path / "a.npy", np.array([np.nan, np.nan, np.inf, 0.0]))


def test_json_round_trip_and_errors(tmp_path: Path) -> None:
    path = write_json_atomic(tmp_path / "sub" / "a.json", {"k": [1, 2]})
    assert path.read_text().endswith("\n") and read_json(path) == {"k": [1, 2]}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"bad\.json: not a readable JSON file"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(DatasetError, match="missing"):
        read_json(tmp_path / "none.json")


def test_pickles_are_never_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_npy_atomic(tmp_path / "p.npy", np.array([pickle], dtype=object))
    assert not (tmp_path / "p.npy").exists()
