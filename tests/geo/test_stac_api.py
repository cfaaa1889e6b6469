"""A STAC API URL through pystac-client, offline: servers on localhost (tests/stac_stub.py).

An API that cannot be reached or is not one — a closed port, an unknown host, no answer, an
HTTP error, JSON or HTML that is not a STAC API, a static catalog without item search — is a
one-line DatasetError naming the URL and what to do, within a bounded time. A minimal STAC
API over the simulator's (synthetic) scene gives the same cubes as its static catalog.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("odc.stac")
pytest.importorskip("pystac_client")

from sitsfusion.errors import DatasetError
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.imagery import load_sensor
from sitsfusion.geo.sensors import SENSORS
from sitsfusion.geo.stac_api import api_url, search_api
from sitsfusion.simulate import simulate_scene
from stac_stub import HANG, JSON, closed_port_url, serve, stac_api_routes

GRID = Grid("EPSG:32630", 10.0, (500000.0, 5000000.0, 500200.0, 5000200.0))
HINT = "check the URL and your network, or give the path of a static catalog"
STATIC = {"type": "Catalog", "stac_version": "1.0.0", "id": "c", "description": "d", "links": []}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scene") / "area"
    return simulate_scene(out, size=32, s2_dates=3, s1_dates=2, seed=5)


@pytest.fixture(scope="module")
def api(scene: Path) -> Iterator[str]:
    """A minimal STAC API over the synthetic scene's items."""
    routes: dict = {}
    with serve(routes) as url:
        routes.update(stac_api_routes(scene / "catalog.json", url))
        yield url


def test_a_url_is_told_from_a_path_also_after_pathlib() -> None:
    assert api_url("https://planetarycomputer.microsoft.com/api/stac/v1") == (
        "https://planetarycomputer.microsoft.com/api/stac/v1"
    )
    assert api_url(Path("http://127.0.0.1:8000/stac")) == "http://127.0.0.1:8000/stac"
    assert api_url(Path("area/catalog.json")) is None
    assert api_url("https-data/catalog.json") is None


def _refused(url: str, timeout: float = 5.0) -> str:
    start = time.monotonic()
    with pytest.raises(DatasetError) as info:
        search_api(url, SENSORS["S2"], GRID, timeout=timeout)
    assert time.monotonic() - start < 10 * timeout  # bounded: never a hang
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{url}: STAC API search failed: ")
    assert message.endswith(HINT)
    return message


def test_a_closed_port_is_refused_connection() -> None:
    assert "connection refused" in _refused(closed_port_url())


def test_an_unknown_host_is_named() -> None:
    # .invalid never resolves (RFC 2606): answered by the resolver, no network needed
    assert "host name is not known" in _refused("http://no-such-stac-api.invalid/v1")


def test_a_server_that_does_not_answer_times_out() -> None:
    with serve({"/stac": HANG}) as url:
        assert "no answer within 0.3 s (tried 3 times)" in _refused(f"{url}/stac", timeout=0.3)


@pytest.mark.parametrize("status", [404, 500])
def test_an_http_error_is_named(status: int) -> None:
    with serve({"/stac": (status, b"<html>error page</html>", "text/html")}) as url:
        assert f"the server answered HTTP {status}" in _refused(f"{url}/stac")


@pytest.mark.parametrize(
    "body",
    [b'{"hello": "world"}', b"[1, 2]", b"<html>a web page</html>"],
    ids=["json object", "json list", "html"],
)
def test_an_answer_that_is_not_a_stac_api(body: bytes) -> None:
    with serve({"/stac": (200, body, JSON)}) as url:
        assert "not a STAC API landing page" in _refused(f"{url}/stac")


def test_a_static_catalog_on_the_web_is_not_an_api() -> None:
    with serve({"/catalog.json": (200, json.dumps(STATIC).encode(), JSON)}) as url:
        assert "not a STAC API with item search" in _refused(f"{url}/catalog.json")


def test_an_api_whose_search_fails_is_named() -> None:
    landing = {
        **STATIC,
        "conformsTo": ["https://api.stacspec.org/v1.0.0/item-search"],
        "links": [{"rel": "search", "href": "/search", "method": "POST"}],
    }
    routes = {"/": (200, json.dumps(landing).encode(), JSON), "/search": (500, b"boom", "text")}
    with serve(routes) as url:
        landing["links"][0]["href"] = f"{url}/search"
        routes["/"] = (200, json.dumps(landing).encode(), JSON)
        assert "HTTP 500" in _refused(url)


def test_load_sensor_names_the_url() -> None:
    url = closed_port_url()
    with pytest.raises(DatasetError, match=f"^{url}: STAC API search failed: connection refused"):
        load_sensor(url, GRID, "S1A")


@pytest.mark.parametrize("sensor", ["S2", "S1A", "S1D"])
def test_a_stac_api_gives_the_cube_of_the_static_catalog(
    scene: Path, api: str, sensor: str
) -> None:
    import geopandas as gpd

    parcels = gpd.read_file(scene / "parcels.gpkg")
    grid = Grid.from_bounds(tuple(parcels.total_bounds), parcels.crs.to_string(), resolution=10)
    static = load_sensor(scene / "catalog.json", grid, sensor).compute()
    searched = load_sensor(api, grid, sensor).compute()
    assert searched.sizes["time"] == static.sizes["time"] >= 2
    np.testing.assert_array_equal(searched["time"].values, static["time"].values)
    np.testing.assert_array_equal(searched["valid"].values, static["valid"].values)
    np.testing.assert_array_equal(searched["values"].values, static["values"].values)
