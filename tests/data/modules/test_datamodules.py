"""The data modules: one per format over one base, one normalisation applied last.

Datasets: the session's simulated (synthetic) PASTIS-R folder, a made-up pixel-set folder and
made-up tables.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "readers"))

from pixelset_fixture import write_global

from sitsfusion.config import ConfigError, DataConfig, load_config
from sitsfusion.data.modules import SITSDataModule, datamodule, datamodule_class
from sitsfusion.data.modules.pastis import PASTISDataModule
from sitsfusion.data.readers.pastis import pool_norm, read_norm
from sitsfusion.data.transforms import Normalize
from sitsfusion.errors import DatasetError


def data(*overrides: str) -> DataConfig:
    return load_config(None, list(overrides)).data


def table(tmp_path: Path, n: int = 40) -> Path:
    """A long table: two classes, two bands, four dates (made-up values)."""
    rows = ["sample_id,label,date,B1,B2"]
    for i in range(n):
        for m in (1, 2, 3, 4):
            rows.append(f"{i},{'ab'[i % 2]},2020-0{m}-01,{100 + i + 10 * m},{-i * m}")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_the_base_class_builds_the_module_of_the_format(pastis_r: Path, tmp_path: Path) -> None:
    cfg = data(f"data.root={pastis_r}")
    dm = SITSDataModule(cfg, target="semantic")
    assert type(dm) is PASTISDataModule and isinstance(dm, SITSDataModule)
    assert type(datamodule(cfg, target="parcel")) is PASTISDataModule
    tables = data("data.format=long_table", f"data.root={table(tmp_path)}")
    assert datamodule_class("long_table").format == "long_table"
    assert type(SITSDataModule(tables)).__name__ == "LongTableDataModule"
    with pytest.raises(ConfigError, match="'multisenge' does not serve the 'parcel' task"):
        datamodule(data("data.format=multisenge"), target="parcel")
    with pytest.raises(ConfigError, match="does not serve the 'semantic' task"):
        datamodule(tables, target="semantic")
    with pytest.raises(ConfigError, match="'heatmap' is not"):
        datamodule(cfg, target="heatmap")


@pytest.mark.parametrize("target", ["parcel", "semantic"])
def test_pastis_normalised_with_the_norm_files_of_the_training_folds(
    pastis_r: Path, target: str
) -> None:
    """The numbers of the former readers (norm_folds = training folds): the NORM files pooled
    over the training folds, applied in float32 to every split."""
    dm = datamodule(data(f"data.root={pastis_r}", "data.modalities=[S2,S1A]"), target=target)
    dm.setup()
    assert dm.normalize is not None
    for m in ("S2", "S1A"):
        mean, std = pool_norm(read_norm(pastis_r / f"NORM_{m}_patch.json"), [1, 2, 3])
        np.testing.assert_array_equal(dm.normalize.stats[m][0].numpy(), mean)
        np.testing.assert_array_equal(dm.normalize.stats[m][1].numpy(), std)
    assert dm.test is not None
    raw = dm.test.dataset[0]  # the reader gives values as stored
    got = dm.test[0]
    for m in ("S2", "S1A"):
        mean, std = pool_norm(read_norm(pastis_r / f"NORM_{m}_patch.json"), [1, 2, 3])
        v = raw[m].values
        shape = (1, -1) + (1,) * (v.ndim - 2)
        mean_t = torch.as_tensor(mean, dtype=torch.float32).view(shape)
        std_t = torch.as_tensor(std, dtype=torch.float32).view(shape)
        torch.testing.assert_close(got[m].values, (v - mean_t) / std_t, rtol=0, atol=0)


def test_normalize_is_the_last_transform(pastis_r: Path) -> None:
    cfg = data(
        f"data.root={pastis_r}",
        "data.modalities=[S2,S1A]",
        "data.temporal_dropout={S2: 0.4}",
        "data.resample_to=S2",
    )
    dm = datamodule(cfg, target="semantic")
    dm.setup()
    assert dm.train is not None and dm.val is not None
    steps = dm.train.transform.transforms  # type: ignore[union-attr]
    assert isinstance(steps[-1], Normalize) and steps[-1] is dm.normalize
    assert dm.val.transform.transforms[-1] is dm.normalize  # type: ignore[union-attr]
    sample = dm.train[0]
    assert torch.equal(sample["S1A"].dates, sample["S2"].dates)  # resampled, then normalised


def test_normalize_none_and_auto(pastis_r: Path, tmp_path: Path) -> None:
    raw = datamodule(data(f"data.root={pastis_r}", "data.normalize=none"), target="semantic")
    raw.setup()
    assert raw.normalize is None and raw.val is not None
    torch.testing.assert_close(raw.val[0]["S2"].values, raw.val.dataset[0]["S2"].values)
    path = table(tmp_path)
    auto = datamodule(data("data.format=long_table", f"data.root={path}"))
    auto.setup()
    assert auto.normalize is None  # tables: values as stored by default


def test_computed_statistics_ignore_the_simulated_clouds(tmp_path: Path) -> None:
    """Tables publish no statistics: they are computed over the training samples with the
    evaluation transforms, without the simulated cloud cover of the evaluated sets."""
    path = table(tmp_path)
    plain = datamodule(data("data.format=long_table", f"data.root={path}", "data.normalize=zscore"))
    cloudy = datamodule(
        data(
            "data.format=long_table",
            f"data.root={path}",
            "data.normalize=zscore",
            "data.eval_drop={S2: 0.5}",
        )
    )
    plain.setup()
    cloudy.setup()
    assert plain.normalize is not None and cloudy.normalize is not None and plain.train
    for a, b in zip(plain.normalize.stats["S2"], cloudy.normalize.stats["S2"], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    x = torch.cat([plain.train[i]["S2"].values[:, :, 0] for i in range(len(plain.train))])
    torch.testing.assert_close(x.mean(dim=0), torch.zeros(2), atol=1e-5, rtol=0)
    assert cloudy.test is not None and cloudy.test[0]["S2"].num_dates == 2  # clouds applied


def test_pixel_sets_use_the_published_meanstd_and_fixed_pixels(tmp_path: Path) -> None:
    mean, std = np.arange(10.0), np.full(10, 2.0)
    root = write_global(tmp_path / "ps", meanstd=(mean, std)).root
    cfg = data(
        "data.format=pixelset",
        f"data.root={root}",
        "data.nomenclature=label_44class",
        "data.n_pixels=2",
        "data.normalize=zscore",
        "data.split_fractions=[0.5, 0.25, 0.25]",
    )
    dm = datamodule(cfg)
    dm.setup()
    assert dm.normalize is not None
    np.testing.assert_array_equal(dm.normalize.stats["S2"][0].numpy(), mean)
    evaluation = dm.predict_dataset("train")
    assert dm.train is not None and len(evaluation) == len(dm.train)
    a, b = evaluation[0], evaluation[0]  # the evaluation twin draws fixed pixels
    torch.testing.assert_close(a["S2"].values, b["S2"].values, rtol=0, atol=0)
    assert len(dm.predict_dataset("all")) == 4


def test_pixel_sets_with_a_folds_file_split_by_the_folds(tmp_path: Path) -> None:
    root = write_global(tmp_path / "ps").root
    (root / "META" / "folds.json").write_text(json.dumps({"1": 1, "2": 2, "7": 3, "10": 1}))
    folds = ["data.train_folds=[1]", "data.val_folds=[2]", "data.test_folds=[3]"]
    common = ["data.format=pixelset", f"data.root={root}", "data.nomenclature=label_44class"]
    dm = datamodule(data(*common, *folds))
    dm.setup()
    ids = {s: [x.meta["id"] for x in dm.predict_dataset(s)] for s in ("train", "val", "test")}
    assert ids == {"train": ["1", "10"], "val": ["2"], "test": ["7"]}
    with pytest.raises(ConfigError, match=r"data.test_folds: no parcel of .* in folds \[5\]"):
        datamodule(data(*common, *folds[:2], "data.test_folds=[5]")).setup()


def test_predict_dataset_of_pastis_parcels(pastis_r: Path) -> None:
    dm = datamodule(data(f"data.root={pastis_r}", "data.n_pixels=8"), target="parcel")
    everything = dm.predict_dataset("all")
    assert dm.train is not None and dm.val is not None and dm.test is not None
    assert len(everything) == len(dm.train) + len(dm.val) + len(dm.test)
    train = dm.predict_dataset("train")
    first = train[0].meta["pixel_index"]
    assert torch.equal(first, train[0].meta["pixel_index"])  # fixed pixels, not random
    with pytest.raises(ConfigError, match="'everything' is not one of"):
        dm.predict_dataset("everything")


def test_missing_modality_and_empty_split(pastis_r: Path, tmp_path: Path) -> None:
    path = table(tmp_path)
    cfg = data("data.format=oad", f"data.root={path}")
    with pytest.raises(DatasetError, match=r"t\.csv: missing columns"):  # not an OAD table
        datamodule(cfg).setup()
    two = data("data.format=long_table", f"data.root={path}", "data.modalities=[S2,S1]")
    with pytest.raises(ConfigError, match=r"data.modalities: \['S1'\] not in"):
        datamodule(two).setup()
    few = data("data.format=long_table", f"data.root={table(tmp_path, n=2)}")
    with pytest.raises(ConfigError, match=r"split of .* is empty"):
        datamodule(few).setup()


def test_until_keeps_the_season_so_far_in_every_split(pastis_r: Path) -> None:
    """data.until (seed 000 Fig. 7): only the observations on or before the date, counted
    from the data's reference date (PASTIS: 2018-09-01), in the training and evaluated sets
    and in what a map applies; a bad date or data without a reference date is one line."""
    whole = datamodule(data(f"data.root={pastis_r}", "data.modalities=[S2, S1A]"))
    cut = datamodule(
        data(f"data.root={pastis_r}", "data.modalities=[S2, S1A]", "data.until=2018-12-31")
    )
    whole.setup()
    cut.setup()
    day = (np.datetime64("2018-12-31") - np.datetime64(str(cut.reference_date)[:10])).astype(int)
    assert day == 121  # PASTIS counts days from 2018-09-01
    for split in ("train", "val", "test"):
        for i in range(len(getattr(cut, split))):
            for m in ("S2", "S1A"):
                dates = getattr(cut, split)[i][m].dates
                assert int(dates.max()) <= day, (split, m)
                full = getattr(whole, split)[i][m].dates
                torch.testing.assert_close(dates, full[full <= day])
    sample = cut.predict_dataset("test")[0]
    assert int(sample["S2"].dates.max()) <= day
    with pytest.raises(ConfigError, match=r"data.until: '2018-13-01' is not an ISO date"):
        datamodule(data(f"data.root={pastis_r}", "data.until=2018-13-01")).setup()


def test_until_needs_a_reference_date() -> None:
    from sitsfusion.data.modules.base import _until_day

    assert _until_day(None, None, "x") is None
    assert _until_day("2019-03-31", "2018-10-01", "x") == 181  # seed 000's first two quarters
    with pytest.raises(ConfigError, match=r"data\.until: here has no reference date"):
        _until_day("2019-03-31", None, "here")
