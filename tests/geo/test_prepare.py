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
from sitsfusion.geo.prepare import patch_grid, patch_starts, plan_patches, prepare
from sitsfusion.simulate import simulate_scene
from tiny import TINY_PSE_LTAE

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


def test_patches_stay_inside_the_grid_and_only_a_small_area_grows() -> None:
    assert patch_starts(96, 32) == [0, 32, 64]
    assert patch_starts(80, 32) == [0, 32, 48]  # the last patch shifted back: it overlaps
    assert patch_starts(32, 32) == [0]
    grid = patch_grid(Grid("EPSG:32630", 10, (0, 0, 650, 300)), 32)
    assert grid.shape == (32, 65) and grid.bounds == (0, -20, 650, 300)  # grown down only
    assert patch_grid(grid, 32) == grid


def test_folds_are_blocks_of_patches_and_keep_empty_patches_out() -> None:
    semantic = np.zeros((96, 96), dtype=np.uint8)
    instance = np.zeros((96, 96), dtype=np.int32)
    semantic[:, :64], instance[:, :64] = 3, 1  # parcels in the two left columns of patches
    patches, n_empty = plan_patches(semantic, instance, 32, folds=2, block=2)
    assert n_empty == 3 and [p.id for p in patches] == [1, 2, 4, 5, 7, 8]
    fold = {p.id: p.fold for p in patches}
    assert fold[1] == fold[2] == fold[4] == fold[5]  # one block of 2 x 2 patches, one fold
    assert fold[7] == fold[8] != fold[1]
    assert (patches[-1].r0, patches[-1].c0) == (64, 32)


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
    assert mark["cut_parcels"] > 0  # block 1: parcels cut between patches of different folds


def test_a_parcel_cut_across_folds_is_labelled_in_one_fold_only(dataset: Path) -> None:
    meta = read_metadata(dataset)
    labelled: dict[int, set[int]] = {}
    present: dict[int, set[int]] = {}
    for pid in meta.index:
        ids = np.load(dataset / "ANNOTATIONS" / f"ParcelIDs_{pid}.npy")
        target = np.load(dataset / "ANNOTATIONS" / f"TARGET_{pid}.npy")[0]
        fold = int(meta.at[pid, "Fold"])
        for parcel in np.unique(ids[ids > 0]):
            present.setdefault(int(parcel), set()).add(fold)
            if (target[ids == parcel] != 19).any():
                labelled.setdefault(int(parcel), set()).add(fold)
    assert any(len(f) > 1 for f in present.values())  # parcels cut across folds exist ...
    assert all(len(f) == 1 for f in labelled.values())  # ... and are labelled in one fold


def test_the_area_and_its_parcels_are_written_in_the_grid_crs(dataset: Path, scene: Path) -> None:
    import geopandas as gpd

    aoi = gpd.read_file(dataset / "aoi.geojson")
    parcels = gpd.read_file(dataset / "parcels.gpkg", layer="parcels")
    assert aoi.crs.to_epsg() == 32630 == parcels.crs.to_epsg() and len(aoi) == 1
    source = gpd.read_file(scene / "parcels.gpkg")
    assert aoi.geometry[0].covers(source.union_all().envelope.buffer(-1e-6))
    assert {"parcel_id", "class_value", "class_id"} <= set(parcels.columns)
    ids = set()
    for path in (dataset / "ANNOTATIONS").glob("ParcelIDs_*.npy"):
        arr = np.load(path)
        ids |= set(np.unique(arr[arr > 0]).tolist())
    assert ids == set(parcels["parcel_id"])


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
    for name in ("DATA_S2/S2_2.npy", "DATA_S1D/S1D_4.npy", "ANNOTATIONS/ParcelIDs_1.npy"):
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

    small = list(TINY_PSE_LTAE)  # one epoch
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


