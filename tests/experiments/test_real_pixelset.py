"""The real-data experiment on a small real dataset (369 parcels, Karnataka, HLS).

Runs on the local copy of ``pixelset_karnataka_hls`` (no licence: never part of the
repository) and is skipped when the folder is absent. Fast: one tiny run of both models.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from paths import REPO
from sitsfusion.config import ExperimentConfig, load_config
from sitsfusion.data.readers.pixelset import PixelSetDataset
from sitsfusion.data.sample import TimeSeries
from sitsfusion.experiments.real_pixelset import (
    DEFAULT_CONFIG,
    ParcelMeanFeatures,
    check_same_split,
    parcel_mean_features,
    parcel_mean_series,
    run_real_pixelset,
    split_for,
)

ROOT = REPO / ".." / "shared" / "data" / "pixelset_karnataka_hls"
COUNTS = {2: 169, 3: 49, 5: 53, 6: 17, 8: 81}
SMALL = [
    "model.spatial={name: pse, mlp1: [8, 16], mlp2: [16]}",
    "model.temporal={name: ltae, n_head: 4, d_k: 4, d_model: 16, mlp: [16, 16]}",
    "model.decoder=[8]",
    "data.n_pixels=8",
    "data.batch_size=64",
    "train.log_every_n_steps=1",
]

pytestmark = pytest.mark.skipif(
    not ROOT.is_dir(), reason=f"real data folder absent: {ROOT} (local only, no licence)"
)


@pytest.fixture(scope="module")
def cfg() -> ExperimentConfig:
    cfg = load_config(DEFAULT_CONFIG)
    cfg.data.root = str(ROOT)
    return cfg


@pytest.fixture(scope="module")
def features(cfg: ExperimentConfig) -> ParcelMeanFeatures:
    return parcel_mean_features(cfg.data, grid_step=5)


def test_config_points_at_the_shared_folder() -> None:
    cfg = load_config(DEFAULT_CONFIG)
    assert (REPO / cfg.data.root).resolve() == ROOT.resolve()
    assert cfg.data.format == "pixelset" and cfg.data.duplicate_dates == "merge"
    assert cfg.model.num_classes == len(COUNTS) == len(cfg.data.classes or [])
    assert cfg.data.split_fractions == [0.6, 0.2, 0.2]


def test_parcel_mean_series_ignores_invalid_pixels_and_dates() -> None:
    values = torch.tensor([[[1.0, 3.0, 100.0]], [[5.0, 5.0, 5.0]], [[2.0, 4.0, 6.0]]])
    mask = torch.tensor([[True, True, False], [False, False, False], [True, True, True]])
    mean = parcel_mean_series(TimeSeries(values, torch.tensor([0, 3, 7]), mask))
    assert mean.values.shape == (2, 1, 1)
    assert mean.dates.tolist() == [0, 7]
    assert mean.values.flatten().tolist() == [2.0, 4.0]


def test_parcel_mean_features_on_a_common_grid(
    cfg: ExperimentConfig, features: ParcelMeanFeatures
) -> None:
    n_dates = features.grid.size
    assert features.features.shape == (369, n_dates * 10)
    assert features.series.shape == (369, n_dates, 10)
    assert features.features.dtype == np.float32
    assert np.isfinite(features.features).all()
    assert features.grid[0] == 0 and features.grid[-1] == 155  # 2024-10-25 .. 2025-03-29
    assert (np.diff(features.grid) == 5).all()
    assert features.reference_date == "2024-10-25"
    codes = np.asarray(features.class_codes)[features.labels]
    assert {int(c): int((codes == c).sum()) for c in COUNTS} == COUNTS
    # a grid date on which a parcel was observed holds the mean of its valid pixels there
    ids = list(features.ids[:10])
    ds = PixelSetDataset(
        ROOT, nomenclature="CODE_GROUP", n_pixels=None, duplicate_dates="merge", ids=ids
    )
    grid = features.grid.tolist()
    checked = 0
    for i, pid in enumerate(ids):
        ts = ds[i]["S2"]
        for t, day in enumerate(ts.dates.tolist()):
            valid = ts.mask[t]
            if day in grid and bool(valid.any()):
                expected = ts.values[t][:, valid].double().mean(dim=1).numpy()
                got = features.series[features.ids.index(pid), grid.index(day)]
                np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
                checked += 1
    assert checked > 0


def test_split_is_stratified_and_the_data_modules(
    cfg: ExperimentConfig, features: ParcelMeanFeatures
) -> None:
    train, val, test = split_for(features.labels, cfg.data)
    assert (len(train), len(val), len(test)) == (221, 74, 74)
    assert np.union1d(np.union1d(train, val), test).size == 369
    for label, n in enumerate(COUNTS.values()):
        assert abs((features.labels[train] == label).sum() - 0.6 * n) <= 1
        assert abs((features.labels[test] == label).sum() - 0.2 * n) <= 1
    check_same_split(cfg, features.ids, [train, val, test])  # what PSE + L-TAE trains on
    with pytest.raises(RuntimeError, match="differs"):
        check_same_split(cfg, features.ids, [train, test, val])
    other = load_config(DEFAULT_CONFIG, ["data.split_seed=1"])
    other.data.root = str(ROOT)
    split_1 = split_for(features.labels, other.data)
    assert not np.array_equal(split_1[2], test)
    check_same_split(other, features.ids, split_1)


def test_tiny_run_scores_both_models(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    console = Console(file=io.StringIO(), width=120)
    table = run_real_pixelset(
        ROOT,
        seeds=(0,),
        out_dir=tmp_path,
        epochs=1,
        overrides=SMALL,
        n_estimators=50,
        console=console,
    )
    assert list(table.columns) == ["model", "seed", "OA", "mIoU", "macro_F1", "kappa", "seconds"]
    assert table["model"].tolist() == ["PSE+L-TAE", "RF (parcel means)"]
    assert (table["seed"] == 0).all()
    for col in ("OA", "mIoU", "macro_F1"):
        assert table[col].between(0, 1).all(), col
    assert table["kappa"].between(-1, 1).all()
    for name in ("results.csv", "per_class.csv", "summary.csv", "summary.md", "run.json"):
        assert (tmp_path / name).is_file(), name
    assert "369 parcels, Karnataka, HLS" in (tmp_path / "summary.md").read_text()
    assert json.loads((tmp_path / "run.json").read_text())["epochs"] == 1
    assert "RF (parcel means)" in console.file.getvalue()
    # run again: the finished training is read, not trained again; the same scores
    run = tmp_path / "pse_ltae" / "seed_0"
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    again = run_real_pixelset(
        ROOT,
        seeds=(0,),
        out_dir=tmp_path,
        epochs=1,
        overrides=SMALL,
        n_estimators=50,
        console=console,
    )
    assert before == {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    cols = ["OA", "mIoU", "macro_F1", "kappa"]
    assert again[cols].equals(table[cols])
    with pytest.raises(ValueError, match=r"differs in train\.epochs"):  # not another config
        run_real_pixelset(ROOT, seeds=(0,), out_dir=tmp_path, epochs=2, overrides=SMALL)
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not created by sitsfusion"):
        run_real_pixelset(ROOT, seeds=(0,), out_dir=user, epochs=1, overwrite=True)
    assert (user / "notes.txt").read_text() == "mine"
