"""Transforms ``Sample -> Sample`` of :mod:`sitsfusion.data.transforms` (tiny shapes, CPU)."""

from __future__ import annotations

import pickle
from functools import partial

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sitsfusion.data import transforms as tr
from sitsfusion.data.sample import Sample, SampleError, TimeSeries
from sitsfusion.data.transforms import (
    TEMPORAL_DROPOUT_GARNOT2021,
    Compose,
    DropObservations,
    RandomFlipRot90,
    RandomSubsequence,
    SamplePixels,
    TemporalDropout,
    drop_observations,
    flip,
    normalize_minmax,
    normalize_zscore,
    random_flip_rot90,
    random_subsequence,
    resample,
    resample_to_dates,
    rot90,
    sample_pixels,
    temporal_dropout,
    truncate,
)

FAST = settings(max_examples=40, deadline=None)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def patch_series(dates: list[int], c: int = 2, h: int = 3, w: int = 4, mask: str | None = None):
    """A patch series whose values encode (date position, channel, pixel) uniquely."""
    t = len(dates)
    values = torch.arange(t * c * h * w, dtype=torch.float32).view(t, c, h, w)
    m = None
    if mask == "dates":
        m = torch.arange(t) % 3 != 1
    elif mask == "dense":
        m = torch.arange(t * h * w).view(t, h, w) % 5 != 0
    return TimeSeries(values, torch.tensor(dates, dtype=torch.long), m)


def pixel_series(dates: list[int], c: int = 2, n: int = 6, mask=None):
    t = len(dates)
    # channel 0 holds the pixel id, channel 1 the date position
    pix = torch.arange(n, dtype=torch.float32).view(1, 1, n).expand(t, 1, n)
    pos = torch.arange(t, dtype=torch.float32).view(t, 1, 1).expand(t, 1, n)
    values = torch.cat([pix, pos] + [pix * 0 + k for k in range(c - 2)], dim=1)
    return TimeSeries(values.contiguous(), torch.tensor(dates, dtype=torch.long), mask)


def patch_sample(h: int = 3, w: int = 4, mask: str | None = "dense") -> Sample:
    semantic = torch.arange(h * w).view(h, w) % 7
    instances = torch.arange(h * w).view(h, w)
    return Sample(
        {
            "S2": patch_series([1, 5, 9, 20, 31], h=h, w=w, mask=mask),
            "S1A": patch_series([0, 2, 4, 6, 8, 10, 12, 30, 40], c=3, h=h, w=w, mask="dates"),
            "S1D": patch_series([3, 7, 11, 15], c=3, h=h, w=w),
        },
        semantic=semantic,
        instances=instances,
        meta={"id": "p1"},
    )


def pixel_sample(n: int = 6) -> Sample:
    return Sample(
        {
            "S2": pixel_series([1, 5, 9, 20], n=n),
            "S1A": pixel_series([0, 3, 6, 9, 12, 15], c=3, n=n),
        },
        label=3,
        meta={"id": "parcel7"},
    )


sorted_dates = st.lists(
    st.integers(min_value=-200, max_value=600), min_size=1, max_size=12, unique=True
).map(sorted)


def snapshot(sample: Sample) -> list[torch.Tensor]:
    out = []
    for ts in sample.series.values():
        out += [ts.values.clone(), ts.dates.clone()]
        if ts.mask is not None:
            out.append(ts.mask.clone())
    for t in (sample.semantic, sample.instances):
        if t is not None:
            out.append(t.clone())
    return out


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------------------------
# resampling
# --------------------------------------------------------------------------------------------


