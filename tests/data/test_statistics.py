"""Channel statistics from valid observations only (compute_statistics, Moments)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sitsfusion.data.binning import MonthlyMedian
from sitsfusion.data.sample import Sample, SampleError, TimeSeries
from sitsfusion.data.statistics import Moments, compute_statistics, pool_moments, valid_values


def _patch(values: torch.Tensor, days: list[int], mask: torch.Tensor | None = None) -> Sample:
    ts = TimeSeries(values, torch.tensor(days), mask)
    return Sample({"S2": ts}, meta={"reference_date": "2020-01-01"})


def test_moments_are_exact_and_merge() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(1e4, 3.0, size=(3, 1000))  # a large mean: E[x²] − E[x]² would lose digits
    acc = Moments(3)
    for part in np.array_split(x, 7, axis=1):
        acc.add(part)
    mean, std = acc.result()
    np.testing.assert_allclose(mean, x.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(std, x.std(axis=1), rtol=1e-10)
    other = Moments(3)
    other.add(x[:, :10])
    other.merge(acc)
    np.testing.assert_allclose(other.result()[0], np.c_[x[:, :10], x].mean(axis=1), rtol=1e-14)
    with pytest.raises(ValueError, match="no observation"):
        Moments(2).result()


def test_pool_moments_is_the_equal_weight_mixture() -> None:
    rng = np.random.default_rng(1)
    parts = [rng.normal(loc, scale, size=(500, 2)) for loc, scale in [(0, 1), (4, 2), (-1, 3)]]
    means = np.stack([p.mean(axis=0) for p in parts])
    stds = np.stack([p.std(axis=0) for p in parts])
    mean, std = pool_moments(means, stds)
    union = np.concatenate(parts)
    np.testing.assert_allclose(mean, union.mean(axis=0))
    np.testing.assert_allclose(std, union.std(axis=0))


@pytest.mark.parametrize("shape", ["dates", "dense_patch", "pixel_set"])
def test_valid_values_follow_every_mask_shape(shape: str) -> None:
    t, c = 3, 2
    values = torch.arange(t * c * 4, dtype=torch.float32).view(t, c, 2, 2)
    if shape == "dates":
        mask = torch.tensor([True, False, True])
        expected = values[[0, 2]].transpose(0, 1).reshape(c, -1)
    elif shape == "dense_patch":
        mask = torch.zeros(t, 2, 2, dtype=torch.bool)
        mask[1, 0, 1] = mask[2, 1, 0] = True
        expected = torch.stack([values[1, :, 0, 1], values[2, :, 1, 0]], dim=1)
    else:
        values = values.view(t, c, 4)
        mask = torch.zeros(t, 4, dtype=torch.bool)
        mask[0, 3] = True
        expected = values[0, :, 3:]
    got = valid_values(TimeSeries(values, torch.tensor([0, 5, 9]), mask))
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected.double())


def test_monthly_median_holes_no_longer_move_the_statistics() -> None:
    """The bug of the former ``_zscore_stats``: a pixel never observed in the window is set to
    0 (masked) by MonthlyMedian(empty="interpolate"); those zeros must not count."""
    rng = np.random.default_rng(3)
    days = [15, 45, 75, 105]  # Jan..Apr 2020
    samples = []
    for _ in range(3):
        values = torch.from_numpy(rng.normal(500.0, 20.0, size=(4, 2, 3, 3)).astype(np.float32))
        valid = torch.ones(4, 3, 3, dtype=torch.bool)
        valid[:, 1, 1] = False  # a pixel cloudy on every date: never observed
        samples.append(MonthlyMedian(months=[1, 2, 3, 4])(_patch(values, days, valid)))
    binned = samples[0]["S2"]
    assert binned.mask is not None and not bool(binned.mask[:, 1, 1].any())
    assert float(binned.values[:, :, 1, 1].abs().max()) == 0.0  # the zeros are there, masked

    mean, std = compute_statistics(samples, ["S2"])["S2"]
    observed = torch.cat([valid_values(s["S2"]) for s in samples], dim=1)
    assert observed.shape[1] == 3 * 4 * 8
    torch.testing.assert_close(mean, observed.mean(dim=1))
    torch.testing.assert_close(std, observed.std(dim=1, unbiased=False))
    # counting the masked zeros (what the old code did) pulls the mean well below 500
    everything = torch.cat(
        [s["S2"].values.double().transpose(0, 1).reshape(2, -1) for s in samples], 1
    )
    assert float(everything.mean(dim=1).min()) < 450 < float(mean.min())


@settings(max_examples=40, deadline=None)
@given(
    fill=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    seed=st.integers(0, 2**16),
    n_masked=st.integers(1, 10),
)
def test_masked_values_of_any_magnitude_do_not_matter(
    fill: float, seed: int, n_masked: int
) -> None:
    rng = np.random.default_rng(seed)
    values = torch.from_numpy(rng.normal(0.0, 1.0, size=(4, 3, 12)).astype(np.float32))
    mask = torch.ones(4, 12, dtype=torch.bool)
    mask.view(-1)[torch.from_numpy(rng.permutation(48)[:n_masked])] = False
    base = Sample({"S2": TimeSeries(values, torch.arange(4), mask)})
    filled = values.clone()
    filled.permute(0, 2, 1)[~mask] = fill
    other = Sample({"S2": TimeSeries(filled, torch.arange(4), mask)})
    a = compute_statistics([base], ["S2"])["S2"]
    b = compute_statistics([other], ["S2"])["S2"]
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_subset_of_samples_and_errors() -> None:
    samples = [_patch(torch.full((1, 1, 1, 1), float(i)), [0]) for i in range(10)]
    all_of_them = compute_statistics(samples, ["S2"], max_samples=None)["S2"]
    assert float(all_of_them[0]) == 4.5
    few = compute_statistics(samples, ["S2"], max_samples=3, seed=5)["S2"]
    again = compute_statistics(samples, ["S2"], max_samples=3, seed=5)["S2"]
    torch.testing.assert_close(few, again)  # a seeded subset
    picks = np.random.default_rng(5).permutation(10)[:3]
    assert float(few[0]) == pytest.approx(picks.mean())
    constant = compute_statistics(samples[:1], ["S2"])["S2"]
    assert float(constant[1]) == 1.0  # zero spread: only centred
    hidden = _patch(torch.ones(2, 1, 1, 1), [0, 1], torch.zeros(2, dtype=torch.bool))
    with pytest.raises(SampleError, match="'S2' has no valid observation in the 1 samples"):
        compute_statistics([hidden], ["S2"])
