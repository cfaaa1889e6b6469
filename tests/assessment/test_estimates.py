"""Properties of the Olofsson et al. (2014) estimates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitsfusion.assessment import estimate


@settings(max_examples=100, deadline=None)
@given(
    pixels=st.lists(st.integers(1, 10**7), min_size=1, max_size=6),
    points=st.lists(st.integers(2, 300), min_size=6, max_size=6),
)
def test_perfect_map(pixels: list[int], points: list[int]) -> None:
    """A sample whose reference equals the map: OA = UA = PA = 1 with SE 0, areas = mapped."""
    k = len(pixels)
    counts = np.diag(points[:k])
    a = estimate(counts, pixels, [f"c{i}" for i in range(k)])
    assert a.overall == pytest.approx(1.0) and a.overall_se == pytest.approx(0.0)
    np.testing.assert_allclose(a.users, 1.0)
    np.testing.assert_allclose(a.producers, 1.0)
    np.testing.assert_allclose(a.area, pixels)
    np.testing.assert_allclose(a.area_se, 0.0, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), k=st.integers(2, 5))
def test_areas_add_up(data: st.DataObject, k: int) -> None:
    """Estimated areas sum to the mapped total; p_ij sums to 1; rows keep the map's W_i."""
    pixels = data.draw(st.lists(st.integers(1, 10**6), min_size=k, max_size=k))
    counts = np.array(
        [data.draw(st.lists(st.integers(0, 50), min_size=k, max_size=k)) for _ in range(k)]
    )
    counts[np.arange(k), np.arange(k)] += 2  # every stratum has 2 points or more
    a = estimate(counts, pixels, [f"c{i}" for i in range(k)])
    assert a.area.sum() == pytest.approx(sum(pixels))
    np.testing.assert_allclose(a.proportions.sum(axis=1), np.array(pixels) / sum(pixels))
    assert 0 <= a.overall <= 1
    assert (a.area_se >= 0).all() and a.overall_se >= 0


def test_stratum_with_one_point() -> None:
    with pytest.raises(ValueError, match="'b': fewer than 2 sample points"):
        estimate([[5, 0], [0, 1]], [10, 10], ["a", "b"])


def test_class_absent_from_the_map_found_by_reference() -> None:
    """A class with no mapped area needs no points; the reference can still find it."""
    a = estimate([[8, 2, 0], [0, 10, 0], [0, 0, 0]], [100, 100, 0], ["a", "b", "c"])
    assert np.isnan(a.users[2]) and np.isnan(a.producers[2])
    assert a.area[2] == 0
    assert a.area[1] == pytest.approx(100 + 100 * 2 / 10)


def test_census_stratum() -> None:
    """A class of one pixel, sampled whole: accepted, and it adds no variance."""
    with_census = estimate([[9, 1], [0, 1]], [100, 1], ["a", "b"], census=[False, True])
    only_a = estimate([[9, 1], [0, 0]], [100, 0], ["a", "b"])
    w = 100 / 101
    assert with_census.overall_se == pytest.approx(w * only_a.overall_se)
    assert with_census.users_se[1] == 0
