"""``sitsfusion map`` on a small synthetic scene: the windows and blocks leave no seam and do
not change the map, the same map with 1 and 2 Dask workers, resuming, parcels, errors.

A *pixel-wise* stand-in model (class probabilities from each pixel's own mean series; every
date kept, ``min_clear=0``) makes the map independent of where the windows fall, so any
difference between two cuts of the scene is a fault of the windowing, blending, blocks or
assembly — never of the model. The real (untrained) U-TAE is used where the model must run
on the workers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from sitsfusion.config import ConfigError
from sitsfusion.data.sample import collate
from sitsfusion.mapping.predictor import BlockPredictor
from sitsfusion.mapping.scene import default_batch, map_scene

K = 20
WEIGHTS = torch.linspace(-1.0, 1.0, K * 10).reshape(K, 10) * torch.linspace(1, 3, 10)


def _pixelwise(self: BlockPredictor, samples) -> torch.Tensor:
    values = collate(samples).series["S2"].values  # [B, T, C, H, W], every date kept
    return torch.einsum("kc,btchw->bkhw", WEIGHTS, values / values.shape[1]).softmax(dim=1)


@pytest.fixture
def pixelwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BlockPredictor, "_probabilities", _pixelwise)


def _read(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    with (
        rasterio.open(folder / "classes.tif") as a,
        rasterio.open(folder / "probabilities.tif") as b,
    ):
        return a.read(), b.read()


def _map(area, out: Path, **kw):
    kw.setdefault("workers", 0)
    return map_scene(area.config(), area.checkpoint, area.catalog, out, parcels=area.parcels, **kw)


def test_the_default_batch_is_one_window_on_a_cpu_and_the_configs_elsewhere(area) -> None:
    cfg = area.config("data.batch_size=3")
    assert default_batch(cfg, torch.device("cpu"), "semantic") == 1
    assert default_batch(cfg, "cpu", "panoptic") == 1
    assert default_batch(cfg, "cpu", "parcel") == 3  # a batch of parcels
    assert default_batch(cfg, "cuda:1", "semantic") == 3
    assert default_batch(cfg, torch.device("mps"), "semantic") == 3


def test_the_map_does_not_depend_on_how_the_scene_is_cut(area, pixelwise, tmp_path: Path) -> None:
    whole = _map(area, tmp_path / "whole", window=72, overlap=0, min_clear=0.0)
    assert whole.windows == 1
    classes, probs = _read(tmp_path / "whole")
    for name, window, overlap, block in [("a", 24, 8, 1), ("b", 32, 4, 2), ("c", 16, 3, 3)]:
        cut = _map(area, tmp_path / name, window=window, overlap=overlap, block=block, min_clear=0)
        assert cut.windows > 4 and cut.blocks > 1
        got_classes, got_probs = _read(tmp_path / name)
        # a field crossing window borders gets the class it gets inside one window
        assert (got_classes[0] == classes[0]).mean() > 0.999
        assert np.abs(got_probs.astype(int) - probs).max() <= 1  # percent, rounding
        assert np.abs(got_classes[1].astype(int) - classes[1]).max() <= 1


def test_smoothing_and_mmu_by_regions_equal_the_whole_scene(area, pixelwise, tmp_path) -> None:
    from sitsfusion.inference.postprocess import minimum_mapping_unit, smooth_probabilities

    _map(area, tmp_path / "raw", window=24, overlap=8, block=2, min_clear=0.0)
    _map(area, tmp_path / "post", window=24, overlap=8, block=2, min_clear=0.0, smooth=1.5, mmu=6)
    raw_classes, raw_probs = _read(tmp_path / "raw")
    classes, probs = _read(tmp_path / "post")
    smoothed = smooth_probabilities(raw_probs / 100.0, raw_classes[0] != 255, 1.5)
    expected = minimum_mapping_unit(smoothed.argmax(0).astype(np.uint8), 6, 255)
    assert np.abs(np.rint(100 * smoothed) - probs).max() <= 1
    assert (classes[0] == expected).mean() > 0.99  # from rounded probabilities: near ties
    assert (classes[0] != raw_classes[0]).any()


def test_parcels_are_aggregated_once_across_blocks(area, pixelwise, tmp_path: Path) -> None:
    import geopandas as gpd
    from rasterio.features import rasterize

    for method in ("mean", "majority"):
        out = tmp_path / method
        result = _map(area, out, window=24, overlap=8, block=2, aggregation=method)
        classes, probs = _read(out)
        table = gpd.read_file(out / "parcels.gpkg")
        assert result.parcels == len(table) > 0
        with rasterio.open(out / "classes.tif") as src:
            frame = table.to_crs(src.crs)
            ids = rasterize(
                zip(frame.geometry, frame["parcel_id"], strict=True),
                out_shape=src.shape,
                transform=src.transform,
            )
        for row in table.itertuples():
            at = ids == row.parcel_id
            assert row.pixels == at.sum()  # every pixel once, whichever region holds it
            if method == "majority":
                counts = np.bincount(classes[0][at], minlength=K)
                assert row.pred_class == counts.argmax()
                assert row.confidence == pytest.approx(counts.max() / at.sum())
            else:
                mean = probs[:, at].mean(axis=1) / 100.0
                assert abs(mean[row.pred_class] - mean.max()) <= 0.01  # from rounded percents


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_one_and_two_workers_write_the_same_maps(area, tmp_path: Path) -> None:
    _map(area, tmp_path / "w0", window=24, overlap=8, block=2, workers=0)
    result = _map(area, tmp_path / "w2", window=24, overlap=8, block=2, workers=2)
    assert result.blocks > 2
    for a, b in zip(_read(tmp_path / "w0"), _read(tmp_path / "w2"), strict=True):
        assert np.array_equal(a, b)


def test_an_interrupted_map_resumes_and_nothing_looks_complete(
    area, pixelwise, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _map(area, tmp_path / "ref", window=24, overlap=8, block=2)
    run = BlockPredictor.run
    calls = []

    def dies_after_two(self, block):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(block.name)
        return run(self, block)

    monkeypatch.setattr(BlockPredictor, "run", dies_after_two)
    out = tmp_path / "map"
    with pytest.raises(KeyboardInterrupt):
        _map(area, out, window=24, overlap=8, block=2)
    assert not (out / "classes.tif").exists() and not (out / "probabilities.tif").exists()
    assert json.loads((out / ".sitsfusion.json").read_text())["complete"] is False
    assert len(list((out / ".blocks").glob("*.npz"))) == 2
    monkeypatch.setattr(BlockPredictor, "run", run)
    again = _map(area, out, window=24, overlap=8, block=2)
    assert again.resumed == 2 and again.blocks == reference.blocks
    for a, b in zip(_read(tmp_path / "ref"), _read(out), strict=True):
        assert np.array_equal(a, b)
    assert not (out / ".blocks").exists()
    assert json.loads((out / ".sitsfusion.json").read_text())["complete"] is True


def test_without_overlap_the_map_is_the_predict_mosaic(area, tmp_path: Path) -> None:
    from sitsfusion.inference import predict_maps

    predict_maps(area.config(), area.checkpoint, tmp_path / "pred", split="all", progress=False)
    _map(area, tmp_path / "map", window=32, overlap=0)
    with (
        rasterio.open(tmp_path / "pred" / "mosaic.tif") as a,
        rasterio.open(tmp_path / "map" / "classes.tif") as b,
    ):
        assert a.transform == b.transform and a.shape == b.shape
        mosaic, mapped = a.read(), b.read()
    inside = mosaic[0] != 255  # the mosaic has only the patches holding parcels
    assert inside.mean() > 0.5
    assert np.array_equal(mosaic[:2][:, inside], mapped[:2][:, inside])


def test_the_maps_are_tagged_and_tiled(area, tmp_path: Path) -> None:
    result = _map(area, tmp_path / "m", window=24, overlap=8)
    assert result.synthetic
    with rasterio.open(tmp_path / "m" / "classes.tif") as src:
        assert src.descriptions == ("class", "confidence", "entropy")
        assert src.tags()["synthetic"] == "true" and len(json.loads(src.tags()["classes"])) == K
        assert src.profile["tiled"] and src.nodata == 255
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"  # GDAL's own word
        bands = src.read()
    with rasterio.open(tmp_path / "m" / "probabilities.tif") as src:
        assert src.count == K and src.descriptions[1] == "Meadow"
        probs = src.read().astype(int)
    valid = bands[0] != 255
    assert np.abs(probs[:, valid].sum(axis=0) - 100).max() <= K // 2  # percents, rounded
    assert (bands[1][valid] == probs.max(axis=0)[valid]).mean() > 0.99
    assert bands[2][valid].max() <= 100


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"parcels": None}, "needs the area"),
        ({"precision": "fp16"}, "precision must be"),
        ({"overlap": 40, "window": 32}, "overlap must be in"),
        ({"workers": -1}, "workers must be"),
    ],
)
def test_bad_arguments_are_one_line(area, tmp_path: Path, kw, message) -> None:
    args = {"parcels": area.parcels, "workers": 0, **kw}
    with pytest.raises((ConfigError, ValueError), match=message):
        map_scene(area.config(), area.checkpoint, area.catalog, tmp_path / "m", **args)
    assert not (tmp_path / "m").exists()


def test_the_map_command(area, sitsfusion_main, tmp_path: Path) -> None:
    config = Path(__file__).resolve().parents[2] / "configs/garnot2021/semantic/s2.yaml"
    sets = [x for o in area.overrides for x in ("--set", o)]
    common = ["map", "--config", config, *sets, "--ckpt", area.checkpoint]
    common += ["--imagery", area.catalog, "--workers", "0"]
    out = tmp_path / "map"
    ran = sitsfusion_main(*common, "--parcels", area.parcels, "--out", out, "--view")
    assert ran.code == 0, ran.stderr
    assert "72 x 72 px" in ran.stdout and "(synthetic)" in ran.stdout
    assert "block 0_0 done" in ran.stderr  # progress, also when the output is a log file
    for name in ("classes.tif", "probabilities.tif", "parcels.gpkg", "view.html"):
        assert (out / name).is_file(), name
    again = sitsfusion_main(*common, "--parcels", area.parcels, "--out", out)
    assert again.code != 0 and "--overwrite" in again.stdout + again.stderr  # never silently
    missing = sitsfusion_main(*common, "--out", tmp_path / "other")
    assert missing.code != 0 and "needs the area" in missing.stdout + missing.stderr
    assert len((missing.stdout + missing.stderr).strip().splitlines()) == 1
    assert not (tmp_path / "other").exists()
