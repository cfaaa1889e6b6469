"""The own-area pieces together on the simulator's (synthetic) scene: its STAC catalog and its
GeoTIFF folder load onto one grid with the same values, and its parcels rasterise onto that
grid with the classes of its code table. (``sitsfusion prepare`` will chain these.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("odc.stac")

from sitsfusion.geo.grid import Grid
from sitsfusion.geo.imagery import load_sensor
from sitsfusion.geo.labels import map_classes, rasterize_parcels, read_parcels
from sitsfusion.simulate import simulate_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scene") / "area"
    return simulate_scene(out, size=32, s2_dates=4, s1_dates=3, geotiff=True, seed=3)


@pytest.fixture(scope="module")
def parcels(scene: Path):
    return read_parcels(scene / "parcels.gpkg")


@pytest.fixture(scope="module")
def grid(parcels) -> Grid:
    return Grid.from_bounds(tuple(parcels.total_bounds), parcels.crs.to_string(), resolution=10)


@pytest.mark.parametrize("sensor", ["S2", "S1A", "S1D"])
def test_the_catalog_and_the_geotiff_folder_give_the_same_cube(
    scene: Path, grid: Grid, sensor: str
) -> None:
    stac = load_sensor(scene / "catalog.json", grid, sensor).compute()
    tifs = load_sensor(scene / "geotiff", grid, sensor).compute()
    assert stac["values"].shape == tifs["values"].shape
    assert stac["values"].shape[0] >= 3 and stac["values"].shape[-2:] == grid.shape
    np.testing.assert_array_equal(stac["time"].values, tifs["time"].values)
    np.testing.assert_array_equal(stac["valid"].values, tifs["valid"].values)
    np.testing.assert_allclose(stac["values"].values, tifs["values"].values, rtol=1e-6)
    values = stac["values"].values[
        np.broadcast_to(stac["valid"].values[:, None], stac["values"].shape)
    ]
    if sensor == "S2":  # reflectance, offset convention undone
        assert 0.0 <= values.min() and values.max() < 1.0
    else:  # backscatter in dB
        assert -40.0 < values.min() and values.max() < 10.0


def test_the_parcels_rasterise_onto_the_imagery_grid(scene: Path, parcels, grid: Grid) -> None:
    parcels = parcels.assign(
        class_id=map_classes(parcels["class_value"], "pastis", table=scene / "crop_codes.csv")
    )
    maps = rasterize_parcels(parcels, grid.crs, grid.transform, grid.shape)
    assert maps.semantic.shape == maps.instance.shape == grid.shape
    labelled = set(np.unique(maps.instance)) - {0}
    assert labelled == set(int(i) for i in maps.parcel_ids)
    inside = (maps.semantic > 0) & (maps.semantic < 19)
    assert inside.sum() > 0.5 * grid.shape[0] * grid.shape[1]  # the scene is mostly parcels
