"""``sitsfusion assess design`` / ``estimate``: a round trip on a tiny synthetic COG, and
the one-line refusals of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from class_maps import PIXEL, blocky_map, write_class_map

gpd = pytest.importorskip("geopandas")

NAMES = ("wheat", "maize", "meadow")


@pytest.fixture
def class_map(tmp_path: Path) -> tuple[Path, np.ndarray]:
    classes = blocky_map(64, 60, len(NAMES), seed=1)
    return write_class_map(tmp_path / "classes.tif", classes, NAMES), classes


def _design(sitsfusion_main, map_path: Path, out: Path, *extra: str):
    return sitsfusion_main(
        "assess",
        "design",
        "--map",
        map_path,
        "--out",
        out,
        "--target-se",
        "0.05",
        "--min-per-class",
        "10",
        *extra,
    )


def test_round_trip_perfect_reference(sitsfusion_main, class_map, tmp_path: Path) -> None:
    map_path, classes = class_map
    sample = tmp_path / "sample.gpkg"
    ran = _design(
        sitsfusion_main,
        map_path,
        sample,
        "--expected-ua",
        "0.8",
        "--expected-ua",
        "meadow=0.6",
        "--seed",
        "4",
    )
    assert ran.code == 0, ran.stdout
    points = gpd.read_file(sample, layer="assessment_sample")
    assert (points["reference"] == "").all() and len(points) >= 30
    assert (points.groupby("map_class").size() >= 10).all()
    # the labeller: here the reference is the map itself (a perfect map)
    points["reference"] = points["map_class"]
    labelled = tmp_path / "labelled.gpkg"
    points.to_file(labelled, layer="assessment_sample", driver="GPKG")
    out = tmp_path / "assessment"
    ran = sitsfusion_main(
        "assess", "estimate", "--map", map_path, "--sample", labelled, "--out", out
    )
    assert ran.code == 0, ran.stdout
    for name in ("error_matrix.csv", "accuracy.csv", "areas.csv", "assessment.png"):
        assert (out / name).stat().st_size > 0
    accuracy = pd.read_csv(out / "accuracy.csv")
    assert accuracy["estimate"].to_numpy() == pytest.approx(1.0)
    areas = pd.read_csv(out / "areas.csv")
    mapped_ha = np.bincount(classes[classes != 255], minlength=3) * PIXEL**2 / 1e4
    np.testing.assert_allclose(areas["estimated_ha"], mapped_ha)
    np.testing.assert_allclose(areas["mapped_ha"], mapped_ha)
    assert "overall" in ran.stdout
    assert "synthetic data from the sitsfusion simulator" in ran.stdout  # the map's tag says so
    # outputs are sitsfusion's: again without --overwrite is refused, with it replaced
    again = sitsfusion_main(
        "assess", "estimate", "--map", map_path, "--sample", labelled, "--out", out
    )
    assert again.code == 2 and "--overwrite" in again.stdout
    assert _design(sitsfusion_main, map_path, sample).code == 2
    assert _design(sitsfusion_main, map_path, sample, "--overwrite").code == 0
    assert _design(sitsfusion_main, map_path, tmp_path / "new" / "dir" / "s.gpkg").code == 0


def test_same_seed_same_sample(sitsfusion_main, class_map, tmp_path: Path) -> None:
    frames = []
    for name in ("a.gpkg", "b.gpkg"):
        assert _design(sitsfusion_main, class_map[0], tmp_path / name, "--seed", "9").code == 0
        frames.append(gpd.read_file(tmp_path / name))
    pd.testing.assert_frame_equal(frames[0], frames[1])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("unlabelled", "have no 'reference' label"),
        ("unknown_reference", "reference class 'barley'"),
        ("unknown_map_class", "map class 'rice'"),
        ("empty_stratum", "stratum 'maize'"),
    ],
)
def test_bad_samples(sitsfusion_main, class_map, tmp_path: Path, edit: str, message: str) -> None:
    map_path, _ = class_map
    sample = tmp_path / "sample.gpkg"
    assert _design(sitsfusion_main, map_path, sample).code == 0
    points = gpd.read_file(sample)
    points["reference"] = points["map_class"]
    if edit == "unlabelled":
        points.loc[:2, "reference"] = ""
    elif edit == "unknown_reference":
        points.loc[0, "reference"] = "barley"
    elif edit == "unknown_map_class":
        points.loc[0, "map_class"] = "rice"
    else:
        points = points[points["map_class"] != "maize"]
    points.to_file(sample, layer="assessment_sample", driver="GPKG")
    ran = sitsfusion_main(
        "assess", "estimate", "--map", map_path, "--sample", sample, "--out", tmp_path / "out"
    )
    assert ran.code == 2
    assert message in ran.stdout and "Traceback" not in ran.stdout + ran.stderr
    assert len(ran.stdout.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_bad_expected_ua(sitsfusion_main, class_map, tmp_path: Path) -> None:
    ran = _design(sitsfusion_main, class_map[0], tmp_path / "s.gpkg", "--expected-ua", "rice=0.7")
    assert ran.code == 2 and "'rice' is not a class of the map" in ran.stdout + ran.stderr
    assert not (tmp_path / "s.gpkg").exists()


def test_map_is_not_a_raster(sitsfusion_main, tmp_path: Path) -> None:
    bad = tmp_path / "classes.tif"
    bad.write_text("not a tiff")
    ran = sitsfusion_main("assess", "design", "--map", bad, "--out", tmp_path / "s.gpkg")
    assert ran.code == 2 and "not a readable raster" in ran.stdout


def test_class_of_one_pixel(sitsfusion_main, tmp_path: Path) -> None:
    """A class with fewer pixels than the minimum is sampled whole and estimated (census)."""
    classes = blocky_map(40, 40, 2, seed=0)
    classes[5, 5] = 2  # 'meadow': one pixel
    map_path = write_class_map(tmp_path / "classes.tif", classes, NAMES)
    sample = tmp_path / "sample.gpkg"
    assert _design(sitsfusion_main, map_path, sample).code == 0
    points = gpd.read_file(sample)
    assert (points["map_class"] == "meadow").sum() == 1
    points["reference"] = points["map_class"]
    points.to_file(sample, layer="assessment_sample", driver="GPKG")
    ran = sitsfusion_main(
        "assess", "estimate", "--map", map_path, "--sample", sample, "--out", tmp_path / "out"
    )
    assert ran.code == 0, ran.stdout


def test_expected_ua_names_ignore_case(sitsfusion_main, class_map, tmp_path: Path) -> None:
    """``--expected-ua MEADOW=0.6`` names the map's ``meadow`` (class names, case ignored):
    a lower expected accuracy for one class raises the total sample size."""
    base = _design(sitsfusion_main, class_map[0], tmp_path / "a.gpkg", "--min-per-class", "2")
    lower = _design(
        sitsfusion_main,
        class_map[0],
        tmp_path / "b.gpkg",
        *("--min-per-class", "2", "--expected-ua", "MEADOW=0.5"),
    )
    assert base.code == 0 and lower.code == 0, lower.stdout + lower.stderr
    n_a = len(gpd.read_file(tmp_path / "a.gpkg", layer="assessment_sample"))
    n_b = len(gpd.read_file(tmp_path / "b.gpkg", layer="assessment_sample"))
    assert n_b > n_a


def test_design_view_shows_the_points(sitsfusion_main, class_map, tmp_path: Path) -> None:
    sample = tmp_path / "sample.gpkg"
    assert _design(sitsfusion_main, class_map[0], sample, "--view").code == 0
    page = (tmp_path / "sample.html").read_text()
    assert page.count("<circle") == len(gpd.read_file(sample))  # one circle per point
