"""``sitsfusion demo --own-area``: simulated scene → prepare → fit → maps of the area, through
the console entry point (synthetic data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("odc.stac")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # DataWarning: small parcels


def test_without_training_the_demo_writes_the_scene_and_the_dataset(
    sitsfusion_main, tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    ran = sitsfusion_main("demo", "--own-area", "--out", out, "--size", "64", "--epochs", "0")
    assert ran.code == 0, ran.stderr
    assert (out / "area" / "catalog.json").is_file() and (out / "area" / "parcels.gpkg").is_file()
    meta = json.loads((out / "area_ds" / "metadata.geojson").read_text())
    assert len(meta["features"]) == 4  # 64 px in 32-px patches
    assert json.loads((out / ".sitsfusion.json").read_text())["complete"]
    assert "synthetic" in ran.stdout
    again = sitsfusion_main("demo", "--own-area", "--out", out, "--size", "64", "--epochs", "0")
    assert again.code == 0 and "reusing" in again.stdout  # the scene is not simulated again


@pytest.mark.slow
def test_the_demo_maps_the_area(sitsfusion_main, tmp_path: Path) -> None:
    import geopandas as gpd
    import rasterio

    out = tmp_path / "demo"
    ran = sitsfusion_main("demo", "--own-area", "--out", out, "--size", "160", "--epochs", "1")
    assert ran.code == 0, ran.stderr
    run = out / "semantic" / "garnot2021_semantic_s2"
    assert (run / "checkpoints" / "best.ckpt").is_file()
    maps = sorted((out / "maps" / "maps").glob("*.tif"))
    assert len(maps) == len(
        json.loads((out / "area_ds" / "metadata.geojson").read_text())["features"]
    )
    with rasterio.open(maps[0]) as src:
        assert src.crs.to_epsg() == 32630 and src.count == 2
        assert np.isin(src.read(1), np.arange(20)).all()
    assert "test OA" in ran.stdout and "synthetic" in ran.stdout
    with rasterio.open(out / "maps" / "mosaic.tif") as src:
        assert (src.height, src.width) == (160, 160) and src.crs.to_epsg() == 32630
    parcels = gpd.read_file(out / "maps" / "parcels.gpkg", layer="parcels")
    assert parcels["parcel"].is_unique and (parcels["ref_class"] >= 0).any()
    assert (out / "area_map.png").stat().st_size > 10_000


def test_a_scene_too_small_is_refused_before_anything_is_written(
    sitsfusion_main, tmp_path: Path
) -> None:
    ran = sitsfusion_main("demo", "--own-area", "--out", tmp_path / "d", "--size", "8")
    assert ran.code == 2 and "--size" in ran.stderr and "Traceback" not in ran.stderr
    assert not (tmp_path / "d").exists() and "simulating" not in ran.stdout
