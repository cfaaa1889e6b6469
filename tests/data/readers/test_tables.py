"""Tests for :class:`sitsfusion.data.readers.tables.LongTableDataset`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from paths import REPO
from sitsfusion.data import collate
from sitsfusion.data.readers.tables import LongTableDataset
from sitsfusion.errors import DatasetError

REAL = REPO / ".." / "shared" / "data" / "sits_s2_rondonia" / "samples_S2_T20LKP_2018_2019.csv"

HEADER = "sample_id,label,longitude,latitude,date,B02,NDVI\n"
# Rows deliberately out of order; sample 7 has 3 dates, sample 2 has 1, sample 5 has 2.
ROWS = [
    "7,Forest,-64.1,-10.1,2018-01-11,0.3,0.9",
    "2,Water,-64.2,-10.2,2018-01-06,0.5,0.1",
    "7,Forest,-64.1,-10.1,2018-01-01,0.1,0.7",
    "5,Crop,-64.3,-10.3,2018-01-21,0.6,0.4",
    "7,Forest,-64.1,-10.1,2018-01-06,0.2,0.8",
    "5,Crop,-64.3,-10.3,2018-01-01,0.7,0.5",
]


def write(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "tiny.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def test_tiny_table(tmp_path: Path) -> None:
    ds = LongTableDataset(write(tmp_path, ROWS))
    assert len(ds) == 3
    assert ds.ids == [2, 5, 7]
    assert ds.bands == ["B02", "NDVI"]
    assert ds.class_names == ["Crop", "Forest", "Water"]
    assert ds.labels.dtype == np.int64
    assert ds.labels.tolist() == [2, 0, 1]

    s = ds[2]
    ts = s["S2"]
    assert ts.values.dtype == torch.float32
    assert ts.values.shape == (3, 2, 1)
    assert ts.dates.dtype == torch.int64
    assert ts.dates.tolist() == [0, 5, 10]
    expected = torch.tensor([[0.1, 0.7], [0.2, 0.8], [0.3, 0.9]])
    assert torch.allclose(ts.values[..., 0], expected)
    assert s.label == 1
    assert s.meta == {
        "id": 7,
        "label_name": "Forest",
        "longitude": -64.1,
        "latitude": -10.1,
        "reference_date": "2018-01-01",
        "dataset": "long_table",
    }
    assert ds[0]["S2"].dates.tolist() == [5]
    assert ds[1]["S2"].dates.tolist() == [0, 20]


def test_options(tmp_path: Path) -> None:
    path = write(tmp_path, ROWS)
    ds = LongTableDataset(
        path,
        bands=["NDVI"],
        modality="S2L2A",
        classes=["Water", "Forest", "Crop"],
        reference_date="2017-12-31",
        ids=[7, 5],
        transform=lambda s: s.replace(meta={**s.meta, "seen": True}),
    )
    assert ds.ids == [5, 7]
    assert ds.labels.tolist() == [2, 1]
    s = ds[-1]
    assert s["S2L2A"].values.shape == (3, 1, 1)
    assert s["S2L2A"].dates.tolist() == [1, 6, 11]
    assert s.meta["seen"] and s.meta["reference_date"] == "2017-12-31"


def test_collate(tmp_path: Path) -> None:
    ds = LongTableDataset(write(tmp_path, ROWS))
    batch = collate([ds[0], ds[2]])
    ps = batch["S2"]
    assert ps.values.shape == (2, 3, 2, 1)
    assert ps.lengths.tolist() == [1, 3]
    assert batch.label.tolist() == [2, 1]


def test_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pandas as pd

    pq = tmp_path / "tiny.parquet"
    pd.read_csv(write(tmp_path, ROWS)).to_parquet(pq)
    ds = LongTableDataset(pq)
    assert len(ds) == 3 and ds[2]["S2"].dates.tolist() == [0, 5, 10]


def _bad(tmp_path: Path, rows: list[str], header: str = HEADER, **kwargs: object) -> str:
    path = write(tmp_path, rows, header, name="bad_table.csv")
    with pytest.raises(DatasetError) as info:
        LongTableDataset(path, **kwargs)
    assert "bad_table.csv" in str(info.value)
    return str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nowhere\.csv"):
        LongTableDataset(tmp_path / "nowhere.csv")


def test_missing_columns(tmp_path: Path) -> None:
    header = "id,class,longitude,latitude,date,B02,NDVI\n"
    msg = _bad(tmp_path, ROWS, header)
    assert "sample_id" in msg and "label" in msg
    msg = _bad(tmp_path, ROWS, bands=["B02", "B99"])
    assert "B99" in msg


def test_unparsable_dates(tmp_path: Path) -> None:
    rows = [*ROWS[:-1], "5,Crop,-64.3,-10.3,not-a-date,0.7,0.5"]
    assert "not-a-date" in _bad(tmp_path, rows)


def test_duplicate_rows(tmp_path: Path) -> None:
    rows = [*ROWS, "7,Forest,-64.1,-10.1,2018-01-06,0.2,0.8"]
    msg = _bad(tmp_path, rows)
    assert "duplicate" in msg and "'7'" in msg and "2018-01-06" in msg


def test_nan_band(tmp_path: Path) -> None:
    rows = [*ROWS[:-1], "5,Crop,-64.3,-10.3,2018-01-01,,0.5"]
    msg = _bad(tmp_path, rows)
    assert "NaN" in msg and "id 5" in msg and "2018-01-01" in msg and "B02" in msg


def test_label_changes(tmp_path: Path) -> None:
    rows = [*ROWS[:-1], "5,Forest,-64.3,-10.3,2018-01-01,0.7,0.5"]
    msg = _bad(tmp_path, rows)
    assert "label changes" in msg and "'5'" in msg


def test_unknown_label(tmp_path: Path) -> None:
    msg = _bad(tmp_path, ROWS, classes=["Forest", "Crop"])
    assert "Water" in msg


def test_unknown_id(tmp_path: Path) -> None:
    assert "99" in _bad(tmp_path, ROWS, ids=[7, 99])


def test_real_table() -> None:
    if not REAL.is_file():
        pytest.skip(f"{REAL} not available")
    ds = LongTableDataset(REAL)
    assert len(ds) == 481
    assert sorted(ds.bands) == sorted(
        ["B02", "B03", "B07", "B08", "B8A", "B11", "B12", "EVI", "NDVI", "NDMI", "SAVI"]
    )
    counts = Counter(ds.class_names[k] for k in ds.labels)
    assert counts == {"NonForest": 295, "Forest": 144, "Deforestation": 42}
    for i in (0, 240, 480):
        ts = ds[i]["S2"]
        assert ts.values.shape == (36, 11, 1)
        assert torch.isfinite(ts.values).all()
    assert np.all(np.diff(ds._offsets) == 36)
    assert ds[0].meta["dataset"] == "long_table" and "longitude" in ds[0].meta
