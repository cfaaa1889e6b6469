"""Sampling design: sample sizes (Eq. 13 + allocation) and the stratified random draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from class_maps import blocky_map, write_class_map
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitsfusion.assessment import (
    allocate,
    class_counts,
    draw_sample,
    estimate,
    open_class_map,
    sample_sizes,
)
from sitsfusion.assessment.classmap import iter_blocks
from sitsfusion.errors import DatasetError

NAMES = ("wheat", "maize", "meadow")


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(0, 3000),
    pixels=st.lists(st.integers(0, 10**7), min_size=1, max_size=8),
    minimum=st.integers(2, 120),
)
def test_allocation_sum_and_minimum(total: int, pixels: list[int], minimum: int) -> None:
    sizes = allocate(total, pixels, minimum)
    count = np.array(pixels)
    floor = np.minimum(minimum, count)
    assert (sizes >= floor).all()  # the minimum, or every pixel of a smaller class
    assert (sizes <= count).all()  # never more points than pixels
    assert (sizes[count == 0] == 0).all()
    feasible = min(total, int(count.sum()))
    # the total when the minimums allow it, else exactly the minimums
    assert sizes.sum() == max(feasible, int(floor.sum()))


def test_allocation_proportional_above_the_minimum() -> None:
    sizes = allocate(1000, [10_000, 30_000, 60_000, 100], 50)
    assert sizes.tolist()[3] == 50  # rare class: the minimum
    assert sizes.sum() == 1000
    # the 950 others in proportion 1 : 3 : 6
    assert sizes[:3].tolist() == [95, 285, 570]


def test_sample_sizes_from_target_se() -> None:
    pixels = [200_000, 150_000, 3_200_000, 6_450_000]  # Olofsson et al. (2014) Sec. 5
    sizes = sample_sizes(pixels, [0.7, 0.6, 0.9, 0.95], 0.01, min_per_class=75)
    assert sizes.sum() == 641
    assert sizes[:2].tolist() == [75, 75]
    with pytest.raises(ValueError, match="min_per_class"):
        sample_sizes(pixels, 0.8, 0.01, min_per_class=1)


@pytest.fixture(scope="module")
def class_map(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A synthetic 300 x 280 map (two blocks of 256 across and down), 3 classes + nodata."""
    classes = blocky_map(300, 280, len(NAMES), seed=3)
    return write_class_map(
        tmp_path_factory.mktemp("design") / "classes.tif", classes, NAMES
    ), classes


def test_counts_streamed(class_map) -> None:
    path, classes = class_map
    cmap = open_class_map(path)
    assert cmap.class_names == NAMES and cmap.pixel_area == pytest.approx(100.0)
    expected = np.bincount(classes[classes != 255], minlength=3)
    np.testing.assert_array_equal(class_counts(cmap), expected)
    assert len(list(iter_blocks(cmap))) == 4  # read in 256-pixel blocks, never whole


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**31), sizes=st.lists(st.integers(2, 60), min_size=3, max_size=3))
def test_sample_of_a_perfect_map(class_map, seed: int, sizes: list[int]) -> None:
    """Drawn from a map that equals the reference: OA 1 and the areas are the map's."""
    path, classes = class_map
    cmap = open_class_map(path)
    points = draw_sample(cmap, sizes, seed)
    reference = classes[points.rows, points.cols].astype(np.int64)
    counts = np.zeros((3, 3), dtype=np.int64)
    np.add.at(counts, (points.classes, reference), 1)
    pixels = class_counts(cmap)
    result = estimate(counts, pixels, NAMES)
    assert result.overall == pytest.approx(1.0)
    np.testing.assert_allclose(result.area, pixels)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**31), sizes=st.lists(st.integers(0, 200), min_size=3, max_size=3))
def test_sample_reproducible_and_in_stratum(class_map, seed: int, sizes: list[int]) -> None:
    rasterio = pytest.importorskip("rasterio")
    path, classes = class_map
    cmap = open_class_map(path)
    a = draw_sample(cmap, sizes, seed)
    b = draw_sample(cmap, sizes, seed)
    for u, v in zip((a.rows, a.cols, a.classes), (b.rows, b.cols, b.classes), strict=True):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(np.bincount(a.classes, minlength=3), sizes)
    assert len(set(zip(a.rows.tolist(), a.cols.tolist(), strict=True))) == a.rows.size  # no repeats
    # read back with rasterio at the pixel centres: each point lies in its stratum
    x, y = a.centres(cmap.transform)
    with rasterio.open(path) as src:
        values = np.array([v[0] for v in src.sample(zip(x, y, strict=True))], dtype=np.int64)
    np.testing.assert_array_equal(values, a.classes)
    np.testing.assert_array_equal(classes[a.rows, a.cols], a.classes)


def test_another_seed_another_sample(class_map) -> None:
    cmap = open_class_map(class_map[0])
    a, b = draw_sample(cmap, [20, 20, 20], 0), draw_sample(cmap, [20, 20, 20], 1)
    assert not np.array_equal(a.rows * 1000 + a.cols, b.rows * 1000 + b.cols)


def test_more_points_than_pixels(class_map) -> None:
    cmap = open_class_map(class_map[0])
    with pytest.raises(ValueError, match="points asked"):
        draw_sample(cmap, [10**6, 1, 1], 0)


def test_map_without_classes_tag(tmp_path: Path) -> None:
    from sitsfusion.inference.maps import write_cog

    path = write_cog(
        tmp_path / "plain.tif",
        np.zeros((1, 8, 8), np.uint8),
        "EPSG:32631",
        (10, 0, 0, 0, -10, 0),
        nodata=255,
    )
    with pytest.raises(DatasetError, match="'classes' tag"):
        open_class_map(path)


def test_value_outside_the_classes(tmp_path: Path) -> None:
    classes = np.zeros((8, 8), np.uint8)
    classes[2, 3] = 7
    cmap = open_class_map(write_class_map(tmp_path / "c.tif", classes, NAMES))
    with pytest.raises(DatasetError, match="pixel value 7"):
        class_counts(cmap)
