"""Tests of the pixel-set reader and writer (``sitsfusion.data.readers.pixelset``)."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from pixelset_fixture import (
    encode,
    pixel_of,
    write_global,
    write_per_parcel,
    write_two_sensor,
)

from paths import SHARED_DATA
from sitsfusion.data import Sample, TimeSeries, collate
from sitsfusion.data.readers.pixelset import PixelSetDataset, export_pixelsets, read_meanstd
from sitsfusion.data.transforms import Normalize
from sitsfusion.errors import DatasetError

KARNATAKA = SHARED_DATA / "pixelset_karnataka_hls"


def days(dates: list[date], reference: date) -> list[int]:
    return [(d - reference).days for d in dates]


# --------------------------------------------------------------------------------------------
# the three layouts
# --------------------------------------------------------------------------------------------


def test_layout_a_global_dates(tmp_path: Path) -> None:
    w = write_global(tmp_path)
    ds = PixelSetDataset(tmp_path, nomenclature="label_44class", n_pixels=None)
    assert ds.variant == "global_dates"
    assert ds.ids == ("1", "2", "7", "10")  # natural order
    assert len(ds) == 4 and ds.modalities == ("S2",)
    assert ds.reference_date == "2017-01-05"
    for i, pid in enumerate(ds.ids):
        s = ds[i]
        k = list(w.codes).index(pid)
        ts = s["S2"]
        assert ts.values.dtype == torch.float32
        assert ts.values.shape == (6, 10, w.n_real[pid])
        np.testing.assert_array_equal(ts.values.numpy(), encode(k, 6, 10, w.n_real[pid]))
        assert ts.dates.tolist() == days(w.dates[pid], date(2017, 1, 5))
        assert ts.dates.dtype == torch.int64
        assert ts.mask is not None and ts.mask.shape == (6, w.n_real[pid]) and bool(ts.mask.all())
        assert s.meta["id"] == pid and s.meta["code"] == w.codes[pid]
        assert s.meta["layout"] == "global_dates" and s.meta["dataset"] == "pixelset"
        assert s.meta["reference_date"] == "2017-01-05"
        assert s.meta["geomfeat"].tolist() == w.geomfeat[pid]
    assert ds.parcels["n_dates_S2"].tolist() == [6] * 4


def test_layout_b_per_parcel_dates(tmp_path: Path) -> None:
    w = write_per_parcel(tmp_path)
    ds = PixelSetDataset(tmp_path, n_pixels=None)  # the only nomenclature is chosen
    assert ds.nomenclature == "CODE_GROUP"
    assert ds.variant == "per_parcel_dates"
    assert ds.reference_date == "2024-10-25"
    ts = {pid: ds[i]["S2"] for i, pid in enumerate(ds.ids)}
    for pid in w.ids:
        assert ts[pid].dates.tolist() == days(w.dates[pid], date(2024, 10, 25))
        assert ts[pid].values.shape == (len(w.dates[pid]), 10, w.n_stored[pid])
    assert len({len(t.dates) for t in ts.values()}) == 4  # each parcel its own T


def test_layout_b_yyyymmdd_ints(tmp_path: Path) -> None:
    w = write_per_parcel(tmp_path, iso=False)
    ds = PixelSetDataset(tmp_path, reference_date="2024-10-01")
    assert ds[0]["S2"].dates.tolist() == days(w.dates[ds.ids[0]], date(2024, 10, 1))


@pytest.mark.parametrize("how", ["mapping", "region", "parent"])
def test_layout_c_two_sensors(tmp_path: Path, how: str) -> None:
    w = write_two_sensor(tmp_path / "ctm")
    if how == "mapping":
        root: object = {"S1": w["s1_data"].root, "S2": w["s2_data"].root}
    elif how == "region":
        root = tmp_path / "ctm" / "s2_data" / "Chateaulin"  # mirror found from either sensor
    else:
        (tmp_path / "flat").mkdir()
        for sensor in ("s1_data", "s2_data"):  # DATA/META directly under s*_data
            shutil.move(tmp_path / "ctm" / sensor / "Chateaulin", tmp_path / "flat" / sensor)
        root = tmp_path / "flat"
    ds = PixelSetDataset(root, n_pixels=4, sample_pixels="fixed")  # type: ignore[arg-type]
    assert ds.variant == "multi_sensor"
    assert set(ds.modalities) == {"S1", "S2"}
    assert ds.num_channels("S1") == 2 and ds.num_channels("S2") == 10
    assert ds.reference_date == "2018-10-01"  # the earliest date of both sensors
    for i, pid in enumerate(ds.ids):
        s = ds[i]
        s1, s2 = s["S1"], s["S2"]
        assert s1.values.shape[1:] == (2, 4) and s2.values.shape[1:] == (10, 4)
        assert s1.num_dates != s2.num_dates
        assert s1.dates.tolist() == days(w["s1_data"].dates[pid], date(2018, 10, 1))
        assert s2.dates.tolist() == days(w["s2_data"].dates[pid], date(2018, 10, 1))
        # the same pixels, in the same order, in both sensors
        np.testing.assert_array_equal(pixel_of(s1.values), pixel_of(s2.values))
        assert s.meta["layout"] == "multi_sensor"


def test_layout_c_parent_with_regions_names_them(tmp_path: Path) -> None:
    write_two_sensor(tmp_path, region="Morlaix")
    with pytest.raises(DatasetError, match="Morlaix") as err:
        PixelSetDataset(tmp_path)
    assert err.value.path == tmp_path


# --------------------------------------------------------------------------------------------
# pixels, masks, padding
# --------------------------------------------------------------------------------------------


def test_padded_pixels_masked_with_all_pixels(tmp_path: Path) -> None:
    w = write_per_parcel(tmp_path)
    ds = PixelSetDataset(tmp_path, n_pixels=None)
    for i, pid in enumerate(ds.ids):
        s = ds[i]
        mask = s["S2"].mask
        assert mask is not None and mask.shape == (len(w.dates[pid]), 8)
        n = w.n_real[pid]
        assert not bool(mask[:, n:].any())  # padding: invalid at every date
        assert s.meta["n_pixels_total"] == n
        if pid != "1":
            assert bool(mask[:, :n].all())


def test_padded_pixels_never_sampled(tmp_path: Path) -> None:
    w = write_per_parcel(tmp_path)
    ds = PixelSetDataset(tmp_path, n_pixels=4)
    torch.manual_seed(0)
    for _ in range(10):
        for i, pid in enumerate(ds.ids):
            ts = ds[i]["S2"]
            assert ts.values.shape[1:] == (10, 4)
            assert ts.mask is not None and ts.mask.shape == (ts.num_dates, 4)
            n = w.n_real[pid]
            drawn = pixel_of(ts.values)
            assert drawn.min() >= 0 and drawn.max() < n  # real pixels only (padding reads -1)
            if n >= 4:
                assert len(set(pixel_of(ts.values).tolist())) == 4  # without replacement
                assert bool(ts.mask[0].all()) or pid == "1"
            else:  # all real pixels, then repeats marked invalid
                assert sorted(pixel_of(ts.values)[:n].tolist()) == list(range(n))
                assert ts.mask.any(0).tolist() == [True] * n + [False] * (4 - n)


def test_nodata_dates_masked_and_dropped(tmp_path: Path) -> None:
    write_per_parcel(tmp_path, empty_date=True)
    ds = PixelSetDataset(tmp_path, n_pixels=None, ids=["1"])
    mask = ds[0]["S2"].mask
    assert mask is not None and not bool(mask[1].any()) and bool(mask[0, :2].all())
    dropped = PixelSetDataset(tmp_path, n_pixels=None, ids=["1"], drop_empty_dates=True)[0]
    full = ds[0]["S2"]
    assert dropped["S2"].num_dates == full.num_dates - 1
    assert dropped["S2"].dates.tolist() == [d for i, d in enumerate(full.dates.tolist()) if i != 1]
    # nodata=None: every observation valid
    raw = PixelSetDataset(tmp_path, n_pixels=None, ids=["1"], nodata=None)[0]["S2"].mask
    assert raw is not None and bool(raw.all())


def test_fixed_and_random_sampling(tmp_path: Path) -> None:
    write_global(tmp_path, n_real={"1": 20, "2": 20, "10": 20, "7": 20})
    fixed = PixelSetDataset(
        tmp_path, nomenclature="label_44class", n_pixels=5, sample_pixels="fixed"
    )
    again = PixelSetDataset(
        tmp_path, nomenclature="label_44class", n_pixels=5, sample_pixels="fixed"
    )
    a, b = fixed[0]["S2"].values, again[0]["S2"].values
    assert torch.equal(a, b) and torch.equal(a, fixed[0]["S2"].values)
    other = PixelSetDataset(
        tmp_path, nomenclature="label_44class", n_pixels=5, sample_pixels="fixed", seed=1
    )
    assert not torch.equal(a, other[0]["S2"].values)
    rnd = PixelSetDataset(tmp_path, nomenclature="label_44class", n_pixels=5)
    torch.manual_seed(3)
    draws = [pixel_of(rnd[0]["S2"].values).tolist() for _ in range(5)]
    assert len({tuple(d) for d in draws}) > 1
    torch.manual_seed(3)
    assert [pixel_of(rnd[0]["S2"].values).tolist() for _ in range(5)] == draws


def test_collate_sampled_items(tmp_path: Path) -> None:
    write_per_parcel(tmp_path)
    ds = PixelSetDataset(tmp_path, n_pixels=6)
    batch = collate([ds[i] for i in range(len(ds))])
    s2 = batch["S2"]
    assert s2.values.shape == (4, 7, 10, 6)
    assert s2.mask is not None and s2.mask.shape == (4, 7, 6)
    assert batch.label is not None and batch.label.tolist() == ds.labels.tolist()
    assert s2.lengths.tolist() == [4, 5, 6, 7]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate)
    assert sum(len(b) for b in loader) == 4


# --------------------------------------------------------------------------------------------
# labels, dates, features, subsets, normalisation
# --------------------------------------------------------------------------------------------


def test_classes_remap_and_counts(tmp_path: Path) -> None:
    write_global(tmp_path)  # codes 1: 3, 2: 1, 10: 3, 7: 5
    ds = PixelSetDataset(tmp_path, nomenclature="label_44class")
    assert ds.class_codes == (1, 3, 5)
    assert ds.codes.tolist() == [3, 1, 5, 3] and ds.labels.tolist() == [1, 0, 2, 1]
    assert ds.class_counts() == {1: 1, 3: 2, 5: 1}
    ds = PixelSetDataset(tmp_path, nomenclature="label_44class", classes=[5, 3, 1, 9])
    assert ds.labels.tolist() == [1, 2, 0, 1]
    assert [ds[i].label for i in range(4)] == [1, 2, 0, 1]
    assert [ds[i].meta["code"] for i in range(4)] == [3, 1, 5, 3]
    assert ds.class_counts() == {5: 1, 3: 2, 1: 1, 9: 0}
    kept = PixelSetDataset(tmp_path, nomenclature="label_44class", classes=[3], drop_unknown=True)
    assert kept.ids == ("1", "10") and kept.labels.tolist() == [0, 0] and kept.n_dropped == 2


def test_dates_to_days(tmp_path: Path) -> None:
    write_global(tmp_path, start=date(2016, 12, 30), step=3, t=4)
    ds = PixelSetDataset(tmp_path, nomenclature="label_44class", reference_date="2016-12-01")
    assert ds[0]["S2"].dates.tolist() == [29, 32, 35, 38]
    assert ds.dates("S2", "1").tolist() == [29, 32, 35, 38]
    assert ds[0].meta["reference_date"] == "2016-12-01"
    early = PixelSetDataset(tmp_path, nomenclature="label_44class", reference_date="2017-01-01")
    assert early[0]["S2"].dates.tolist() == [-2, 1, 4, 7]  # dates before it count negative


def test_geometric_features(tmp_path: Path) -> None:
    w = write_global(tmp_path)
    ds = PixelSetDataset(tmp_path, nomenclature="label_44class")
    g = ds[1].meta["geomfeat"]
    assert g.dtype == torch.float32 and g.tolist() == w.geomfeat["2"]
    assert (
        "geomfeat"
        not in PixelSetDataset(tmp_path, nomenclature="label_44class", geometric_features=False)[
            1
        ].meta
    )
    (tmp_path / "META" / "geomfeat.json").unlink()
    assert "geomfeat" not in PixelSetDataset(tmp_path, nomenclature="label_44class")[1].meta


def test_ids_subset(tmp_path: Path) -> None:
    write_per_parcel(tmp_path)
    full = PixelSetDataset(tmp_path, n_pixels=None)
    sub = PixelSetDataset(tmp_path, n_pixels=None, ids=["6", 2])
    assert sub.ids == ("6", "2") and len(sub) == 2
    assert sub.reference_date == full.reference_date  # one reference for every split
    assert sub.class_codes == full.class_codes  # and one label mapping
    assert torch.equal(sub[0]["S2"].values, full[3]["S2"].values)
    assert sub.labels.tolist() == [full.labels[3], full.labels[1]]
    with pytest.raises(DatasetError, match=r"labels\.json.*\['99'\]"):
        PixelSetDataset(tmp_path, ids=["99"])


def test_spatial_folds_file(tmp_path: Path) -> None:
    root = write_global(tmp_path).root
    assert PixelSetDataset(root, nomenclature="label_44class").folds is None
    folds = root / "META" / "folds.json"
    folds.write_text(json.dumps({"1": 1, "2": 2, "7": 3, "10": 1}))
    ds = PixelSetDataset(root, nomenclature="label_44class")
    assert ds.folds is not None and ds.folds.tolist() == [1, 2, 3, 1]  # ids 1, 2, 7, 10
    folds.write_text(json.dumps({"1": 1, "2": "two", "7": 3, "10": 1}))
    with pytest.raises(DatasetError, match=r"folds.json: parcel 2: expected a fold >= 1, got"):
        PixelSetDataset(root, nomenclature="label_44class")
    folds.write_text(json.dumps({"1": 1, "2": 2, "7": 3}))
    with pytest.raises(DatasetError, match=r"parcel 10: expected a fold >= 1, got None"):
        PixelSetDataset(root, nomenclature="label_44class")


def test_statistics_from_the_meanstd_file(tmp_path: Path) -> None:
    mean, std = np.arange(10.0), np.full(10, 2.0)
    write_global(tmp_path, meanstd=(mean, std))
    ds = PixelSetDataset(tmp_path, nomenclature="label_44class", n_pixels=None)
    raw = ds[0]["S2"].values
    stats = ds.statistics()
    assert stats is not None and set(stats) == {"S2"}
    np.testing.assert_array_equal(stats["S2"][0].numpy(), mean)
    np.testing.assert_array_equal(stats["S2"][1].numpy(), std)
    expected = (raw - torch.arange(10.0).view(1, 10, 1)) / 2.0
    torch.testing.assert_close(Normalize(stats)(ds[0])["S2"].values, expected)
    mean, std = read_meanstd(tmp_path / "S2-2017-T31TFM-meanstd.pkl")
    assert mean.shape == (10,) and std.shape == (10,)
    (tmp_path / "S2-2017-T31TFM-meanstd.pkl").unlink()
    assert PixelSetDataset(tmp_path, nomenclature="label_44class").statistics() is None


def test_statistics_per_date_are_pooled_per_channel(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=(6, 10)), rng.uniform(1, 2, size=(6, 10))
    write_global(tmp_path, meanstd=(mean, std))
    stats = PixelSetDataset(tmp_path, nomenclature="label_44class").statistics()
    assert stats is not None
    pooled_var = (std**2 + mean**2).mean(axis=0) - mean.mean(axis=0) ** 2
    np.testing.assert_allclose(stats["S2"][0].numpy(), mean.mean(axis=0))
    np.testing.assert_allclose(stats["S2"][1].numpy(), np.sqrt(pooled_var))


def test_meanstd_pickle_refuses_code(tmp_path: Path) -> None:
    write_global(tmp_path)
    (tmp_path / "evil-meanstd.pkl").write_bytes(pickle.dumps((print, 1)))
    ds = PixelSetDataset(tmp_path, nomenclature="label_44class")
    with pytest.raises(DatasetError, match=r"evil-meanstd\.pkl.*refusing"):
        ds.statistics()


def test_duplicate_dates_merge(tmp_path: Path) -> None:
    w = write_per_parcel(tmp_path, empty_date=False)
    dates = json.loads((tmp_path / "META" / "dates.json").read_text())
    # parcel 2 (4 + 1 = 5 dates): store two concatenated, sorted series, as the real HLS files
    arr = np.load(tmp_path / "DATA" / "2.npy")
    second = arr[[0, 2]].copy()
    second[:, :, :5] += 1.0  # the 5 real pixels; the padding stays 0
    second[1, :, 1] = 0.0  # pixel 1 has no data in the second copy of date 2
    np.save(tmp_path / "DATA" / "2.npy", np.concatenate([arr, second]))
    dates["2"] = dates["2"] + [dates["2"][0], dates["2"][2]]
    (tmp_path / "META" / "dates.json").write_text(json.dumps(dates))
    with pytest.raises(DatasetError, match=r"dates\.json: parcel 2: .*unsorted"):
        PixelSetDataset(tmp_path)
    ds = PixelSetDataset(tmp_path, n_pixels=None, ids=["2"], duplicate_dates="merge")
    ts = ds[0]["S2"]
    assert ts.dates.tolist() == days(w.dates["2"], date(2024, 10, 25))
    assert ds.parcels["n_dates_S2"].tolist() == [7]
    assert ds.parcels["n_unique_dates_S2"].tolist() == [5]
    v = ts.values.numpy()
    np.testing.assert_allclose(v[0, :, :5], arr[0, :, :5] + 0.5)  # mean of the two copies
    np.testing.assert_allclose(v[2, :, 0], arr[2, :, 0] + 0.5)
    np.testing.assert_allclose(v[2, :, 1], arr[2, :, 1])  # only the valid copy
    np.testing.assert_allclose(v[1], arr[1])


# --------------------------------------------------------------------------------------------
# bad input: each raises a DatasetError naming the file
# --------------------------------------------------------------------------------------------


def _rewrite_json(path: Path, edit: Callable[[dict], object]) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _save(path: Path, arr: np.ndarray) -> None:
    np.save(path, arr)


BAD_INPUTS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # name: (corruption, file named in the message, expected problem)
    "missing DATA folder": (lambda r: shutil.rmtree(r / "DATA"), "DATA", "missing folder"),
    "missing META folder": (lambda r: shutil.rmtree(r / "META"), "META", "missing folder"),
    "missing labels.json": (
        lambda r: (r / "META" / "labels.json").unlink(),
        "META/labels.json",
        "missing",
    ),
    "missing dates.json": (
        lambda r: (r / "META" / "dates.json").unlink(),
        "META/dates.json",
        "missing",
    ),
    "unreadable labels.json": (
        lambda r: (r / "META" / "labels.json").write_text("{oops"),
        "META/labels.json",
        "not a readable JSON",
    ),
    "labelled parcel without DATA file": (
        lambda r: (r / "DATA" / "4.npy").unlink(),
        "DATA/4.npy",
        "missing .parcel 4 is labelled",
    ),
    "parcel without dates": (
        lambda r: _rewrite_json(
            r / "META" / "dates.json", lambda d: {k: v for k, v in d.items() if k != "4"}
        ),
        "META/dates.json",
        "no dates for parcel 4",
    ),
    "T differs from the dates": (
        lambda r: _save(r / "DATA" / "4.npy", np.ones((3, 10, 8))),
        "DATA/4.npy",
        "T = 3 observations but .* lists 6 dates",
    ),
    "rank not 3": (
        lambda r: _save(r / "DATA" / "4.npy", np.ones((6, 10))),
        "DATA/4.npy",
        "wrong rank",
    ),
    "other number of channels": (
        lambda r: _save(r / "DATA" / "4.npy", np.ones((6, 4, 8))),
        "DATA/4.npy",
        "has 4 channels",
    ),
    "unsorted dates": (
        lambda r: _rewrite_json(r / "META" / "dates.json", lambda d: {**d, "4": d["4"][::-1]}),
        "META/dates.json",
        "parcel 4: .*unsorted",
    ),
    "duplicate dates": (
        lambda r: _rewrite_json(
            r / "META" / "dates.json", lambda d: {**d, "4": [d["4"][0], *d["4"][:-1]]}
        ),
        "META/dates.json",
        "parcel 4: .*duplicate",
    ),
    "not a date": (
        lambda r: _rewrite_json(
            r / "META" / "dates.json", lambda d: {**d, "4": [*d["4"][:-1], "2025-02-30"]}
        ),
        "META/dates.json",
        "parcel 4: not a YYYYMMDD",
    ),
    "non-integer label": (
        lambda r: _rewrite_json(
            r / "META" / "labels.json", lambda d: {"CODE_GROUP": {**d["CODE_GROUP"], "4": "x"}}
        ),
        "META/labels.json",
        "label of parcel 4 must be an integer",
    ),
    "corrupt npy header": (
        lambda r: (r / "DATA" / "4.npy").write_bytes(b"not an npy file at all"),
        "DATA/4.npy",
        "corrupt",
    ),
    "bad geomfeat": (
        lambda r: _rewrite_json(r / "META" / "geomfeat.json", lambda d: {**d, "4": ["a"]}),
        "META/geomfeat.json",
        "parcel 4: features must be",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_at_construction(tmp_path: Path, case: str) -> None:
    root = tmp_path / "ds"
    write_per_parcel(root, codes={"1": 2, "4": 8}, n_real={"1": 3, "4": 5})
    # make parcel 4 have 6 dates, whatever its position
    dates = json.loads((root / "META" / "dates.json").read_text())
    assert len(dates["4"]) == 5
    dates["4"].append("2024-12-30")
    (root / "META" / "dates.json").write_text(json.dumps(dates))
    arr = np.load(root / "DATA" / "4.npy")
    np.save(root / "DATA" / "4.npy", np.concatenate([arr, arr[-1:]]))
    PixelSetDataset(root)  # the intact folder reads
    corrupt, name, problem = BAD_INPUTS[case]
    corrupt(root)
    with pytest.raises(DatasetError, match=problem) as err:
        PixelSetDataset(root)
    assert err.value.path == root / name
    assert str(err.value).startswith(str(root / name))


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("nan", "NaN/inf values .1 NaN, 0 inf"),
        ("inf", "NaN/inf values .0 NaN, 1 inf"),
        ("truncated", "corrupt or truncated"),
        ("empty parcel", "parcel 4 has no pixel holding data"),
    ],
)
def test_bad_values_when_read(tmp_path: Path, case: str, problem: str) -> None:
    write_per_parcel(tmp_path, codes={"1": 2, "4": 8})
    path = tmp_path / "DATA" / "4.npy"
    arr = np.load(path)
    if case == "nan":
        arr[0, 0, 0] = np.nan
        np.save(path, arr)
    elif case == "inf":
        arr[1, 2, 0] = np.inf
        np.save(path, arr)
    elif case == "truncated":  # the header announces more bytes: refused at construction
        path.write_bytes(path.read_bytes()[:-16])
        with pytest.raises(DatasetError, match=problem) as err:
            PixelSetDataset(tmp_path)
        assert err.value.path == path
        return
    else:
        np.save(path, np.zeros_like(arr))
    ds = PixelSetDataset(tmp_path)  # headers are fine: found when the item is read
    ds[0]
    with pytest.raises(DatasetError, match=problem) as err:
        ds[1]
    assert err.value.path == path


def test_unknown_class_code(tmp_path: Path) -> None:
    write_per_parcel(tmp_path)
    with pytest.raises(DatasetError, match=r"parcel 2 has code 8, not among classes \[2, 5\]") as e:
        PixelSetDataset(tmp_path, classes=[2, 5])
    assert e.value.path == tmp_path / "META" / "labels.json"


def test_several_nomenclatures_listed(tmp_path: Path) -> None:
    write_global(tmp_path)
    with pytest.raises(DatasetError, match=r"\['label_44class', 'other'\]") as e:
        PixelSetDataset(tmp_path)
    assert e.value.path == tmp_path / "META" / "labels.json"
    with pytest.raises(DatasetError, match="no nomenclature 'CODE_GROUP'"):
        PixelSetDataset(tmp_path, nomenclature="CODE_GROUP")


def test_two_sensors_must_share_pixels(tmp_path: Path) -> None:
    w = write_two_sensor(tmp_path)
    path = w["s1_data"].root / "DATA" / "12.npy"
    np.save(path, np.load(path)[:, :, :6])
    with pytest.raises(DatasetError, match=re.escape(f"N = 8 pixels but {path} has 6")) as e:
        PixelSetDataset(tmp_path / "s1_data" / "Chateaulin")
    assert e.value.path == w["s2_data"].root / "DATA" / "12.npy"


def test_two_sensors_labels_must_agree(tmp_path: Path) -> None:
    w = write_two_sensor(tmp_path)
    path = w["s2_data"].root / "META" / "labels.json"
    _rewrite_json(path, lambda d: {"CODE_GROUP": {**d["CODE_GROUP"], "12": 9}})
    with pytest.raises(DatasetError, match="labels of parcels") as e:
        PixelSetDataset(tmp_path / "s1_data" / "Chateaulin")
    assert e.value.path == path


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        PixelSetDataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="DATA") as e:
        PixelSetDataset(tmp_path)  # an empty folder
    assert e.value.path == tmp_path / "DATA"


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sitsfusion.simulate import simulate_pastis

    return simulate_pastis(tmp_path_factory.mktemp("sim") / "pastis", patches=4, size=32, seed=0)


def test_export_round_trip_on_simulated_pastis(simulated: Path, tmp_path: Path) -> None:
    from sitsfusion.data.readers.pastis import PASTISParcels

    mods = ("S2", "S1A", "S1D")
    src = PASTISParcels(simulated, modalities=mods, n_pixels=None)
    out = export_pixelsets(src, tmp_path / "ps", patch_size=32, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["S1A", "S1D", "S2"]
    assert not list(out.rglob("*.tmp"))
    back = PixelSetDataset(out, n_pixels=None, reference_date=src.reference_date)
    assert back.variant == "multi_sensor" and set(back.modalities) == set(mods)
    assert len(back) == len(src)
    position = {pid: i for i, pid in enumerate(back.ids)}
    for i in range(len(src)):
        a = src[i]
        pid = f"{a.meta['patch_id']}_{a.meta['parcel_id']}"
        b = back[position[pid]]
        assert b.meta["code"] == a.label
        assert b.meta["geomfeat"][1] == a.meta["n_pixels_total"]
        for m in mods:
            torch.testing.assert_close(b[m].values, a[m].values, rtol=0, atol=0)
            assert b[m].dates.tolist() == a[m].dates.tolist()
            assert b[m].mask is not None and bool(b[m].mask.all())
    # the default reference date is the earliest exported date
    default = PixelSetDataset(out, n_pixels=8)
    first = min(int(src[i][m].dates.min()) for i in range(len(src)) for m in mods)
    offset = np.datetime64(default.reference_date) - np.datetime64("2018-09-01")
    assert int(offset.astype(np.int64)) == first
    collate([default[i] for i in range(4)])
    labels = json.loads((out / "S2" / "META" / "labels.json").read_text())
    assert list(labels) == ["label"]
    sizes = json.loads((out / "S2" / "META" / "sizes.json").read_text())
    assert sizes == {pid: int(n) for pid, n in zip(back.ids, back.parcels["n_pixels"], strict=True)}


def _parcel(pid: str, index: list[int], dates: list[int], label: int = 1) -> Sample:
    n = len(index)
    values = torch.arange(len(dates) * 3 * n, dtype=torch.float32).view(len(dates), 3, n) + 1
    ts = TimeSeries(values, torch.tensor(dates))
    meta = {"id": pid, "reference_date": "2020-01-01", "pixel_index": torch.tensor(index)}
    return Sample({"S2": ts}, label=label, meta=meta)


def test_export_geometry_and_global_dates(tmp_path: Path) -> None:
    # a 2 x 3 rectangle and an L of 3 pixels in a 4 x 4 patch
    rect = _parcel("a", [1, 2, 3, 5, 6, 7], [0, 10, 20])
    ell = _parcel("b", [0, 4, 5], [0, 10, 20], label=4)
    out = export_pixelsets(
        [rect, ell],
        tmp_path / "g",
        date_layout="auto",
        patch_size=4,
        pixel_size=10.0,
        progress=False,
    )
    geo = json.loads((out / "META" / "geomfeat.json").read_text())
    assert geo["a"] == pytest.approx([100.0, 6.0, 1.0, 100.0 / 600.0])
    assert geo["b"] == pytest.approx([80.0, 3.0, 0.75, 80.0 / 300.0])
    dates = json.loads((out / "META" / "dates.json").read_text())
    assert dates == {"0": 20200101, "1": 20200111, "2": 20200121}
    ds = PixelSetDataset(out, n_pixels=None)
    assert ds.variant == "global_dates" and ds.codes.tolist() == [1, 4]
    # without the patch size: the pixel count only
    out2 = export_pixelsets([rect, ell], tmp_path / "n", progress=False)
    assert json.loads((out2 / "META" / "geomfeat.json").read_text()) == {"a": [6.0], "b": [3.0]}
    assert "a" in json.loads((out2 / "META" / "dates.json").read_text())  # per parcel


def test_export_refusals(tmp_path: Path) -> None:
    a = _parcel("a", [0, 1], [0, 5])
    b = _parcel("b", [2, 3], [0, 6])
    with pytest.raises(ValueError, match="date_layout='global'"):
        export_pixelsets([a, b], tmp_path / "x", date_layout="global", progress=False)
    with pytest.raises(ValueError, match="duplicate id"):
        export_pixelsets([a, a], tmp_path / "y", progress=False)
    with pytest.raises(ValueError, match="n_pixels=None"):
        export_pixelsets([_parcel("c", [0, 0, 1], [0])], tmp_path / "z", progress=False)
    with pytest.raises(ValueError, match="integer label"):
        export_pixelsets([a.replace(label=None)], tmp_path / "w", progress=False)


def test_export_masked_observations_read_back_invalid(tmp_path: Path) -> None:
    s = _parcel("a", [0, 1, 2], [0, 5])
    mask = torch.tensor([[True, False, True], [True, True, True]])
    s = s.with_series("S2", s["S2"].replace(mask=mask))
    out = export_pixelsets([s], tmp_path / "m", progress=False)
    back = PixelSetDataset(out, n_pixels=None)[0]["S2"]
    assert back.mask is not None and torch.equal(back.mask, mask)


# --------------------------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------------------------


def test_real_karnataka_hls() -> None:
    if not KARNATAKA.is_dir():
        pytest.skip(f"real data folder absent: {KARNATAKA}")
    # a third of the parcels store two concatenated series with shared dates
    with pytest.raises(DatasetError, match=r"dates\.json: parcel \d+: dates are not strictly"):
        PixelSetDataset(KARNATAKA)
    ds = PixelSetDataset(KARNATAKA, duplicate_dates="merge", n_pixels=32, sample_pixels="fixed")
    assert len(ds) == 369
    assert ds.nomenclature == "CODE_GROUP" and ds.variant == "per_parcel_dates"
    assert ds.class_counts() == {2: 169, 3: 49, 5: 53, 6: 17, 8: 81}
    assert ds.num_channels("S2") == 10
    table = ds.parcels
    assert table["n_dates_S2"].min() == 43 and table["n_dates_S2"].max() == 92
    assert (table["n_unique_dates_S2"] <= table["n_dates_S2"]).all()
    assert ds.reference_date == "2024-10-25"
    for i in range(0, len(ds), 7):
        raw = np.load(KARNATAKA / "DATA" / f"{ds.ids[i]}.npy")
        s = ds[i]
        ts = s["S2"]
        assert ts.values.shape == (table["n_unique_dates_S2"][i], 10, 32)
        assert ts.mask is not None
        zero_pixels = (raw == 0).all(axis=(0, 1))
        n_real = int((~zero_pixels).sum())
        assert s.meta["n_pixels_total"] == n_real
        # an observation is invalid exactly when all its channels are 0 (no data / padding);
        # columns after the parcel's real pixels are repeats, marked invalid
        real = min(32, n_real)
        assert torch.equal(ts.mask[:, :real], (ts.values[:, :, :real] != 0).any(dim=1))
        assert not bool(ts.mask[:, real:].any())
        assert bool(ts.mask.any(0)[:real].all())
        assert s.meta["geomfeat"].shape == (1,)
    all_pixels = PixelSetDataset(KARNATAKA, duplicate_dates="merge", n_pixels=None, ids=["1"])
    raw = np.load(KARNATAKA / "DATA" / "1.npy")
    s = all_pixels[0]["S2"]
    assert s.values.shape == raw.shape  # parcel 1 has no duplicate date
    empty_dates = int((raw == 0).all(axis=(1, 2)).sum())
    assert int((~s.mask.any(1)).sum()) == empty_dates  # no-data acquisitions are masked
    batch = collate([ds[i] for i in range(8)])
    assert batch["S2"].values.shape[0] == 8
