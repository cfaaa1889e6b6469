"""The item layouts of the public STAC providers, offline, on the simulator's synthetic scene.

* Element 84 Earth Search v1 keys Sentinel-2 assets by common name (``blue`` ... ``scl``):
  a copy of the synthetic catalog with its S2 assets renamed so loads to the same cube as the
  original (Planetary Computer's ``B02`` ... ``SCL``); one sensor mixing both namings is one
  clear error; its ``earthsearch:boa_offset_applied`` items get no second BOA offset.
* Microsoft Planetary Computer's items are signed by ``planetary_computer.sign_inplace``: a
  stand-in module in ``sys.modules`` records the calls (nothing is downloaded), and a missing
  package is one line saying ``pip install planetary-computer``.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("odc.stac")
pytest.importorskip("pystac_client")

import pystac

from sitsfusion.errors import DatasetError
from sitsfusion.geo import stac_api
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.imagery import load_sensor
from sitsfusion.geo.sensors import EARTH_SEARCH_S2_ASSETS, SENSORS
from sitsfusion.geo.stac import _scale_offset
from sitsfusion.simulate.scene import simulate_scene
from stac_stub import serve, stac_api_routes

S2 = SENSORS["S2"]
TO_EARTH_SEARCH = dict(zip(S2.read_assets, EARTH_SEARCH_S2_ASSETS, strict=True))
PC_URL = "https://planetarycomputer.microsoft.com/api/stac/v1"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulator's synthetic scene (read-only: tests copy it)."""
    return simulate_scene(
        tmp_path_factory.mktemp("scene") / "area", size=48, s2_dates=3, s1_dates=2
    )


@pytest.fixture(scope="module")
def grid(scene: Path) -> Grid:
    import geopandas as gpd

    parcels = gpd.read_file(scene / "parcels.gpkg")
    return Grid.from_bounds(tuple(parcels.total_bounds), parcels.crs.to_string(), resolution=10)


def _s2_items(root: Path) -> list[Path]:
    return sorted((root / "sentinel-2-l2a").glob("*/*.json"))


def _earth_search_copy(
    scene: Path, out: Path, only: int | None = None, boa_offset_applied: bool | None = None
) -> Path:
    """A copy of the synthetic catalog whose S2 items (all, or only the ``only``-th) key their
    assets as Earth Search does; ``boa_offset_applied`` sets Earth Search's item property."""
    root = out / "catalog"
    shutil.copytree(scene, root)
    for i, path in enumerate(_s2_items(root)):
        if only is not None and i != only:
            continue
        item = json.loads(path.read_text())
        assets = {}
        for key, asset in item["assets"].items():
            new = TO_EARTH_SEARCH.get(key, key)
            for band in asset.get("eo:bands", []):
                band["name"] = new  # Earth Search: eo:bands name = the common name
            assets[new] = asset
        item["assets"] = assets
        if boa_offset_applied is not None:
            item["properties"]["earthsearch:boa_offset_applied"] = boa_offset_applied
        path.write_text(json.dumps(item))
    return root / "catalog.json"


# ---- Earth Search's asset names --------------------------------------------------------------


def test_earth_search_names_load_to_the_same_cube(scene: Path, grid: Grid, tmp_path: Path) -> None:
    original = load_sensor(scene / "catalog.json", grid, "S2").compute()
    renamed = load_sensor(_earth_search_copy(scene, tmp_path), grid, "S2").compute()
    assert list(renamed["band"].values) == list(S2.bands)  # B02 ... B12 whatever the naming
    assert renamed.sizes["time"] == original.sizes["time"] == 3
    np.testing.assert_array_equal(renamed["time"].values, original["time"].values)
    np.testing.assert_array_equal(renamed["valid"].values, original["valid"].values)
    np.testing.assert_array_equal(renamed["values"].values, original["values"].values)
    assert renamed["valid"].values.any() and renamed.attrs["synthetic"] is True


def test_one_sensor_mixing_namings_is_one_error(scene: Path, grid: Grid, tmp_path: Path) -> None:
    catalog = _earth_search_copy(scene, tmp_path, only=1)
    with pytest.raises(DatasetError) as info:
        load_sensor(catalog, grid, "S2")
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{catalog}: ")
    assert "the S2 items mix asset namings" in message
    assert "Planetary Computer's (B02 ... SCL)" in message
    assert "Earth Search's (blue ... scl)" in message
    assert f"item {_s2_items(tmp_path / 'catalog')[1].stem!r}" in message


def test_an_item_with_neither_naming_lists_both(scene: Path, grid: Grid, tmp_path: Path) -> None:
    catalog = _earth_search_copy(scene, tmp_path)
    path = _s2_items(tmp_path / "catalog")[0]
    item = json.loads(path.read_text())
    del item["assets"]["scl"]
    path.write_text(json.dumps(item))
    with pytest.raises(DatasetError) as info:
        load_sensor(catalog, grid, "S2")
    message = str(info.value)
    assert "\n" not in message
    assert f"item {path.stem!r} has no asset scl; expected B02, B03" in message  # the closest
    assert "SCL (Planetary Computer) or blue, green" in message
    assert message.endswith("swir22, scl (Earth Search)")


