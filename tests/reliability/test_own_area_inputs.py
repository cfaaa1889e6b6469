"""Bad input of the own-area path (issue 11, point 6), end to end through ``sitsfusion
prepare`` (and ``fit``), on a tiny **synthetic** scene of the simulator (48 x 48 px, 3 S2 and
2 + 2 S1 dates, its STAC catalog and GeoTIFF folder), copied before any change.

Each refusal: exit code 2, ONE line (``error: <file / item / URL>: ...``), no traceback, and
nothing at ``--out``. Inputs that are fine but differ — parcels in another CRS, one item on
another grid — are prepared, the reprojection said once.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("odc.stac")
pytest.importorskip("pystac_client")
gpd = pytest.importorskip("geopandas")
rasterio = pytest.importorskip("rasterio")

from rasterio.warp import Resampling, calculate_default_transform, reproject  # noqa: E402
from shapely.geometry import Polygon, box  # noqa: E402

from paths import CONFIGS  # noqa: E402
from sitsfusion.data.readers.pastis import read_metadata  # noqa: E402
from sitsfusion.simulate import simulate_scene  # noqa: E402
from stac_stub import JSON, closed_port_url, serve, stac_api_routes  # noqa: E402

PATCH = "32"
Made = tuple[list[Any], str, str]  # prepare's arguments, the start of the error, a phrase


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic scene, written once for the module; tests copy what they change (few
    clouds: every test here needs each of the 3 dates clear enough to be kept)."""
    out = tmp_path_factory.mktemp("own_area") / "area"
    return simulate_scene(
        out, size=48, s2_dates=3, s1_dates=2, geotiff=True, seed=3, cloud_cover=0.05
    )


def _copy(scene: Path, tmp: Path) -> Path:
    copy = tmp / "area"
    shutil.copytree(scene, copy)
    return copy


def _parcels(scene: Path, tmp: Path, edit: Callable[[Any], Any]) -> Path:
    """A parcels file changed by ``edit`` (a GeoDataFrame -> GeoDataFrame), beside a copy of
    the scene's class table."""
    folder = tmp / "labels"
    folder.mkdir()
    shutil.copy(scene / "crop_codes.csv", folder)
    edit(gpd.read_file(scene / "parcels.gpkg")).to_file(folder / "parcels.gpkg", layer="parcels")
    return folder / "parcels.gpkg"


def _aoi(scene: Path, tmp: Path, geometries: list[Any]) -> Path:
    crs = gpd.read_file(scene / "parcels.gpkg").crs
    gpd.GeoDataFrame(geometry=geometries, crs=crs).to_file(tmp / "aoi.gpkg")
    return tmp / "aoi.gpkg"


def _far(frame: Any) -> Any:
    frame["geometry"] = frame.translate(50_000, 0)  # 50 km east: no imagery there
    return frame


def _unknown_codes(frame: Any) -> Any:
    frame.loc[:2, "crop_code"] = "XYZ"
    frame.loc[3:3, "crop_code"] = "ABC"
    return frame


def _s2_item(root: Path, index: int = 1) -> Path:
    """The JSON of the ``index``-th S2 item of a copied scene's catalog."""
    return sorted((root / "sentinel-2-l2a").glob("S2_*/S2_*.json"))[index]


def _drop_asset(root: Path, key: str) -> None:
    item = _s2_item(root)
    record = json.loads(item.read_text())
    del record["assets"][key]
    item.write_text(json.dumps(record))


def _drop_band(tif: Path, band: str) -> None:
    with rasterio.open(tif) as src:
        data, profile, names = src.read(), src.profile, src.descriptions
    keep = [i for i, name in enumerate(names) if name != band]
    profile.update(count=len(keep))
    with rasterio.open(tif, "w", **profile) as dst:
        dst.write(data[keep])
        for k, i in enumerate(keep, start=1):
            dst.set_band_description(k, names[i])


