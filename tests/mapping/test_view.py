"""The HTML look at a class map (:mod:`sitsfusion.mapping.view`): what the page shows is read
back from the page itself (the embedded PNG, the SVG paths and circles, the legend) and
compared with the inputs. Every map here is synthetic (random class fields), written by the
test."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from browser import launch, sync_api
from sitsfusion.errors import DatasetError
from sitsfusion.inference.maps import parcel_polygons, write_cog, write_parcels
from sitsfusion.mapping.view import MAX_PIXELS, class_colors, write_view
from sitsfusion.outputs import OutputError

gpd = pytest.importorskip("geopandas")
pytest.importorskip("rasterio")
Image = pytest.importorskip("PIL.Image")

PIXEL = 10.0  # metres: a Sentinel-2 10 m grid
TRANSFORM = (PIXEL, 0.0, 500_000.0, 0.0, -PIXEL, 4_800_000.0)
CRS = "EPSG:32631"
PASTIS = ("Background", "Meadow", "Soft winter wheat", "Corn")  # pastis.json's first classes
FIELD = 8  # pixels per field side


def write_map(
    path: Path,
    classes: np.ndarray,
    names: tuple[str, ...] = PASTIS,
    synthetic: bool = True,
    crs: str = CRS,
) -> Path:
    """``classes [H, W]`` (255 = nodata) as a COG with the tags sitsfusion's maps carry."""
    tags = {"classes": json.dumps(dict(enumerate(names))), "synthetic": str(synthetic).lower()}
    bands = np.asarray(classes, dtype=np.uint8)[None]
    return write_cog(path, bands, crs, TRANSFORM, nodata=255, band_names=["class"], tags=tags)


