"""The values / valid of a block read now (geo.raw.clear, merge_days) against a plain
definition: every band scaled, no data and masked classes not valid, 0 where not valid
(hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sitsfusion.geo.raw import clear, merge_days
from sitsfusion.geo.sensors import S2_INVALID_SCL

SHAPE = (3, 4, 5)  # T, h, w


@settings(max_examples=60, deadline=None)
@given(
    st.lists(arrays(np.uint16, SHAPE, elements=st.integers(0, 3)), min_size=3, max_size=3),
    arrays(np.uint16, SHAPE, elements=st.integers(0, 11)),
)
def test_s2_digital_numbers(bands, scl) -> None:
    scales = np.full((3, 4), 1e-4, dtype=np.float32)
    offsets = np.full((3, 4), -0.1, dtype=np.float32)
    values, valid = clear(
        [*bands, scl], scales, offsets, optical=True, to_db=False, zero_is_nodata=True
    )
    expected = ~np.isin(scl, S2_INVALID_SCL)
    for band in bands:
        expected &= band != 0
    np.testing.assert_array_equal(valid, expected)
    assert values.shape == (3, 3, 4, 5) and values.dtype == np.float32
    for j, band in enumerate(bands):
        want = np.where(expected, band.astype(np.float32) * np.float32(1e-4) - np.float32(0.1), 0)
        np.testing.assert_array_equal(values[:, j], want.astype(np.float32))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        arrays(np.float32, SHAPE, elements=st.sampled_from([np.nan, -1.0, 0.0, 0.01, 0.5])),
        min_size=2,
        max_size=2,
    ),
    st.booleans(),
)
def test_s1_linear_power(bands, to_db) -> None:
    ones = np.ones((3, 2), dtype=np.float32)
    values, valid = clear(bands, ones, ones * 0, optical=False, to_db=to_db, zero_is_nodata=False)
    expected = np.ones(SHAPE, dtype=bool)
    for band in bands:
        expected &= (band > 0) if to_db else ~np.isnan(band)
    np.testing.assert_array_equal(valid, expected)
    assert not np.isnan(values).any()
    for j, band in enumerate(bands):
        with np.errstate(all="ignore"):
            want = 10 * np.log10(band) if to_db else band
        np.testing.assert_allclose(values[:, j][expected], want[expected], rtol=1e-6)
        assert (values[:, j][~expected] == 0).all()


def test_same_day_items_merged_by_the_mean_of_the_valid() -> None:
    values = np.zeros((3, 1, 1, 2), dtype=np.float32)
    valid = np.array([[[True, False]], [[True, True]], [[False, False]]])
    values[0, 0, 0] = [0.2, 0.0]
    values[1, 0, 0] = [0.4, 0.6]
    times = np.array(["2021-05-03T10:00", "2021-05-03T11:00", "2021-05-10"], "datetime64[ns]")
    v, ok, days, items = merge_days(values, valid, times, ["a", "b", "c"])
    assert items == ["a", "c"]
    assert [str(d)[:10] for d in days] == ["2021-05-03", "2021-05-10"]
    np.testing.assert_allclose(v[0, 0, 0], [0.3, 0.6], rtol=1e-6)
    np.testing.assert_array_equal(ok, [[[True, True]], [[False, False]]])
    assert (v[1] == 0).all()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(arrays(np.uint16, SHAPE, elements=st.integers(0, 3)), min_size=3, max_size=3),
    arrays(np.uint16, SHAPE, elements=st.integers(0, 11)),
    st.sampled_from([(0, 1, 2), (0, 0, 1), (5, 5, 5)]),  # days: distinct, a pair, one day
    st.integers(0, 3),
    st.integers(0, 4),
    st.integers(1, 4),
)
def test_a_window_is_the_same_pixels_of_the_block(bands, scl, days, r0, c0, side) -> None:
    """window_series (a map block's window made from the digital numbers) equals clear +
    merge_days of the whole block, cut to the window, to the bit."""
    from sitsfusion.geo.raw import RawBlock, window_series

    scales = np.full((3, 4), 1e-4, dtype=np.float32)
    offsets = np.full((3, 4), -0.1, dtype=np.float32)
    times = np.array([np.datetime64("2019-01-01") + d for d in days], dtype="datetime64[ns]")
    raw = RawBlock((*bands, scl), scales, offsets, True, times, ("a", "b", "c"), (), True)
    values, valid = clear(
        raw.bands, scales, offsets, optical=True, to_db=False, zero_is_nodata=True
    )
    values, valid, t, items = merge_days(values, valid, times, raw.items)
    ys, xs = slice(r0, r0 + side), slice(c0, c0 + side)
    got = window_series(raw, ys, xs, optical=True, to_db=False)
    np.testing.assert_array_equal(got[0], values[:, :, ys, xs])
    np.testing.assert_array_equal(got[1], valid[:, ys, xs])
    np.testing.assert_array_equal(got[2], t)
    assert got[3] == items