def test_sentinel1_keeps_its_one_naming(scene: Path, grid: Grid, tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    shutil.copytree(scene, root)
    path = sorted((root / "sentinel-1-rtc").glob("*ASC/*.json"))[0]
    item = json.loads(path.read_text())
    del item["assets"]["vh"]
    path.write_text(json.dumps(item))
    with pytest.raises(
        DatasetError, match=rf"item '{path.stem}' has no asset vh; expected vv, vh$"
    ):
        load_sensor(root / "catalog.json", grid, "S1A")


def test_earth_search_boa_offset_applied_is_not_applied_twice(
    scene: Path, grid: Grid, tmp_path: Path
) -> None:
    # the synthetic items' raster:bands say offset -0.1 (as Earth Search's do); with
    # earthsearch:boa_offset_applied the numbers already hold it: reflectance = DN * 1e-4
    original = load_sensor(scene / "catalog.json", grid, "S2").compute()
    applied = _earth_search_copy(scene, tmp_path, boa_offset_applied=True)
    shifted = load_sensor(applied, grid, "S2").compute()
    valid = original["valid"].values
    np.testing.assert_array_equal(shifted["valid"].values, valid)
    difference = shifted["values"].values - original["values"].values
    np.testing.assert_allclose(difference.transpose(1, 0, 2, 3)[:, valid], 0.1, atol=1e-6)


def test_scale_offset_of_earth_search_items() -> None:
    item = pystac.Item("S2A_39QTA_20230628_0_L2A", None, None, dt.datetime(2023, 6, 28), {})
    fields = {"raster:bands": [{"nodata": 0, "scale": 0.0001, "offset": -0.1}]}
    item.add_asset("red", pystac.Asset("B04.tif", extra_fields=fields))
    item.properties["s2:processing_baseline"] = "05.09"
    item.properties["earthsearch:boa_offset_applied"] = True
    assert _scale_offset(item, "red") == (1e-4, 0.0)
    item.properties["earthsearch:boa_offset_applied"] = False
    assert _scale_offset(item, "red") == (1e-4, -0.1)


# ---- Planetary Computer signing --------------------------------------------------------------


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """A stand-in ``planetary_computer`` module whose ``sign_inplace`` records what it gets
    and marks the items it signs (``signed`` property)."""
    calls: list[Any] = []

    def sign_inplace(obj: Any) -> None:
        calls.append(obj)
        if isinstance(obj, pystac.ItemCollection):
            items = obj.items
        elif isinstance(obj, dict) and "features" in obj:  # a page of a search, as JSON
            items = obj["features"]
        else:
            items = [obj]
        for it in items:
            if isinstance(it, pystac.Item):
                it.properties["signed"] = True
            elif isinstance(it, dict) and it.get("type") == "Feature":
                it["properties"]["signed"] = True

    module = types.ModuleType("planetary_computer")
    module.sign_inplace = sign_inplace  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "planetary_computer", module)
    return calls


def test_the_planetary_computer_is_signed_with_sign_inplace(stand_in: list[Any]) -> None:
    assert stac_api.signing(PC_URL) is sys.modules["planetary_computer"].sign_inplace
    assert stac_api.signing("https://earth-search.aws.element84.com/v1") is None
    assert stac_api.signing("http://127.0.0.1:8000/stac") is None


def test_a_missing_planetary_computer_package_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "planetary_computer", None)  # import fails
    with pytest.raises(ImportError) as info:
        stac_api.signing(PC_URL)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{PC_URL}: ")
    assert message.endswith("pip install planetary-computer")
    assert stac_api.signing("https://earth-search.aws.element84.com/v1") is None  # not needed
    with pytest.raises(ImportError, match="pip install planetary-computer"):
        load_sensor(PC_URL, Grid("EPSG:32630", 10.0, (0.0, 0.0, 100.0, 100.0)), "S2")


@pytest.fixture
def api(scene: Path) -> Iterator[str]:
    """A minimal STAC API on localhost over the synthetic scene's items."""
    routes: dict = {}
    with serve(routes) as url:
        routes.update(stac_api_routes(scene / "catalog.json", url))
        yield url


def test_the_items_of_a_signed_host_are_signed(
    api: str, grid: Grid, stand_in: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    items, _ = stac_api.search_api(api, S2, grid)
    assert items and not stand_in  # localhost is not signed
    assert not any(it.properties.get("signed") for it in items)
    monkeypatch.setattr(stac_api, "SIGNED_HOSTS", ("127.0.0.1",))
    items, _ = stac_api.search_api(api, S2, grid)
    assert stand_in and len(items) == 3
    assert all(it.properties.get("signed") is True for it in items)
    cube = load_sensor(api, grid, "S2").compute()  # signed items load as before
    assert cube.sizes["time"] == 3
