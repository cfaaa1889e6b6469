"""sitsfusion.geo.imagery.load_sensor on tiny synthetic STAC catalogs and GeoTIFF folders.

Every image here is synthetic, written by the helpers below (a 200 m x 200 m scene in UTM 30N,
a handful of dates), except the one real CropHarvest GeoTIFF read at the end.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
pystac = pytest.importorskip("pystac")
pytest.importorskip("odc.stac")
from rasterio.transform import from_origin  # noqa: E402
from rasterio.warp import transform_bounds  # noqa: E402

from paths import SHARED_DATA  # noqa: E402
from sitsfusion.errors import DatasetError  # noqa: E402
from sitsfusion.geo.grid import Grid  # noqa: E402
from sitsfusion.geo.imagery import load_sensor  # noqa: E402
from sitsfusion.geo.sensors import SENSORS  # noqa: E402
from stac_stub import serve, stac_api_routes  # noqa: E402

S2_BANDS = SENSORS["S2"].bands
ORIGIN = (500000.0, 5000200.0)  # upper-left corner of the synthetic scene, EPSG:32630
GRID = Grid("EPSG:32630", 10.0, (500000.0, 5000000.0, 500200.0, 5000200.0))  # 20 x 20 px
ROW, COL = 5, 7  # the pixel holding the marked coordinate (500075, 5000145)


def _write(
    path: Path, data: np.ndarray, names, crs="EPSG:32630", res=10.0, origin=ORIGIN, nodata=None
):
    """A tiled GeoTIFF ``[C, H, W]`` with band descriptions."""
    profile = dict(
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=data.dtype,
        crs=crs,
        transform=from_origin(*origin, res, res),
        nodata=nodata,
        tiled=True,
        blockxsize=16,
        blockysize=16,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)


def _s2_data(base: int, cloud_rows: int = 0, size=(20, 20), empty_cols: int = 0) -> np.ndarray:
    """11 bands ``[B02..B12, SCL]`` uint16: DN ``base + 100 * band``; SCL 4 (vegetation), 9
    (cloud) on the first ``cloud_rows`` rows; a marker DN 5000 in B04 at (ROW, COL); no data
    (0) on the last ``empty_cols`` columns."""
    h, w = size
    data = np.zeros((11, h, w), dtype="uint16")
    for b in range(10):
        data[b] = base + 100 * b
    data[10] = 4
    data[10, :cloud_rows] = 9
    data[2, ROW, COL] = 5000
    if empty_cols:
        data[:, :, w - empty_cols :] = 0
    return data


def _s1_data(vv: float, vh: float, size=(20, 20)) -> np.ndarray:
    h, w = size
    data = np.empty((2, h, w), dtype="float32")
    data[0], data[1] = vv, vh
    data[0, 0, 0] = np.nan  # no data
    data[1, 0, 1] = 0.0  # non-positive power: no dB
    return data


# (sensor, date, kwargs) of the synthetic acquisitions
S2_SCENES = [
    ("2021-05-03", dict(base=2000, cloud_rows=3), "sentinel-2a", 10.0),
    ("2021-05-03", dict(base=3000, empty_cols=10), "sentinel-2b", 50.0),  # same day, other tile
    ("2021-06-10", dict(base=2500), "sentinel-2a", 80.0),
]
S1_SCENES = [
    ("2021-05-02", "ascending", 0.1, 0.01),
    ("2021-05-14", "ascending", 0.2, 0.02),
    ("2021-05-08", "descending", 0.05, 0.005),
]


def _item(item_id: str, date: str, props: dict, assets: dict) -> pystac.Item:
    lonlat = transform_bounds("EPSG:32630", "EPSG:4326", *GRID.bounds)
    geometry = {
        "type": "Polygon",
        "coordinates": [
            [
                [lonlat[0], lonlat[1]],
                [lonlat[2], lonlat[1]],
                [lonlat[2], lonlat[3]],
                [lonlat[0], lonlat[3]],
                [lonlat[0], lonlat[1]],
            ]
        ],
    }
    when = dt.datetime.fromisoformat(date).replace(hour=11, tzinfo=dt.UTC)
    props = {
        **props,
        "proj:epsg": 32630,
        "proj:shape": [20, 20],
        "proj:transform": list(from_origin(*ORIGIN, 10, 10))[:6],
    }
    item = pystac.Item(item_id, geometry, list(lonlat), when, props)
    for key, (href, extra) in assets.items():
        item.add_asset(
            key, pystac.Asset(str(href), media_type=pystac.MediaType.COG, extra_fields=extra)
        )
    return item


def write_catalog(tmp: Path) -> Path:
    """A static STAC catalog of the synthetic S2 and S1 scenes, COG assets per band."""
    tmp.mkdir(parents=True, exist_ok=True)
    catalog = pystac.Catalog("area", "synthetic test area")
    for k, (date, kw, platform, cloud) in enumerate(S2_SCENES):
        data = _s2_data(**kw)
        item_id = f"S2_{date.replace('-', '')}" + ("_b" if k == 1 else "")
        assets = {}
        for b, name in enumerate((*S2_BANDS, "SCL")):
            href = tmp / f"{item_id}_{name}.tif"
            _write(href, data[b : b + 1], [name], nodata=0)
            raster = {"nodata": 0, "data_type": "uint16"}
            if name != "SCL":
                raster.update(scale=0.0001, offset=-0.1)
            assets[name] = (href, {"raster:bands": [raster]})
        props = {"platform": platform, "eo:cloud_cover": cloud}
        catalog.add_item(_item(item_id, date, props, assets))
    for date, orbit, vv, vh in S1_SCENES:
        data = _s1_data(vv, vh)
        item_id = f"S1_{date.replace('-', '')}_{'ASC' if orbit == 'ascending' else 'DESC'}"
        assets = {}
        for b, name in enumerate(("vv", "vh")):
            href = tmp / f"{item_id}_{name}.tif"
            _write(href, data[b : b + 1], [name.upper()], nodata=np.nan)
            assets[name] = (href, {"raster:bands": [{"nodata": "nan", "data_type": "float32"}]})
        props = {
            "platform": "sentinel-1a",
            "sat:orbit_state": orbit,
            "sar:polarizations": ["VV", "VH"],
            "sar:instrument_mode": "IW",
            "sar:frequency_band": "C",
            "sar:product_type": "RTC",
        }
        catalog.add_item(_item(item_id, date, props, assets))
    catalog.normalize_hrefs(str(tmp))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    return tmp / "catalog.json"


def write_folder(tmp: Path) -> Path:
    """The same scenes as a GeoTIFF folder; the June S2 file in another CRS (UTM 31N)."""
    tmp.mkdir(parents=True, exist_ok=True)
    for k, (date, kw, _, _) in enumerate(S2_SCENES):
        if k == 1:
            continue  # one file per sensor and date
        name = f"S2_{date.replace('-', '')}.tif"
        if k == 2:
            _write_reprojected(tmp / name, _s2_data(**kw), (*S2_BANDS, "SCL"))
        else:
            _write(tmp / name, _s2_data(**kw), (*S2_BANDS, "SCL"), nodata=0)
    for date, orbit, vv, vh in S1_SCENES:
        name = f"S1{'A' if orbit == 'ascending' else 'D'}_{date.replace('-', '')}.tif"
        _write(tmp / name, _s1_data(vv, vh), ("VV", "VH"), nodata=np.nan)
    return tmp


def _write_reprojected(path: Path, data: np.ndarray, names) -> None:
    """``data`` (on the test grid) warped to EPSG:32631 at 5 m, nearest."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    transform, w, h = calculate_default_transform(
        "EPSG:32630", "EPSG:32631", 20, 20, *GRID.bounds, resolution=5
    )
    out = np.zeros((data.shape[0], h, w), dtype=data.dtype)
    for b in range(data.shape[0]):
        reproject(
            data[b],
            out[b],
            src_transform=GRID.transform,
            src_crs="EPSG:32630",
            dst_transform=transform,
            dst_crs="EPSG:32631",
            resampling=Resampling.nearest,
            src_nodata=0,
            dst_nodata=0,
        )
    profile = dict(
        driver="GTiff",
        width=w,
        height=h,
        count=data.shape[0],
        dtype=data.dtype,
        crs="EPSG:32631",
        transform=transform,
        nodata=0,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(out)
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("stac"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("tifs"))


def _days(ds) -> list[str]:
    return [str(t)[:10] for t in ds["time"].values]


# ---- Sentinel-2 ------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["stac", "folder"])
def test_s2_values_mask_and_dates(which, catalog, folder):
    source = catalog if which == "stac" else folder
    ds = load_sensor(source, GRID, "S2", chunks={"x": 8, "y": 8})
    assert ds["values"].chunks is not None  # lazy (Dask)
    assert ds["values"].dims == ("time", "band", "y", "x")
    assert list(ds["band"].values) == list(S2_BANDS)
    assert _days(ds) == ["2021-05-03", "2021-06-10"]
    assert ds.attrs["crs"] == "EPSG:32630" and ds["values"].shape == (2, 10, 20, 20)
    values, valid = ds["values"].values, ds["valid"].values
    assert values.dtype == np.float32 and valid.dtype == bool
    assert np.isfinite(values).all()
    # reflectance = DN * 1e-4 - 0.1 (the L2A offset convention)
    assert values[1, 0, 10, 10] == pytest.approx(2500 * 1e-4 - 0.1, abs=1e-6)
    assert values[1, 9, 10, 10] == pytest.approx(3400 * 1e-4 - 0.1, abs=1e-6)
    # the marked pixel at (500075, 5000145) lands at (ROW, COL) in every date
    assert values[1, 2, ROW, COL] == pytest.approx(0.4, abs=1e-6)
    assert values[1, 2, ROW, COL + 1] == pytest.approx(2700 * 1e-4 - 0.1, abs=1e-6)
    # clouds (SCL 9) on the first 3 rows of the first May scene: not valid, 0
    assert not valid[0, :3, 10:].any() and valid[0, 3:].all() and valid[1].all()
    assert (values[0, :, :3, 10:] == 0).all()
    if which == "stac":
        # two items on 2021-05-03 merged by the mean of the valid: both valid at columns < 10
        assert values[0, 0, 10, 2] == pytest.approx((0.1 + 0.2) / 2, abs=1e-6)
        assert values[0, 0, 10, 15] == pytest.approx(0.1, abs=1e-6)  # the 2nd has no data
        # rows under the first scene's clouds but seen by the second are valid
        assert valid[0, :3, :10].all() and not valid[0, :3, 10:].any()
        assert list(ds["item"].values) == ["S2_20210503", "S2_20210610"]
    else:
        assert values[0, 0, 10, 2] == pytest.approx(0.1, abs=1e-6)
        assert not valid[0, :3].any()
        assert list(ds["item"].values) == ["S2_20210503.tif", "S2_20210610.tif"]


@pytest.mark.parametrize("which", ["stac", "folder"])
@pytest.mark.parametrize("sensor", ["S2", "S1A"])
def test_items_found_once_load_any_part_of_the_grid(which, sensor, catalog, folder):
    """What ``sitsfusion map`` does per block: the items / files found once for the grid,
    then loaded onto a grid inside it, equal that part of the whole grid's cube."""
    from sitsfusion.geo.imagery import find_sensor

    source = catalog if which == "stac" else folder
    whole = load_sensor(source, GRID, sensor).compute()
    found = find_sensor(source, GRID, sensor)
    part = Grid(GRID.crs, 10.0, (500050.0, 5000030.0, 500170.0, 5000140.0))  # rows 6:17, cols 5:17
    got = load_sensor(source, part, sensor, found=found, chunks={"x": 12, "y": 11}).compute()
    now = load_sensor(source, part, sensor, found=found, lazy=False)  # a block in a worker
    assert isinstance(now["values"].data, np.ndarray)
    for name in ("values", "valid"):
        np.testing.assert_array_equal(got[name].values, whole[name].values[..., 6:17, 5:17])
        np.testing.assert_array_equal(now[name].values, got[name].values)
    assert _days(got) == _days(whole) == _days(now)


@pytest.mark.parametrize("which", ["stac", "folder"])
@pytest.mark.parametrize("composite", [None, "monthly"])
def test_read_now_equals_the_lazy_cube(which, composite, catalog, folder):
    """``lazy=False`` (numpy, no Dask) gives the lazy cube computed: same-day items merged,
    monthly composites, S2 masks, S1 in dB."""
    source = catalog if which == "stac" else folder
    for sensor in ("S2", "S1A"):
        lazy = load_sensor(source, GRID, sensor, composite=composite, chunks={"x": 9, "y": 7})
        now = load_sensor(source, GRID, sensor, composite=composite, lazy=False)
        lazy = lazy.compute()
        assert now["values"].dtype == lazy["values"].dtype == np.float32
        for name in ("values", "valid"):
            np.testing.assert_array_equal(now[name].values, lazy[name].values)
        assert _days(now) == _days(lazy)
        assert not np.isnan(now["values"].values).any()


def test_s2_cloud_cover_and_date_filters(catalog, folder):
    ds = load_sensor(catalog, GRID, "S2", max_cloud=60)
    assert _days(ds) == ["2021-05-03"]
    ds = load_sensor(catalog, GRID, "S2", start="2021-05-04")
    assert _days(ds) == ["2021-06-10"]
    ds = load_sensor(folder, GRID, "S2", end=dt.date(2021, 5, 31))
    assert _days(ds) == ["2021-05-03"]


def test_s2_monthly_composite(catalog):
    ds = load_sensor(catalog, GRID, "S2", composite="monthly")
    assert _days(ds) == ["2021-05-15", "2021-06-15"]
    assert "item" not in ds.coords
    assert ds["values"].values[1, 0, 10, 10] == pytest.approx(0.15, abs=1e-6)


@pytest.mark.parametrize("which", ["stac", "folder"])
def test_grid_alignment_on_a_shifted_grid(which, catalog, folder):
    source = catalog if which == "stac" else folder
    grid = Grid("EPSG:32630", 10.0, (500050.0, 5000100.0, 500120.0, 5000170.0))
    ds = load_sensor(source, grid, "S2", start="2021-06-01")  # the folder's file is in UTM 31N
    # (500075, 5000145) lies in the grid's pixel row (5000170 - 5000145) // 10 = 2,
    # column (500075 - 500050) // 10 = 2
    b04 = ds["values"].values[0, 2]
    assert b04.shape == (7, 7)
    assert b04[2, 2] == pytest.approx(0.4, abs=1e-6)
    assert np.isclose(b04, 0.4, atol=1e-6).sum() == 1
    assert float(ds["x"][2]) == 500075.0 and float(ds["y"][2]) == 5000145.0


# ---- Sentinel-1 ------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["stac", "folder"])
def test_s1_orbits_and_db(which, catalog, folder):
    source = catalog if which == "stac" else folder
    asc = load_sensor(source, GRID, "S1A")
    desc = load_sensor(source, GRID, "S1D")
    assert _days(asc) == ["2021-05-02", "2021-05-14"]
    assert _days(desc) == ["2021-05-08"]
    assert list(asc["band"].values) == ["VV", "VH"]
    values, valid = asc["values"].values, asc["valid"].values
    assert values[0, 0, 5, 5] == pytest.approx(-10.0, abs=1e-4)
    assert values[0, 1, 5, 5] == pytest.approx(-20.0, abs=1e-4)
    assert desc["values"].values[0, 0, 5, 5] == pytest.approx(10 * np.log10(0.05), abs=1e-4)
    # NaN (no data) and 0 (non-positive power) are not valid, and 0 in values
    assert not valid[:, 0, 0].any() and not valid[:, 0, 1].any() and valid[:, 1:].all()
    assert np.isfinite(values).all() and values[0, 0, 0, 0] == 0


def test_s1_monthly_median_of_db(catalog):
    ds = load_sensor(catalog, GRID, "S1A", composite="monthly")
    assert _days(ds) == ["2021-05-15"]
    # the median of two valid observations is their mean (as numpy.median), in dB
    expected = (-10.0 + 10 * np.log10(0.2)) / 2
    assert ds["values"].values[0, 0, 5, 5] == pytest.approx(expected, abs=1e-4)
    assert not ds["valid"].values[0, 0, 0]


def test_scale_offset_from_raster_bands_or_processing_baseline():
    from sitsfusion.geo.stac import _scale_offset

    item = pystac.Item("S2_20200101", None, None, dt.datetime(2020, 1, 1), {})
    item.add_asset("B02", pystac.Asset("B02.tif"))
    item.properties["s2:processing_baseline"] = "02.14"
    assert _scale_offset(item, "B02") == (1e-4, 0.0)  # before 04.00: no offset
    item.properties["s2:processing_baseline"] = "04.00"
    assert _scale_offset(item, "B02") == (1e-4, -0.1)
    item.assets["B02"].extra_fields["raster:bands"] = [{"scale": 2e-4, "offset": 0.0}]
    assert _scale_offset(item, "B02") == (2e-4, 0.0)


# ---- bad input -------------------------------------------------------------------------------


def test_no_item_of_the_sensor_or_no_overlap(tmp_path, catalog):
    only_s1 = tmp_path / "s1"
    only_s1.mkdir()
    _write(only_s1 / "S1A_20210502.tif", _s1_data(0.1, 0.01), ("VV", "VH"), nodata=np.nan)
    with pytest.raises(DatasetError, match=r"no S2_<YYYYMMDD>\.tif file"):
        load_sensor(only_s1, GRID, "S2")
    far = Grid("EPSG:32630", 10.0, (600000.0, 5100000.0, 600100.0, 5100100.0))
    with pytest.raises(DatasetError, match="no S2 item overlaps the grid"):
        load_sensor(catalog, far, "S2")
    with pytest.raises(DatasetError, match="no S1A file overlaps the grid"):
        load_sensor(only_s1, far, "S1A")
    with pytest.raises(DatasetError, match=r"no S2 item dated from 2022-01-01$"):
        load_sensor(catalog, GRID, "S2", start="2022-01-01")
    with pytest.raises(ValueError, match="sensor 'S3' is unknown"):
        load_sensor(catalog, GRID, "S3")


def test_unreadable_catalog(tmp_path):
    (tmp_path / "catalog.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"catalog\.json: not a readable STAC catalog"):
        load_sensor(tmp_path, GRID, "S2")
    with pytest.raises(DatasetError, match="no such STAC catalog"):
        load_sensor(tmp_path / "other.json", GRID, "S2")


def test_missing_scl_asset_or_band(tmp_path, folder):
    stac = tmp_path / "stac"
    shutil.copytree(Path(write_catalog(tmp_path / "orig")).parent, stac)
    item_path = next(stac.rglob("S2_20210610.json"))
    item = pystac.Item.from_file(str(item_path))
    del item.assets["SCL"]
    item.save_object(dest_href=str(item_path), include_self_link=False)
    with pytest.raises(DatasetError, match="item 'S2_20210610' has no asset SCL"):
        load_sensor(stac / "catalog.json", GRID, "S2")
    tifs = tmp_path / "tifs"
    tifs.mkdir()
    _write(tifs / "S2_20210503.tif", _s2_data(2000)[:10], S2_BANDS, nodata=0)
    with pytest.raises(DatasetError, match=r"S2_20210503\.tif: has no band described SCL"):
        load_sensor(tifs, GRID, "S2")


def test_file_names_and_unreadable_files(tmp_path):
    tifs = tmp_path / "tifs"
    tifs.mkdir()
    _write(tifs / "S1A_20210502.tif", _s1_data(0.1, 0.01), ("VV", "VH"), nodata=np.nan)
    (tifs / "notes.txt").write_text("ignored")
    (tifs / "S2_2021-05-03.tif").write_bytes(b"")
    (tifs / "S3_20210503.tif").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"S2_2021-05-03\.tif, S3_20210503\.tif do not follow"):
        load_sensor(tifs, GRID, "S1A")
    (tifs / "S2_2021-05-03.tif").unlink()
    (tifs / "S3_20210503.tif").unlink()
    (tifs / "S1A_20210514.tif").write_bytes(b"not a tiff")
    with pytest.raises(DatasetError, match=r"S1A_20210514\.tif: not a readable GeoTIFF"):
        load_sensor(tifs, GRID, "S1A")


def test_stac_api_url_needs_pystac_client(monkeypatch):
    monkeypatch.setitem(sys.modules, "pystac_client", None)  # not installed
    with pytest.raises(ImportError, match="pystac-client"):
        load_sensor("https://example.invalid/stac", GRID, "S2")


def test_stac_api_search_through_pystac_client(catalog):
    """A STAC API on localhost (tests/stac_stub.py, no network) serving the synthetic catalog,
    searched by the real pystac-client."""
    pytest.importorskip("pystac_client")
    searches: list[dict] = []
    routes: dict = {}
    with serve(routes) as url:
        routes.update(stac_api_routes(catalog, url, searches))
        ds = load_sensor(url, GRID, "S1D", start="2021-05-01").compute()
    assert _days(ds) == ["2021-05-08"]
    assert searches[0]["collections"] == ["sentinel-1-rtc"]
    assert searches[0]["datetime"].startswith("2021-05-01")
    assert searches[0]["datetime"].endswith("/..")
    lon_min, lat_min, lon_max, lat_max = searches[0]["bbox"]
    assert -3.01 < lon_min < lon_max < -2.99 and 45.1 < lat_min < lat_max < 45.2


# ---- a real GeoTIFF --------------------------------------------------------------------------

TOGO = SHARED_DATA / "cropharvest_togo" / "98-togo_2019-02-06_2020-02-01.tif"


@pytest.mark.skipif(not TOGO.is_file(), reason="the CropHarvest Togo sample is absent")
def test_real_cropharvest_geotiff_through_the_folder_path(tmp_path):
    """A real CropHarvest export (EPSG:4326, Earth Engine; S1 in dB, first date's bands named
    VV, VH) read as an ascending S1 file and reprojected onto a UTM grid."""
    (tmp_path / "S1A_20190206.tif").symlink_to(TOGO)
    with rasterio.open(TOGO) as src:
        bounds = transform_bounds(src.crs, "EPSG:32631", *src.bounds)
        vv = src.read(1)
    grid = Grid.from_bounds(bounds, 32631, 10)
    ds = load_sensor(tmp_path, grid, "S1A", s1_units="db")
    values, valid = ds["values"].values, ds["valid"].values
    assert values.shape[:2] == (1, 2) and valid[0].mean() > 0.5
    inside = values[0, 0][valid[0]]
    assert inside.min() >= np.nanmin(vv) - 1e-4 and inside.max() <= np.nanmax(vv) + 1e-4