def fields(rows: int, cols: int, k: int, seed: int = 0, size: int = FIELD) -> np.ndarray:
    """``[rows * size, cols * size]``: random classes of ``size``² fields, nodata in the
    first two pixel columns."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, k, size=(rows, cols))
    out = np.kron(values, np.ones((size, size), dtype=np.int64)).astype(np.uint8)
    out[:, :2] = 255
    return out


@dataclass
class Page(HTMLParser):
    """The parts of a page the tests read."""

    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    text: dict[str, str] = field(default_factory=dict)  # element id -> its text
    _open: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        self._open.append(values.get("id", ""))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1]:
            self.text[self._open[-1]] = self.text.get(self._open[-1], "") + data

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def png(self) -> np.ndarray:
        """The embedded class map, ``[h, w, 4]`` RGBA."""
        (image,) = self.all("image")
        prefix = "data:image/png;base64,"
        assert image["href"].startswith(prefix)
        data = base64.b64decode(image["href"][len(prefix) :])
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))

    def legend(self) -> dict[int, str]:
        return {int(li["data-class"]): li["data-color"] for li in self.all("li")}

    def grid(self) -> dict:
        return json.loads(self.text["grid"])


def read_page(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def rgba(classes: np.ndarray, legend: dict[int, str]) -> np.ndarray:
    """What the PNG must hold: each class in its legend colour, nodata transparent."""
    out = np.zeros((*classes.shape, 4), dtype=np.uint8)
    for k, color in legend.items():
        out[classes == k] = [*(int(color[i : i + 2], 16) for i in (1, 3, 5)), 255]
    return out


def test_the_png_is_the_class_map_in_the_legend_colours(tmp_path: Path) -> None:
    classes = fields(6, 5, len(PASTIS), seed=1)
    page_path = write_view(tmp_path / "view.html", write_map(tmp_path / "classes.tif", classes))
    page = read_page(page_path)
    legend = page.legend()
    assert set(legend) == set(np.unique(classes[classes != 255]).tolist())
    # the class names are PASTIS's: its nomenclature colours (pastis.json)
    assert legend[1] == "#aec7e8" and legend[2] == "#ff7f0e"
    png = page.png()
    assert png.shape[:2] == classes.shape
    np.testing.assert_array_equal(png, rgba(classes, legend))
    assert png[0, 0, 3] == 0  # nodata: transparent


def test_a_large_map_is_decimated_under_max_pixels(tmp_path: Path) -> None:
    classes = fields(8, 15, 3, seed=2)  # 64 x 120 pixels, fields of 8 x 8
    path = write_map(tmp_path / "classes.tif", classes, names=("a", "b", "c"))
    page = read_page(write_view(tmp_path / "view.html", path, max_pixels=classes.size // 16))
    png = page.png()
    assert png.shape[:2] == (16, 30)  # a step of 4 pixels
    # nearest: the pixel under each displayed pixel's centre (the nodata stripe of 2 pixels
    # is thinner than a displayed pixel: not shown)
    np.testing.assert_array_equal(png, rgba(classes[2::4, 2::4], page.legend()))
    # SVG units stay the raster's pixels whatever the decimation
    (image,) = page.all("image")
    assert (image["width"], image["height"]) == ("120", "64")
    assert page.grid()["png"] == [30, 16]


@pytest.mark.parametrize(
    ("shape", "max_pixels"), [((1001, 1001), 1000), ((7, 3000), 50), ((5, 5), 25), ((9, 4), 1)]
)
def test_the_png_never_exceeds_max_pixels(
    tmp_path: Path, shape: tuple[int, int], max_pixels: int
) -> None:
    classes = np.random.default_rng(0).integers(0, 2, size=shape).astype(np.uint8)
    path = write_map(tmp_path / "classes.tif", classes, names=("a", "b"))
    png = read_page(write_view(tmp_path / "view.html", path, max_pixels=max_pixels)).png()
    assert png.shape[0] * png.shape[1] <= max_pixels
    assert png.shape[0] * png.shape[1] > max_pixels // 4  # not decimated more than needed


def test_the_page_size_is_bounded_for_a_large_map(tmp_path: Path) -> None:
    """Random classes per pixel (the worst case for PNG compression): the page holds about
    one byte per embedded pixel, not one per raster pixel."""
    classes = np.random.default_rng(3).integers(0, 12, size=(1500, 1400)).astype(np.uint8)
    path = write_map(tmp_path / "classes.tif", classes, names=tuple("abcdefghijkl"))
    max_pixels = 20_000
    page = write_view(tmp_path / "view.html", path, max_pixels=max_pixels)
    assert page.stat().st_size < 2 * max_pixels + 30_000
    assert path.stat().st_size > 10 * page.stat().st_size
    assert MAX_PIXELS == 2_000_000


def test_class_colours_from_a_nomenclature_or_the_palette() -> None:
    assert class_colors(["meadow", "CORN"]) == ("#aec7e8", "#ffbb78")  # pastis.json, any case
    names = [f"class {k}" for k in range(25)]
    colors = class_colors(names)
    assert colors == class_colors(names)  # fixed
    assert len(set(colors)) == 25
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colors)


def parcels_file(path: Path, classes: np.ndarray, crs: str = CRS) -> gpd.GeoDataFrame:
    """One parcel per field of ``classes`` (ids 1..), written in ``crs`` (layer parcels)."""
    rows, cols = classes.shape[0] // FIELD, classes.shape[1] // FIELD
    ids = np.kron(np.arange(1, rows * cols + 1).reshape(rows, cols), np.ones((FIELD, FIELD)))
    frame = parcel_polygons(ids.astype(np.int64), CRS, TRANSFORM)
    frame = frame.rename(columns={"parcel": "parcel_id"})
    pred = classes[FIELD - 1 :: FIELD, FIELD - 1 :: FIELD].ravel()[frame["parcel_id"] - 1]
    frame["pred_class"] = pred.astype(np.int64)
    frame["pred_name"] = [PASTIS[k] for k in pred]
    frame["confidence"] = 0.5 + frame["parcel_id"] / 100
    frame["pixels"] = FIELD * FIELD
    write_parcels(path, {"parcels": frame.to_crs(crs)})
    return frame


def path_bounds(d: str) -> tuple[float, float, float, float]:
    xy = np.array([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]).reshape(-1, 2)
    return (*xy.min(axis=0), *xy.max(axis=0))


def test_parcels_are_drawn_where_they_lie_in_any_crs(tmp_path: Path) -> None:
    classes = fields(4, 5, len(PASTIS), seed=4)
    map_path = write_map(tmp_path / "classes.tif", classes)
    frame = parcels_file(tmp_path / "parcels.gpkg", classes, crs="EPSG:4326")  # reprojected
    page = read_page(write_view(tmp_path / "v.html", map_path, parcels=tmp_path / "parcels.gpkg"))
    paths = page.all("path")
    assert len(paths) == len(frame) == 20
    a, _, c, _, e, f = TRANSFORM
    for row, drawn in zip(frame.itertuples(), paths, strict=True):
        x0, y0, x1, y1 = row.geometry.bounds  # map coordinates -> SVG units (raster pixels)
        expected = ((x0 - c) / a, (y1 - f) / e, (x1 - c) / a, (y0 - f) / e)
        np.testing.assert_allclose(path_bounds(drawn["d"]), expected, atol=0.06)
        tip = drawn["data-tip"].splitlines()
        assert tip[0] == f"parcel {row.parcel_id}"
        assert tip[1] == f"predicted: {row.pred_name}"
        assert tip[2] == f"confidence: {100 * row.confidence:.1f} %"
        assert tip[3] == "pixels: 64"
    assert {i["data-layer"] for i in page.all("input")} == {"classes", "parcels"}


def test_parcel_tooltips_with_missing_columns_and_values(tmp_path: Path) -> None:
    """predict's parcels name their id ``parcel``; a class name or confidence may be absent
    (the class name then comes from ``pred_class`` and the map's ``classes`` tag)."""
    classes = fields(1, 3, len(PASTIS), seed=9)
    frame = parcels_file(tmp_path / "full.gpkg", classes)
    frame = frame.rename(columns={"parcel_id": "parcel"}).drop(columns=["pixels"])
    frame["pred_class"] = [1, 3, 2]
    frame["pred_name"] = ["Meadow", None, None]
    frame["confidence"] = [0.5, np.nan, 0.25]
    write_parcels(tmp_path / "p.gpkg", {"parcels": frame})
    map_path = write_map(tmp_path / "classes.tif", classes)
    page = read_page(write_view(tmp_path / "v.html", map_path, parcels=tmp_path / "p.gpkg"))
    tips = [p["data-tip"].splitlines() for p in page.all("path")]
    assert tips == [
        ["parcel 1", "predicted: Meadow", "confidence: 50.0 %"],
        ["parcel 2", "predicted: Corn"],
        ["parcel 3", "predicted: Soft winter wheat", "confidence: 25.0 %"],
    ]


def test_parcels_are_simplified_to_the_displayed_pixel(tmp_path: Path) -> None:
    """A staircase parcel edge of one-pixel steps: kept when each pixel is shown, smoothed
    when four pixels make one displayed pixel."""
    classes = np.zeros((32, 32), dtype=np.uint8)
    ids = (np.add.outer(np.arange(32), np.arange(32)) < 32).astype(np.int64)  # a triangle
    frame = parcel_polygons(ids, CRS, TRANSFORM).rename(columns={"parcel": "parcel_id"})
    write_parcels(tmp_path / "p.gpkg", {"parcels": frame})
    map_path = write_map(tmp_path / "classes.tif", classes)
    vertices = []
    for max_pixels in (32 * 32, 8 * 8):
        page = write_view(tmp_path / "v.html", map_path, parcels=tmp_path / "p.gpkg",
                          max_pixels=max_pixels)  # fmt: skip
        (drawn,) = read_page(page).all("path")
        vertices.append(len(re.findall(r"-?\d+(?:\.\d+)?", drawn["d"])) // 2)
    assert vertices[0] >= 60 and vertices[1] <= 10


def write_points(path: Path, map_path: Path, labels: dict[int, str]) -> gpd.GeoDataFrame:
    """The assessment sample of ``map_path`` as ``assess design`` writes it, with the
    reference of the points ``labels`` ({point_id: class}) filled in."""
    from sitsfusion.assessment import class_counts, draw_sample, open_class_map
    from sitsfusion.assessment.sample import LAYER, write_sample

    cmap = open_class_map(map_path)
    sizes = np.minimum([3, 4, 2, 5], class_counts(cmap))
    write_sample(path, cmap, draw_sample(cmap, sizes, seed=1))
    frame = gpd.read_file(path, layer=LAYER)
    for point_id, name in labels.items():
        frame.loc[frame["point_id"] == point_id, "reference"] = name
    write_parcels(path, {LAYER: frame})
    return frame


def test_points_are_drawn_at_their_pixel_centres(tmp_path: Path) -> None:
    classes = fields(4, 4, len(PASTIS), seed=5)
    classes[:, :] = np.where(classes == 255, 255, np.arange(32)[None, :] // 8)  # all 4 classes
    map_path = write_map(tmp_path / "classes.tif", classes)
    frame = write_points(tmp_path / "sample.gpkg", map_path, {2: "Corn"})
    page = read_page(write_view(tmp_path / "v.html", map_path, points=tmp_path / "sample.gpkg"))
    circles = page.all("circle")
    assert len(circles) == len(frame) == 14
    legend = page.legend()
    for row, drawn in zip(frame.itertuples(), circles, strict=True):
        assert (float(drawn["cx"]), float(drawn["cy"])) == (row.col + 0.5, row.row + 0.5)
        tip = drawn["data-tip"].splitlines()
        assert tip[:2] == [f"point {row.point_id}", f"map class: {row.map_class}"]
        assert tip[2:] == (["reference: Corn"] if row.point_id == 2 else [])
        assert legend[PASTIS.index(row.map_class)] in drawn["style"]


@pytest.mark.parametrize("synthetic", [True, False])
def test_the_synthetic_banner_iff_the_tag_says_so(tmp_path: Path, synthetic: bool) -> None:
    path = write_map(tmp_path / "classes.tif", fields(2, 2, 2), synthetic=synthetic)
    page = read_page(write_view(tmp_path / "view.html", path))
    assert ("synthetic" in page.text) is synthetic
    info = page.text["info"]
    assert "EPSG:32631" in info and "pixel 10 m" in info and "16 × 16 pixels" in info


def test_the_page_fetches_nothing(tmp_path: Path) -> None:
    classes = fields(3, 3, len(PASTIS), seed=6)
    map_path = write_map(tmp_path / "classes.tif", classes)
    parcels_file(tmp_path / "parcels.gpkg", classes)
    write_points(tmp_path / "sample.gpkg", map_path, {})
    out = write_view(
        tmp_path / "view.html",
        map_path,
        parcels=tmp_path / "parcels.gpkg",
        points=tmp_path / "sample.gpkg",
    )
    text = out.read_text(encoding="utf-8")
    page = read_page(out)
    for tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href", "action", "data"):
            value = attrs.get(name, "")
            assert not re.match(r"\s*(https?:|//|ftp:)", value, re.I), (tag, name, value)
        if name := attrs.get("href"):
            assert name.startswith("data:"), (tag, name)
    assert not page.all("link") and not page.all("iframe")
    assert all("src" not in attrs for attrs in page.all("script"))
    assert "@import" not in text and not re.search(r"url\(", text)
    assert not re.search(r"https?://", text)
    assert re.search(r'<meta name="generator" content="sitsfusion [^"]+">', text)


def test_the_script_is_valid_javascript(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the inline script's syntax is not checked")
    out = write_view(tmp_path / "view.html", write_map(tmp_path / "c.tif", fields(2, 2, 2)))
    text = out.read_text(encoding="utf-8")
    script = re.search(r"<script>(.*?)</script>", text, re.S)
    assert script is not None
    (tmp_path / "view.js").write_text(script.group(1), encoding="utf-8")
    ran = subprocess.run([node, "--check", str(tmp_path / "view.js")], capture_output=True)
    assert ran.returncode == 0, ran.stderr.decode()


def test_the_script_pans_zooms_and_shows_tooltips(tmp_path: Path) -> None:
    """The page's script run by node on a fake DOM (fake_dom.js): the wheel zooms about the
    cursor, a drag pans by the pointer's travel, buttons and keys zoom and go home, a hover
    shows the tooltip and the class under the cursor, a toggle hides a layer."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the inline script is not run")
    classes = fields(2, 2, len(PASTIS), seed=8)  # 16 x 16 pixels of 10 m
    map_path = write_map(tmp_path / "classes.tif", classes)
    out = write_view(tmp_path / "view.html", map_path)
    harness = Path(__file__).with_name("fake_dom.js")
    ran = subprocess.run([node, str(harness), str(out)], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    did = json.loads(ran.stdout)
    assert did["initial"] == [0, 0, 16, 16] == did["home"] == did["keyOut"]
    assert did["wheel"][2] < 16  # zoomed in ...
    np.testing.assert_allclose(did["fixed"], 0, atol=1e-9)  # ... about the cursor
    assert float(did["zoomedRadius"]) < float(did["radius"])  # points keep their screen size
    np.testing.assert_allclose(did["dragged"], did["expectedDrag"], rtol=1e-9)
    np.testing.assert_allclose(did["zoomIn"][2], 16 / 1.5)
    width, hidden = did["scale"]  # a scale bar of at most 120 screen pixels
    assert not hidden and 0 < float(width.removesuffix("px")) <= 120
    assert did["tip"] == [False, "parcel 7\npredicted: maize"] and did["tipAfter"] is True
    assert did["where"].startswith("x 5000") and did["where"].endswith(did["className"])
    assert did["parcels"] == "none"


def test_an_existing_page_of_ours_is_replaced_any_other_file_never(tmp_path: Path) -> None:
    map_path = write_map(tmp_path / "classes.tif", fields(2, 2, 2))
    out = write_view(tmp_path / "view.html", map_path, title="first")
    write_view(out, map_path, title="second")
    assert "<title>second</title>" in out.read_text(encoding="utf-8")
    foreign = tmp_path / "notes.html"
    foreign.write_text("<html><body>my notes</body></html>", encoding="utf-8")
    with pytest.raises(OutputError, match="not written by sitsfusion"):
        write_view(foreign, map_path)
    assert foreign.read_text(encoding="utf-8") == "<html><body>my notes</body></html>"
    with pytest.raises(OutputError, match="is the input"):
        write_view(map_path, map_path)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # map.png
def test_bad_inputs_are_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    classes = fields(2, 2, len(PASTIS))
    map_path = write_map(tmp_path / "classes.tif", classes)
    out = tmp_path / "view.html"
    png = tmp_path / "map.png"
    with rasterio.open(png, "w", driver="PNG", width=4, height=4, count=1, dtype="uint8") as dst:
        dst.write(np.zeros((1, 4, 4), dtype=np.uint8))
    untagged = tmp_path / "untagged.tif"
    write_cog(untagged, classes[None], CRS, TRANSFORM, nodata=255)
    text = tmp_path / "notes.txt"
    text.write_text("not a raster", encoding="utf-8")
    parcels_file(tmp_path / "parcels.gpkg", classes)
    frame = gpd.read_file(tmp_path / "parcels.gpkg", layer="parcels")
    write_parcels(tmp_path / "other.gpkg", {"fields": frame})
    local = 'ENGCRS["site",EDATUM["site"],CS[Cartesian,2],AXIS["x",east,LENGTHUNIT["metre",1]],'
    local += 'AXIS["y",north,LENGTHUNIT["metre",1]]]'
    write_parcels(tmp_path / "local.gpkg", {"parcels": frame.set_crs(local, allow_override=True)})
    cases = [
        ({"classes": tmp_path / "missing.tif"}, "missing.tif: missing"),
        ({"classes": text}, "notes.txt: not a readable GeoTIFF"),
        ({"classes": png}, "map.png: is a PNG raster; expected a GeoTIFF"),
        ({"classes": untagged}, "untagged.tif: has no 'classes' tag"),
        ({"parcels": tmp_path / "gone.gpkg"}, "gone.gpkg: missing"),
        ({"parcels": text}, "notes.txt: not a readable vector file"),
        ({"parcels": tmp_path / "other.gpkg"}, "has no layer 'parcels'; layers: fields"),
        ({"points": tmp_path / "parcels.gpkg"}, "has no layer 'assessment_sample'"),
        ({"parcels": tmp_path / "local.gpkg"}, "local.gpkg: layer 'parcels' (site) cannot be "),
    ]
    for kwargs, message in cases:
        args = {"classes": map_path} | kwargs
        with pytest.raises(DatasetError, match=re.escape(message)) as info:
            write_view(out, **args)
        assert "\n" not in str(info.value)
    assert not out.exists()
    with pytest.raises(ValueError, match="max_pixels must be >= 1"):
        write_view(out, map_path, max_pixels=0)


def test_the_page_in_a_headless_browser(tmp_path: Path) -> None:
    """Pan, zoom and tooltips in a real browser: the system's Chromium driven by Playwright
    (skipped, saying why, without either; no browser is downloaded)."""
    api = sync_api()
    classes = fields(4, 4, len(PASTIS), seed=7)
    map_path = write_map(tmp_path / "classes.tif", classes)
    parcels_file(tmp_path / "parcels.gpkg", classes)
    out = write_view(tmp_path / "view.html", map_path, parcels=tmp_path / "parcels.gpkg")
    with api.sync_playwright() as p:
        browser = launch(p)
        errors: list[str] = []
        page = browser.new_page(viewport={"width": 900, "height": 600})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda r: errors.append(r.url) if r.url.startswith("http") else None)
        page.goto(out.resolve().as_uri())
        before = page.get_attribute("#map", "viewBox")
        page.click('button[data-zoom="in"]')
        assert page.get_attribute("#map", "viewBox") != before
        page.click('button[data-zoom="home"]')
        assert page.get_attribute("#map", "viewBox") == before
        page.hover("#parcels path >> nth=5")
        assert page.is_visible("#tip") and "parcel" in page.inner_text("#tip")
        page.uncheck('input[data-layer="parcels"]')
        assert not page.is_visible("#parcels")
        browser.close()
    assert errors == []