@FAST
@given(
    dates=sorted_dates,
    method=st.sampled_from(["linear", "nearest", "nearest_unique"]),
    extrapolate=st.sampled_from(["hold", "linear"]),
    mask=st.sampled_from([None, "dates", "dense"]),
)
def test_resample_onto_same_dates_is_identity(dates, method, extrapolate, mask):
    ts = patch_series(dates, mask=mask)
    out = resample_to_dates(ts, ts.dates.clone(), method, extrapolate)
    assert torch.equal(out.values, ts.values)
    assert torch.equal(out.dates, ts.dates)
    assert (out.mask is None) == (ts.mask is None)
    if ts.mask is not None:
        assert torch.equal(out.mask, ts.mask)


def test_identity_does_not_leak_nan_from_neighbours():
    ts = TimeSeries(torch.tensor([[[1.0]], [[float("nan")]], [[3.0]]]), torch.tensor([0, 1, 2]))
    out = resample_to_dates(ts, torch.tensor([0, 2]))
    assert out.values.flatten().tolist() == [1.0, 3.0]


@FAST
@given(
    dates=st.lists(st.integers(-100, 400), min_size=2, max_size=10, unique=True).map(sorted),
    data=st.data(),
    slope=st.floats(-3, 3),
    offset=st.floats(-10, 10),
)
def test_linear_resampling_of_a_linear_series_is_exact_inside(dates, data, slope, offset):
    d = torch.tensor(dates, dtype=torch.float64)
    values = (offset + slope * d).view(-1, 1, 1).expand(-1, 2, 3).contiguous()
    ts = TimeSeries(values, torch.tensor(dates))
    inside = data.draw(
        st.lists(st.integers(dates[0], dates[-1]), min_size=1, max_size=8, unique=True).map(sorted)
    )
    out = resample_to_dates(ts, torch.tensor(inside), "linear")
    expected = offset + slope * torch.tensor(inside, dtype=torch.float64)
    torch.testing.assert_close(out.values[:, 0, 0], expected, rtol=1e-9, atol=1e-9)
    # with linear extrapolation the line continues outside the range too
    outside = [dates[0] - 7, *inside, dates[-1] + 11]
    out = resample_to_dates(ts, torch.tensor(outside), "linear", extrapolate="linear")
    expected = offset + slope * torch.tensor(outside, dtype=torch.float64)
    torch.testing.assert_close(out.values[:, 1, 2], expected, rtol=1e-9, atol=1e-9)


def test_linear_interpolation_weights():
    ts = TimeSeries(torch.tensor([0.0, 10.0, 30.0]).view(3, 1, 1), torch.tensor([0, 10, 20]))
    out = resample_to_dates(ts, [2, 10, 15])
    assert out.values.flatten().tolist() == pytest.approx([2.0, 10.0, 20.0])
    assert out.dates.dtype == torch.int64 and out.dates.tolist() == [2, 10, 15]


def test_hold_versus_linear_extrapolation():
    ts = TimeSeries(torch.tensor([1.0, 3.0]).view(2, 1, 1), torch.tensor([10, 20]))
    hold = resample_to_dates(ts, [0, 15, 30], "linear", "hold")
    lin = resample_to_dates(ts, [0, 15, 30], "linear", "linear")
    assert hold.values.flatten().tolist() == pytest.approx([1.0, 2.0, 3.0])
    assert lin.values.flatten().tolist() == pytest.approx([-1.0, 2.0, 5.0])
    # a single source date: both hold
    one = TimeSeries(torch.tensor([4.0]).view(1, 1, 1), torch.tensor([10]))
    for extrapolate in ("hold", "linear"):
        out = resample_to_dates(one, [0, 10, 99], "linear", extrapolate)
        assert out.values.flatten().tolist() == [4.0, 4.0, 4.0]


def test_nearest_picks_the_nearest_date_ties_to_earlier():
    ts = TimeSeries(torch.tensor([0.0, 1.0, 2.0]).view(3, 1, 1), torch.tensor([0, 10, 20]))
    out = resample_to_dates(ts, [-3, 4, 5, 6, 15, 16, 25], "nearest")
    assert out.values.flatten().tolist() == [0, 0, 0, 1, 1, 2, 2]


