"""Tests of the MultiSenGE reader, on real metadata and on a simulated (synthetic) dataset."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("rasterio")

from paths import SHARED_DATA
from sitsfusion.data import collate
from sitsfusion.data.readers.multisenge import (
    JSON_KEYS,
    PAPER_SPLIT,
    MultiSenGE,
    class_names,
    parse_filename,
    parse_patch_id,
    read_patch_metadata,
    regroup,
    select_dates,
    tile_split,
)
from sitsfusion.data.statistics import compute_statistics
from sitsfusion.data.transforms import Normalize
from sitsfusion.errors import DatasetError
from sitsfusion.simulate import simulate_multisenge

REAL = SHARED_DATA / "multisenge_metadata_real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="real MultiSenGE metadata absent")
MONTHS = (7, 8, 9, 11)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_multisenge(tmp_path_factory.mktemp("msg") / "data", patches=3, size=64)


@pytest.fixture
def copy(root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(root, tmp_path / "copy"))


def _authors_chain(s2: list[dt.date], months=MONTHS, gap: int = 17) -> list[dt.date] | None:
    """A transcription of the authors' greedy ``has_days_gap_s2`` loop, for cross-checking."""
    by_month: dict[int, list[dt.date]] = {}
    for d in sorted(s2):
        if d.month in months:
            by_month.setdefault(d.month, []).append(d)
    if len(by_month) < len(months):
        return None
    out: list[dt.date] = []
    prev: list[dt.date] | None = None
    for m in sorted(by_month):
        value = by_month[m]
        if prev is None:
            prev = value
            continue
        tmp: list[dt.date] = []
        for e in prev:
            tmp = [f for f in value if (f - e).days >= gap]
            if tmp:
                out.append(e)
                break
        prev = tmp
    for g in prev or []:
        if out and (g - out[-1]).days >= gap:
            out.append(g)
            break
    return out if len(out) == len(months) else None


# --------------------------------------------------------------------------------------------
# Real metadata
# --------------------------------------------------------------------------------------------


@needs_real
def test_real_jsons_parse_and_select() -> None:
    files = sorted((REAL / "labels_sample").glob("*.json"))
    assert len(files) == 50
    valid = 0
    for path in files:
        meta = read_patch_metadata(path)
        assert meta["id"] == path.stem
        assert "UTM zone" in meta["projection"]
        assert set(meta["labels"]) <= set(range(1, 15))
        for sensor in ("S2", "S1"):
            dates = meta[f"{sensor}_dates"]
            assert dates == sorted(dates) and all(d.year == 2020 for d in dates)
            for name in meta[sensor]:
                pf = parse_filename(name)
                assert pf.patch_id == meta["id"] and pf.sensor == sensor
                assert pf.x % 257 == 0 and pf.y % 257 == 0
        sel = select_dates(meta["S2_dates"], meta["S1_dates"])
        assert (sel is None) == (_authors_chain(meta["S2_dates"]) is None)
        if sel is not None:
            valid += 1
            s2, s1 = sel
            assert s2 == _authors_chain(meta["S2_dates"])
            assert [d.month for d in s2] == list(MONTHS) == [d.month for d in s1]
            assert all((b - a).days >= 17 for a, b in itertools.pairwise(s2))
    # 39 of the 50 sample patches have a valid selection; the 11 of tile 31UEP lack July.
    assert valid == 39


@needs_real
def test_real_patch_index() -> None:
    import pandas as pd

    df = pd.read_csv(REAL / "patch_index.csv")
    assert len(df) == 8157 and df["patch"].is_unique
    tiles = Counter(parse_patch_id(p)[0] for p in df["patch"])
    assert len(tiles) == 14 and tiles == Counter(df["tile"])
    split = tile_split(df["patch"])
    # The paper's val (31UFP + 31UGP) and test (31UEQ) counts: 1911 and 610 patches.
    assert len(split["val"]) == 1911 and len(split["test"]) == 610
    assert sorted({parse_patch_id(p)[0] for p in split["unused"]}) == [
        "31UEP",
        "31UER",
        "32ULV",
        "32UMU",
    ]
    codes = {int(c) for row in df["labels_present"] for c in str(row).split(";")}
    assert codes == set(range(1, 15))


