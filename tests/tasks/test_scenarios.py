"""Seed 004's scenarios 1-3 end to end through the CLI on simulated (synthetic) Sen4AgriNet
files: ``simulate --format sen4agrinet`` → PAD training on sub-patches, and ``aggregate`` →
OAD table → sequence classifiers; plus the data module's pools for tables and OAD."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from paths import CONFIGS as ALL_CONFIGS
from paths import REPO
from sitsfusion.cli import cli
from sitsfusion.config import ConfigError, load_config
from sitsfusion.data.modules import SITSDataModule
from sitsfusion.data.oad import OADDataset

CONFIGS = ALL_CONFIGS / "sykas2022"
RONDONIA = REPO / ".." / "shared" / "data" / "sits_s2_rondonia" / "samples_S2_T20LKP_2018_2019.csv"
GROUPS = (("catalonia", 2019), ("catalonia", 2020), ("france", 2019))


@pytest.fixture(scope="module")
def s4a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scenarios") / "Sen4AgriNet"
    for k, (region, year) in enumerate(GROUPS):
        args = ["simulate", "--format", "sen4agrinet", "--out", str(root), "--patches", "3"]
        args += ["--size", "24", "--subpatch", "12", "--region", region, "--year", str(year)]
        args += ["--seed", str(k)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "synthetic" in result.output
    result = CliRunner().invoke(
        cli, ["aggregate", str(root), "--out", str(root.parent / "oad.parquet")]
    )
    assert result.exit_code == 0, result.output
    return root


def test_aggregated_table_has_groups_and_is_marked_synthetic(s4a: Path) -> None:
    table = pd.read_parquet(s4a.parent / "oad.parquet")
    assert table["synthetic"].all()
    assert sorted(table["date"].unique().tolist()) == sorted(table["date"].unique().tolist())
    assert set(zip(table["region"], table["year"].astype(int), strict=True)) == set(GROUPS)
    ds = OADDataset(s4a.parent / "oad.parquet", stat="mean_std", classes=list(range(1, 12)))
    sample = ds[0]
    assert sample["S2"].values.shape == (6, 26, 1)  # April..September, 13 bands x mean, std
    assert set(ds.groups.tolist()) <= {"catalonia/2019", "catalonia/2020", "france/2019"}


@pytest.mark.parametrize("scenario", [1, 2, 3])
def test_scenario_data_split(s4a: Path, scenario: int) -> None:
    cfg = load_config(
        CONFIGS / "pad" / f"unet_scenario{scenario}.yaml",
        [f"data.root={s4a}", "data.reader.subpatch=12"],
    )
    dm = SITSDataModule(cfg.data, target="semantic")
    dm.setup()
    patches = {k: {s.meta["patch"] for s in getattr(dm, k)} for k in ("train", "val", "test")}
    assert not patches["train"] & patches["test"] and not patches["val"] & patches["test"]
    assert not patches["train"] & patches["val"]
    groups = {k: {s.meta["region"] + f"/{s.meta['year']}" for s in getattr(dm, k)} for k in patches}
    if scenario == 2:
        assert groups["test"] == {"france/2019"}
        assert groups["train"] | groups["val"] <= {"catalonia/2019", "catalonia/2020"}
    if scenario == 3:
        assert groups["test"] == {"catalonia/2020"}
        assert groups["train"] | groups["val"] == {"france/2019"}
    assert dm.channels == {"S2": 4} and dm.num_classes == 12
    assert dm.train_label_counts is not None and int(dm.train_label_counts.sum()) > 0
    sample = dm.train[0]
    assert sample["S2"].values.shape == (6, 4, 12, 12)  # monthly medians, 10 m bands


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [1, 2, 3])
def test_scenario_runs_end_to_end_through_the_cli(s4a: Path, tmp_path: Path, scenario: int) -> None:
    runs = {
        "pad": (f"convstar_scenario{scenario}", [f"data.root={s4a}", "data.reader.subpatch=12"]),
        "oad": (f"tempcnn_scenario{scenario}", [f"data.root={s4a.parent / 'oad.parquet'}"]),
    }
    for kind, (name, sets) in runs.items():
        args = [
            "fit",
            "--config",
            str(CONFIGS / kind / f"{name}.yaml"),
            "--out",
            str(tmp_path / name),
        ]
        for item in [*sets, "train.epochs=1", "data.batch_size=8"]:
            args += ["--set", item]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "synthetic" in result.output
        metrics = json.loads((tmp_path / name / "test" / "test_metrics.json").read_text())
        assert 0.0 <= metrics["weighted_f1"] <= 1.0
        assert 0.0 <= metrics["weighted_accuracy"] <= 1.0
        assert (tmp_path / name / "test" / "test_confusion_pred.png").is_file()


def test_long_table_kfold_through_the_data_module(tmp_path: Path) -> None:
    if not RONDONIA.is_file():
        pytest.skip("real Rondônia table not available")
    tests = []
    for fold in range(5):
        cfg = load_config(
            None,
            [
                "data.format=long_table",
                f"data.root={RONDONIA}",
                "data.split=kfold",
                f"data.fold={fold}",
                "data.normalize=zscore",
            ],
        )
        dm = SITSDataModule(cfg.data, target="parcel")
        dm.setup()
        assert dm.class_names == ["Deforestation", "Forest", "NonForest"]
        assert dm.channels == {"S2": 11}
        assert len(dm.train) + len(dm.val) + len(dm.test) == 481
        tests.append(dm.test.indices)
        x = np.concatenate([dm.train[i]["S2"].values.numpy()[:, :, 0] for i in range(50)])
        assert np.abs(x.mean(axis=0)).max() < 0.5  # z-scored with training statistics
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(481))


def test_groups_on_a_dataset_without_groups_is_a_clear_error() -> None:
    if not RONDONIA.is_file():
        pytest.skip("real Rondônia table not available")
    cfg = load_config(
        None,
        ["data.format=long_table", f"data.root={RONDONIA}", "data.split=groups"],
    )
    with pytest.raises(ConfigError, match="no region / year groups"):
        SITSDataModule(cfg.data, target="parcel").setup()
    with pytest.raises(ConfigError, match="does not serve"):
        SITSDataModule(cfg.data, target="semantic")


def test_unknown_reader_option_is_a_config_error(s4a: Path) -> None:
    cfg = load_config(
        CONFIGS / "pad" / "unet_scenario1.yaml", [f"data.root={s4a}", "data.reader.sub_patch=12"]
    )
    with pytest.raises(ConfigError, match=r"data\.reader: .*sub_patch"):
        SITSDataModule(cfg.data, target="semantic").setup()


def test_info_summarises_a_sen4agrinet_folder(s4a: Path) -> None:
    result = CliRunner().invoke(cli, ["info", str(s4a)])
    assert result.exit_code == 0, result.output
    for word in ("9 Sen4AgriNet patches", "france/2019", "Wheat", "Peas", "synthetic"):
        assert word in result.output, word


def test_training_loader_drops_only_a_lone_last_sample(tmp_path: Path) -> None:
    """BatchNorm cannot train on a batch of one: such a last training batch is dropped;
    evaluation loaders never drop anything."""
    rows = ["sample_id,label,date,B1"]
    for i in range(50):
        for day in ("2020-01-01", "2020-02-01"):
            rows.append(f"{i},{'ab'[i % 2]},{day},{i * 0.1}")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    cfg = load_config(
        None, ["data.format=long_table", f"data.root={path}", "data.batch_size=29"]
    ).data
    dm = SITSDataModule(cfg, target="parcel")
    dm.setup()
    n_train = len(dm.train)
    assert n_train == 30  # 60 % of 50 (stratified)
    assert sum(len(b.label) for b in dm.train_dataloader()) == 29  # 29 + a lone 1: dropped
    assert sum(len(b.label) for b in dm.test_dataloader()) == len(dm.test)
    assert sum(len(b.label) for b in dm.val_dataloader()) == len(dm.val)


def test_roots_and_splits_do_not_mix(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            "data.format=long_table",
            "data.train_roots=[a.csv]",
            "data.test_roots=[b.csv]",
            "data.split=kfold",
        ],
    )
    with pytest.raises(ConfigError, match="the roots already split the data"):
        SITSDataModule(cfg.data, target="parcel").setup()
