"""Tests for :class:`sitsfusion.data.readers.tables.WideTableDataset`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from paths import SHARED_DATA
from sitsfusion.config import DataConfig
from sitsfusion.data import collate
from sitsfusion.data.modules import SITSDataModule
from sitsfusion.data.readers.tables import WideTableDataset
from sitsfusion.errors import DatasetError

FORMOSAT2 = SHARED_DATA / "tempcnn_formosat2"

# 4 samples, T = 3 dates, C = 2 bands; value of sample i, date t, band c = 100 i + 10 t + c
N, T, C = 4, 3, 2
LABELS = ["crop", "forest", "crop", "water"]
POLYGONS = [7, 7, 9, 11]
CUBE = np.array([[[100 * i + 10 * t + c for c in range(C)] for t in range(T)] for i in range(N)])


def wide_frame(layout: str = "date_major") -> pd.DataFrame:
    """label, id, polygon, then the T x C values in ``layout`` order (with a header)."""
    if layout == "date_major":
        names = [f"t{t}_b{c}" for t in range(T) for c in range(C)]
        values = CUBE.reshape(N, T * C)
    else:
        names = [f"b{c}_t{t}" for c in range(C) for t in range(T)]
        values = CUBE.transpose(0, 2, 1).reshape(N, T * C)
    frame = pd.DataFrame(values.astype(float), columns=names)
    frame.insert(0, "polygon", POLYGONS)
    frame.insert(0, "id", [f"s{i}" for i in range(N)])
    frame.insert(0, "label", LABELS)
    return frame


def write_csv(tmp_path: Path, frame: pd.DataFrame, header: bool, name: str = "t.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False, header=header)
    return path


def check_cube(ds: WideTableDataset) -> None:
    assert len(ds) == N
    for i in range(N):
        ts = ds[i]["S2"]
        assert ts.values.dtype == torch.float32
        assert ts.values.shape == (T, C, 1)
        assert ts.dates.dtype == torch.int64
        np.testing.assert_array_equal(ts.values[..., 0].numpy(), CUBE[i])


def test_date_major_without_header(tmp_path: Path) -> None:
    path = write_csv(tmp_path, wide_frame(), header=False)
    ds = WideTableDataset(path, n_bands=C, id_column=1, cluster_column=2)
    check_cube(ds)
    assert ds.class_names == ["crop", "forest", "water"]
    assert ds.labels.dtype == np.int64
    assert ds.labels.tolist() == [0, 1, 0, 2]
    assert ds.ids == ["s0", "s1", "s2", "s3"]
    assert ds.clusters is not None and ds.clusters.tolist() == POLYGONS
    assert ds.bands == ["B0", "B1"]
    assert ds.num_dates == T and ds.dates.tolist() == [0, 1, 2]
    s = ds[3]
    assert s.label == 2
    assert s["S2"].dates.tolist() == [0, 1, 2]
    assert s.meta == {
        "id": "s3",
        "cluster": 11,
        "label_name": "water",
        "reference_date": None,
        "dataset": "wide_table",
    }
    assert ds[-1].meta["id"] == "s3"
    with pytest.raises(IndexError):
        ds[N]


def test_band_major_with_header_and_named_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path, wide_frame("band_major"), header=True)
    ds = WideTableDataset(
        path,
        n_bands=C,
        band_names=["NIR", "RED"],
        label_column="label",
        id_column="id",
        cluster_column="polygon",
        layout="band_major",
    )
    check_cube(ds)
    assert ds.bands == ["NIR", "RED"]
    assert ds.ids == ["s0", "s1", "s2", "s3"]
    # read as date-major, the same file scrambles bands and dates: the layout matters
    wrong = WideTableDataset(path, n_bands=C, id_column="id", cluster_column="polygon")
    assert not np.array_equal(wrong[1]["S2"].values[..., 0].numpy(), CUBE[1])


def test_header_detection(tmp_path: Path) -> None:
    with_header = write_csv(tmp_path, wide_frame(), header=True, name="h.csv")
    ds = WideTableDataset(with_header, n_bands=C, id_column=1, cluster_column=2)  # detected
    check_cube(ds)
    assert ds.clusters is not None and ds.clusters.tolist() == POLYGONS
    with pytest.raises(DatasetError, match=r"row 0 \(file line 1\), column 3: 't0_b0'"):
        WideTableDataset(with_header, n_bands=C, id_column=1, cluster_column=2, header=False)
    without = write_csv(tmp_path, wide_frame(), header=False, name="n.csv")
    with pytest.raises(DatasetError, match="by name but header=False"):
        WideTableDataset(without, n_bands=C, label_column="label", header=False)


def test_without_id_and_cluster_columns(tmp_path: Path) -> None:
    frame = wide_frame().drop(columns=["id", "polygon"])
    ds = WideTableDataset(write_csv(tmp_path, frame, header=False), n_bands=C)
    check_cube(ds)
    assert ds.ids == [0, 1, 2, 3]  # row numbers
    assert ds.clusters is None
    assert ds[0].meta["cluster"] is None


def test_parquet_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = wide_frame()
    csv = write_csv(tmp_path, frame, header=True)
    parquet = tmp_path / "t.parquet"
    frame.to_parquet(parquet, index=False)
    kwargs = {"n_bands": C, "id_column": "id", "cluster_column": "polygon"}
    from_csv, from_parquet = WideTableDataset(csv, **kwargs), WideTableDataset(parquet, **kwargs)
    check_cube(from_parquet)
    assert from_parquet.ids == from_csv.ids
    assert from_parquet.labels.tolist() == from_csv.labels.tolist()
    assert from_parquet.class_names == from_csv.class_names
    assert from_parquet.clusters is not None
    assert from_parquet.clusters.tolist() == POLYGONS
    for i in range(N):
        assert torch.equal(from_parquet[i]["S2"].values, from_csv[i]["S2"].values)


def test_dates_iso_offsets_and_reference(tmp_path: Path) -> None:
    path = write_csv(tmp_path, wide_frame(), header=True)
    kw = {"n_bands": C, "id_column": "id", "cluster_column": "polygon"}
    iso = WideTableDataset(path, dates=["2006-02-14", "2006-02-16", "2006-03-01"], **kw)
    assert iso.dates.tolist() == [0, 2, 15]
    assert iso[0].meta["reference_date"] == "2006-02-14"
    ref = WideTableDataset(
        path, dates=["2006-02-14", "2006-02-16", "2006-03-01"], reference_date="2006-01-01", **kw
    )
    assert ref.dates.tolist() == [44, 46, 59]
    assert ref[2].meta["reference_date"] == "2006-01-01"
    offsets = WideTableDataset(path, dates=[0, 5, 10], **kw)
    assert offsets[1]["S2"].dates.tolist() == [0, 5, 10]
    assert offsets[1].meta["reference_date"] is None
    with pytest.raises(DatasetError, match=r"2 dates given but the table holds T = 3"):
        WideTableDataset(path, dates=[0, 1], **kw)
    with pytest.raises(DatasetError, match="strictly increasing"):
        WideTableDataset(path, dates=[0, 4, 4], **kw)
    with pytest.raises(DatasetError, match="unparsable date"):
        WideTableDataset(path, dates=["2006-02-14", "yesterday", "2006-03-01"], **kw)


def test_classes_sequence_mapping_and_unknown_label(tmp_path: Path) -> None:
    path = write_csv(tmp_path, wide_frame(), header=True)
    kw = {"n_bands": C, "id_column": "id", "cluster_column": "polygon"}
    ds = WideTableDataset(path, classes=["water", "forest", "crop", "urban"], **kw)
    assert ds.class_names == ["water", "forest", "crop", "urban"]
    assert ds.labels.tolist() == [2, 1, 2, 0]
    with pytest.raises(DatasetError, match=r"label\(s\) \['water'\] not in classes"):
        WideTableDataset(path, classes=["crop", "forest"], **kw)
    # numeric labels: a mapping names them; 1.0 and 1 are one label
    numeric = wide_frame()
    numeric["label"] = [1.0, 0.0, 1.0, 2.0]
    path = write_csv(tmp_path, numeric, header=True, name="num.csv")
    ds = WideTableDataset(path, classes={0: "wheat", 1: "barley", 2: "rapeseed"}, **kw)
    assert ds.class_names == ["wheat", "barley", "rapeseed"]
    assert ds.labels.tolist() == [1, 0, 1, 2]
    assert ds[3].meta["label_name"] == "rapeseed"
    default = WideTableDataset(path, **kw)
    assert default.class_names == ["0", "1", "2"]


def test_ids_selection_and_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path, wide_frame(), header=True)
    kw = {"n_bands": C, "id_column": "id", "cluster_column": "polygon"}
    ds = WideTableDataset(path, ids=["s3", "s1"], **kw)
    assert ds.ids == ["s1", "s3"]  # file order
    assert ds.clusters is not None and ds.clusters.tolist() == [7, 11]
    np.testing.assert_array_equal(ds[1]["S2"].values[..., 0].numpy(), CUBE[3])
    with pytest.raises(DatasetError, match=r"not in the table: \['s9'\]"):
        WideTableDataset(path, ids=["s1", "s9"], **kw)
    numeric = wide_frame()
    numeric["id"] = [17, 3, 25, 4]
    ds = WideTableDataset(write_csv(tmp_path, numeric, True, "num.csv"), ids=[4, "17"], **kw)
    assert ds.ids == [17, 4] and ds[1].meta["id"] == 4  # integer ids stay integers
    dup = wide_frame()
    dup.loc[2, "id"] = "s0"
    with pytest.raises(DatasetError, match=r"duplicate sample id\(s\) \['s0'\]"):
        WideTableDataset(write_csv(tmp_path, dup, True, "dup.csv"), **kw)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing") as info:
        WideTableDataset(tmp_path / "absent.csv", n_bands=C)
    assert info.value.path == tmp_path / "absent.csv"
    with pytest.raises(DatasetError, match="missing"):
        WideTableDataset(tmp_path / "absent.parquet", n_bands=C)
    path = write_csv(tmp_path, wide_frame(), header=True)
    with pytest.raises(DatasetError, match=r"7 value columns is not a multiple of n_bands=2"):
        WideTableDataset(path, n_bands=C, id_column="id")  # the polygon counted as a value
    with pytest.raises(DatasetError, match=r"not a multiple of n_bands=4"):
        WideTableDataset(path, n_bands=4, id_column="id", cluster_column="polygon")
    with pytest.raises(DatasetError, match=r"cluster column 'field' not in"):
        WideTableDataset(path, n_bands=C, cluster_column="field")
    with pytest.raises(DatasetError, match=r"id column 12 out of range"):
        WideTableDataset(path, n_bands=C, id_column=12)
    with pytest.raises(ValueError, match="must differ"):
        WideTableDataset(path, n_bands=C, id_column="id", cluster_column="id")
    with pytest.raises(ValueError, match="duplicate label values"):
        WideTableDataset(path, n_bands=C, id_column=1, cluster_column=2, classes=["crop", "crop"])
    with pytest.raises(ValueError, match="layout"):
        WideTableDataset(path, n_bands=C, layout="time_major")  # type: ignore[arg-type]


def test_nan_and_non_numeric_values_name_row_and_column(tmp_path: Path) -> None:
    kw = {"n_bands": C, "id_column": "id", "cluster_column": "polygon"}
    frame = wide_frame().astype({"t1_b0": object, "t2_b1": object})
    frame.loc[2, "t1_b0"] = np.nan  # an empty CSV cell
    path = write_csv(tmp_path, frame, header=True, name="nan.csv")
    with pytest.raises(DatasetError, match=r"first at row 2 \(file line 4\), column 5 't1_b0'"):
        WideTableDataset(path, **kw)
    frame = wide_frame().astype({"t2_b1": object})
    frame.loc[1, "t2_b1"] = "n/a"
    path = write_csv(tmp_path, frame, header=True, name="text.csv")
    with pytest.raises(DatasetError, match=r"row 1 \(file line 3\), column 8 't2_b1': 'n/a'"):
        WideTableDataset(path, **kw)
    frame = wide_frame().astype({"label": object})
    frame.loc[3, "label"] = ""
    path = write_csv(tmp_path, frame, header=True, name="nolabel.csv")
    with pytest.raises(DatasetError, match=r"1 missing label\(s\); first at row 3"):
        WideTableDataset(path, **kw)


def test_transform_collate_and_datamodule_keep_clusters_together(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n, polygons = 60, np.repeat(np.arange(20), 3)  # 20 polygons of 3 pixels
    labels = polygons % 3
    values = rng.normal(size=(n, T * C)) + labels[:, None]
    frame = pd.DataFrame(values)
    frame.insert(0, "polygon", polygons)
    frame.insert(0, "label", labels)
    path = tmp_path / "pool.csv"
    frame.to_csv(path, index=False, header=False)

    ds = WideTableDataset(
        path,
        n_bands=C,
        cluster_column=1,
        transform=lambda s: s.replace(meta={**s.meta, "seen": True}),
    )
    assert ds[0].meta["seen"] is True
    batch = collate([ds[i] for i in range(5)])
    assert batch["S2"].values.shape == (5, T, C, 1)
    assert batch.label is not None and batch.label.tolist() == labels[:5].tolist()

    cfg = DataConfig(
        format="wide_table",
        root=str(path),
        reader={"n_bands": C, "cluster_column": 1},
        split="kfold",
        n_folds=5,
        fold=1,
        normalize="zscore",
        batch_size=8,
    )
    dm = SITSDataModule(cfg)
    dm.setup()
    assert dm.channels == {"S2": C} and dm.class_names == ["0", "1", "2"]
    parts = [np.asarray(d.indices) for d in (dm.train, dm.val, dm.test)]  # type: ignore[union-attr]
    assert sum(p.size for p in parts) == n
    owners = [set(polygons[p].tolist()) for p in parts]
    assert not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])
    x = torch.stack([dm.train[i]["S2"].values for i in range(len(dm.train))])  # type: ignore[index,arg-type]
    assert torch.allclose(x.mean(dim=(0, 1, 3)), torch.zeros(C), atol=1e-5)  # z-scored


@pytest.mark.skipif(not FORMOSAT2.is_dir(), reason=f"real data absent: {FORMOSAT2}")
def test_real_formosat2_files() -> None:
    kw = {"n_bands": 3, "band_names": ["NIR", "R", "G"], "cluster_column": 1}
    train = WideTableDataset(FORMOSAT2 / "train_dataset.csv", **kw)
    test = WideTableDataset(FORMOSAT2 / "test_dataset.csv", **kw)
    raw = pd.read_csv(FORMOSAT2 / "train_dataset.csv", header=None)
    for ds in (train, test):
        assert len(ds) == 260
        assert ds.class_names == [str(k) for k in range(13)]
        assert np.bincount(ds.labels).tolist() == [20] * 13
        assert ds.num_dates == 149 and ds.dates.tolist() == list(range(149))
        assert ds[0]["S2"].values.shape == (149, 3, 1)
    # date-major: column 2 + 3 t + c holds date t, band c (the TempCNN code's reshape)
    for row, t, c in ((0, 0, 0), (5, 100, 2), (259, 148, 1), (131, 57, 0)):
        expected = raw.iat[row, 2 + 3 * t + c]
        assert train[row]["S2"].values[t, c, 0].item() == pytest.approx(expected, rel=1e-6)
        assert train[row].label == raw.iat[row, 0]
    assert train.clusters is not None
    assert train.clusters.tolist() == raw[1].tolist()  # polygon ids
    assert len(set(train.clusters.tolist())) == 149
    # NIR is the brightest band of vegetation on average: the band order is NIR, R, G
    means = torch.stack([train[i]["S2"].values for i in range(len(train))]).mean(dim=(0, 1, 3))
    assert means[0] > means[1] and means[0] > means[2]