# --------------------------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------------------------


def test_parse_filename() -> None:
    assert parse_filename("31UFQ_20200731_S2_1028_2827.tif") == (
        "31UFQ",
        dt.date(2020, 7, 31),
        "S2",
        1028,
        2827,
    )
    assert parse_filename("a/b/32ULU_GR_0_257.tif") == ("32ULU", None, "GR", 0, 257)
    assert parse_filename("32ULU_0_257.json").patch_id == "32ULU_0_257"
    for bad in ("31UFQ_20200231_S2_0_0.tif", "31UFQ_20200731_S3_0_0.tif", "foo.tif"):
        with pytest.raises(ValueError):
            parse_filename(bad)


def test_select_dates_rule() -> None:
    d = dt.date
    s2 = [d(2020, 7, 25), d(2020, 7, 2), d(2020, 8, 10), d(2020, 8, 25), d(2020, 9, 5)]
    s2 += [d(2020, 9, 20), d(2020, 11, 2)]
    s1 = [d(2020, 7, 1) + dt.timedelta(days=6 * k) for k in range(30)]
    s2_sel, s1_sel = select_dates(s2, s1)
    # earliest chain with >= 17 days between consecutive months
    assert s2_sel == [d(2020, 7, 2), d(2020, 8, 10), d(2020, 9, 5), d(2020, 11, 2)]
    assert s1_sel == [d(2020, 7, 1), d(2020, 8, 6), d(2020, 9, 5), d(2020, 11, 4)]
    assert select_dates(s2, s1, min_gap=60) is None
    assert select_dates([x for x in s2 if x.month != 11], s1) is None
    _, near = select_dates(s2, s1, s1_rule="nearest")
    assert all(abs((a - b).days) <= 17 for a, b in zip(s2_sel, near, strict=True))
    # the gap is inclusive (>= 17) and applies between every pair of consecutive months
    s2b = [d(2020, 7, 20), d(2020, 8, 6), d(2020, 9, 1), d(2020, 11, 1)]
    assert select_dates(s2b, s1)[0] == s2b == _authors_chain(s2b)
    s2b[1] = d(2020, 8, 5)
    assert select_dates(s2b, s1) is None and _authors_chain(s2b) is None
    rng = np.random.default_rng(0)
    days = [d(2020, 6, 1) + dt.timedelta(days=int(k)) for k in range(214)]
    for _ in range(300):
        index = sorted(rng.choice(214, size=int(rng.integers(4, 20)), replace=False))
        pick = [days[i] for i in index]
        sel = select_dates(pick, s1)
        assert (None if sel is None else sel[0]) == _authors_chain(pick)


def test_regroup_and_split() -> None:
    codes = np.arange(15)
    assert regroup(codes, 14).tolist() == codes.tolist()
    assert regroup(codes, 10).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 7, 8, 9, 9, 9, 10, 10]
    assert regroup(torch.tensor(codes), 6).tolist() == [0, 1, 2, 3, 4, 5] + [6] * 9
    assert len(class_names(14)) == 15 and class_names(6)[6] == "Non-urban areas"
    assert class_names(10)[9] == "Forests and semi-natural areas"
    with pytest.raises(ValueError):
        regroup(codes, 12)
    ids = ["31UFP_0_0", "31UEQ_257_0", "32ULU_0_0", "32ULV_0_0"]
    assert tile_split(ids) == {
        "train": ["32ULU_0_0"],
        "val": ["31UFP_0_0"],
        "test": ["31UEQ_257_0"],
        "unused": ["32ULV_0_0"],
    }
    general = tile_split(ids, val_tiles=["T32ULV"], test_tiles=[], train_tiles=None)
    assert general["val"] == ["32ULV_0_0"] and len(general["train"]) == 3
    assert set(PAPER_SPLIT) == {"train", "val", "test"}


