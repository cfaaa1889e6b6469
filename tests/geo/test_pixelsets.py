"""The parcel mode of ``prepare`` (``sitsfusion.geo.pixelsets``) on the simulator's synthetic
scene: a 64 x 64 px area read in 32 x 32 px tiles, every parcel written once, whole, as a pixel
set that the pixel-set reader and ``fit`` read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("odc.stac")

from paths import CONFIGS
from sitsfusion.data.readers.pixelset import PixelSetDataset
from sitsfusion.errors import DatasetError
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.labels import label_parcels, rasterize_parcels, read_parcels
from sitsfusion.geo.pixelsets import parcel_folds, prepare_pixelsets
from sitsfusion.simulate import simulate_scene
from tiny import TINY_PSE_LTAE

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # DataWarning: small parcels

SCL_NOT_VALID = (0, 1, 3, 8, 9, 10)  # docs/own-area.md: no data, defective, shadow, clouds
ARGS = {"tile": 32, "folds": 3, "block": 1, "block_unit": 32}  # 4 tiles, 4 blocks, 3 folds


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scene") / "area"
    return simulate_scene(out, size=64, s2_dates=4, s1_dates=3, geotiff=True, seed=3)


@pytest.fixture(scope="module")
def dataset(scene: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pixelsets") / "ds"
    summary = prepare_pixelsets(scene / "catalog.json", scene / "parcels.gpkg", out, **ARGS)
    assert summary.synthetic and summary.n_tiles == 4 and summary.n_resumed == 0
    assert summary.n_parcels > 10 and summary.n_no_data == 0
    assert "synthetic" in summary.line() and "\n" not in summary.line()
    return out


def grid_of(dataset: Path) -> Grid:
    return Grid(**json.loads((dataset / ".sitsfusion.json").read_text())["grid"])


def instance_map(scene: Path, grid: Grid) -> np.ndarray:
    """The parcels rasterised anew on the dataset's grid (every pixel, no void border)."""
    parcels = label_parcels(
        read_parcels(scene / "parcels.gpkg"), "pastis", table=scene / "crop_codes.csv"
    )
    maps = rasterize_parcels(parcels, grid.crs, grid.transform, grid.shape, borders=False)
    return maps.instance