def _warp(tif: Path, crs: str, res: float) -> tuple[list[int], list[float]]:
    """Rewrite ``tif`` in ``crs`` at ``res`` metres (nearest), band descriptions kept; returns
    its new ``proj:shape`` and ``proj:transform``."""
    with rasterio.open(tif) as src:
        transform, width, height = calculate_default_transform(
            src.crs, crs, src.width, src.height, *src.bounds, resolution=res
        )
        profile, names = src.profile, src.descriptions
        out = np.zeros((src.count, height, width), dtype=profile["dtype"])
        for b in range(src.count):
            reproject(
                rasterio.band(src, b + 1),
                out[b],
                dst_transform=transform,
                dst_crs=crs,
                resampling=Resampling.nearest,
            )
    profile.update(crs=crs, transform=transform, width=width, height=height)
    profile.update(blockxsize=16, blockysize=16)
    with rasterio.open(tif, "w", **profile) as dst:
        dst.write(out)
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
    return [height, width], list(transform)[:6]


def _warp_item(root: Path, crs: str, res: float) -> None:
    """Every asset of one S2 item rewritten in ``crs`` at ``res``, its proj:* updated (as a
    provider publishes such an item)."""
    item = _s2_item(root)
    record = json.loads(item.read_text())
    for asset in record["assets"].values():
        shape, transform = _warp(item.parent / asset["href"], crs, res)
    epsg = int(crs.split(":")[1])
    record["properties"].update(
        {"proj:code": crs, "proj:epsg": epsg, "proj:shape": shape, "proj:transform": transform}
    )
    item.write_text(json.dumps(record))


# ---- refused ---------------------------------------------------------------------------------


def _column(scene: Path, tmp: Path) -> Made:
    labels = scene / "parcels.gpkg"
    args = [scene / "catalog.json", labels, "--class-column", "nope"]
    return args, str(labels), "no class column 'nope'; columns: ['parcel_id', 'crop_code']"


def _classes(scene: Path, tmp: Path) -> Made:
    labels = _parcels(scene, tmp, _unknown_codes)
    words = "2 class value(s) not in the class table: 'XYZ' (3), 'ABC' (1)"
    return [scene / "catalog.json", labels], str(labels), words


def _empty_aoi(scene: Path, tmp: Path) -> Made:
    aoi = _aoi(scene, tmp, [])
    words = "the area of interest is empty"
    return [scene / "catalog.json", scene / "parcels.gpkg", "--aoi", aoi], str(aoi), words


def _empty_polygon_aoi(scene: Path, tmp: Path) -> Made:
    aoi = _aoi(scene, tmp, [Polygon()])
    words = "the area of interest is empty"
    return [scene / "catalog.json", scene / "parcels.gpkg", "--aoi", aoi], str(aoi), words


def _aoi_elsewhere(scene: Path, tmp: Path) -> Made:
    bounds = gpd.read_file(scene / "parcels.gpkg").total_bounds + np.array([50_000, 0, 50_000, 0])
    aoi = _aoi(scene, tmp, [box(*bounds)])
    labels = scene / "parcels.gpkg"
    words = "no parcel inside the grid"
    return [scene / "catalog.json", labels, "--aoi", aoi], str(labels), words


def _no_imagery_there(scene: Path, tmp: Path) -> Made:
    catalog = scene / "catalog.json"
    words = "no S2 item overlaps the grid"
    return [catalog, _parcels(scene, tmp, _far)], str(catalog), words


def _no_files_there(scene: Path, tmp: Path) -> Made:
    folder = scene / "geotiff"
    words = "no S2 file overlaps the grid"
    return [folder, _parcels(scene, tmp, _far)], str(folder), words


def _missing_scl_asset(scene: Path, tmp: Path) -> Made:
    root = _copy(scene, tmp)
    _drop_asset(root, "SCL")
    words = f"item '{_s2_item(root).stem}' has no asset SCL; expected B02"
    return [root / "catalog.json", scene / "parcels.gpkg"], str(root / "catalog.json"), words


def _missing_band_asset(scene: Path, tmp: Path) -> Made:
    root = _copy(scene, tmp)
    _drop_asset(root, "B11")
    words = f"item '{_s2_item(root).stem}' has no asset B11"
    return [root / "catalog.json", scene / "parcels.gpkg"], str(root / "catalog.json"), words


