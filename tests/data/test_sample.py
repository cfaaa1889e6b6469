"""Contract tests for :mod:`sitsfusion.data.sample`: validation, ``collate`` / ``unpad``."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sitsfusion.data.sample import Batch, Sample, SampleError, TimeSeries, collate, unpad

MODALITIES = ["S2", "S1A", "S1D"]


def ts(t: int = 3, c: int = 2, spatial: tuple[int, ...] = (4, 4), mask=None, start: int = 0):
    values = torch.rand(t, c, *spatial)
    return TimeSeries(values, torch.arange(start, start + 5 * t, 5), mask)


# --------------------------------------------------------------------------------------------
# hypothesis: collate then unpad gives the samples back
# --------------------------------------------------------------------------------------------


@st.composite
def batches(draw) -> list[Sample]:
    b = draw(st.integers(1, 4))
    names = draw(st.lists(st.sampled_from(MODALITIES), min_size=1, max_size=3, unique=True))
    hw = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))  # shared by patch modalities
    layout = {}
    for name in names:
        patch = draw(st.booleans())
        layout[name] = (draw(st.integers(1, 3)), hw if patch else (draw(st.integers(1, 5)),))
    with_label, with_semantic, with_instances = (draw(st.booleans()) for _ in range(3))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(b):
        series = {}
        order = draw(st.permutations(names))  # modality order may differ between samples
        for name in order:
            c, spatial = layout[name]
            dates = draw(
                st.lists(st.integers(-200, 600), min_size=1, max_size=6, unique=True).map(sorted)
            )
            t = len(dates)
            values = torch.randn(t, c, *spatial, generator=g)
            kind = draw(st.sampled_from([None, "dates", "dense"]))
            mask = None
            if kind == "dates":
                mask = torch.rand(t, generator=g) > 0.3
            elif kind == "dense":
                mask = torch.rand(t, *spatial, generator=g) > 0.3
            dtype = draw(st.sampled_from([torch.int64, torch.int32]))
            series[name] = TimeSeries(values, torch.tensor(dates, dtype=dtype), mask)
        samples.append(
            Sample(
                series,
                label=draw(st.integers(0, 19)) if with_label else None,
                semantic=torch.randint(0, 20, hw, generator=g) if with_semantic else None,
                instances=torch.randint(0, 9, hw, generator=g) if with_instances else None,
                meta={"id": i, "fold": draw(st.integers(1, 5))},
            )
        )
    return samples


def effective_mask(series: TimeSeries) -> torch.Tensor:
    """The valid mask as ``[T, *spatial]`` (None = all valid, ``[T]`` broadcast)."""
    shape = (series.num_dates, *series.spatial_shape)
    if series.mask is None:
        return torch.ones(shape, dtype=torch.bool)
    m = series.mask
    return m.view(-1, *([1] * (len(shape) - 1))).expand(shape) if m.ndim == 1 else m


@settings(max_examples=60, deadline=None)
@given(samples=batches())
def test_collate_then_unpad_recovers_the_samples(samples):
    batch = collate(samples)
    assert len(batch) == len(samples)
    back = unpad(batch)
    assert len(back) == len(samples)
    for orig, got in zip(samples, back, strict=True):
        assert sorted(got.modalities) == sorted(orig.modalities)
        for name in orig.modalities:
            a, b = orig[name], got[name]
            assert torch.equal(a.values, b.values)
            assert torch.equal(a.dates.long(), b.dates) and b.dates.dtype == torch.int64
            if all(s[name].mask is None for s in samples):
                assert b.mask is None
            else:
                assert torch.equal(effective_mask(a), effective_mask(b))
        assert got.label == orig.label
        for target in ("semantic", "instances"):
            x, y = getattr(orig, target), getattr(got, target)
            assert (x is None) == (y is None)
            if x is not None:
                assert torch.equal(x.long(), y)
        assert got.meta == orig.meta


@settings(max_examples=60, deadline=None)
@given(samples=batches())
def test_padding_never_looks_like_an_observation(samples):
    batch = collate(samples)
    for name, ps in batch.series.items():
        lengths = [s[name].num_dates for s in samples]
        assert ps.lengths.tolist() == lengths
        t_max = max(lengths)
        assert ps.values.shape[:2] == (len(samples), t_max) and ps.dates.shape == (
            len(samples),
            t_max,
        )
        for i, t in enumerate(lengths):
            assert ps.pad_mask[i].tolist() == [False] * t + [True] * (t_max - t)
            assert bool((ps.values[i, t:] == 0).all()) and bool((ps.dates[i, t:] == 0).all())
            if ps.mask is not None:
                assert not bool(ps.mask[i, t:].any())
        assert ps.pad_mask.dtype == torch.bool and ps.dates.dtype == torch.int64


def test_batch_shapes_and_to():
    samples = [
        Sample({"S2": ts(3), "S1A": ts(5, c=3)}, semantic=torch.zeros(4, 4, dtype=torch.long)),
        Sample({"S2": ts(2), "S1A": ts(4, c=3)}, semantic=torch.ones(4, 4, dtype=torch.uint8)),
    ]
    batch = collate(samples)
    assert batch.modalities == ["S2", "S1A"]
    assert batch["S2"].values.shape == (2, 3, 2, 4, 4)
    assert batch["S1A"].values.shape == (2, 5, 3, 4, 4)
    assert batch.semantic.shape == (2, 4, 4) and batch.semantic.dtype == torch.long
    assert batch.label is None and batch.instances is None and batch["S2"].mask is None
    moved = batch.to("cpu")
    assert isinstance(moved, Batch) and moved is not batch
    assert torch.equal(moved["S1A"].values, batch["S1A"].values)
    assert torch.equal(moved["S2"].pad_mask, batch["S2"].pad_mask)
    assert torch.equal(moved.semantic, batch.semantic) and moved.meta == batch.meta


def test_collate_broadcasts_a_dates_mask_next_to_a_dense_one():
    dense = torch.ones(2, 4, 4, dtype=torch.bool)
    dense[1, 0, 0] = False
    samples = [
        Sample({"S2": ts(2, mask=dense)}),
        Sample({"S2": ts(3, mask=torch.tensor([True, False, True]))}),
        Sample({"S2": ts(1)}),
    ]
    m = collate(samples)["S2"].mask
    assert m.shape == (3, 3, 4, 4)
    assert bool(m[1, 0].all()) and not bool(m[1, 1].any()) and bool(m[2, 0].all())
    assert not bool(m[2, 1:].any()) and not bool(m[0, 1, 0, 0])


# --------------------------------------------------------------------------------------------
# validation errors
# --------------------------------------------------------------------------------------------


def test_unsorted_and_duplicate_dates():
    v = torch.zeros(3, 1, 2)
    with pytest.raises(SampleError, match=r"out of order at positions 1, 2 \(days 5, 4\)"):
        TimeSeries(v, torch.tensor([0, 5, 4]), source="a.npy")
    with pytest.raises(SampleError, match=r"a\.npy: .*duplicate at positions 0, 1"):
        TimeSeries(v, torch.tensor([3, 3, 4]), source="a.npy")


def test_time_series_shape_and_dtype_errors():
    with pytest.raises(SampleError, match="3 observations in values but 2 dates"):
        TimeSeries(torch.zeros(3, 1, 2), torch.tensor([0, 1]))
    with pytest.raises(SampleError, match="got rank 2"):
        TimeSeries(torch.zeros(3, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(SampleError, match="got rank 5"):
        TimeSeries(torch.zeros(3, 1, 2, 2, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(SampleError, match=r"floating point, got torch\.int16"):
        TimeSeries(torch.zeros(3, 1, 2, dtype=torch.int16), torch.tensor([0, 1, 2]))
    with pytest.raises(SampleError, match="1-D integer tensor"):
        TimeSeries(torch.zeros(3, 1, 2), torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(SampleError, match="no observation"):
        TimeSeries(torch.zeros(0, 1, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(SampleError, match="mask must be bool"):
        TimeSeries(torch.zeros(2, 1, 3), torch.tensor([0, 1]), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(SampleError, match="mask must be bool"):
        TimeSeries(torch.zeros(2, 1, 3), torch.tensor([0, 1]), torch.ones(2))
    with pytest.raises(SampleError, match="torch tensors"):
        TimeSeries([[0.0]], torch.tensor([0]))  # type: ignore[arg-type]


def test_sample_errors():
    with pytest.raises(SampleError, match="at least one modality"):
        Sample({})
    with pytest.raises(SampleError, match="differ in H x W"):
        Sample({"S2": ts(spatial=(4, 4)), "S1A": ts(spatial=(4, 5))})
    with pytest.raises(
        SampleError, match=r"p7: semantic map is \(3, 4\) but the images are \(4, 4\)"
    ):
        Sample({"S2": ts()}, semantic=torch.zeros(3, 4, dtype=torch.long), meta={"id": "p7"})
    with pytest.raises(SampleError, match="instances must be an integer"):
        Sample({"S2": ts()}, instances=torch.zeros(4, 4))
    with pytest.raises(SampleError, match=r"modality 'S1D' not in sample 'x'; it has \['S2'\]"):
        Sample({"S2": ts()}, meta={"id": "x"})["S1D"]


def test_collate_errors():
    with pytest.raises(SampleError, match="empty list"):
        collate([])
    with pytest.raises(SampleError, match=r"sample 'b' has modalities \['S1A', 'S2'\]"):
        collate(
            [
                Sample({"S2": ts()}, meta={"id": "a"}),
                Sample({"S2": ts(), "S1A": ts()}, meta={"id": "b"}),
            ]
        )
    with pytest.raises(SampleError, match="modality 'S2': samples differ in"):
        collate([Sample({"S2": ts(spatial=(4, 4))}), Sample({"S2": ts(spatial=(5, 5))})])
    with pytest.raises(SampleError, match="modality 'S2': samples differ in"):
        collate([Sample({"S2": ts(c=2)}), Sample({"S2": ts(c=3)})])
    with pytest.raises(SampleError, match="modality 'S1A': samples differ in"):
        collate([Sample({"S1A": ts(spatial=(6,))}), Sample({"S1A": ts(spatial=(7,))})])
    with pytest.raises(SampleError, match=r"target 'label' missing in samples \['q'\]"):
        collate([Sample({"S2": ts()}, label=1), Sample({"S2": ts()}, meta={"id": "q"})])
    sem = torch.zeros(4, 4, dtype=torch.long)
    with pytest.raises(SampleError, match=r"target 'semantic' missing in samples \[1\]"):
        collate([Sample({"S2": ts()}, semantic=sem), Sample({"S2": ts()})])
    with pytest.raises(SampleError, match="semantic maps of different sizes"):
        collate(
            [
                Sample({"S1A": ts(spatial=(6,))}, semantic=sem),
                Sample({"S1A": ts(spatial=(6,))}, semantic=torch.zeros(3, 3, dtype=torch.long)),
            ]
        )


def test_select_and_replace():
    series = ts(4, mask=torch.tensor([True, False, True, True]))
    part = series.select(torch.tensor([1, 3]))
    assert part.dates.tolist() == [5, 15] and part.mask.tolist() == [False, True]
    assert series.select(series.dates > 5).num_dates == 2
    with pytest.raises(SampleError, match="3 observations in values but 4 dates"):
        series.replace(values=torch.zeros(3, 2, 4, 4))
    s = Sample({"S2": series})
    assert s.with_series("S1A", ts(2)).modalities == ["S2", "S1A"] and s.modalities == ["S2"]


# --------------------------------------------------------------------------------------------
# panoptic targets: heatmap and zones
# --------------------------------------------------------------------------------------------


def panoptic(i: int = 0, hw: tuple[int, int] = (4, 4), **kw) -> Sample:
    g = torch.Generator().manual_seed(i)
    return Sample(
        {"S2": ts(3 + i, spatial=hw)},
        semantic=torch.randint(0, 20, hw, generator=g),
        instances=torch.randint(0, 5, hw, generator=g),
        heatmap=torch.rand(hw, generator=g),
        zones=torch.randint(0, 5, hw, generator=g, dtype=torch.int32),
        meta={"id": f"s{i}"},
        **kw,
    )


def test_heatmap_and_zones_collate_to_unpad():
    samples = [panoptic(0), panoptic(1)]
    batch = collate(samples)
    assert batch.heatmap is not None and batch.heatmap.shape == (2, 4, 4)
    assert batch.heatmap.dtype == torch.float32
    assert batch.zones is not None and batch.zones.shape == (2, 4, 4)
    assert batch.zones.dtype == torch.long
    assert torch.equal(batch.heatmap[1], samples[1].heatmap)
    assert torch.equal(batch.zones[1], samples[1].zones.long())
    moved = batch.to("cpu")
    assert torch.equal(moved.heatmap, batch.heatmap) and torch.equal(moved.zones, batch.zones)
    back = unpad(batch)
    for got, want in zip(back, samples, strict=True):
        assert torch.equal(got.heatmap, want.heatmap)
        assert torch.equal(got.zones, want.zones.long())
        assert torch.equal(got.instances, want.instances)
    plain = collate([Sample({"S2": ts()})])
    assert plain.heatmap is None and plain.zones is None


def test_heatmap_and_zones_validation():
    good = panoptic()
    with pytest.raises(SampleError, match=r"s0: heatmap map is \(3, 4\) but the images are"):
        good.replace(heatmap=torch.zeros(3, 4))
    with pytest.raises(SampleError, match=r"s0: zones map is \(4, 5\) but the images are"):
        good.replace(zones=torch.zeros(4, 5, dtype=torch.long))
    with pytest.raises(SampleError, match="heatmap must be a floating-point"):
        good.replace(heatmap=torch.zeros(4, 4, dtype=torch.long))
    with pytest.raises(SampleError, match="heatmap must be a floating-point"):
        good.replace(heatmap=torch.zeros(1, 4, 4))
    with pytest.raises(SampleError, match="zones must be an integer"):
        good.replace(zones=torch.zeros(4, 4))
    with pytest.raises(SampleError, match="heatmap must be a torch tensor"):
        good.replace(heatmap=[[0.0] * 4] * 4)
    with pytest.raises(SampleError, match="target maps differ in H x W"):  # no patch to compare
        Sample({"S1A": ts(spatial=(6,))}, heatmap=torch.zeros(3, 3), zones=torch.zeros(2, 2).long())
    # replace keeps the new fields
    again = good.replace(label=3)
    assert again.heatmap is good.heatmap and again.zones is good.zones and again.label == 3


def test_collate_errors_heatmap_and_zones():
    a, b = panoptic(0), panoptic(1)
    with pytest.raises(SampleError, match=r"target 'heatmap' missing in samples \['s1'\]"):
        collate([a, b.replace(heatmap=None)])
    with pytest.raises(SampleError, match=r"target 'zones' missing in samples \['s0'\]"):
        collate([a.replace(zones=None), b])
