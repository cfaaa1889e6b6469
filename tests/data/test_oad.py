"""Tests of the object-level aggregation (OAD) table and dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sitsfusion.data import collate
from sitsfusion.data.oad import OADDataset, aggregate_dataset, aggregate_sample
from sitsfusion.data.readers.pastis import PASTIS
from sitsfusion.data.sample import Sample, TimeSeries
from sitsfusion.errors import DatasetError
from sitsfusion.simulate import simulate_pastis


def _hand_sample(patch: int = 7) -> Sample:
    rng = np.random.default_rng(0)
    values = torch.from_numpy(rng.normal(size=(3, 2, 4, 4)).astype(np.float32))
    inst = torch.zeros(4, 4, dtype=torch.long)
    inst[:2, :2] = 1
    inst[2:, :] = 5
    sem = torch.zeros(4, 4, dtype=torch.long)
    sem[:2, :2] = 19  # void does not vote, even as the majority
    sem[1, 1] = 3
    sem[2:, :] = 4
    sem[2, :2] = 2
    ts = TimeSeries(values, torch.tensor([0, 5, 9]))
    return Sample({"S2": ts}, semantic=sem, instances=inst, meta={"id": patch, "region": "w"})


def test_hand_sample_stats_match_numpy():
    s = _hand_sample()
    df = aggregate_sample(s, extra=("median", "skew", "count"))
    assert set(df["instance"]) == {1, 5}  # background 0 skipped
    assert len(df) == 2 * 3 * 2
    x = s["S2"].values.numpy().astype(np.float64)
    inst = s.instances.numpy()
    for pid in (1, 5):
        px = x[:, :, inst == pid]  # [T, C, n]
        sub = df[df["instance"] == pid].sort_values(["date", "band"])
        np.testing.assert_allclose(sub["mean"], px.mean(-1).ravel(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sub["std"], px.std(-1).ravel(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sub["median"], np.median(px, -1).ravel(), rtol=1e-5, atol=1e-6)
        assert (sub["count"] == (inst == pid).sum()).all()
    classes = df.groupby("instance")["class"].first()
    assert classes[1] == 3 and classes[5] == 4  # majority, void ignored
    assert set(df["parcel_id"]) == {"7_1", "7_5"}
    assert (df["region"] == "w").all()


def test_ids_unique_across_patches_and_errors():
    a = aggregate_sample(_hand_sample(1))
    b = aggregate_sample(_hand_sample(2))
    assert not set(a["parcel_id"]) & set(b["parcel_id"])
    with pytest.raises(ValueError, match="unknown"):
        aggregate_sample(_hand_sample(), extra=("max",))
    empty = aggregate_sample(_hand_sample(), parcel_ids=torch.zeros(4, 4, dtype=torch.long))
    assert len(empty) == 0


def test_dataset_errors(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"parcel_id": ["a"], "mean": [1.0]}).to_parquet(path)
    with pytest.raises(DatasetError, match="missing columns"):
        OADDataset(path)
    df = aggregate_sample(_hand_sample()).iloc[:0]
    df.astype({"mean": float}).to_parquet(path)
    with pytest.raises(DatasetError, match="empty"):
        OADDataset(path)
    with pytest.raises(DatasetError, match="nothing to write"):
        aggregate_dataset(
            [_hand_sample().replace(instances=torch.zeros(4, 4).long())], path, overwrite=True
        )


def test_pastis_roundtrip(tmp_path):
    root = simulate_pastis(tmp_path / "pastis", patches=3, size=32, seed=0)
    ds = PASTIS(root, modalities=("S2", "S1A"), target="instance")
    out = aggregate_dataset(ds, tmp_path / "oad.parquet", progress=False)
    table = pd.read_parquet(out)
    assert table.groupby("parcel_id").ngroups > 3
    assert (table.groupby("parcel_id")["patch_id"].nunique() == 1).all()  # ids unique per patch
    oad = OADDataset(out, modalities=("S2", "S1A"), stat="mean_std")
    patch = ds[0]
    pid = int(patch.instances[patch.instances > 0][0])
    key = f"{patch.meta['id']}_{pid}"
    item = oad[oad.parcel_ids.index(key)]
    assert item.meta["id"] == key and 0 <= item.label < len(oad.classes)
    for m in ("S2", "S1A"):
        x = patch[m].values[:, :, patch.instances == pid].double()
        c = x.shape[1]
        got = item[m].values
        assert got.shape == (x.shape[0], 2 * c, 1)
        torch.testing.assert_close(got[:, :c, 0].double(), x.mean(-1), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(
            got[:, c:, 0].double(), x.std(-1, correction=0), rtol=1e-4, atol=1e-4
        )
        assert torch.equal(item[m].dates, patch[m].dates)
    batch = collate([oad[i] for i in range(4)])
    assert batch.label.shape == (4,) and batch["S2"].values.shape[0] == 4
    csv = aggregate_dataset(ds, tmp_path / "oad.csv", format="csv", progress=False)
    assert len(OADDataset(csv)) == len(OADDataset(out))


def test_blocked_statistics_match_numpy_on_many_parcels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of rows, negative values, constant bands, even and odd parcel sizes."""
    import sitsfusion.data.oad as oad

    monkeypatch.setattr(oad, "_BLOCK_VALUES", 700)  # several blocks of (date, band) rows
    rng = np.random.default_rng(3)
    t, c, h, w = 5, 4, 20, 18
    values = rng.normal(0.0, 2.0, (t, c, h, w)).astype(np.float32)
    values[:, 2] = 0.25  # a constant band
    inst = rng.integers(0, 23, (h, w))
    sample = Sample(
        {"S2": TimeSeries(torch.from_numpy(values), torch.arange(t) * 3)},
        instances=torch.from_numpy(inst),
        meta={"id": "p"},
    )
    df = aggregate_sample(sample, extra=("median", "skew", "count"))
    x = values.astype(np.float64)
    for pid in np.unique(inst[inst > 0]):
        px = x[:, :, inst == pid]
        sub = df[df["instance"] == pid].sort_values(["date", "band"])
        np.testing.assert_allclose(sub["mean"], px.mean(-1).ravel(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sub["std"], px.std(-1).ravel(), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(
            sub["median"].to_numpy(), np.median(px, -1).ravel().astype(np.float32)
        )
        m2 = ((px - px.mean(-1, keepdims=True)) ** 2).mean(-1)
        m3 = ((px - px.mean(-1, keepdims=True)) ** 3).mean(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            skew = np.where(m2 > 1e-12, m3 / m2**1.5, 0.0)
        np.testing.assert_allclose(sub["skew"], skew.ravel(), rtol=1e-4, atol=1e-4)