def _missing_asset_file(scene: Path, tmp: Path) -> Made:
    root = _copy(scene, tmp)
    (_s2_item(root).parent / "B03.tif").unlink()
    words = f"item '{_s2_item(root).stem}': the file of asset B03 is missing"
    return [root / "catalog.json", scene / "parcels.gpkg"], str(root / "catalog.json"), words


def _missing_scl_band(scene: Path, tmp: Path) -> Made:
    root = _copy(scene, tmp)
    tif = sorted((root / "geotiff").glob("S2_*.tif"))[1]
    _drop_band(tif, "SCL")
    return [root / "geotiff", scene / "parcels.gpkg"], str(tif), "has no band described SCL"


def _missing_sensor_files(scene: Path, tmp: Path) -> Made:
    root = _copy(scene, tmp)
    for tif in (root / "geotiff").glob("S1A_*.tif"):
        tif.unlink()
    folder = root / "geotiff"
    return [folder, scene / "parcels.gpkg"], str(folder), "no S1A_<YYYYMMDD>.tif file"


def _unreadable_file(scene: Path, tmp: Path) -> Made:
    root = _copy(scene, tmp)
    tif = sorted((root / "geotiff").glob("S2_*.tif"))[1]
    tif.write_bytes(b"not a tiff")
    return [root / "geotiff", scene / "parcels.gpkg"], str(tif), "not a readable GeoTIFF"


def _closed_port(scene: Path, tmp: Path) -> Made:
    url = closed_port_url()
    return [url, scene / "parcels.gpkg"], url, "STAC API search failed: connection refused"


REFUSED: dict[str, Callable[[Path, Path], Made]] = {
    "a label column that does not exist": _column,
    "unknown class values (listed, with counts)": _classes,
    "an empty AOI (no feature)": _empty_aoi,
    "an empty AOI (an empty polygon)": _empty_polygon_aoi,
    "an AOI away from the parcels and the imagery": _aoi_elsewhere,
    "no overlap between the area and the STAC imagery": _no_imagery_there,
    "no overlap between the area and the GeoTIFFs": _no_files_there,
    "an S2 item without SCL": _missing_scl_asset,
    "an S2 item without a band": _missing_band_asset,
    "an S2 item whose band file is missing": _missing_asset_file,
    "a GeoTIFF without SCL": _missing_scl_band,
    "a GeoTIFF folder without S1A": _missing_sensor_files,
    "an unreadable GeoTIFF": _unreadable_file,
    "an unreachable STAC URL (connection refused)": _closed_port,
}


def _prepare(run: Callable, imagery: Any, labels: Any, out: Path, *extra: Any) -> Any:
    return run(
        "prepare", "--imagery", imagery, "--labels", labels, "--out", out, "--patch-size", PATCH,
        *extra,
    )  # fmt: skip


def _assert_refused(ran: Any, out: Path, start: str, words: str) -> None:
    output = ran.stdout + ran.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert ran.code == 2 and "Traceback" not in output, output
    assert len(lines) == 1 and lines[0].startswith(f"error: {start}: "), output
    assert words in lines[0], output
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_input_is_refused_in_one_line_leaving_nothing(
    case: str, scene: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    (imagery, labels, *extra), start, words = REFUSED[case](scene, tmp_path)
    out = tmp_path / "ds"
    _assert_refused(_prepare(sitsfusion_main, imagery, labels, out, *extra), out, start, words)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ((404, b"<html>not found</html>", "text/html"), "the server answered HTTP 404"),
        ((500, b"internal error", "text/plain"), "the server answered HTTP 500"),
        ((200, b'{"not": "stac"}', JSON), "not a STAC API landing page"),
    ],
    ids=["404", "500", "not a STAC API"],
)
def test_a_stac_url_that_is_not_an_api_is_refused(
    answer: tuple[int, bytes, str],
    words: str,
    scene: Path,
    tmp_path: Path,
    sitsfusion_main: Callable,
) -> None:
    out = tmp_path / "ds"
    with serve({"/stac": answer}) as url:
        ran = _prepare(sitsfusion_main, f"{url}/stac", scene / "parcels.gpkg", out)
    _assert_refused(ran, out, f"{url}/stac", words)