# --------------------------------------------------------------------------------------------
# Simulated round trip
# --------------------------------------------------------------------------------------------


def test_simulated_round_trip(root: Path) -> None:
    jsons = sorted((root / "labels").glob("*.json"))
    assert len(jsons) == 3
    for path in jsons:
        obj = json.loads(path.read_text())
        assert set(JSON_KEYS) <= set(obj) and obj["synthetic"] is True
    ds14 = MultiSenGE(root, classes=14)
    ds10 = MultiSenGE(root, classes=10)
    ds6 = MultiSenGE(root, classes=6)
    assert len(ds14) == 3 and ds14.n_skipped == 0
    ref = np.datetime64("2020-01-01")
    for i in range(3):
        s14, s10, s6 = ds14[i], ds10[i], ds6[i]
        assert s14["S2"].values.shape == (4, 10, 64, 64)
        assert s14["S1"].values.shape == (4, 2, 64, 64)
        assert s14.semantic.dtype == torch.long and s14.semantic.shape == (64, 64)
        assert torch.equal(s10.semantic, regroup(s14.semantic, 10))
        assert torch.equal(s6.semantic, regroup(s14.semantic, 6))
        assert int(s10.semantic.max()) <= 10 and int(s6.semantic.max()) <= 6
        s2 = [ref + int(v) for v in s14["S2"].dates]
        s1 = [ref + int(v) for v in s14["S1"].dates]
        assert [int(str(v)[5:7]) for v in s2] == list(MONTHS)
        assert np.all(np.diff(np.array(s2)).astype(int) >= 17)
        assert all(abs(int((a - b).astype(int))) <= 17 for a, b in zip(s2, s1, strict=True))
        meta = s14.meta
        assert meta["id"] == f"{meta['tile']}_{meta['x']}_{meta['y']}"
        assert "UTM zone" in meta["crs"] and meta["reference_date"] == "2020-01-01"
        a, b, c, d, e, f = meta["transform"]
        assert (a, b, d, e) == (10.0, 0.0, 0.0, -10.0) and c > 0 and f > 0
        assert torch.isfinite(s14["S1"].values).all()
    full = MultiSenGE(root, modalities=("S2",), select="all")[0]
    assert full["S2"].num_dates > 4 and list(full.series) == ["S2"]
    batch = collate([ds14[0], ds14[1]])
    assert batch["S2"].values.shape == (2, 4, 10, 64, 64)
    assert batch.semantic.shape == (2, 64, 64)


def test_norm_and_determinism(root: Path, tmp_path: Path) -> None:
    ds = MultiSenGE(root, patches=[p.stem for p in sorted((root / "labels").glob("*.json"))][:2])
    stats = compute_statistics(ds, ["S2", "S1"], max_samples=None)
    assert ds.statistics() is None  # the format publishes none: computed from the patches
    normed = MultiSenGE(root, patches=ds.patch_ids, transform=Normalize(stats))
    x = torch.cat([normed[i]["S2"].values for i in range(2)])
    assert abs(float(x.mean())) < 0.05
    assert torch.allclose(x.transpose(0, 1).reshape(10, -1).std(dim=1), torch.ones(10), atol=0.05)
    again = simulate_multisenge(tmp_path / "again", patches=1, size=16, seed=3)
    other = simulate_multisenge(tmp_path / "other", patches=1, size=16, seed=3)
    a, b = MultiSenGE(again)[0], MultiSenGE(other)[0]
    assert a.meta["id"] == b.meta["id"] and torch.equal(a["S2"].values, b["S2"].values)
    assert torch.equal(a["S1"].values, b["S1"].values) and torch.equal(a.semantic, b.semantic)


def test_paper_selection_skip_or_raise(copy: Path) -> None:
    path = sorted((copy / "labels").glob("*.json"))[0]
    obj = json.loads(path.read_text())
    names = [n for n in obj["corresponding_s2"].split(";") if parse_filename(n).date.month != 7]
    obj["corresponding_s2"] = ";".join(names)
    path.write_text(json.dumps(obj))
    ds = MultiSenGE(copy)
    assert len(ds) == 2 and ds.n_skipped == 1 and ds.skipped == [path.stem]
    assert len(MultiSenGE(copy, select="all")) == 3
    with pytest.raises(DatasetError, match=path.name):
        MultiSenGE(copy, on_invalid="raise")


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def _first(folder: Path, pattern: str = "*.tif") -> Path:
    return sorted(folder.glob(pattern))[0]