@FAST
@given(src=sorted_dates, tgt=sorted_dates)
def test_nearest_matches_brute_force(src, tgt):
    ts = TimeSeries(torch.arange(len(src), dtype=torch.float32).view(-1, 1, 1), torch.tensor(src))
    out = resample_to_dates(ts, torch.tensor(tgt), "nearest")
    d = np.array(src)
    expected = [int(np.argmin(np.abs(d - t))) for t in tgt]  # argmin: first = earlier on ties
    assert out.values.flatten().long().tolist() == expected


@FAST
@given(src=sorted_dates, data=st.data())
def test_nearest_unique_is_one_to_one_and_in_order(src, data):
    tgt = data.draw(
        st.lists(st.integers(-250, 650), min_size=1, max_size=len(src), unique=True).map(sorted)
    )
    ts = TimeSeries(torch.arange(len(src), dtype=torch.float32).view(-1, 1, 1), torch.tensor(src))
    picks = resample_to_dates(ts, tgt, "nearest_unique").values.flatten().long()
    assert bool((picks[1:] > picks[:-1]).all())  # distinct, never reordered in time
    nearest = resample_to_dates(ts, tgt, "nearest").values.flatten().long()
    if bool((nearest[1:] > nearest[:-1]).all()):  # nearest already one-to-one: same answer
        assert torch.equal(picks, nearest)


def test_nearest_unique_resolves_collisions():
    ts = TimeSeries(torch.arange(4.0).view(4, 1, 1), torch.tensor([0, 10, 11, 30]))
    out = resample_to_dates(ts, [9, 10, 12], "nearest_unique")
    assert out.values.flatten().tolist() == [0.0, 1.0, 2.0]
    assert resample_to_dates(ts, [9, 10, 12], "nearest").values.flatten().tolist() == [1, 1, 2]


def test_nearest_unique_needs_enough_source_dates():
    ts = TimeSeries(torch.zeros(2, 1, 1), torch.tensor([0, 10]), source="s1.npy")
    with pytest.raises(SampleError, match=r"nearest_unique.*2 source dates for 3 target"):
        resample_to_dates(ts, [1, 2, 3], "nearest_unique")


def test_mask_resampling():
    m = torch.tensor([True, False, True, True])
    ts = TimeSeries(torch.zeros(4, 1, 2), torch.tensor([0, 10, 20, 30]), m)
    lin = resample_to_dates(ts, [0, 5, 15, 20, 25, 40])
    # exact date: own mask; between: AND of both neighbours; hold outside: the end one
    assert lin.mask.tolist() == [True, False, False, True, True, True]
    near = resample_to_dates(ts, [4, 6, 16, 40], "nearest")
    assert near.mask.tolist() == [True, False, True, True]
    ext = resample_to_dates(ts, [-5, 45], "linear", "linear")  # both end neighbours used
    assert ext.mask.tolist() == [False, True]
    dense = torch.ones(4, 1, 2, dtype=torch.bool)
    dense[1, 0, 0] = False
    ts = TimeSeries(torch.zeros(4, 1, 1, 2), torch.tensor([0, 10, 20, 30]), dense)
    out = resample_to_dates(ts, [5, 10, 15])
    assert out.mask.shape == (3, 1, 2)
    assert out.mask[:, 0, 0].tolist() == [False, False, False]
    assert out.mask[:, 0, 1].tolist() == [True, True, True]


def test_resample_sample_replaces_source_with_target_dates():
    s = patch_sample()
    out = resample(s, "S1A", "S2")
    assert torch.equal(out["S1A"].dates, s["S2"].dates)
    assert out["S1A"].values.shape == (5, 3, 3, 4)
    assert out["S2"] is s["S2"] and out["S1D"] is s["S1D"]
    assert out.semantic is s.semantic
    with pytest.raises(SampleError, match="'S9'"):
        resample(s, "S9", "S2")
    with pytest.raises(SampleError, match="unknown resample method 'cubic'"):
        resample(s, "S1A", "S2", method="cubic")
    with pytest.raises(SampleError, match="unknown extrapolation"):
        resample(s, "S1A", "S2", extrapolate="mirror")
    with pytest.raises(SampleError, match="strictly increasing"):
        resample_to_dates(s["S1A"], [3, 2])


