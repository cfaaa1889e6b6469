"""The simulated own-area scene (synthetic data): COGs as providers publish them, a static STAC
catalog that reads back, parcels in the scene's CRS, the folder marked, the command line."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pystac
import pytest
import rasterio
from click.testing import CliRunner
from pystac.extensions.projection import ProjectionExtension

from sitsfusion.cli import cli
from sitsfusion.outputs import MARK
from sitsfusion.simulate import formats, simulate_scene
from sitsfusion.simulate.scene import (
    CHUNK_BYTES,
    CROP_CODES,
    GEOTIFF_FOLDER,
    S2_ASSETS,
    dates_per_chunk,
)
from sitsfusion.simulate.scene_stac import SYNTHETIC_KEY

SIZE, S2_DATES, S1_DATES = 32, 4, 3
ESA_SCL = {3, 4, 5, 6, 8, 9, 10}  # the classes the simulator uses (ESA numbering)
PASTIS = json.loads(
    (
        Path(__file__).resolve().parents[2] / "src/sitsfusion/data/nomenclatures/pastis.json"
    ).read_text(encoding="utf-8")
)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic scene: 32 x 32 px, 4 Sentinel-2 dates, 3 + 3 Sentinel-1 dates."""
    out = tmp_path_factory.mktemp("scene") / "area"
    simulate_scene(out, size=SIZE, s2_dates=S2_DATES, s1_dates=S1_DATES, seed=1)
    return out


@pytest.fixture(scope="module")
def items(scene: Path) -> dict[str, Any]:
    catalog = pystac.Catalog.from_file(str(scene / "catalog.json"))
    return {item.id: item for item in catalog.get_items(recursive=True)}


def _s2(items: dict[str, Any]) -> list[Any]:
    return sorted((i for k, i in items.items() if k.startswith("S2_")), key=lambda i: i.id)


def _s1(items: dict[str, Any]) -> list[Any]:
    return sorted((i for k, i in items.items() if k.startswith("S1_")), key=lambda i: i.id)


def test_catalog_reads_back_with_every_item_and_asset(scene: Path, items: dict) -> None:
    catalog = pystac.Catalog.from_file(str(scene / "catalog.json"))
    assert {c.id for c in catalog.get_children()} == {"sentinel-2-l2a", "sentinel-1-rtc"}
    assert len(_s2(items)) == S2_DATES and len(_s1(items)) == 2 * S1_DATES
    for item in items.values():
        assert item.properties[SYNTHETIC_KEY] is True
        for asset in item.assets.values():
            assert not Path(asset.href).is_absolute()  # self-contained: relative hrefs
            assert Path(asset.get_absolute_href()).is_file()
    raw = json.loads((scene / "catalog.json").read_text())
    assert raw[SYNTHETIC_KEY] is True and not [x for x in raw["links"] if x["rel"] == "self"]
    for child in catalog.get_children():
        assert child.extra_fields[SYNTHETIC_KEY] is True


def test_stac_objects_pass_the_core_schemas_offline(scene: Path, items: dict) -> None:
    """The STAC core schemas ship with pystac; the extension schemas are fetched from the
    network, which these machines have not: only the core is validated here (needs
    jsonschema, which pystac's ``validation`` extra brings)."""
    pytest.importorskip("jsonschema")
    from pystac.validation import validate_dict

    catalog = pystac.Catalog.from_file(str(scene / "catalog.json"))
    for obj in [catalog, *catalog.get_children(), *items.values()]:
        assert validate_dict(obj.to_dict(transform_hrefs=False), extensions=[])


