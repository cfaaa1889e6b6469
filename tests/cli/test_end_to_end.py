"""Simulator → reader → transforms → DataLoader, as a model will see the data (synthetic)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from sitsfusion.data import collate, unpad
from sitsfusion.data import transforms as T
from sitsfusion.data.readers.pastis import PASTIS, PASTISParcels

MODS = ("S2", "S1A", "S1D")


@pytest.fixture(scope="module")
def sim(pastis_r: Path) -> Path:
    return pastis_r


def test_patch_batches_with_temporal_dropout(sim: Path) -> None:
    train = PASTIS(
        sim,
        folds=[1, 2, 3],
        modalities=MODS,
        transform=T.Compose([T.TemporalDropout(seed=0), T.RandomFlipRot90(seed=0)]),
    )
    stats = train.statistics()  # the NORM files pooled over the training folds
    assert stats["S2"][0].shape == (10,)
    normalised = T.Compose([train.transform, T.Normalize(stats)])
    train = PASTIS(sim, folds=[1, 2, 3], modalities=MODS, transform=normalised)
    test = PASTIS(sim, folds=[4, 5], modalities=MODS, transform=T.Normalize(stats))
    x = test[0]["S2"].values  # the test folds normalised with the training folds' statistics
    assert abs(float(x.mean())) < 3 and float(x.abs().max()) < 50
    batch = next(iter(DataLoader(train, batch_size=3, collate_fn=collate)))
    assert batch["S2"].values.shape[:1] == (3,)
    assert batch["S2"].values.shape[2:] == (10, 32, 32)
    assert batch["S1A"].values.shape[2:] == (3, 32, 32)
    assert batch.semantic.shape == (3, 32, 32)
    # temporal dropout made the samples' T differ; padding is flagged, never an observation
    lengths = batch["S2"].lengths
    assert int(lengths.max()) == batch["S2"].values.shape[1]
    for i, t in enumerate(lengths.tolist()):
        assert not batch["S2"].pad_mask[i, :t].any() and batch["S2"].pad_mask[i, t:].all()
        assert float(batch["S2"].values[i, t:].abs().sum()) == 0.0
    assert len(unpad(batch)) == 3


def test_parcel_batches_from_simulated_patches(sim: Path) -> None:
    ds = PASTISParcels(sim, modalities=MODS, n_pixels=16)
    assert len(ds) > 20
    batch = next(iter(DataLoader(ds, batch_size=8, shuffle=True, collate_fn=collate)))
    assert batch["S2"].values.shape[2:] == (10, 16)
    assert batch["S1D"].values.shape[2:] == (3, 16)
    assert batch.label.shape == (8,)
    assert int(batch.label.min()) >= 0 and int(batch.label.max()) < 18
    # meadow (class 1 -> label 0) is the most frequent parcel class, as in PASTIS
    labels = torch.bincount(torch.tensor(ds.parcels["label"].to_numpy()), minlength=18)
    assert int(labels.argmax()) == 0


def test_early_fusion_inputs_on_load(sim: Path) -> None:
    ds = PASTIS(sim, modalities=MODS, resample={"S1A": "S2", "S1D": "S2"})
    s = ds[0]
    assert s["S1A"].num_dates == s["S2"].num_dates == s["S1D"].num_dates
    stacked = torch.cat([s[m].values for m in MODS], dim=1)  # the T x 16 x H x W early input
    assert stacked.shape[1] == 16 and torch.isfinite(stacked).all()


def test_cloud_and_early_season_protocols(sim: Path) -> None:
    s = PASTIS(sim, modalities=MODS)[0]
    cloudy = T.drop_observations(s, "S2", 0.7, generator=torch.Generator().manual_seed(0))
    assert cloudy["S2"].num_dates == s["S2"].num_dates - round(0.7 * s["S2"].num_dates)
    assert cloudy["S1A"] is s["S1A"]  # radar untouched
    # early season: keep what was acquired by 2019-03-31 (day 211 since 2018-09-01)
    early = T.truncate(s, until=211)
    for m in MODS:
        assert int(early[m].dates.max()) <= 211 < int(s[m].dates.max())
