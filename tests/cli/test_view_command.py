"""``sitsfusion view``: the page beside the map, opened in a browser only when asked or when
a display is there, never failing for want of a browser; one-line errors. The maps are
synthetic (random class fields written by the test)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sitsfusion.inference.maps import write_cog

pytest.importorskip("rasterio")
pytest.importorskip("PIL")

TRANSFORM = (10.0, 0.0, 500_000.0, 0.0, -10.0, 4_800_000.0)


@pytest.fixture
def class_map(tmp_path: Path) -> Path:
    """A 16 x 16 synthetic class map with three classes, in a folder of its own."""
    classes = np.kron(np.arange(4).reshape(2, 2) % 3, np.ones((8, 8), dtype=np.int64))
    tags = {"classes": json.dumps({"0": "wheat", "1": "maize", "2": "meadow"}), "synthetic": "true"}
    return write_cog(
        tmp_path / "run" / "classes.tif",
        classes.astype(np.uint8)[None],
        "EPSG:32631",
        TRANSFORM,
        nodata=255,
        band_names=["class"],
        tags=tags,
    )


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs ``webbrowser.open`` was asked to open (nothing is opened)."""
    opened: list[str] = []

    def fake_open(url: str, *args: object, **kwargs: object) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr("webbrowser.open", fake_open)
    return opened


def test_the_page_is_written_beside_the_map(sitsfusion_main, class_map, browser) -> None:
    ran = sitsfusion_main("view", class_map, "--no-open")
    assert ran.code == 0, ran.stdout
    page = class_map.parent / "view.html"
    assert f"view: {page}" in ran.stdout and "synthetic" in ran.stdout
    assert "<title>Class map run/classes.tif</title>" in page.read_text(encoding="utf-8")
    assert browser == []
    # again: our own page is replaced
    assert sitsfusion_main("view", class_map, "--no-open", "--title", "T").code == 0
    assert "<title>T</title>" in page.read_text(encoding="utf-8")


def test_open_shows_the_page_in_the_browser(sitsfusion_main, class_map, browser, tmp_path) -> None:
    out = tmp_path / "look.html"
    ran = sitsfusion_main("view", class_map, "--out", out, "--open")
    assert ran.code == 0, ran.stdout
    assert browser == [out.resolve().as_uri()]


@pytest.mark.parametrize(("display", "opened"), [(None, False), (":0", True)])
def test_by_default_the_page_opens_when_there_is_a_display(
    sitsfusion_main, class_map, browser, monkeypatch, display: str | None, opened: bool
) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if display is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DISPLAY", display)
    assert sitsfusion_main("view", class_map).code == 0
    assert bool(browser) is opened


@pytest.mark.parametrize("failure", ["refused", "raised"])
def test_no_browser_is_never_an_error(sitsfusion_main, class_map, monkeypatch, failure) -> None:
    def fake_open(url: str, *args: object, **kwargs: object) -> bool:
        if failure == "raised":
            raise RuntimeError("could not locate runnable browser")
        return False

    monkeypatch.setattr("webbrowser.open", fake_open)
    ran = sitsfusion_main("view", class_map, "--open")
    assert ran.code == 0, ran.stdout
    assert "no browser opened it" in ran.stdout
    assert (class_map.parent / "view.html").is_file()


def test_parcels_and_points_options(sitsfusion_main, class_map, tmp_path) -> None:
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import box

    from sitsfusion.inference.maps import write_parcels

    x, y = TRANSFORM[2], TRANSFORM[5]
    parcels = gpd.GeoDataFrame(
        {"parcel_id": [7], "pred_class": [1], "pred_name": ["maize"], "confidence": [0.9]},
        geometry=[box(x + 10, y - 70, x + 70, y - 10)],
        crs="EPSG:32631",
    )
    write_parcels(tmp_path / "parcels.gpkg", {"parcels": parcels})
    ran = sitsfusion_main("assess", "design", "--map", class_map, "--out", tmp_path / "s.gpkg",
                          "--min-per-class", "2", "--target-se", "0.2")  # fmt: skip
    assert ran.code == 0, ran.stdout
    out = tmp_path / "v.html"
    ran = sitsfusion_main("view", class_map, "--parcels", tmp_path / "parcels.gpkg",
                          "--points", tmp_path / "s.gpkg", "--out", out, "--no-open")  # fmt: skip
    assert ran.code == 0, ran.stdout
    text = out.read_text(encoding="utf-8")
    assert text.count("<path ") == 1 and "parcel 7\npredicted: maize" in text
    points = gpd.read_file(tmp_path / "s.gpkg", layer="assessment_sample")
    assert text.count("<circle ") == len(points) > 0


def test_errors_are_one_line(sitsfusion_main, class_map, tmp_path) -> None:
    ran = sitsfusion_main("view", tmp_path / "missing.tif", "--no-open")
    assert ran.code == 2
    assert ran.stdout.strip() == f"error: {tmp_path / 'missing.tif'}: missing"
    mine = tmp_path / "mine.html"
    mine.write_text("<p>mine</p>", encoding="utf-8")
    ran = sitsfusion_main("view", class_map, "--out", mine, "--no-open")
    assert ran.code == 2 and "not written by sitsfusion" in ran.stdout
    assert len(ran.stdout.strip().splitlines()) == 1
    assert mine.read_text(encoding="utf-8") == "<p>mine</p>"
    ran = sitsfusion_main("view", class_map, "--points", class_map, "--no-open")
    assert ran.code == 2 and "classes.tif: not a readable vector file" in ran.stdout