# --------------------------------------------------------------------------------------------
# temporal dropout and subsampling
# --------------------------------------------------------------------------------------------


def long_sample(t: int = 50) -> Sample:
    return Sample(
        {"S2": patch_series(list(range(t)), h=2, w=2), "S1A": patch_series([1, 2, 3], h=2, w=2)}
    )


def test_temporal_dropout_default_probabilities():
    assert dict(TEMPORAL_DROPOUT_GARNOT2021) == {"S2": 0.4, "S1A": 0.2, "S1D": 0.2}


def test_temporal_dropout_keeps_at_least_one():
    s = long_sample(5)
    for seed in range(20):
        out = temporal_dropout(s, {"S2": 1.0, "S1A": 1.0}, gen(seed))
        assert out["S2"].num_dates == 1 and out["S1A"].num_dates == 1
    positions = {int(temporal_dropout(s, {"S2": 1.0}, gen(k))["S2"].dates[0]) for k in range(50)}
    assert len(positions) > 1  # the survivor is random


def test_temporal_dropout_rate_reproducibility_and_other_modalities():
    s = long_sample(50)
    g = gen(1)
    kept = [temporal_dropout(s, {"S2": 0.4}, g)["S2"].num_dates for _ in range(200)]
    assert np.mean(kept) / 50 == pytest.approx(0.6, abs=0.02)
    a = temporal_dropout(s, {"S2": 0.4}, gen(7))
    b = temporal_dropout(s, {"S2": 0.4}, gen(7))
    assert torch.equal(a["S2"].dates, b["S2"].dates) and torch.equal(a["S2"].values, b["S2"].values)
    assert a["S1A"] is s["S1A"]
    # kept observations are a subsequence with their own values and dates
    idx = a["S2"].dates
    assert torch.equal(a["S2"].values, s["S2"].values[idx])
    assert temporal_dropout(s, {"S2": 0.0}, gen())["S2"] is s["S2"]


def test_temporal_dropout_errors():
    s = long_sample(4)
    with pytest.raises(SampleError, match=r"p\['S2'\] must be in \[0, 1\]"):
        temporal_dropout(s, {"S2": 1.5})
    with pytest.raises(SampleError, match=r"p\['S2'\]"):
        temporal_dropout(s, {"S2": float("nan")})
    with pytest.raises(SampleError, match=r"\['S1D'\] not in sample"):
        temporal_dropout(s, TEMPORAL_DROPOUT_GARNOT2021)
    out = temporal_dropout(s, TEMPORAL_DROPOUT_GARNOT2021, gen(), ignore_missing=True)
    assert out.modalities == ["S2", "S1A"]


@FAST
@given(t=st.integers(1, 40), fraction=st.floats(0, 1, exclude_max=True), seed=st.integers(0, 99))
def test_drop_observations_removes_exactly(t, fraction, seed):
    s = Sample({"S2": pixel_series(list(range(0, 3 * t, 3)), n=2), "S1A": pixel_series([0])})
    out = drop_observations(s, "S2", fraction, gen(seed))
    assert out["S2"].num_dates == t - min(round(fraction * t), t - 1)
    d = out["S2"].dates
    assert bool((d[1:] > d[:-1]).all()) and set(d.tolist()) <= set(s["S2"].dates.tolist())
    assert out["S1A"] is s["S1A"]