def test_each_parcel_is_one_pixel_set_with_all_its_pixels(scene: Path, dataset: Path) -> None:
    data = PixelSetDataset(dataset, n_pixels=None)
    assert data.variant == "multi_sensor" and set(data.modalities) == {"S2", "S1A", "S1D"}
    assert data.nomenclature == "pastis" and data.synthetic
    assert PixelSetDataset(dataset / "S2", n_pixels=None).synthetic  # one sensor's folder
    instance = instance_map(scene, grid_of(dataset))
    ids, counts = np.unique(instance[instance > 0], return_counts=True)
    assert sorted(data.ids, key=int) == [str(i) for i in ids]  # every parcel, once
    rows = {int(p): np.flatnonzero(instance == p) // instance.shape[1] for p in ids}
    assert any(r.min() < 32 <= r.max() for r in rows.values())  # some span two tile rows
    for i, pid in enumerate(data.ids):
        sample = data[i]
        n = counts[list(ids).index(int(pid))]
        assert sample["S2"].values.shape[1:] == (10, n)
        assert sample["S1A"].values.shape[1:] == (3, n) == sample["S1D"].values.shape[1:]
        assert sample.meta["geomfeat"][1] == n  # pixel count, as export_pixelsets writes
        assert len(sample["S2"].dates) >= 1
    labels = json.loads((dataset / "S2" / "META" / "labels.json").read_text())["pastis"]
    assert set(labels.values()) <= set(range(1, 19))  # PASTIS crop classes, no void


def test_pixel_values_are_the_cogs_at_the_parcel_pixels(scene: Path, dataset: Path) -> None:
    import rasterio

    grid = grid_of(dataset)
    instance = instance_map(scene, grid)
    flat = {int(p): np.flatnonzero(instance == p) for p in np.unique(instance[instance > 0])}
    width = grid.shape[1]
    pid = next(p for p in flat if (flat[p] % width).min() < 32 <= (flat[p] % width).max())
    rows, cols = np.divmod(flat[pid], width)  # row-major: the stored order, across 2 tiles
    xs, ys = rasterio.transform.xy(grid.transform, rows, cols)  # pixel centres
    dates = json.loads((dataset / "S2" / "META" / "dates.json").read_text())[str(pid)]
    s2 = np.load(dataset / "S2" / "DATA" / f"{pid}.npy")
    item = scene / "sentinel-2-l2a" / f"S2_{dates[-1]}"

    def read(path: Path) -> np.ndarray:
        with rasterio.open(path) as src:
            r, c = rasterio.transform.rowcol(src.transform, xs, ys)
            return src.read(1)[np.asarray(r), np.asarray(c)]

    dn, scl = read(item / "B04.tif").astype(np.int64), read(item / "SCL.tif")
    clear = ~np.isin(scl, SCL_NOT_VALID) & (dn > 0)
    assert clear.mean() >= 0.5  # the date is kept for the parcel: half its pixels clear
    expected = np.where(clear, np.clip(dn - 1000, 0, None), 0)  # (DN x 1e-4 - 0.1) x 1e4
    np.testing.assert_array_equal(s2[-1, 2], expected)  # B04, the 3rd band
    s1_dates = json.loads((dataset / "S1A" / "META" / "dates.json").read_text())[str(pid)]
    s1 = np.load(dataset / "S1A" / "DATA" / f"{pid}.npy")
    vv = read(scene / "sentinel-1-rtc" / f"S1_{s1_dates[0]}_ASC" / "vv.tif")
    np.testing.assert_allclose(s1[0, 0], 10 * np.log10(vv), rtol=1e-5)  # linear -> dB


def test_folds_are_spatial_blocks_and_a_parcel_has_one(scene: Path, dataset: Path) -> None:
    import geopandas as gpd

    folds = json.loads((dataset / "S1D" / "META" / "folds.json").read_text())
    data = PixelSetDataset(dataset, n_pixels=None)
    assert data.folds is not None and set(data.folds.tolist()) == {1, 2, 3}
    assert dict(zip(data.ids, data.folds.tolist(), strict=True)) == folds
    parcels = gpd.read_file(dataset / "parcels.gpkg", layer="parcels")  # as the patch mode
    assert parcels.crs == "EPSG:32630" and sorted(parcels["parcel_id"].astype(str)) == sorted(folds)
    assert parcels["class_value"].map(type).eq(str).all()
    aoi = json.loads((dataset / "aoi.geojson").read_text())
    assert len(aoi["features"]) == 1 and aoi["crs"]["properties"]["name"].endswith("32630")


def test_parcel_folds_deal_blocks_and_keep_a_block_in_one_fold() -> None:
    rng = np.random.default_rng(0)
    rows, cols = rng.uniform(0, 512, 400), rng.uniform(0, 512, 400)  # 4 x 4 squares of 128
    classes, pixels = rng.integers(1, 6, 400), rng.integers(10, 100, 400)
    fold = parcel_folds(rows, cols, classes, pixels, (512, 512), folds=5, block=2)
    assert len(set(fold.tolist())) == 4  # 2 x 2 blocks of 2 x 2 squares: 4 folds of 5
    block = (rows // 256).astype(int) * 2 + (cols // 256).astype(int)
    for b in range(4):
        assert len(set(fold[block == b].tolist())) == 1  # one block, one fold
    fold = parcel_folds(rows, cols, classes, pixels, (512, 512), folds=5, block=1)
    assert set(fold.tolist()) == {1, 2, 3, 4, 5}  # 16 blocks: every fold
    with pytest.raises(ValueError, match="must be >= 1"):
        parcel_folds(rows, cols, classes, pixels, (512, 512), folds=0)


def test_dates_are_kept_per_parcel_and_parcels_without_data_left_out(tmp_path: Path) -> None:
    from sitsfusion.geo.pixelsets import _Piece, _write_parcel

    grid = Grid("EPSG:32630", 10, (0, 0, 100, 100))
    valid = np.zeros((3, 5), dtype=bool)
    valid[0, :1], valid[1, :3], valid[2, :] = True, True, True  # 20 %, 60 %, 100 % clear
    values = np.where(valid[:, None, :], 7, 0).astype(np.int16).repeat(10, axis=1)
    days = {"S2": np.array(["2021-05-01", "2021-05-11", "2021-05-21"], dtype="datetime64[D]")}
    piece = _Piece(np.array([0, 1, 2, 10, 11]), {"S2": (values, valid)})
    (tmp_path / "S2" / "DATA").mkdir(parents=True)
    record = _write_parcel(tmp_path, 5, piece, days, grid, min_clear=0.5)
    assert record is not None and record["dates"] == {"S2": [20210511, 20210521]}
    assert record["n"] == 5 and record["geomfeat"][:2] == [100.0, 5.0]  # 10 edges of 10 m
    np.testing.assert_array_equal(np.load(tmp_path / "S2" / "DATA" / "5.npy"), values[1:])
    none = {"S2": (values, valid), "S1A": (np.zeros((2, 3, 5)), np.zeros((2, 5), dtype=bool))}
    days["S1A"] = days["S2"][:2]
    assert _write_parcel(tmp_path, 6, _Piece(piece.index, none), days, grid, 0.5) is None
    assert not (tmp_path / "S2" / "DATA" / "6.npy").exists()


def test_an_interrupted_run_resumes_at_the_next_tile(
    scene: Path, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    args = (scene / "catalog.json", scene / "parcels.gpkg", out)
    done: list[int] = []

    def interrupt_second(tile: int) -> None:
        done.append(tile)
        if len(done) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_pixelsets(*args, **ARGS, on_tile=interrupt_second)
    assert not json.loads((out / ".sitsfusion.json").read_text())["complete"]
    again: list[int] = []
    summary = prepare_pixelsets(*args, **ARGS, on_tile=again.append)
    assert summary.n_resumed == 2 and again == sorted(set(range(4)) - set(done))
    assert not (out / ".pixelsets" / "parts").exists()  # the pieces of parcels, cleaned
    for sensor in ("S2", "S1A"):
        for meta in ("labels.json", "dates.json", "folds.json", "geomfeat.json"):
            name = f"{sensor}/META/{meta}"
            assert (out / name).read_text() == (dataset / name).read_text()
        for path in sorted((dataset / sensor / "DATA").iterdir()):
            np.testing.assert_array_equal(np.load(out / sensor / "DATA" / path.name), np.load(path))
    with pytest.raises(FileExistsError, match="overwrite"):
        prepare_pixelsets(*args, tile=16)  # other arguments: not a resume


def test_bad_arguments_are_refused_before_any_work(scene: Path, tmp_path: Path) -> None:
    args = (scene / "catalog.json", scene / "parcels.gpkg", tmp_path / "ds")
    with pytest.raises(ValueError, match="sensors must be among"):
        prepare_pixelsets(*args, sensors=["S3"])
    with pytest.raises(ValueError, match=r"min_clear must be in \[0, 1\]"):
        prepare_pixelsets(*args, min_clear=2.0)
    assert not (tmp_path / "ds").exists()


def test_the_geotiff_folder_gives_the_same_pixel_sets(
    scene: Path, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    summary = prepare_pixelsets(scene / "geotiff", scene / "parcels.gpkg", out, **ARGS)
    assert summary.synthetic
    for sensor in ("S2", "S1D"):
        for path in sorted((dataset / sensor / "DATA").iterdir()):
            np.testing.assert_allclose(np.load(out / sensor / "DATA" / path.name), np.load(path))
        name = f"{sensor}/META/dates.json"
        assert (out / name).read_text() == (dataset / name).read_text()


def test_labels_away_from_the_imagery_leave_nothing(scene: Path, tmp_path: Path) -> None:
    import geopandas as gpd

    far = gpd.read_file(scene / "parcels.gpkg")
    far["geometry"] = far.translate(50_000, 0)
    far.to_file(tmp_path / "far.gpkg")
    (tmp_path / "crop_codes.csv").write_bytes((scene / "crop_codes.csv").read_bytes())
    with pytest.raises(DatasetError, match=r"catalog.json: no S2 item overlaps the grid") as info:
        prepare_pixelsets(scene / "catalog.json", tmp_path / "far.gpkg", tmp_path / "ds")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "ds").exists()


@pytest.mark.slow
def test_fit_trains_on_the_pixel_sets(dataset: Path, tmp_path: Path) -> None:
    from sitsfusion.config import load_config
    from sitsfusion.training import fit

    small = list(TINY_PSE_LTAE)  # one epoch
    pixelsets = [
        "data.format=pixelset",
        f"data.root={dataset}",
        "data.normalize=zscore",
        f"data.classes={list(range(1, 19))}",  # PASTIS crop classes 1-18, seed 001's K = 18
        "data.train_folds=[1]",
        "data.val_folds=[2]",
        "data.test_folds=[3]",
    ]
    cfg = load_config(CONFIGS / "garnot2021" / "parcel" / "late.yaml", [*small, *pixelsets])
    run = tmp_path / "run"
    fit(cfg, run)
    assert (run / "checkpoints" / "best.ckpt").is_file()


def same_pixel_sets(out: Path, dataset: Path) -> None:
    """Every file of ``dataset`` (DATA, META, parcels.gpkg, aoi.geojson) is in ``out``, the
    same; the tiles' records and the parcels' pieces aside."""
    files = [p for p in dataset.rglob("*") if p.is_file() and ".pixelsets" not in p.parts]
    assert len(files) > 50
    for path in files:
        rel = path.relative_to(dataset)
        if rel.name == ".sitsfusion.json":
            continue
        if path.suffix == ".npy":
            a, b = np.load(path), np.load(out / rel)
            assert a.dtype == b.dtype and np.array_equal(a, b), rel
        elif path.suffix == ".gpkg":
            import geopandas as gpd

            assert gpd.read_file(out / rel).equals(gpd.read_file(path)), rel
        else:
            assert (out / rel).read_bytes() == path.read_bytes(), rel
    assert not (out / ".pixelsets" / "parts").exists()


def test_an_interrupted_join_resumes_at_the_next_group(
    scene: Path, dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sitsfusion.geo.pixelsets as pixelsets

    join = pixelsets._join_parcels
    groups: list[int] = []

    def interrupt_second(job, tiles, pids, t):  # type: ignore[no-untyped-def]
        groups.append(t)
        if len(groups) == 2:
            raise KeyboardInterrupt
        return join(job, tiles, pids, t)

    out = tmp_path / "ds"
    args = (scene / "catalog.json", scene / "parcels.gpkg", out)
    monkeypatch.setattr(pixelsets, "_join_parcels", interrupt_second)
    with pytest.raises(KeyboardInterrupt):  # phase 2: after every tile, the second group
        prepare_pixelsets(*args, **ARGS)
    records = out / ".pixelsets"
    assert len(list((records / "tiles").iterdir())) == 4 and (records / "parts").is_dir()
    assert [p.name for p in (records / "joined").iterdir()] == [f"{groups[0]}.json"]
    again: list[int] = []
    summary = prepare_pixelsets(*args, **ARGS, on_tile=again.append)
    assert summary.n_resumed == 4 and again == []  # no tile read again
    assert groups[0] not in groups[2:] and groups[1] in groups[2:]  # the first group kept
    same_pixel_sets(out, dataset)


def test_tiles_finishing_in_any_order_give_the_same_pixel_sets(
    scene: Path, dataset: Path, tmp_path: Path
) -> None:
    from sitsfusion.geo.pixelsets import TileJob, TileTask

    sent: list[TileTask] = []

    def backwards(fn, tasks, job):  # type: ignore[no-untyped-def]
        assert isinstance(job, TileJob)
        sent.extend(tasks)
        for task in reversed(sent):
            yield fn(task, job=job)

    finished: list[int] = []
    out = tmp_path / "ds"
    prepare_pixelsets(
        scene / "catalog.json",
        scene / "parcels.gpkg",
        out,
        **ARGS,
        run_tiles=backwards,
        on_tile=finished.append,
    )
    assert finished == [3, 2, 1, 0]
    assert all(task.instance.shape == (32, 32) for task in sent)  # its own slice, no more
    assert any(task.spanning for task in sent)
    same_pixel_sets(out, dataset)


def test_a_part_read_now_is_the_lazy_whole_grid_there(scene: Path, dataset: Path) -> None:
    from sitsfusion.geo.area import SENSORS, Imagery

    grid = grid_of(dataset)
    for imagery in (Imagery.of(scene / "catalog.json"), Imagery.of(scene / "geotiff")):
        found = imagery.find(grid, SENSORS)
        whole = imagery.load(grid, SENSORS, 32, found=found)
        part = imagery.read_part(grid, found, (16, 8, 48, 30))
        for sensor, cube in part.items():
            assert isinstance(cube["values"].data, np.ndarray)  # read, not a Dask graph
            there = whole[sensor].isel(y=slice(16, 48), x=slice(8, 30)).compute()
            np.testing.assert_array_equal(cube["time"], whole[sensor]["time"])  # same dates
            np.testing.assert_array_equal(cube["valid"], there["valid"])
            np.testing.assert_array_equal(cube["values"], there["values"])
            np.testing.assert_array_equal(cube["x"], there["x"])
