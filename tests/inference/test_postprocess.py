"""Post-processing of class maps: Gaussian smoothing of probabilities, minimum mapping unit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sitsfusion.inference.postprocess import minimum_mapping_unit, smooth_probabilities

NODATA = 255


def _regions(classes: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(class, bool mask) of each 4-connected region, by scipy (not the code under test)."""
    from scipy import ndimage

    out = []
    for value in np.unique(classes):
        labels, n = ndimage.label(classes == value)  # 4-connectivity by default
        out += [(int(value), labels == i) for i in range(1, n + 1)]
    return out


def test_a_speckle_pixel_is_smoothed_away_and_nodata_is_untouched() -> None:
    probs = np.zeros((2, 9, 9), dtype=np.float32)
    probs[0] = 1.0
    probs[:, 4, 4] = (0.2, 0.8)  # one pixel of class 1 in a field of class 0
    valid = np.ones((9, 9), dtype=bool)
    valid[:, 8] = False  # a column without prediction
    probs[:, :, 8] = 0.0
    out = smooth_probabilities(probs, valid, sigma=1.0)
    assert out.argmax(axis=0)[4, 4] == 0
    np.testing.assert_allclose(out.sum(axis=0)[valid], 1.0, atol=1e-5)
    np.testing.assert_array_equal(out[:, ~valid], probs[:, ~valid])
    field = np.zeros((3, 9, 9), dtype=np.float32)
    field[:] = np.array([0.2, 0.5, 0.3])[:, None, None]
    np.testing.assert_allclose(
        smooth_probabilities(field, valid, 2.0)[:, valid], field[:, valid], atol=1e-5
    )
    with pytest.raises(ValueError, match="sigma must be > 0"):
        smooth_probabilities(probs, valid, 0.0)


def test_small_regions_take_their_largest_neighbours_class() -> None:
    classes = np.zeros((10, 10), dtype=np.uint8)
    classes[4:6, 4] = 2  # 2 pixels inside class 0
    classes[8:, 8:] = 3  # 4 pixels in a corner
    classes[0, :] = NODATA
    out = minimum_mapping_unit(classes, 3, NODATA)
    assert (out[4:6, 4] == 0).all() and (out[8:, 8:] == 3).all()
    assert (out[0] == NODATA).all()
    np.testing.assert_array_equal(minimum_mapping_unit(classes, 1, NODATA), classes)


@settings(max_examples=40, deadline=None)
@given(
    classes=arrays(np.uint8, (12, 12), elements=st.sampled_from([0, 1, 2, NODATA])),
    unit=st.integers(2, 6),
)
def test_mmu_keeps_nodata_and_every_region_of_at_least_the_unit(classes, unit) -> None:
    out = minimum_mapping_unit(classes, unit, NODATA)
    np.testing.assert_array_equal(out == NODATA, classes == NODATA)
    for value, mask in _regions(classes):
        if value != NODATA and mask.sum() >= unit:
            assert (out[mask] == value).all()  # large regions are never changed