def test_drop_observations_table4_counts_and_errors():
    s = Sample({"S2": pixel_series(list(range(27)))})
    kept = {n: drop_observations(s, "S2", 1 - n / 100, gen())["S2"].num_dates for n in (20, 40)}
    assert kept == {20: 5, 40: 11}  # seed 000, Table 4: 5 and 11 observations
    for bad in (1.0, -0.1, 2):
        with pytest.raises(SampleError, match=r"fraction for modality 'S2'"):
            drop_observations(s, "S2", bad)
    with pytest.raises(SampleError, match="'S1A' not in sample"):
        drop_observations(s, "S1A", 0.5)


def test_truncate():
    s = patch_sample()
    out = truncate(s, 9)
    assert out["S2"].dates.tolist() == [1, 5, 9]
    assert out["S1A"].dates.tolist() == [0, 2, 4, 6, 8]
    assert out["S1D"].dates.tolist() == [3, 7]
    assert torch.equal(out["S1A"].mask, s["S1A"].mask[:5])
    assert torch.equal(out["S2"].mask, s["S2"].mask[:3])
    only = truncate(s, 9, modalities=["S2"])
    assert only["S1A"] is s["S1A"] and only["S2"].num_dates == 3
    assert truncate(s, 100)["S2"] is s["S2"]
    with pytest.raises(SampleError, match=r"'S1D'.*day 2; its 4 dates span days 3\.\.15"):
        truncate(s, 2)


