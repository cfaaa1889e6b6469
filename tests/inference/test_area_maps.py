"""Maps of a whole area: the patches of one pixel grid blended into ``mosaic.tif`` and the
area's parcels aggregated once (synthetic PASTIS-R patches with the georeferencing keys, an
untrained shrunken U-TAE; a slow test on a prepared synthetic scene).

The hand-made area (EPSG:32630, 10 m, origin (500000, 4800000)), 64 x 80 pixels::

    cols   0      16     32     48            80
    rows 0 +------+------+------+-------------+
           | P0   |P0+P1 | P1   |     P4      |   P0 and P1 overlap on 16 columns
        32 +------+------+------+-------------+
           | P2          | none |     P3      |
        64 +-------------+------+-------------+

The AOI stops at column 72. Parcels are 7 x 7 blocks (ids area-wide, ParcelIDs files), some
cut by patch borders; in P2 the parcels that P0 also holds are void (another fold's).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner
from shapely.geometry import box

from paths import CONFIGS
from sitsfusion.config import ConfigError, load_config
from sitsfusion.data.sample import collate
from sitsfusion.inference import NODATA, predict_maps
from sitsfusion.inference.area_maps import AreaMaps
from sitsfusion.simulate import simulate_pastis
from sitsfusion.tasks.base import load_task
from sitsfusion.training import build_task, datamodule

CONFIG = CONFIGS / "garnot2021" / "semantic" / "s2.yaml"
SMALL = [
    "model.encoder={name: utae, encoder_widths: [8, 8, 8, 16], decoder_widths: [8, 8, 8, 16],"
    " n_head: 4, d_model: 16, d_k: 4}",
    "model.head=[8]",
    "data.batch_size=2",
]
CRS, X0, Y0, RES, SIZE = "EPSG:32630", 500000.0, 4800000.0, 10.0, 32
HEIGHT, WIDTH, AOI_COLS = 64, 80, 72
MISSING = 5000 + 2 * 20 + 3  # a parcel the dataset's parcels.gpkg lacks
PATCHES = {10000: (0, 0), 10001: (0, 16), 10002: (32, 0), 10003: (32, 48), 10004: (0, 48)}


def _parcel_map() -> np.ndarray:
    """int64 [64, 80] area-wide parcel ids: 7 x 7 blocks with a one-pixel border of 0."""
    r, c = np.mgrid[:HEIGHT, :WIDTH]
    ids = 5000 + ((r + 4) // 8) * 20 + (c + 4) // 8
    return np.where(((r + 4) % 8 == 0) | ((c + 4) % 8 == 0), 0, ids).astype(np.int64)


def _classes(ids: np.ndarray) -> np.ndarray:
    return np.where(ids > 0, 1 + ids % 18, 0)


def _taper(n: int) -> np.ndarray:  # the weights the docs promise, written out again
    i = np.arange(n)
    return np.minimum(i + 1, n - i).astype(np.float64)


def _make_area(root: Path) -> None:
    """Turn a simulated PASTIS-R folder into the area above (synthetic)."""
    ids = _parcel_map()
    meta = json.loads((root / "metadata.geojson").read_text())
    shared = set(np.unique(ids[28:32])) & set(np.unique(ids[32:36])) - {0}
    for fold, feature in enumerate(meta["features"], start=1):
        pid = feature["properties"]["ID_PATCH"]
        r0, c0 = PATCHES[pid]
        win = ids[r0 : r0 + SIZE, c0 : c0 + SIZE]
        semantic = _classes(win)
        if pid == 10002:
            semantic = np.where(np.isin(win, list(shared)), 19, semantic)  # void here
        np.save(root / "ANNOTATIONS" / f"ParcelIDs_{pid}.npy", win.astype(np.int32))
        np.save(
            root / "ANNOTATIONS" / f"TARGET_{pid}.npy", np.stack([semantic] * 3).astype(np.uint8)
        )
        x0, y0 = X0 + c0 * RES, Y0 - r0 * RES
        x1, y1 = x0 + SIZE * RES, y0 - SIZE * RES
        feature["properties"].update(Fold=fold, crs=CRS, transform=[RES, 0.0, x0, 0.0, -RES, y0])
        feature["geometry"] = {
            "type": "Polygon",
            "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
        }
    crs_member = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32630"}}
    meta["crs"] = crs_member
    (root / "metadata.geojson").write_text(json.dumps(meta))
    aoi = box(X0, Y0 - HEIGHT * RES, X0 + AOI_COLS * RES, Y0)
    collection = {
        "type": "FeatureCollection",
        "crs": crs_member,
        "features": [{"type": "Feature", "properties": {}, "geometry": aoi.__geo_interface__}],
    }
    (root / "aoi.geojson").write_text(json.dumps(collection))


def _user_parcels(root: Path) -> gpd.GeoDataFrame:
    """The area's parcels as a prepared dataset's parcels.gpkg holds them (boxes)."""
    ids = _parcel_map()
    rows = []
    for pid in np.unique(ids[ids > 0]):
        r, c = np.nonzero(ids == pid)
        geom = box(
            X0 + c.min() * RES,
            Y0 - (r.max() + 1) * RES,
            X0 + (c.max() + 1) * RES,
            Y0 - r.min() * RES,
        )
        rows.append(
            {"parcel_id": int(pid), "class_value": f"code{pid}", "class_id": 1, "geometry": geom}
        )
    frame = gpd.GeoDataFrame(rows, crs=CRS)
    frame[frame["parcel_id"] != MISSING].to_file(root / "parcels.gpkg", layer="parcels")
    return frame


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """The synthetic area and an untrained checkpoint (a shrunken U-TAE, random weights)."""
    root = simulate_pastis(tmp_path_factory.mktemp("area") / "ds", patches=5, size=SIZE, seed=4)
    _make_area(root)
    cfg = load_config(CONFIG, [*SMALL, f"data.root={root}"])
    torch.manual_seed(0)
    task = build_task(cfg, datamodule(cfg))
    ckpt = tmp_path_factory.mktemp("ckpt") / "best.ckpt"
    torch.save({"hyper_parameters": dict(task.hparams), "state_dict": task.state_dict()}, ckpt)
    return cfg, ckpt


@pytest.fixture(scope="module")
def mapped(area: tuple[object, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg, ckpt = area
    out = tmp_path_factory.mktemp("maps") / "out"
    result = predict_maps(cfg, ckpt, out, split="all", progress=False)
    assert result.mosaics == [out / "mosaic.tif"] and result.notes == []
    assert len(result.maps) == 5 and result.layers == ["parcels"]
    return out


def _patch_probs(cfg: object, ckpt: Path) -> dict[int, np.ndarray]:
    """float64 [K, 32, 32] probabilities of every patch, from the model directly."""
    task = load_task(ckpt).eval()
    ds = datamodule(cfg).predict_dataset("all")
    out = {}
    with torch.inference_mode():
        for i in range(len(ds)):
            sample = ds[i]
            probs = task(collate([sample])).logits.float().softmax(dim=1)[0]
            out[int(sample.meta["id"])] = probs.double().numpy()
    return out


def test_the_mosaic_is_on_the_area_grid_blended_and_masked(
    area: tuple[object, Path], mapped: Path
) -> None:
    cfg, ckpt = area
    with rasterio.open(mapped / "mosaic.tif") as src:
        assert src.crs.to_epsg() == 32630
        assert tuple(src.transform)[:6] == (RES, 0.0, X0, 0.0, -RES, Y0)
        assert src.shape == (HEIGHT, WIDTH) and src.descriptions == ("class", "confidence")
        assert src.nodata == NODATA and src.tags()["synthetic"] == "true"
        cls, conf = src.read(1), src.read(2)
    # a pixel covered by one patch only is that patch's map
    with rasterio.open(mapped / "maps" / "10000.tif") as src:
        p0_cls, p0_conf = src.read(1), src.read(2)
    np.testing.assert_array_equal(cls[:32, :16], p0_cls[:, :16])
    np.testing.assert_array_equal(conf[:32, :16], p0_conf[:, :16])
    # in the overlap (columns 16..31): the arg-max of the taper-weighted mean
    probs = _patch_probs(cfg, ckpt)
    w = np.outer(_taper(SIZE), _taper(SIZE))
    p0 = probs[10000][:, :, 16:] * w[:, 16:]
    p1 = probs[10001][:, :, :16] * w[:, :16]
    mean = (p0 + p1) / (w[:, 16:] + w[:, :16])
    top2 = np.sort(mean, axis=0)[-2:]
    clear = top2[1] - top2[0] > 1e-4  # float ties aside
    assert clear.sum() > 100
    np.testing.assert_array_equal(cls[:32, 16:32][clear], mean.argmax(axis=0)[clear])
    # nodata where no patch predicted and outside the AOI, data everywhere else
    expected = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for r0, c0 in PATCHES.values():
        expected[r0 : r0 + SIZE, c0 : c0 + SIZE] = True
    expected[:, AOI_COLS:] = False
    np.testing.assert_array_equal(cls != NODATA, expected)
    assert (conf[~expected] == 0).all()


def test_one_row_per_parcel_of_the_area_with_its_reference(mapped: Path) -> None:
    parcels = gpd.read_file(mapped / "parcels.gpkg", layer="parcels")
    ids = _parcel_map()
    with rasterio.open(mapped / "mosaic.tif") as src:
        valid = src.read(1) != NODATA
    present = np.unique(ids[valid & (ids > 0)])
    assert sorted(parcels["parcel"]) == present.tolist()  # each once, none duplicated
    pixels = dict(zip(parcels["parcel"], parcels["pixels"], strict=True))
    crossing = ids[31, 10]  # cut by the P0 / P2 border (rows 28..34)
    assert ids[33, 10] == crossing and pixels[crossing] == int(((ids == crossing) & valid).sum())
    # the reference is the class of its non-void pixels (void in P2: another fold's)
    np.testing.assert_array_equal(parcels["ref_class"], _classes(parcels["parcel"].to_numpy()))
    assert (parcels["pred_class"].between(0, 19)).all() and parcels["confidence"].le(1).all()
    # polygonised from the mosaic: area = pixels x 100 m2, in the grid CRS
    assert parcels.crs.to_epsg() == 32630
    np.testing.assert_allclose(parcels.area, parcels["pixels"] * RES * RES)


def test_parcels_of_the_dataset_give_the_geometry_and_the_command_prints_the_mosaic(
    area: tuple[object, Path], tmp_path: Path
) -> None:
    cfg, ckpt = area
    root = tmp_path / "ds"
    shutil.copytree(cfg.data.root, root)
    user = _user_parcels(root).set_index("parcel_id")
    out = tmp_path / "out"
    args = ["predict", "--config", str(CONFIG), "--ckpt", str(ckpt), "--out", str(out)]
    for item in (*SMALL, f"data.root={root}"):
        args += ["--set", item]
    from sitsfusion.cli import cli

    result = CliRunner().invoke(cli, [*args, "--split", "all"])
    assert result.exit_code == 0, result.output
    printed = {
        label: Path(rest)
        for label, _, rest in (line.partition(": ") for line in result.output.splitlines())
        if label in ("maps", "mosaic", "parcels")
    }
    assert printed == {
        "maps": out / "maps",
        "mosaic": out / "mosaic.tif",
        "parcels": out / "parcels.gpkg",
    }
    parcels = gpd.read_file(out / "parcels.gpkg", layer="parcels").set_index("parcel")
    assert parcels.index.is_unique
    assert MISSING in parcels.index
    for pid, row in parcels.iterrows():
        if pid == MISSING:  # not in the file: its pixels, polygonised
            assert row.geometry.area == row["pixels"] * RES * RES and row["class_value"] == ""
            continue
        assert row.geometry.equals(user.geometry[pid])  # the user's polygon, whole
        assert row["class_value"] == f"code{pid}"


def test_one_mosaic_per_crs_and_none_off_grid_or_too_large(tmp_path: Path) -> None:
    names = ["a", "b"]
    probs = np.random.default_rng(0).random((2, 4, 4)).astype(np.float32)
    maps = AreaMaps(tmp_path, names)
    maps.add({"id": "p"}, "EPSG:32630", (10, 0, 0, 0, -10, 0), probs, None, None)
    maps.add({"id": "q"}, "EPSG:32631", (10, 0, 0, 0, -10, 0), probs, None, None)
    written = maps.write(tmp_path, {}, NODATA)
    assert sorted(p.path.name for p in written) == [
        "mosaic_EPSG_32630.tif",
        "mosaic_EPSG_32631.tif",
    ]
    for item in written:
        with rasterio.open(item.path) as src:
            assert src.crs.to_string() == item.crs
            np.testing.assert_array_equal(src.read(1), probs.argmax(axis=0))
    rotated = AreaMaps(tmp_path, names)
    rotated.add({"id": "r"}, "EPSG:32630", (7, 7, 0, 7, -7, 0), probs, None, None)
    assert rotated.write(tmp_path / "r", {}, NODATA) == []
    assert "not north-up" in rotated.notes()[0]
    shifted = AreaMaps(tmp_path, names)
    shifted.add({"id": "s"}, "EPSG:32630", (10, 0, 0, 0, -10, 0), probs, None, None)
    shifted.add({"id": "t"}, "EPSG:32630", (10, 0, 5, 0, -10, 0), probs, None, None)
    assert "whole number of pixels" in shifted.notes()[0]
    per_pixel = 4 * len(names) + 20  # canvas_bytes: K float32 sums, weight, ids, truth
    small = AreaMaps(tmp_path, names, max_bytes=36 * per_pixel)  # patches: 2 x 16 pixels
    small.add({"id": "u"}, "EPSG:32630", (10, 0, 0, 0, -10, 0), probs, None, None)
    small.add({"id": "v"}, "EPSG:32630", (10, 0, 60, 0, -10, 0), probs, None, None)
    assert small.write(tmp_path / "s", {}, NODATA) == []  # canvas: 4 x 10 pixels
    assert "4 x 10 pixels" in small.notes()[0] and "above the" in small.notes()[0]
    kept = AreaMaps(tmp_path, names, max_bytes=20 * per_pixel)
    kept.add({"id": "u"}, "EPSG:32630", (10, 0, 0, 0, -10, 0), probs, None, None)
    kept.add({"id": "v"}, "EPSG:32630", (10, 0, 40, 0, -10, 0), probs, None, None)
    assert "the patches kept" in kept.notes()[0]
    sparse = AreaMaps(tmp_path, names)
    sparse.add({"id": "w"}, "EPSG:32630", (10, 0, 0, 0, -10, 0), probs, None, None)
    sparse.add({"id": "x"}, "EPSG:32630", (10, 0, 200, 0, -10, 0), probs, None, None)
    assert sparse.write(tmp_path / "x", {}, NODATA) == []
    assert "scattered" in sparse.notes()[0]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_prepared_synthetic_scene_maps_to_one_mosaic(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytest.importorskip("odc.stac")
    from sitsfusion.geo.prepare import prepare
    from sitsfusion.simulate import simulate_scene

    scene = simulate_scene(tmp_path / "scene", size=64, s2_dates=3, s1_dates=2, seed=3)
    ds = tmp_path / "ds"
    prepare(scene / "catalog.json", scene / "parcels.gpkg", ds, patch_size=32, block=1)
    features = json.loads((ds / "metadata.geojson").read_text())["features"]
    folds = sorted({f["properties"]["Fold"] for f in features})
    assert len(folds) >= 3
    split = [f"data.train_folds={folds[:-2]}", f"data.val_folds=[{folds[-2]}]"]
    split.append(f"data.test_folds=[{folds[-1]}]")
    cfg = load_config(CONFIG, [*SMALL, *split, f"data.root={ds}"])
    torch.manual_seed(0)
    task = build_task(cfg, datamodule(cfg))
    ckpt = tmp_path / "best.ckpt"
    torch.save({"hyper_parameters": dict(task.hparams), "state_dict": task.state_dict()}, ckpt)
    result = predict_maps(cfg, ckpt, tmp_path / "out", split="all", progress=False)
    assert result.mosaics == [tmp_path / "out" / "mosaic.tif"]
    transforms = [f["properties"]["transform"] for f in features]
    left, top = min(t[2] for t in transforms), max(t[5] for t in transforms)
    right = max(t[2] for t in transforms) + 32 * RES
    bottom = min(t[5] for t in transforms) - 32 * RES
    with rasterio.open(result.mosaics[0]) as src:
        assert src.crs.to_string() == features[0]["properties"]["crs"]
        assert tuple(src.transform)[:6] == (RES, 0.0, left, 0.0, -RES, top)
        assert src.shape == (round((top - bottom) / RES), round((right - left) / RES))
    parcels = gpd.read_file(result.parcels, layer="parcels")
    assert parcels["parcel"].is_unique and len(parcels) > 0


def test_smoothing_and_a_minimum_mapping_unit_reach_the_mosaic(
    area: tuple[object, Path], mapped: Path, tmp_path: Path
) -> None:
    """``predict(smooth=, mmu=)``: the class band of the mosaic is the plain run's, smoothed
    then sieved — every 4-connected region (scipy) of a valid class reaches the unit or has
    no valid neighbour to merge into; the grid and nodata are the plain run's; the tags say
    what was done."""
    from scipy import ndimage

    cfg, ckpt = area
    out = tmp_path / "pp"
    predict_maps(cfg, ckpt, out, split="all", progress=False, smooth=1.0, mmu=6)
    with rasterio.open(mapped / "mosaic.tif") as plain, rasterio.open(out / "mosaic.tif") as pp:
        assert pp.transform == plain.transform and pp.shape == plain.shape
        a, b = plain.read(1), pp.read(1)
        assert pp.tags()["smoothing_sigma_px"] == "1.0"
        assert pp.tags()["minimum_mapping_unit_px"] == "6"
    np.testing.assert_array_equal(a == 255, b == 255)
    valid = b != 255
    for value in np.unique(b[valid]):
        labels, n = ndimage.label(b == value)
        for i in range(1, n + 1):
            region = labels == i
            ring = ndimage.binary_dilation(region) & ~region & valid
            assert region.sum() >= 6 or not ring.any()
    with pytest.raises(ConfigError, match="mmu"):
        predict_maps(cfg, ckpt, tmp_path / "bad", split="all", progress=False, mmu=0)


def test_bf16_maps_the_area_as_fp32_does(
    area: tuple[object, Path], mapped: Path, tmp_path: Path
) -> None:
    """``predict(precision="bf16")`` (inference.precision): the mosaic agrees with the fp32
    run's on at least 99 % of its pixels (an untrained, random-weight U-TAE), same grid."""
    cfg, ckpt = area
    predict_maps(cfg, ckpt, tmp_path / "bf16", split="all", progress=False, precision="bf16")
    with (
        rasterio.open(mapped / "mosaic.tif") as a,
        rasterio.open(tmp_path / "bf16" / "mosaic.tif") as b,
    ):
        assert a.transform == b.transform
        assert (a.read(1) == b.read(1)).mean() >= 0.99
    with pytest.raises(ConfigError, match="precision"):
        predict_maps(cfg, ckpt, tmp_path / "bad", split="all", progress=False, precision="fp8")