def test_items_follow_the_contract(items: dict) -> None:
    s2, s1 = _s2(items), _s1(items)
    for item in s2:
        assert re.fullmatch(r"S2_\d{8}", item.id) and item.id[3:] == f"{item.datetime:%Y%m%d}"
        assert tuple(item.assets) == S2_ASSETS and len(S2_ASSETS) == 11
        assert item.properties["platform"] in ("sentinel-2a", "sentinel-2b")
        assert 0.0 <= item.properties["eo:cloud_cover"] <= 100.0
        names = " ".join(item.stac_extensions)
        assert all(e in names for e in ("/eo/", "/projection/", "/raster/", "/sat/"))
        b04 = item.assets["B04"].extra_fields
        assert b04["eo:bands"][0]["common_name"] == "red"
        assert b04["raster:bands"][0] | {} == {
            "nodata": 0,
            "data_type": "uint16",
            "scale": 0.0001,
            "offset": -0.1,
        }
    orbits = {"ASC": "ascending", "DESC": "descending"}
    for item in s1:
        match = re.fullmatch(r"S1_(\d{8})_(ASC|DESC)", item.id)
        assert match and match[1] == f"{item.datetime:%Y%m%d}"
        assert item.properties["sat:orbit_state"] == orbits[match[2]]
        assert set(item.assets) == {"vv", "vh"}
        assert item.properties["sar:polarizations"] == ["VV", "VH"]
        assert item.properties["sar:instrument_mode"] == "IW"
        assert item.properties["sar:product_type"] == "RTC"
        assert "/sar/" in " ".join(item.stac_extensions)
    for item in (*s2, *s1):
        assert ProjectionExtension.ext(item).epsg == 32630  # proj v2: proj:code EPSG:32630
        raw = json.loads(Path(item.get_self_href()).read_text())
        assert raw["properties"]["proj:epsg"] == 32630  # also as proj v1 said it
        assert item.properties["proj:shape"] == [SIZE, SIZE]
    s2_days = {i.datetime.date() for i in s2}
    s1_days = {i.datetime.date() for i in s1}
    assert not s2_days & s1_days  # each sensor on its own dates
    season = (dt.date(2018, 9, 15), dt.date(2019, 10, 31))
    assert all(season[0] <= d <= season[1] for d in s2_days | s1_days)


def test_cogs_are_on_the_grid_with_the_contract_units(items: dict) -> None:
    for item in (*_s2(items), *_s1(items)):
        transform = item.properties["proj:transform"]
        for key, asset in item.assets.items():
            with rasterio.open(asset.get_absolute_href()) as src:
                assert src.crs.to_epsg() == 32630 and src.count == 1
                assert list(src.transform)[:6] == transform and src.shape == (SIZE, SIZE)
                assert src.profile["tiled"] and src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
                assert src.descriptions == (key.upper() if key in ("vv", "vh") else key,)
                band = src.read(1)
                if item.id.startswith("S1_"):
                    assert src.dtypes == ("float32",) and np.isnan(src.nodata)
                    assert np.isfinite(band).all() and (band > 0).all()  # linear power
                    assert 0.002 < float(np.median(band)) < 1.0
                elif key == "SCL":
                    assert src.dtypes == ("uint8",) and src.nodata == 0
                    assert set(np.unique(band).tolist()) <= ESA_SCL
                else:
                    assert src.dtypes == ("uint16",) and src.nodata == 0
                    reflectance = band * 0.0001 - 0.1  # L2A offset convention
                    assert reflectance.min() >= 0.0 and reflectance.max() <= 2.0
    s1 = _s1(items)[0]
    with rasterio.open(s1.assets["vv"].get_absolute_href()) as vv:
        with rasterio.open(s1.assets["vh"].get_absolute_href()) as vh:
            assert vv.read(1).mean() > vh.read(1).mean()  # co-pol above cross-pol


def test_scl_and_cloud_cover_tell_the_same_clouds(items: dict) -> None:
    for item in _s2(items):
        with rasterio.open(item.assets["SCL"].get_absolute_href()) as src:
            scl = src.read(1)
        cloudy = float(np.isin(scl, (8, 9, 10)).mean() * 100)
        assert item.properties["eo:cloud_cover"] == pytest.approx(cloudy, abs=0.01)


def test_a_cloudless_scene_has_no_cloud_nor_shadow_classes(tmp_path: Path) -> None:
    out = simulate_scene(tmp_path / "clear", size=16, s2_dates=2, s1_dates=0, cloud_cover=0.0)
    catalog = pystac.Catalog.from_file(str(out / "catalog.json"))
    found = list(catalog.get_items(recursive=True))
    assert len(found) == 2 and {c.id for c in catalog.get_children()} == {"sentinel-2-l2a"}
    for item in found:
        assert item.properties["eo:cloud_cover"] == 0.0
        with rasterio.open(item.assets["SCL"].get_absolute_href()) as src:
            assert set(np.unique(src.read(1)).tolist()) <= {4, 5, 6}


def test_parcels_are_polygons_in_the_scene_crs_with_known_codes(scene: Path, items: dict) -> None:
    parcels = gpd.read_file(scene / "parcels.gpkg", layer="parcels")
    assert parcels.crs.to_epsg() == 32630 and len(parcels) >= 2
    assert {"parcel_id", "crop_code"} <= set(parcels.columns)
    assert parcels["parcel_id"].is_unique and parcels["parcel_id"].dtype.kind == "i"
    codes = {c for group in CROP_CODES.values() for c in group}
    assert set(parcels["crop_code"]) <= codes
    assert set(parcels.geom_type) == {"MultiPolygon"} and parcels.is_valid.all()
    t = _s2(items)[0].properties["proj:transform"]
    left, top = t[2], t[5]
    minx, miny, maxx, maxy = parcels.total_bounds
    assert left <= minx and maxx <= left + SIZE * 10 and top - SIZE * 10 <= miny and maxy <= top
    assert (parcels.area % 100 == 0).all()  # whole 10 m pixels
    assert parcels.area.sum() <= (SIZE * 10) ** 2