def test_an_undecodable_cog_leaves_nothing(
    scene: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    root = _copy(scene, tmp_path)
    (_s2_item(root).parent / "B03.tif").write_bytes(b"not a tiff")
    out = tmp_path / "ds"
    ran = _prepare(sitsfusion_main, root / "catalog.json", scene / "parcels.gpkg", out)
    cog = _s2_item(root).parent / "B03.tif"
    _assert_refused(
        ran, out, str(root / "catalog.json"), f"is not a GeoTIFF (no TIFF header) ({cog})"
    )


def test_a_cog_broken_inside_is_said_in_one_line_and_the_run_resumes(
    scene: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    """A TIFF header followed by nothing is found only when its pixels are read: one line
    naming the file, the patches written kept (marked incomplete) for the same command."""
    root = _copy(scene, tmp_path)
    cog = _s2_item(root).parent / "B03.tif"
    whole = cog.read_bytes()
    cog.write_bytes(whole[:200])
    out = tmp_path / "ds"
    ran = _prepare(sitsfusion_main, root / "catalog.json", scene / "parcels.gpkg", out)
    output = ran.stdout + ran.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert ran.code == 2 and "Traceback" not in output and len(lines) == 1, output
    assert lines[0].startswith(f"error: {root / 'catalog.json'}: reading the imagery failed")
    assert "B03.tif" in lines[0] and "run the same command again" in lines[0]
    assert json.loads((out / ".sitsfusion.json").read_text())["complete"] is False
    cog.write_bytes(whole)  # repaired: the same command finishes the dataset
    again = _prepare(sitsfusion_main, root / "catalog.json", scene / "parcels.gpkg", out)
    assert again.code == 0, again.stdout + again.stderr
    assert json.loads((out / ".sitsfusion.json").read_text())["complete"] is True


# ---- prepared all the same --------------------------------------------------------------------


def _prepared(ran: Any, out: Path) -> list[str]:
    """The output lines of a successful prepare (its dataset complete, said synthetic)."""
    output = ran.stdout + ran.stderr
    assert ran.code == 0 and "Traceback" not in output, output
    assert json.loads((out / ".sitsfusion.json").read_text())["complete"] is True
    assert len(read_metadata(out)) >= 1 and "synthetic" in output
    return output.splitlines()


def _dates(out: Path, sensor: str) -> set[int]:
    """Every date of ``sensor`` in the prepared dataset's patches."""
    return {int(d) for dates in read_metadata(out)[f"dates-{sensor}"] for d in dates}


@pytest.mark.slow
def test_parcels_in_degrees_are_reprojected_said_once(
    scene: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    labels = _parcels(scene, tmp_path, lambda frame: frame.to_crs("EPSG:4326"))
    out = tmp_path / "ds"
    lines = _prepared(_prepare(sitsfusion_main, scene / "catalog.json", labels, out), out)
    said = [line for line in lines if "reprojected" in line]
    assert said == [f"warning: {labels}: parcels reprojected from EPSG:4326 to EPSG:32630"]


@pytest.mark.slow
def test_parcels_in_another_utm_zone_reproject_the_imagery_said_once(
    scene: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    labels = _parcels(scene, tmp_path, lambda frame: frame.to_crs("EPSG:32631"))
    out = tmp_path / "ds"
    lines = _prepared(_prepare(sitsfusion_main, scene / "catalog.json", labels, out), out)
    said = [line for line in lines if "reprojected" in line]
    assert said == [
        f"warning: {scene / 'catalog.json'}: imagery in EPSG:32630 reprojected onto the "
        "grid's EPSG:32631 (resampling nearest)"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("crs", "res"), [("EPSG:32630", 20.0), ("EPSG:32631", 10.0)], ids=["20 m", "UTM 31N"]
)
def test_one_item_on_another_grid_is_reprojected_by_odc_stac(
    crs: str, res: float, scene: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    """Items of one sensor on different grids are fine: odc-stac warps each onto the grid;
    one in another CRS is said (a resolution alone is not)."""
    root = _copy(scene, tmp_path)
    _warp_item(root, crs, res)
    out = tmp_path / "ds"
    lines = _prepared(
        _prepare(sitsfusion_main, root / "catalog.json", root / "parcels.gpkg", out), out
    )
    assert len(_dates(out, "S2")) == 3  # every item kept
    said = [line for line in lines if "reprojected" in line]
    if crs == "EPSG:32630":
        assert said == []
    else:
        assert said == [
            f"warning: {root / 'catalog.json'}: imagery in EPSG:32631 reprojected onto the "
            "grid's EPSG:32630 (resampling nearest)"
        ]
    s2 = np.load(next((out / "DATA_S2").glob("S2_*.npy")))
    assert s2.shape[1:] == (10, 32, 32) and (s2 > 0).any()


@pytest.mark.slow
def test_a_geotiff_on_another_grid_is_warped(
    scene: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    root = _copy(scene, tmp_path)
    _warp(sorted((root / "geotiff").glob("S2_*.tif"))[1], "EPSG:32631", 20.0)
    out = tmp_path / "ds"
    lines = _prepared(_prepare(sitsfusion_main, root / "geotiff", root / "parcels.gpkg", out), out)
    said = [line for line in lines if "reprojected" in line]
    assert said == [
        f"warning: {root / 'geotiff'}: imagery in EPSG:32631 reprojected onto the grid's "
        "EPSG:32630 (resampling nearest)"
    ]


@pytest.fixture(scope="module")
def from_api(scene: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Any]:
    """``prepare`` from a STAC API on localhost (tests/stac_stub.py) serving the synthetic
    scene's items: the dataset, the URL and what the command printed."""
    from sitsfusion.cli import main

    out = tmp_path_factory.mktemp("from_api") / "ds"
    routes: dict = {}
    with serve(routes) as url:
        routes.update(stac_api_routes(scene / "catalog.json", url))
        args = ["prepare", "--imagery", url, "--labels", str(scene / "parcels.gpkg")]
        main([*args, "--out", str(out), "--patch-size", PATCH])
    return out, url, (out / ".sitsfusion.json").read_text()


@pytest.mark.slow
def test_a_stac_api_gives_the_dataset_of_the_static_catalog(
    scene: Path, tmp_path: Path, sitsfusion_main: Callable, from_api: tuple[Path, str, Any]
) -> None:
    api, _, _ = from_api
    out = tmp_path / "ds"
    _prepared(_prepare(sitsfusion_main, scene / "catalog.json", scene / "parcels.gpkg", out), out)
    files = sorted(p.relative_to(out) for p in out.glob("DATA_*/*.npy"))
    assert files == sorted(p.relative_to(api) for p in api.glob("DATA_*/*.npy")) and files
    for rel in files:
        np.testing.assert_array_equal(np.load(api / rel), np.load(out / rel))


@pytest.mark.slow
def test_a_dataset_from_a_stac_api_records_the_url_and_is_said_synthetic(
    from_api: tuple[Path, str, Any],
) -> None:
    _, url, mark = from_api
    assert json.loads(mark)["prepare"]["imagery"] == url
    assert json.loads(mark)["synthetic"] is True


# ---- fewer dates than the model needs ----------------------------------------------------------


@pytest.mark.slow
def test_fit_refuses_series_longer_than_tempcnn_takes(
    scene: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    data = tmp_path / "ds"
    _prepared(_prepare(sitsfusion_main, scene / "catalog.json", scene / "parcels.gpkg", data), data)
    config = CONFIGS / "garnot2021" / "parcel" / "s2.yaml"
    tempcnn = "model.temporal={name: tempcnn, max_len: 1, kernels: [8], kernel_size: 3, hidden: 8}"
    out = tmp_path / "run"
    ran = sitsfusion_main(
        "fit", "--config", config, "--set", f"data.root={data}", "--set", tempcnn,
        "--set", "data.train_folds=[1, 2, 3, 4, 5]", "--set", "data.val_folds=[]",
        "--set", "data.test_folds=[]", "--out", out,
    )  # fmt: skip
    _assert_refused(ran, out, str(data / "metadata.geojson"), "model.temporal.max_len = 1")