def _sample_of(ds: MultiSenGE, path: Path) -> int:
    return ds.patch_ids.index(parse_filename(path.name).patch_id)


def test_missing_tif(copy: Path) -> None:
    ds = MultiSenGE(copy)
    name = ds.records[0]["files"]["S2"][2][1]
    (copy / "s2" / name).unlink()
    with pytest.raises(DatasetError, match=name):
        MultiSenGE(copy)
    gr = _first(copy / "ground_reference")
    gr.unlink()
    with pytest.raises(DatasetError, match=gr.name):
        MultiSenGE(copy, select="all", modalities=("S1",))


def test_wrong_band_count_and_size(copy: Path) -> None:
    import rasterio

    ds = MultiSenGE(copy)
    name = ds.records[0]["files"]["S2"][0][1]
    path = copy / "s2" / name
    with rasterio.open(path) as src:
        arr, profile = src.read(), src.profile
    profile.update(count=9)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr[:9])
    with pytest.raises(DatasetError, match=f"{name}.*9 bands"):
        ds[0]
    name1 = ds.records[1]["files"]["S1"][1][1]
    path1 = copy / "s1" / name1
    with rasterio.open(path1) as src:
        arr, profile = src.read(), src.profile
    profile.update(width=32)
    with rasterio.open(path1, "w", **profile) as dst:
        dst.write(arr[:, :, :32])
    with pytest.raises(DatasetError, match=f"{name1}.*size"):
        ds[1]
    arr[0, 0, 0] = np.nan
    profile.update(width=64)
    with rasterio.open(path1, "w", **profile) as dst:
        dst.write(np.concatenate([arr[:, :, :32], arr[:, :, :32]], axis=2))
    with pytest.raises(DatasetError, match=f"{name1}.*NaN"):
        ds[1]


def test_corrupt_tif(copy: Path) -> None:
    ds = MultiSenGE(copy)
    name = ds.records[0]["files"]["S1"][0][1]
    (copy / "s1" / name).write_bytes(b"not a tiff")
    with pytest.raises(DatasetError, match=f"{name}.*cannot read"):
        ds[0]
    with pytest.raises(ValueError, match="modalities"):
        MultiSenGE(copy, modalities=("S2", "S2"))


def test_bad_label_code(copy: Path) -> None:
    import rasterio

    path = _first(copy / "ground_reference")
    with rasterio.open(path) as src:
        arr, profile = src.read(), src.profile
    arr[0, 5, 5] = 15
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)
    ds = MultiSenGE(copy)
    with pytest.raises(DatasetError, match=f"{path.name}.*15"):
        ds[_sample_of(ds, path)]
    js = _first(copy / "labels", "*.json")
    obj = json.loads(js.read_text())
    obj["labels"] = "2;6;15"
    js.write_text(json.dumps(obj))
    with pytest.raises(DatasetError, match=js.name):
        read_patch_metadata(js)


@pytest.mark.parametrize("key", JSON_KEYS)
def test_json_missing_key(copy: Path, key: str) -> None:
    js = _first(copy / "labels", "*.json")
    obj = json.loads(js.read_text())
    del obj[key]
    js.write_text(json.dumps(obj))
    with pytest.raises(DatasetError, match=f"{js.name}.*{key}"):
        MultiSenGE(copy)


def test_json_names_other_patch(copy: Path) -> None:
    js = _first(copy / "labels", "*.json")
    obj = json.loads(js.read_text())
    obj["corresponding_s1"] += ";31UFQ_20200101_S1_0_0.tif"
    js.write_text(json.dumps(obj))
    with pytest.raises(DatasetError, match=js.name):
        read_patch_metadata(js)