@FAST
@given(t=st.integers(1, 30), length=st.integers(1, 30), seed=st.integers(0, 99))
def test_random_subsequence(t, length, seed):
    s = Sample({"S2": pixel_series(list(range(0, 2 * t, 2)), n=2)})
    out = random_subsequence(s, "S2", length, gen(seed))
    if t <= length:
        assert out is s
    else:
        d = out["S2"].dates
        assert len(d) == length and bool((d[1:] > d[:-1]).all())
        assert torch.equal(out["S2"].values[:, 1, 0].long(), d // 2)  # values follow dates


def test_random_subsequence_errors():
    s = pixel_sample()
    with pytest.raises(SampleError, match="length for modality 'S2'"):
        random_subsequence(s, "S2", 0)
    with pytest.raises(SampleError, match="'S1D'"):
        random_subsequence(s, "S1D", 3)


# --------------------------------------------------------------------------------------------
# pixel sets
# --------------------------------------------------------------------------------------------


def test_sample_pixels_same_pixels_across_modalities():
    s = pixel_sample(n=20)
    out = sample_pixels(s, 8, gen(3))
    a, b = out["S2"].values[:, 0], out["S1A"].values[:, 0]  # channel 0 = pixel id
    assert a.shape == (4, 8) and b.shape == (6, 8)
    assert torch.equal(a[0], b[0]) and len(set(a[0].tolist())) == 8
    assert out["S2"].mask is None  # nothing padded: no mask invented
    assert torch.equal(out["S2"].values[:, 1], s["S2"].values[:, 1, :8])  # dates untouched
    other = sample_pixels(s, 8, gen(4))
    assert not torch.equal(other["S2"].values, out["S2"].values)


def test_sample_pixels_pads_with_invalid_repeats():
    s = Sample({"S2": pixel_series([0, 5, 9], n=3, mask=torch.tensor([True, False, True]))})
    out = sample_pixels(s, 7, gen())
    ts = out["S2"]
    assert ts.values.shape == (3, 2, 7) and ts.mask.shape == (3, 7)
    assert sorted(ts.values[0, 0, :3].tolist()) == [0, 1, 2]  # all real pixels first
    assert ts.mask[:, 3:].any().item() is False  # repeats are never valid
    assert ts.mask[:, :3].sum(dim=1).tolist() == [3, 0, 3]  # [T] mask carried into [T, n]


def test_sample_pixels_prefers_valid_pixels():
    n_pix = 10
    mask = torch.zeros(4, n_pix, dtype=torch.bool)
    mask[:, [1, 4, 7]] = True
    mask[2, 9] = True  # valid on one date only: still a valid pixel
    s = Sample(
        {"S2": pixel_series([0, 1, 2, 3], n=n_pix, mask=mask), "S1": pixel_series([2], n=n_pix)}
    )
    for seed in range(10):
        out = sample_pixels(s, 4, gen(seed))
        assert sorted(out["S2"].values[0, 0].long().tolist()) == [1, 4, 7, 9]
        assert torch.equal(out["S1"].values[0, 0], out["S2"].values[0, 0])
    out = sample_pixels(s, 6, gen())
    ids = out["S2"].values[0, 0].long().tolist()
    assert sorted(ids[:4]) == [1, 4, 7, 9] and out["S2"].mask[:, 4:].any().item() is False
    # fewer pixels than n: repeats come from the valid ones
    out = sample_pixels(s, 15, gen())
    assert set(out["S2"].values[0, 0, n_pix:].long().tolist()) <= {1, 4, 7, 9}
    assert out["S1"].mask.shape == (1, 15) and out["S1"].mask[0].sum() == n_pix


def test_sample_pixels_errors():
    with pytest.raises(SampleError, match=r"'S2'.*is a patch"):
        sample_pixels(patch_sample(), 4)
    with pytest.raises(SampleError, match="n must be an int >= 1"):
        sample_pixels(pixel_sample(), 0)


# --------------------------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------------------------


def test_minmax_matches_numpy_percentiles_and_clips():
    g = gen(5)
    v = torch.randn(3, 2, 7, 9, generator=g) * 100
    s = Sample({"S2": TimeSeries(v, torch.tensor([1, 2, 3]))})
    out = normalize_minmax(s)["S2"].values
    assert out.min() >= 0 and out.max() <= 1
    flat = v.reshape(3, 2, -1).numpy()
    lo = np.percentile(flat, 2, axis=-1)[..., None]
    hi = np.percentile(flat, 98, axis=-1)[..., None]
    expected = np.clip((flat - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(out.reshape(3, 2, -1).numpy(), expected, rtol=1e-5, atol=1e-5)
    raw = normalize_minmax(s, low=10, high=60, clip=False)["S2"].values.reshape(3, 2, -1)
    assert raw.min() < 0 and raw.max() > 1
    np.testing.assert_allclose(
        np.percentile(raw.numpy(), [10, 60], axis=-1),
        [np.zeros((3, 2)), np.ones((3, 2))],
        atol=1e-5,
    )


def test_minmax_constant_image_and_mask():
    v = torch.full((2, 1, 4, 4), 7.0)
    mask = torch.ones(2, 4, 4, dtype=torch.bool)
    v[1, 0, 0, 0] = 1e6  # an outlier on an invalid pixel must not set the scale
    mask[1, 0, 0] = False
    v[1, 0, 1:] = torch.arange(12.0).view(3, 4)
    s = Sample({"S2": TimeSeries(v, torch.tensor([0, 1]), mask), "S1": pixel_series([0, 1], n=5)})
    out = normalize_minmax(s, modalities=["S2"])
    x = out["S2"].values
    assert torch.isfinite(x).all() and bool((x[0] == 0).all())  # constant image -> 0
    valid = x[1, 0][mask[1]]
    assert valid.max() == 1 and valid.min() == 0
    assert out["S1"] is s["S1"]
    with pytest.raises(SampleError, match="low < high"):
        normalize_minmax(s, low=50, high=50)


def test_zscore():
    s = pixel_sample()
    out = normalize_zscore(s, {"S2": ([1.0, 2.0], [2.0, 4.0])})
    torch.testing.assert_close(out["S2"].values[:, 0], (s["S2"].values[:, 0] - 1) / 2)
    torch.testing.assert_close(out["S2"].values[:, 1], (s["S2"].values[:, 1] - 2) / 4)
    assert out["S1A"] is s["S1A"]
    with pytest.raises(SampleError, match="3 channels"):
        normalize_zscore(s, {"S1A": ([0.0], [1.0])})


def test_normalize_transform():
    s = pixel_sample()
    norm = tr.Normalize({"S2": (np.array([1.0, 2.0]), torch.tensor([2.0, 4.0]))})
    out = norm(s)
    torch.testing.assert_close(out["S2"].values, normalize_zscore(s, norm.stats)["S2"].values)
    assert out["S1A"] is s["S1A"] and out["S2"].values.dtype == torch.float32
    assert s["S2"].values is not out["S2"].values  # the input is not modified
    again = pickle.loads(pickle.dumps(norm))  # DataLoader workers receive a copy
    torch.testing.assert_close(again(s)["S2"].values, out["S2"].values)
    assert repr(norm) == "Normalize(channels={'S2': 2})"
    with pytest.raises(TypeError):
        norm.stats["S1A"] = norm.stats["S2"]  # type: ignore[index]  # fixed statistics
    for bad, match in (
        ({"S2": ([0.0, 1.0], [1.0, 0.0])}, "std > 0"),
        ({"S2": ([0.0, float("nan")], [1.0, 1.0])}, "finite"),
        ({"S2": ([0.0], [1.0, 1.0])}, r"two \[C\] sequences"),
    ):
        with pytest.raises(SampleError, match=match):
            tr.Normalize(bad)
    with pytest.raises(SampleError, match="3 channels"):
        tr.Normalize({"S1A": ([0.0], [1.0])})(s)


# --------------------------------------------------------------------------------------------
# spatial augmentation
# --------------------------------------------------------------------------------------------


def assert_samples_equal(a: Sample, b: Sample) -> None:
    assert same(snapshot(a), snapshot(b))


@pytest.mark.parametrize("shape", [(3, 3), (3, 4)])
def test_rot90_four_times_and_flip_twice_are_identity(shape):
    s = patch_sample(*shape)
    r = s
    for _ in range(4):
        r = rot90(r, 1)
    assert_samples_equal(r, s)
    assert rot90(s, 3)["S2"].values.shape[-2:] == (shape[1], shape[0])
    assert_samples_equal(rot90(rot90(s, 1), -1), s)
    for axis in (0, 1):
        assert_samples_equal(flip(flip(s, axis), axis), s)
        assert not torch.equal(flip(s, axis)["S2"].values, s["S2"].values)


def test_labels_and_masks_move_with_the_images():
    h, w = 3, 4
    ids = torch.arange(h * w).view(h, w)
    m = ids.unsqueeze(0).repeat(2, 1, 1) % 3 == 0
    s = Sample(
        {
            "S2": TimeSeries(
                ids.float().view(1, 1, h, w).repeat(2, 2, 1, 1), torch.tensor([0, 1]), m
            )
        },
        semantic=ids,
        instances=ids + 100,
    )
    outs = [flip(s, 0), flip(s, 1), rot90(s, 1), rot90(s, 2)]
    outs += [random_flip_rot90(s, gen(k)) for k in range(8)]
    for out in outs:
        v = out["S2"].values
        assert torch.equal(v[0, 0].long(), out.semantic)
        assert torch.equal(v[1, 1].long() + 100, out.instances)
        assert torch.equal(out["S2"].mask[1], out.semantic % 3 == 0)
        assert out["S2"].values.is_contiguous()
    assert torch.equal(flip(s, 0).semantic, ids.flip(0))
    assert torch.equal(rot90(s, 1).semantic, torch.rot90(ids, 1))
    seen = {tuple(random_flip_rot90(s, gen(k)).semantic.flatten().tolist()) for k in range(60)}
    assert len(seen) == 8  # all elements of the dihedral group


def test_spatial_errors():
    with pytest.raises(SampleError, match=r"flip: modality 'S2'.*pixel set"):
        flip(pixel_sample(), 1)
    with pytest.raises(SampleError, match="rot90: modality 'S2'"):
        rot90(pixel_sample(), 1)
    with pytest.raises(SampleError, match="axis must be 0"):
        flip(patch_sample(), 2)


# --------------------------------------------------------------------------------------------
# purity, callables
# --------------------------------------------------------------------------------------------


def test_no_transform_mutates_its_input():
    patch, pix = patch_sample(), pixel_sample(n=5)
    calls = [
        (patch, lambda s: normalize_minmax(s)),
        (patch, lambda s: normalize_zscore(s, {"S2": ([1.0, 1.0], [2.0, 2.0])})),
        (patch, lambda s: resample(s, "S1A", "S2")),
        (patch, lambda s: resample(s, "S1A", "S2", "nearest")),
        (patch, lambda s: resample(s, "S1A", "S2", "nearest_unique", "linear")),
        (patch, lambda s: temporal_dropout(s, TEMPORAL_DROPOUT_GARNOT2021, gen())),
        (patch, lambda s: drop_observations(s, "S1A", 0.5, gen())),
        (patch, lambda s: truncate(s, 10)),
        (patch, lambda s: random_subsequence(s, "S1A", 3, gen())),
        (patch, lambda s: flip(s, 0)),
        (patch, lambda s: rot90(s, 1)),
        (patch, lambda s: random_flip_rot90(s, gen())),
        (pix, lambda s: sample_pixels(s, 3, gen())),
        (pix, lambda s: sample_pixels(s, 9, gen())),
    ]
    for sample, fn in calls:
        before = snapshot(sample)
        out = fn(sample)
        assert same(snapshot(sample), before)
        # a rewritten modality owns new storage (untouched ones are shared, read-only)
        for name, ts in out.series.items():
            if ts is not sample.series[name]:
                ts.values.add_(1)
        assert same(snapshot(sample), before)


def test_callables_and_compose():
    s = patch_sample()
    pipeline = Compose(
        [
            partial(resample, source="S1A", target="S2"),
            TemporalDropout(seed=1),
            DropObservations("S1D", 0.5, seed=2),
            RandomSubsequence("S2", 3, seed=3),
            RandomFlipRot90(seed=4),
        ]
    )
    a, b = pipeline(s), Compose(pipeline.transforms)(s)
    assert a["S2"].num_dates <= 3 and a["S1D"].num_dates == 2
    again = Compose(
        [
            partial(resample, source="S1A", target="S2"),
            TemporalDropout(seed=1),
            DropObservations("S1D", 0.5, seed=2),
            RandomSubsequence("S2", 3, seed=3),
            RandomFlipRot90(seed=4),
        ]
    )(s)
    assert_samples_equal(a, again)  # same seeds, same draws
    assert b is not a
    assert "TemporalDropout" in repr(pipeline)
    px = SamplePixels(4, seed=0)(pixel_sample(n=9))
    assert px["S2"].values.shape[-1] == 4
    assert SamplePixels().n == 64 and RandomSubsequence().length == 27


def test_random_transform_seeding(monkeypatch):
    s = long_sample(40)
    torch.manual_seed(0)
    a = TemporalDropout({"S2": 0.5})(s)
    torch.manual_seed(0)
    b = TemporalDropout({"S2": 0.5})(s)
    assert torch.equal(a["S2"].dates, b["S2"].dates)  # seed=None follows torch.manual_seed
    with pytest.raises(SampleError, match=r"p\['S2'\]"):
        TemporalDropout({"S2": -1})
    # a copy sent to a DataLoader worker draws its own stream (per worker and per epoch)
    t = TemporalDropout({"S2": 0.5}, seed=3)
    t(s)
    streams = []
    for worker_seed in (10, 11, 10):

        class Info:
            seed = worker_seed

        monkeypatch.setattr(tr.torch.utils.data, "get_worker_info", lambda: Info)
        clone = pickle.loads(pickle.dumps(t))
        streams.append(clone(s)["S2"].dates.tolist())
    assert streams[0] != streams[1] and streams[0] == streams[2]