def test_crop_codes_csv_maps_every_code_to_a_pastis_class(scene: Path) -> None:
    with (scene / "crop_codes.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    names = {c["name"] for c in PASTIS["classes"]}
    assert rows and {r["class"] for r in rows} <= names
    assert {r["value"] for r in rows} == {c for g in CROP_CODES.values() for c in g}
    assert sorted(CROP_CODES) == list(range(1, 20))  # every crop class, and void (19)


def test_the_folder_is_marked_as_a_complete_simulated_dataset(scene: Path) -> None:
    mark = json.loads((scene / MARK).read_text())
    assert mark["complete"] is True and mark["format"] == "scene"
    assert not list(scene.parent.glob(f".{scene.name}.partial-*"))


def test_same_arguments_same_scene_and_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "a"
    kwargs: dict[str, Any] = {"size": 16, "s2_dates": 1, "s1_dates": 1, "seed": 5}
    simulate_scene(out, **kwargs)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.tif")}
    simulate_scene(out, overwrite=True, **kwargs)
    again = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.tif")}
    assert first == again and len(first) == 11 + 2 * 2


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"crs": "EPSG:4326"}, "crs: 'EPSG:4326' must be a projected EPSG CRS in metres"),
        ({"crs": "not a crs"}, "crs: 'not a crs' is no CRS"),
        ({"size": 8}, "size must be >= 16"),
        ({"cloud_cover": 2.0}, "cloud_cover must be in [0, 1]"),
        ({"s2_dates": -1}, "s2_dates must be >= 0"),
    ],
)
def test_bad_arguments_are_refused_before_writing(tmp_path: Path, kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        simulate_scene(tmp_path / "bad", **kwargs)
    assert not (tmp_path / "bad").exists()


def test_another_crs_places_the_scene_in_it(tmp_path: Path) -> None:
    out = simulate_scene(tmp_path / "z31", size=16, s2_dates=1, s1_dates=0, crs="EPSG:32631")
    with rasterio.open(next(out.rglob("B02.tif"))) as src:
        assert src.crs.to_epsg() == 32631 and src.transform.c % 10 == 0
    assert gpd.read_file(out / "parcels.gpkg").crs.to_epsg() == 32631


def test_cli_defaults_for_the_scene(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    fake = {
        k: dataclasses.replace(v, writer=lambda out, **kw: seen.append({"out": out, **kw}))
        for k, v in formats.FORMATS.items()
    }
    monkeypatch.setattr("sitsfusion.cli.simulate.FORMATS", fake)
    result = CliRunner().invoke(cli, ["simulate", "--format", "scene", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    expected = {"out": tmp_path, "seed": 0, "size": 200, "region": "west", "year": 2019}
    expected["progress"] = True  # a bar over each sensor's chunks of dates
    assert seen == [expected] and "synthetic" in result.output
    result = CliRunner().invoke(cli, ["simulate", "--format", "scene", "--out", "d", "--geotiff"])
    assert result.exit_code == 0 and seen[1] == {**expected, "out": Path("d"), "geotiff": True}
    args = ["simulate", "--format", "scene", "--out", str(tmp_path), "--patches", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "'--patches'" in result.output and not seen[2:]


def test_cli_writes_catalog_and_parcels(tmp_path: Path) -> None:
    out = tmp_path / "area"
    args = ["simulate", "--format", "scene", "--out", str(out), "--size", "16"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (out / "catalog.json").is_file() and (out / "parcels.gpkg").is_file()
    assert "own-area scene" in result.output and "synthetic" in result.output


@pytest.mark.filterwarnings(  # odc-geo's own use of affine and shapely, not ours
    "ignore:Use `@` matmul:PendingDeprecationWarning",
    "ignore:The 'shapely.ops.transform:DeprecationWarning",
)
def test_odc_stac_loads_the_items_on_the_scene_grid(items: dict) -> None:
    """The catalog is what the field's loaders read: odc-stac puts every item on one grid."""
    odc_stac = pytest.importorskip("odc.stac")
    s2 = _s2(items)
    data = odc_stac.load(s2, bands=["B04", "SCL"])
    assert data.sizes == {"time": S2_DATES, "y": SIZE, "x": SIZE}
    assert data.odc.geobox.crs.epsg == 32630
    assert list(data.odc.geobox.transform)[:6] == s2[0].properties["proj:transform"]
    with rasterio.open(s2[0].assets["B04"].get_absolute_href()) as src:
        assert (data.B04.isel(time=0).values == src.read(1)).all()
    radar = odc_stac.load(_s1(items), bands=["vv", "vh"])
    assert radar.sizes["time"] == 2 * S1_DATES and radar.vv.dtype == np.float32


def test_geotiff_folder_holds_the_same_acquisitions(tmp_path: Path) -> None:
    out = simulate_scene(tmp_path / "g", size=16, s2_dates=2, s1_dates=2, geotiff=True)
    catalog = pystac.Catalog.from_file(str(out / "catalog.json"))
    items = {item.id: item for item in catalog.get_items(recursive=True)}
    names = sorted(p.name for p in (out / GEOTIFF_FOLDER).iterdir())
    expected = [f"S2_{i[3:]}.tif" for i in items if i.startswith("S2_")]
    orbit = {i: "S1" + i.split("_")[2][0] for i in items if i.startswith("S1_")}  # S1A / S1D
    expected += [f"{orbit[i]}_{i[3:11]}.tif" for i in orbit]
    assert names == sorted(expected) and len(names) == 2 + 2 * 2
    for item in items.values():
        sensor = orbit.get(item.id, "S2")
        with rasterio.open(out / GEOTIFF_FOLDER / f"{sensor}_{item.id[3:11]}.tif") as src:
            assert src.crs.to_epsg() == 32630
            assert list(src.transform)[:6] == item.properties["proj:transform"]
            keys = list(item.assets)
            assert src.descriptions == tuple(k.upper() if sensor != "S2" else k for k in keys)
            for c, key in enumerate(keys, start=1):
                with rasterio.open(item.assets[key].get_absolute_href()) as one:
                    assert (src.read(c) == one.read(1)).all(), (item.id, key)


def test_cli_geotiff_flag_is_for_the_scene_only(tmp_path: Path) -> None:
    args = ["simulate", "--format", "pastis-r", "--out", str(tmp_path / "p"), "--geotiff"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "'--geotiff'" in result.output
    assert not (tmp_path / "p").exists()


def _pixels(root: Path) -> dict[str, np.ndarray]:
    out = {}
    for path in sorted(root.rglob("*.tif")):
        with rasterio.open(path) as src:
            out[str(path.relative_to(root))] = src.read()
    return out


def test_scene_pixels_do_not_depend_on_the_chunk_of_dates(tmp_path: Path) -> None:
    """One date at a time (with the progress bar) and all dates at once write the same pixels
    (synthetic scene, an odd size so that the 20 m bands' edge padding is exercised)."""
    kw: dict[str, Any] = {"size": 37, "s2_dates": 5, "s1_dates": 4, "seed": 2, "geotiff": True}
    simulate_scene(tmp_path / "one", chunk_dates=1, progress=True, **kw)
    simulate_scene(tmp_path / "all", chunk_dates=100, **kw)
    one, every = _pixels(tmp_path / "one"), _pixels(tmp_path / "all")
    assert len(one) == 5 * 12 + 2 * 4 * 3  # per date: S2 11 COGs + 1 GeoTIFF, S1 2 + 1
    assert one.keys() == every.keys()
    for name, arr in one.items():
        assert np.array_equal(arr, every[name], equal_nan=True), name
    s2 = [a for k, a in one.items() if k.endswith("B04.tif")]
    assert len({a.tobytes() for a in s2}) == len(s2)  # the dates differ from each other


def test_chunk_of_dates_from_the_budget_is_at_least_one_and_bounded() -> None:
    per_date = 10 * 2000 * 2000 * 4  # Sentinel-2, 2000 x 2000 px, float32
    n = dates_per_chunk(per_date, 44)
    assert 1 <= n <= 44 and n * per_date <= CHUNK_BYTES
    assert dates_per_chunk(per_date, 44, budget=per_date - 1) == 1  # one date even if too big
    assert dates_per_chunk(8, 44, budget=1 << 30) == 44  # never more than the dates
    assert dates_per_chunk(8, 0) == 1
    for bad in ({"bytes_per_date": 0}, {"budget": 0}, {"n_dates": -1}):
        args = {"bytes_per_date": 8, "n_dates": 3} | bad
        with pytest.raises(ValueError, match=next(iter(bad))):
            dates_per_chunk(**args)


def test_chunk_dates_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chunk_dates"):
        simulate_scene(tmp_path / "x", size=SIZE, chunk_dates=0)
