"""sitsfusion.geo.grid: snapping, transform, shape, AOIs and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("rasterio")
gpd = pytest.importorskip("geopandas")
from shapely.geometry import box  # noqa: E402

from sitsfusion.errors import DatasetError  # noqa: E402
from sitsfusion.geo.grid import Grid  # noqa: E402


def test_from_bounds_snaps_outward():
    grid = Grid.from_bounds((500003.0, 4999991.0, 500198.0, 5000201.0), 32630, resolution=10)
    assert grid.bounds == (500000.0, 4999990.0, 500200.0, 5000210.0)
    assert grid.shape == (22, 20)
    assert grid.crs == "EPSG:32630"
    t = grid.transform
    assert (t.c, t.f, t.a, t.e) == (500000.0, 5000210.0, 10.0, -10.0)
    coords = grid.coords()
    assert coords["x"][0] == 500005.0 and coords["y"][0] == 5000205.0
    assert grid.geobox().shape == (22, 20)


def test_exact_bounds_are_kept():
    grid = Grid.from_bounds((500000, 5000000, 500200, 5000100), "EPSG:32630", 20)
    assert grid.bounds == (500000.0, 5000000.0, 500200.0, 5000100.0)
    assert grid.shape == (5, 10)


@pytest.mark.parametrize("res", [0, -10, float("nan")])
def test_refuses_bad_resolution(res):
    with pytest.raises(ValueError, match="resolution"):
        Grid.from_bounds((0, 0, 100, 100), 32630, res)


def test_refuses_geographic_crs_and_empty_bounds():
    with pytest.raises(ValueError, match="geographic"):
        Grid.from_bounds((1.0, 7.0, 1.1, 7.1), 4326, 10)
    with pytest.raises(ValueError, match="empty"):
        Grid.from_bounds((10, 0, 10, 100), 32630, 10)
    with pytest.raises(ValueError, match="multiples"):
        Grid("EPSG:32630", 10, (1.0, 0.0, 100.0, 100.0))


def test_from_aoi_geometry_picks_utm_zone():
    aoi = box(-3.0, 47.0, -2.997, 47.002)  # a few hundred metres in Brittany, lon/lat
    grid = Grid.from_aoi(aoi, "EPSG:4326")
    assert grid.crs == "EPSG:32630"  # UTM 30N
    h, w = grid.shape
    assert 20 <= h <= 26 and 22 <= w <= 27
    assert all(b % 10 == 0 for b in grid.bounds)


def test_from_aoi_file(tmp_path):
    path = tmp_path / "aoi.gpkg"
    frame = gpd.GeoDataFrame(
        geometry=[box(500000, 5000000, 500100, 5000050), box(500150, 5000000, 500195, 5000080)],
        crs="EPSG:32630",
    )
    frame.to_file(path)
    grid = Grid.from_aoi(path, crs=32630, resolution=20)
    assert grid.bounds == (500000.0, 5000000.0, 500200.0, 5000080.0)


def test_from_aoi_refusals(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        Grid.from_aoi(box(0, 0, 1, 1).intersection(box(5, 5, 6, 6)), 32630)
    with pytest.raises(ValueError, match="aoi_crs"):
        Grid.from_aoi(box(0, 0, 100, 100))
    with pytest.raises(DatasetError, match="no such file"):
        Grid.from_aoi(tmp_path / "missing.gpkg")
    bad = tmp_path / "bad.gpkg"
    bad.write_text("not a geopackage")
    with pytest.raises(DatasetError, match=r"bad\.gpkg: not a readable vector file"):
        Grid.from_aoi(bad)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 11), st.integers(1, 12), st.integers(0, 8), st.integers(1, 9), st.booleans())
def test_a_part_of_a_grid_is_those_pixels(r0, h, c0, w, utm):
    grid = Grid(
        "EPSG:32630" if utm else "EPSG:2154", 10.0, (500000.0, 4999880.0, 500090.0, 5000000.0)
    )
    r1, c1 = r0 + h, c0 + w
    if r1 > grid.shape[0] or c1 > grid.shape[1]:
        with pytest.raises(ValueError, match="not inside"):
            grid.part(r0, c0, r1, c1)
        return
    part = grid.part(r0, c0, r1, c1)
    assert part.shape == (h, w) and part.crs == grid.crs
    whole, got = grid.coords(), part.coords()
    np.testing.assert_array_equal(got["y"], whole["y"][r0:r1])
    np.testing.assert_array_equal(got["x"], whole["x"][c0:c1])