def test_edge_patches_overlap_inside_the_imagery_and_dates_follow_the_window(
    tmp_path: Path,
) -> None:
    """An 80 x 80 px synthetic scene in 32-px patches: the last row / column of patches starts
    at pixel 48 (inside the imagery, overlapping) instead of reaching 16 px beyond it; the
    season window and the cloud limit reach the loader."""
    scene = simulate_scene(tmp_path / "area", size=80, s2_dates=8, s1_dates=4, seed=5)
    summary = prepare(
        scene / "catalog.json",
        scene / "parcels.gpkg",
        tmp_path / "ds",
        patch_size=32,
        block=1,
        start="2019-03-01",
        end="2019-09-30",
        max_cloud=100,
        tile=64,  # several tiles: patches of one tile read together
    )
    assert summary.grid.shape == (80, 80)
    meta = read_metadata(tmp_path / "ds")
    origins = {tuple(t[2::3]) for t in meta["transform"]}
    x0, y0 = summary.grid.bounds[0], summary.grid.bounds[3]
    assert {round((x - x0) / 10) for x, _ in origins} <= {0, 32, 48}
    assert {round((y0 - y) / 10) for _, y in origins} <= {0, 32, 48}
    for pid in meta.index:
        s2 = np.load(tmp_path / "ds" / "DATA_S2" / f"S2_{pid}.npy")
        assert ((s2 != 0).all(axis=1).mean(axis=(1, 2)) >= 0.5).all()  # every date kept is clear
        days = np.asarray(meta.at[pid, "dates-S2"]).astype(str)
        assert days.size and all("20190301" <= d.replace("-", "")[:8] <= "20190930" for d in days)
    whole = prepare(
        scene / "catalog.json", scene / "parcels.gpkg", tmp_path / "ds2", patch_size=32, block=1
    )
    assert whole.dates["S2"] > summary.dates["S2"]
    import pystac

    items = [
        i
        for i in pystac.Catalog.from_file(scene / "catalog.json").get_items(recursive=True)
        if i.id.startswith("S2_") and "20190301" <= i.id[3:11] <= "20190930"
    ]
    clear = {i.id[3:11] for i in items if i.properties["eo:cloud_cover"] <= 20}
    assert summary.dates["S2"] == len({i.id[3:11] for i in items}) > len(clear) > 0
    cloudless = prepare(
        *(scene / "catalog.json", scene / "parcels.gpkg", tmp_path / "ds3"),
        **{"patch_size": 32, "start": "2019-03-01", "end": "2019-09-30", "max_cloud": 20},
    )
    assert cloudless.dates["S2"] == len(clear)


def test_large_parcel_ids_are_kept_and_cost_no_memory(
    scene: Path, dataset: Path, tmp_path: Path
) -> None:
    """LPIS ids run into the billions: they stay the parcels' ids (ParcelIDs, parcels.gpkg),
    and the fold of each parcel is found without an array indexed by id (2e9 entries)."""
    import geopandas as gpd

    frame = gpd.read_file(scene / "parcels.gpkg")
    frame["parcel_id"] = frame["parcel_id"].astype("int64") + 2_000_000_000
    frame.to_file(tmp_path / "big.gpkg")
    (tmp_path / "crop_codes.csv").write_bytes((scene / "crop_codes.csv").read_bytes())
    out = tmp_path / "ds"
    import tracemalloc  # numpy reports its buffers to tracemalloc, calloc'ed ones included

    tracemalloc.start()
    try:
        prepare(scene / "catalog.json", tmp_path / "big.gpkg", out, patch_size=32, block=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 500e6, f"{peak / 1e9:.1f} GB traced"
    for name in ("TARGET_1.npy", "TARGET_4.npy"):  # the same labels, void included
        np.testing.assert_array_equal(
            np.load(out / "ANNOTATIONS" / name), np.load(dataset / "ANNOTATIONS" / name)
        )
    ids = np.load(out / "ANNOTATIONS" / "ParcelIDs_1.npy")
    assert ids[ids > 0].min() > 2_000_000_000
    parcels = gpd.read_file(out / "parcels.gpkg", layer="parcels")
    assert parcels["parcel_id"].min() > 2_000_000_000
