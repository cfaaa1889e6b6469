"""Tests of monthly median binning (seed 004, Sec. VI)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sitsfusion.data.binning import MonthlyMedian, monthly_median
from sitsfusion.data.sample import Sample, SampleError, TimeSeries

REF = dt.date(2019, 1, 1)


def _day(y: int, m: int, d: int) -> int:
    return (dt.date(y, m, d) - REF).days


def _sample(values, days, mask=None, **meta) -> Sample:
    ts = TimeSeries(torch.as_tensor(values), torch.tensor(days, dtype=torch.int64), mask)
    return Sample({"S2": ts}, meta={"reference_date": REF.isoformat(), **meta})


def _obs(months_days):
    return [_day(2019, m, d) for m, d in months_days]


def test_medians_match_numpy_and_dates_on_15th():
    rng = np.random.default_rng(0)
    md = [(4, 2), (4, 9), (4, 20), (5, 1), (5, 11), (5, 21), (5, 30), (6, 5)]
    days = _obs(md)
    values = rng.normal(size=(len(days), 3, 4, 5)).astype(np.float32)
    out = monthly_median(_sample(values, days), months=(4, 5, 6))["S2"]
    assert out.values.shape == (3, 3, 4, 5)
    assert out.dates.tolist() == [_day(2019, m, 15) for m in (4, 5, 6)]
    months = np.array([m for m, _ in md])
    for k, m in enumerate((4, 5, 6)):
        np.testing.assert_allclose(
            out.values[k].numpy(), np.median(values[months == m], axis=0), rtol=1e-6
        )
    assert out.mask is None


def test_pixel_set_shape_and_window_drops_other_months():
    md = [(1, 10), (4, 3), (4, 25), (9, 1), (12, 1)]
    values = torch.arange(len(md) * 2 * 7, dtype=torch.float32).view(len(md), 2, 7)
    out = monthly_median(_sample(values, _obs(md)), months=(4, 5, 6, 7, 8, 9))["S2"]
    assert out.values.shape == (6, 2, 7)
    torch.testing.assert_close(out.values[0], (values[1] + values[2]) / 2)
    torch.testing.assert_close(out.values[5], values[3])


def test_all_months_default_and_year_choice():
    md = [(2, 1), (3, 1), (7, 1)]
    s = _sample(torch.zeros(3, 1, 2), _obs(md))
    out = monthly_median(s)["S2"]
    assert out.dates.tolist() == [_day(2019, m, 15) for m in range(1, 13)]
    # spanning more than 12 months needs a year
    long = _sample(torch.zeros(2, 1, 2), [_day(2019, 1, 5), _day(2020, 6, 1)])
    with pytest.raises(SampleError, match="year"):
        monthly_median(long)
    out = monthly_median(long, year=2020)["S2"]
    assert out.dates[0].item() == _day(2020, 1, 15)


def test_empty_month_interpolated_linear_signal():
    # a linear signal sampled on the 15th of April, May, July: June must be on the line
    days = _obs([(4, 15), (5, 15), (7, 15)])
    values = torch.tensor([float(d) for d in days]).view(3, 1, 1).expand(3, 2, 3).clone()
    out = monthly_median(_sample(values, days), months=(4, 5, 6, 7, 8))["S2"]
    assert out.values[2, 0, 0].item() == pytest.approx(_day(2019, 6, 15))
    # ends are held
    assert out.values[4, 0, 0].item() == pytest.approx(_day(2019, 7, 15))
    assert out.mask is None


def test_empty_month_error_and_mask():
    days = _obs([(4, 15), (6, 15)])
    s = _sample(torch.ones(2, 1, 2, 2), days)
    with pytest.raises(SampleError, match=r"'S2'.*2019-05"):
        monthly_median(s, months=(4, 5, 6), empty="error")
    out = monthly_median(s, months=(4, 5, 6), empty="mask")["S2"]
    assert out.mask.tolist() == [True, False, True]
    assert out.values[1].abs().sum().item() == 0
    with pytest.raises(SampleError, match="reference_date"):
        monthly_median(Sample(dict(s.series)), months=(4,))


def test_mask_excludes_outlier_dense_and_per_date():
    days = _obs([(5, 1), (5, 10), (5, 20)])
    values = torch.tensor([1.0, 2.0, 1000.0]).view(3, 1, 1, 1).expand(3, 2, 2, 2).clone()
    dense = torch.ones(3, 2, 2, dtype=torch.bool)
    dense[2, 0, 0] = False
    out = monthly_median(_sample(values, days, dense), months=(5,))["S2"]
    assert out.values[0, :, 0, 0].tolist() == [1.5, 1.5]
    assert out.values[0, :, 1, 1].tolist() == [2.0, 2.0]
    per_date = torch.tensor([True, True, False])
    out = monthly_median(_sample(values, days, per_date), months=(5,))["S2"]
    assert torch.all(out.values == 1.5)


def test_pixel_without_valid_obs_in_month_interpolated_or_masked():
    days = _obs([(4, 15), (5, 15), (6, 15)])
    values = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1).expand(3, 1, 2).clone()
    mask = torch.ones(3, 2, dtype=torch.bool)
    mask[1, 0] = False  # pixel 0 cloudy in May
    s = _sample(values, days, mask)
    out = monthly_median(s, months=(4, 5, 6))["S2"]
    assert out.values[1, 0, 0].item() == pytest.approx(1 + 2 * 30 / 61)  # on the line by days
    assert out.mask is None
    out = monthly_median(s, months=(4, 5, 6), empty="mask")["S2"]
    assert out.mask.shape == (3, 2) and not out.mask[1, 0] and out.mask.sum() == 5


def test_input_not_mutated_and_class():
    days = _obs([(4, 1), (4, 2), (6, 3)])
    values = torch.randn(3, 2, 3, 3)
    mask = torch.tensor([True, False, True])
    s = _sample(values, days, mask, id="a")
    before = values.clone(), mask.clone()
    t = MonthlyMedian(months=(4, 5, 6))
    out = t(s)
    assert torch.equal(values, before[0]) and torch.equal(mask, before[1])
    assert s["S2"].values is values and s["S2"].num_dates == 3
    assert out["S2"].num_dates == 3 and out.meta["id"] == "a"
    assert "MonthlyMedian" in repr(t)


@settings(max_examples=30, deadline=None)
@given(
    months=st.lists(st.integers(1, 12), min_size=1, max_size=12, unique=True).map(sorted),
    seed=st.integers(0, 2**16),
    pixel_set=st.booleans(),
)
def test_one_obs_per_month_on_15th_is_identity(months, seed, pixel_set):
    g = torch.Generator().manual_seed(seed)
    shape = (len(months), 2, 5) if pixel_set else (len(months), 2, 3, 2)
    values = torch.randn(shape, generator=g)
    days = [_day(2019, m, 15) for m in months]
    s = _sample(values, days)
    out = monthly_median(s, months=months)["S2"]
    assert torch.equal(out.values, values)
    assert out.dates.tolist() == days
