"""``sitsfusion prepare`` on the simulator's (synthetic) scene: a 64 x 64 px area cut into four
32 x 32 patches of the PASTIS-R layout, which ``info``, the PASTIS reader and ``fit`` read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("odc.stac")

from paths import CONFIGS
from sitsfusion.cli import cli
from sitsfusion.data.readers.pastis import PASTIS, read_metadata
from sitsfusion.errors import DatasetError
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.prepare import fold_of_patches, patch_grid, prepare
from sitsfusion.simulate import simulate_scene

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # DataWarning: small parcels


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scene") / "area"
    return simulate_scene(out, size=64, s2_dates=4, s1_dates=3, geotiff=True, seed=3)


@pytest.fixture(scope="module")
def dataset(scene: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "ds"
    result = CliRunner().invoke(
        cli,
        [
            "prepare",
            "--imagery",
            str(scene / "catalog.json"),
            "--labels",
            str(scene / "parcels.gpkg"),
            "--out",
            str(out),
            "--patch-size",
            "32",
            "--block",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "4 patches" in result.output and "synthetic" in result.output
    assert "warning: folds [5] will hold no patch" in result.output  # 4 patches, 5 folds
    return out


def test_the_grid_grows_to_whole_patches_and_folds_are_spatial_blocks() -> None:
    grid = patch_grid(Grid("EPSG:32630", 10, (0, 0, 650, 300)), 32)
    assert grid.shape == (32, 96) and grid.bounds == (0, -20, 960, 300)  # grown right, down
    folds = fold_of_patches(4, 4, folds=5, block=2)
    np.testing.assert_array_equal(folds[:2, :2], 1)  # one block, one fold
    np.testing.assert_array_equal(folds[:2, 2:], 2)
    np.testing.assert_array_equal(folds[2:, :2], 3)
    assert set(np.unique(fold_of_patches(3, 3, folds=5, block=1))) == {1, 2, 3, 4, 5}


def test_the_dataset_has_the_pastis_r_layout_in_pastis_units(dataset: Path) -> None:
    meta = read_metadata(dataset)
    assert sorted(meta.index) == [1, 2, 3, 4] and sorted(meta["Fold"]) == [1, 2, 3, 4]
    for pid in meta.index:
        s2 = np.load(dataset / "DATA_S2" / f"S2_{pid}.npy")
        s1 = np.load(dataset / "DATA_S1A" / f"S1A_{pid}.npy")
        assert s2.dtype == np.int16 and s2.shape[1:] == (10, 32, 32)
        assert s1.dtype == np.float32 and s1.shape[1:] == (3, 32, 32)
        assert len(s2) == len(meta.at[pid, "dates-S2"]) >= 1
        assert 100 < np.median(s2[s2 > 0]) < 10_000  # reflectance x 10^4
        clear = s1[:, 0] != 0
        assert -40 < s1[:, 0][clear].mean() < 5  # dB
        np.testing.assert_allclose(s1[:, 2][clear], (s1[:, 0] - s1[:, 1])[clear], atol=1e-5)
        target = np.load(dataset / "ANNOTATIONS" / f"TARGET_{pid}.npy")
        ids = np.load(dataset / "ANNOTATIONS" / f"ParcelIDs_{pid}.npy")
        inst = np.load(dataset / "INSTANCE_ANNOTATIONS" / f"INSTANCES_{pid}.npy")
        assert target.shape == (3, 32, 32) and target.max() <= 19
        assert meta.at[pid, "N_Parcel"] == len(np.unique(ids[ids > 0]))
        assert ((inst > 0) == (ids > 0)).all() and inst.max() == meta.at[pid, "N_Parcel"]
    assert json.loads((dataset / "NORM_S1D_patch.json").read_text()).keys() == {
        f"Fold_{k}" for k in (1, 2, 3, 4)
    }
    mark = json.loads((dataset / ".sitsfusion.json").read_text())
    assert mark["complete"] and mark["synthetic"] and mark["kind"] == "dataset"
    assert mark["leaks"] > 0  # block 1: parcels cut between patches of different folds


def test_info_detects_pastis_and_the_reader_gives_the_grid_window(
    dataset: Path, scene: Path
) -> None:
    result = CliRunner().invoke(cli, ["info", str(dataset)])
    assert result.exit_code == 0, result.output
    assert "pastis" in result.output.lower() and "synthetic" in result.output
    data = PASTIS(dataset, folds=[1, 2, 3, 4], modalities=["S2", "S1A", "S1D"])
    grid = Grid(**json.loads((dataset / ".sitsfusion.json").read_text())["grid"])
    assert data.synthetic
    for i in range(len(data)):
        sample = data[i]
        assert sample.series["S2"].values.shape[1:] == (10, 32, 32)
        assert sample.series["S1D"].values.shape[1:] == (3, 32, 32)
        assert sample.semantic.shape == (32, 32)
        pid = sample.meta["id"]
        row, col = divmod(pid - 1, 2)
        x0, y0 = grid.transform * (col * 32, row * 32)
        assert sample.meta["crs"] == grid.crs == "EPSG:32630"
        assert sample.meta["transform"] == (10.0, 0.0, x0, 0.0, -10.0, y0)


def test_an_interrupted_prepare_resumes(scene: Path, dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    args = (scene / "catalog.json", scene / "parcels.gpkg", out)

    def interrupt(pid: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare(*args, patch_size=32, block=1, on_patch=interrupt)
    assert not json.loads((out / ".sitsfusion.json").read_text())["complete"]
    summary = prepare(*args, patch_size=32, block=1)
    assert summary.n_resumed == 1 and summary.n_patches == 4
    for name in ("DATA_S2/S2_1.npy", "DATA_S1A/S1A_3.npy", "ANNOTATIONS/TARGET_4.npy"):
        np.testing.assert_array_equal(np.load(out / name), np.load(dataset / name))
    with pytest.raises(FileExistsError, match="overwrite"):
        prepare(*args, patch_size=16, block=1)  # other arguments: not a resume


def test_the_geotiff_folder_gives_the_same_dataset(
    scene: Path, dataset: Path, tmp_path: Path
) -> None:
    with pytest.warns(UserWarning, match=r"folds \[2, 3, 4, 5\] will hold no patch"):
        summary = prepare(  # default blocks of 2 x 2 patches: the 4 patches are all fold 1
            scene / "geotiff", scene / "parcels.gpkg", tmp_path / "ds", patch_size=32
        )
    assert summary.synthetic and summary.n_patches == 4
    for name in ("DATA_S2/S2_2.npy", "DATA_S1D/S1D_4.npy", "ANNOTATIONS/TARGET_1.npy"):
        np.testing.assert_allclose(np.load(tmp_path / "ds" / name), np.load(dataset / name))
    assert "SYNTHETIC" in (tmp_path / "ds" / "metadata.geojson").read_text()


def test_a_missing_class_column_is_one_line(scene: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"parcels.gpkg: no class column 'nope'") as info:
        prepare(
            scene / "catalog.json", scene / "parcels.gpkg", tmp_path / "ds", class_column="nope"
        )
    assert "\n" not in str(info.value)
    assert not (tmp_path / "ds").exists()


def test_labels_away_from_the_imagery_are_one_line(scene: Path, tmp_path: Path) -> None:
    import geopandas as gpd

    far = gpd.read_file(scene / "parcels.gpkg")
    far["geometry"] = far.translate(50_000, 0)
    far.to_file(tmp_path / "far.gpkg")
    (tmp_path / "crop_codes.csv").write_bytes((scene / "crop_codes.csv").read_bytes())
    with pytest.raises(DatasetError, match=r"catalog.json: no S2 item overlaps the grid") as info:
        prepare(scene / "catalog.json", tmp_path / "far.gpkg", tmp_path / "ds", patch_size=32)
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_fit_trains_on_the_prepared_dataset(dataset: Path, tmp_path: Path) -> None:
    from sitsfusion.config import load_config
    from sitsfusion.training import fit

    small = [
        "model.spatial={name: pse, mlp1: [8, 16], mlp2: [16]}",
        "model.temporal={name: ltae, n_head: 4, d_k: 4, d_model: 16, mlp: [16, 16]}",
        "model.decoder=[8]",
        "data.batch_size=32",
        "data.n_pixels=8",
        "train.epochs=1",
    ]  # tests/cli/test_training_commands.py SMALL, one epoch
    folds = ["data.train_folds=[1, 2]", "data.val_folds=[3]", "data.test_folds=[4]"]
    config = CONFIGS / "garnot2021" / "parcel" / "s2.yaml"
    cfg = load_config(config, [*small, *folds, f"data.root={dataset}"])
    run = tmp_path / "run"
    fit(cfg, run)
    assert (run / "checkpoints" / "best.ckpt").is_file()


def test_the_reader_checks_the_georeferencing_keys(dataset: Path, tmp_path: Path) -> None:
    collection = json.loads((dataset / "metadata.geojson").read_text())
    del collection["features"][0]["properties"]["crs"]  # absent: the file's CRS
    (tmp_path / "metadata.geojson").write_text(json.dumps(collection))
    meta = read_metadata(tmp_path)
    assert set(meta["crs"]) == {"EPSG:32630"}
    assert all(len(t) == 6 for t in meta["transform"])
    collection["features"][1]["properties"]["transform"] = [10.0, 0.0, 1.0]
    (tmp_path / "metadata.geojson").write_text(json.dumps(collection))
    with pytest.raises(DatasetError, match=r"patch 2: bad transform \(expected 6 finite"):
        read_metadata(tmp_path)
