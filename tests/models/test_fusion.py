"""Tests for :mod:`sitsfusion.models.fusion` with small stand-in encoders defined here.

The stand-ins honour the interfaces of :mod:`sitsfusion.models.base` (and the padding mask)
without being PSE / TAE / L-TAE / U-TAE, so the fusion logic is tested on its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from sitsfusion.data.sample import Batch, PaddedSeries, Sample, TimeSeries, collate
from sitsfusion.data.transforms import resample
from sitsfusion.models.base import SeparableEncoder
from sitsfusion.models.fusion import (
    DecisionFusion,
    EarlyFusion,
    FusionOutput,
    LateFusion,
    MidFusion,
    MissingModalityError,
    auxiliary_loss,
    merge_by_date,
    require_separable,
)

CHANNELS = {"S2": 4, "S1A": 3, "S1D": 2}
LENGTHS = {"S2": (3, 6), "S1A": (5, 8), "S1D": (4, 7)}  # T range per modality
PIXELS = 6
F, D, K = 8, 5, 7

# --------------------------------------------------------------------------------------------
# stand-in modules
# --------------------------------------------------------------------------------------------


class PoolSpatial(nn.Module):
    """Stand-in spatial encoder: per-pixel linear, masked mean over pixels.

    ``x [B, T, C, *], valid [B, T, *] | None -> [B, T, F]``; ``linear=False`` only pools.
    """

    def __init__(self, c: int, f: int, linear: bool = True) -> None:
        super().__init__()
        self.out_channels = f
        self.proj = nn.Linear(c, f) if linear else None

    def forward(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        b, t, c = x.shape[:3]
        h = x.reshape(b, t, c, -1).transpose(2, 3)  # [B, T, P, C]
        if self.proj is not None:
            h = self.proj(h)
        if valid is None:
            return h.mean(dim=2)
        w = valid.reshape(b, t, -1, 1).to(h.dtype)
        return (h * w).sum(dim=2) / w.sum(dim=2).clamp(min=1.0)


class MeanTemporal(nn.Module):
    """Stand-in temporal encoder: date embedding, linear, tanh, mean over unpadded dates.

    ``x [B, T, F], dates [B, T], pad_mask [B, T] -> [B, D]``.
    """

    def __init__(self, f: int, d: int) -> None:
        super().__init__()
        self.in_channels = f
        self.out_channels = d
        self.date = nn.Linear(1, f)
        self.proj = nn.Linear(f, d)

    def forward(self, x: Tensor, dates: Tensor, pad_mask: Tensor) -> Tensor:
        h = x + self.date(dates.to(x.dtype).unsqueeze(-1) / 365.0)
        h = torch.tanh(self.proj(h))
        w = (~pad_mask).unsqueeze(-1).to(h.dtype)
        return (h * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)


class DenseEncoder(nn.Module):
    """Stand-in non-separable (U-TAE-like) encoder.

    ``PaddedSeries [B, T, C, H, W] -> [B, D, H, W]``: per-pixel linear on every date, then the
    mean over unpadded dates.
    """

    def __init__(self, c: int, d: int) -> None:
        super().__init__()
        self.out_channels = d
        self.proj = nn.Linear(c, d)

    def forward(self, series: PaddedSeries) -> Tensor:
        h = torch.tanh(self.proj(series.values.movedim(2, -1)))  # [B, T, H, W, D]
        w = (~series.pad_mask).to(h.dtype).view(*series.pad_mask.shape, 1, 1, 1)
        h = (h * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)
        return h.movedim(-1, 1)


def separable(c: int, f: int = F, d: int = D) -> SeparableEncoder:
    return SeparableEncoder(PoolSpatial(c, f), MeanTemporal(f, d))


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------------


def random_dates(t: int, g: torch.Generator, start: int = 0) -> Tensor:
    steps = torch.randint(1, 15, (t,), generator=g)
    return start + torch.cumsum(steps, 0)


def make_samples(
    b: int = 4,
    modalities: Mapping[str, int] = CHANNELS,
    patch: tuple[int, int] | None = None,
    seed: int = 0,
    masks: bool = True,
) -> list[Sample]:
    """``b`` samples, every modality with its own T and dates; pixel sets unless ``patch``."""
    g = torch.Generator().manual_seed(seed)
    spatial = patch if patch is not None else (PIXELS,)
    samples = []
    for i in range(b):
        series = {}
        for j, (name, c) in enumerate(modalities.items()):
            lo, hi = LENGTHS.get(name, (3, 6))
            t = int(torch.randint(lo, hi + 1, (1,), generator=g))
            values = torch.randn(t, c, *spatial, generator=g)
            mask = None
            if masks and name == "S2":  # cloudy pixels
                mask = torch.rand(t, *spatial, generator=g) > 0.2
            series[name] = TimeSeries(values, random_dates(t, g, start=j), mask)
        samples.append(Sample(series, label=i % K, meta={"id": i}))
    return samples


def make_batch(**kwargs: object) -> Batch:
    return collate(make_samples(**kwargs))  # type: ignore[arg-type]


def aligned_batch(seed: int = 0) -> Batch:
    """S1A and S1D resampled onto the S2 dates (what the data pipeline does for early fusion)."""
    samples = [resample(resample(s, "S1A", "S2"), "S1D", "S2") for s in make_samples(seed=seed)]
    return collate(samples)


def pad_more(batch: Batch, extra: int, seed: int = 1) -> Batch:
    """``batch`` with ``extra`` more padded dates per modality, holding garbage."""
    g = torch.Generator().manual_seed(seed)
    series = {}
    for name, s in batch.series.items():
        b, _, *rest = s.values.shape
        values = torch.cat([s.values, 100 * torch.randn(b, extra, *rest, generator=g)], dim=1)
        dates = torch.cat([s.dates, torch.randint(-999, 999, (b, extra), generator=g)], dim=1)
        pad = torch.cat([s.pad_mask, torch.ones(b, extra, dtype=torch.bool)], dim=1)
        mask = s.mask
        if mask is not None:
            junk = torch.rand(b, extra, *mask.shape[2:], generator=g) > 0.5
            mask = torch.cat([mask, junk], dim=1)  # garbage even in the mask of padded dates
        series[name] = PaddedSeries(values, dates, pad, mask)
    return Batch(series, batch.label, batch.semantic, batch.instances, batch.meta)


# --------------------------------------------------------------------------------------------
# model builders
# --------------------------------------------------------------------------------------------

NAMES = list(CHANNELS)


def early(**kw: object) -> EarlyFusion:
    return EarlyFusion(separable(sum(CHANNELS.values())), nn.Linear(D, K), NAMES, **kw)  # type: ignore[arg-type]


def mid(merge: str = "time", aux: bool = False, **kw: object) -> MidFusion:
    spatial = {m: PoolSpatial(c, F) for m, c in CHANNELS.items()}
    f_in = F * len(CHANNELS) if merge == "channels" else F
    aux_decoders = {m: nn.Linear(D, K) for m in CHANNELS} if aux else None
    return MidFusion(
        spatial,
        MeanTemporal(f_in, D),
        nn.Linear(D, K),
        merge=merge,  # type: ignore[arg-type]
        aux_decoders=aux_decoders,
        **kw,  # type: ignore[arg-type]
    )


def late(aux: bool = False) -> LateFusion:
    encoders = {m: separable(c) for m, c in CHANNELS.items()}
    aux_decoders = {m: nn.Linear(D, K) for m in CHANNELS} if aux else None
    return LateFusion(encoders, nn.Linear(D * len(CHANNELS), K), aux_decoders)


def decision(rule: str = "mean", aux: bool = False) -> DecisionFusion:
    encoders = {m: separable(c) for m, c in CHANNELS.items()}
    decoders = {m: nn.Linear(D, K) for m in CHANNELS}
    return DecisionFusion(encoders, decoders, rule=rule, aux=aux)  # type: ignore[arg-type]


# every scheme with the batch it needs (early fusion and PSE fusion need aligned dates)
SCHEMES = {
    "early": (early, aligned_batch),
    "mid_time": (mid, make_batch),
    "mid_time_aux": (lambda: mid(aux=True), make_batch),
    "mid_channels": (lambda: mid("channels"), aligned_batch),
    "late": (late, make_batch),
    "late_aux": (lambda: late(aux=True), make_batch),
    "decision_mean": (decision, make_batch),
    "decision_product": (lambda: decision("product", aux=True), make_batch),
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# --------------------------------------------------------------------------------------------
# shapes, padding invariance
# --------------------------------------------------------------------------------------------


def test_batch_has_three_modalities_of_different_lengths() -> None:
    batch = make_batch()
    lengths = {m: batch[m].values.shape[1] for m in batch.modalities}
    assert set(lengths) == set(CHANNELS) and len(set(lengths.values())) > 1
    assert all(bool(s.pad_mask.any()) for s in batch.series.values())  # padding present


@pytest.mark.parametrize("name", list(SCHEMES))
def test_output_shapes(name: str) -> None:
    build, data = SCHEMES[name]
    model, batch = build(), data()
    out = model(batch)
    assert isinstance(out, FusionOutput)
    assert out.logits.shape == (len(batch), K)
    assert set(out.aux) == (set(CHANNELS) if model.has_aux else set())
    assert all(a.shape == (len(batch), K) for a in out.aux.values())
    assert model.modalities == tuple(CHANNELS)
    # a plain mapping works as well as a Batch
    assert torch.allclose(model(dict(batch.series)).logits, out.logits)


@pytest.mark.parametrize("name", list(SCHEMES))
def test_padding_invariance(name: str) -> None:
    build, data = SCHEMES[name]
    model, batch = build().eval(), data()
    with torch.no_grad():
        ref = model(batch)
        out = model(pad_more(batch, extra=3))
    torch.testing.assert_close(out.logits, ref.logits)
    assert out.aux.keys() == ref.aux.keys()
    for m in ref.aux:
        torch.testing.assert_close(out.aux[m], ref.aux[m])


def test_extra_modalities_in_the_batch_are_ignored() -> None:
    model = LateFusion({"S2": separable(4), "S1D": separable(2)}, nn.Linear(2 * D, K))
    batch = make_batch()
    out = model(batch)
    sub = {m: batch[m] for m in ("S1D", "S2")}  # order of the batch does not matter
    torch.testing.assert_close(model(sub).logits, out.logits)


def test_concatenation_follows_the_mapping_order() -> None:
    encoders = {m: separable(c) for m, c in CHANNELS.items()}
    model = LateFusion(encoders, nn.Identity())
    batch = make_batch()
    fused = model(batch).logits
    parts = [encoders[m](batch[m]) for m in CHANNELS]
    torch.testing.assert_close(fused, torch.cat(parts, dim=1))
    assert model.embedding_channels == D * len(CHANNELS)


# --------------------------------------------------------------------------------------------
# early fusion
# --------------------------------------------------------------------------------------------


def test_early_fusion_concatenates_channels_and_ands_masks() -> None:
    batch = aligned_batch()
    # give S1A a [B, T] date-level mask: it is broadcast over the pixels of S2's [B, T, S] mask
    s1a = batch["S1A"]
    date_mask = ~s1a.pad_mask & (torch.rand(s1a.pad_mask.shape) > 0.3)
    series = dict(batch.series)
    series["S1A"] = PaddedSeries(s1a.values, s1a.dates, s1a.pad_mask, date_mask)
    fused = early().merge_inputs(series)
    assert fused.values.shape[2] == sum(CHANNELS.values())
    torch.testing.assert_close(fused.values[:, :, :4], batch["S2"].values)
    torch.testing.assert_close(fused.values[:, :, 4:7], batch["S1A"].values)
    assert torch.equal(fused.dates, batch["S2"].dates)
    assert torch.equal(fused.pad_mask, batch["S2"].pad_mask)
    expected = batch["S2"].mask & date_mask.unsqueeze(-1)
    if batch["S1D"].mask is not None:
        expected = expected & batch["S1D"].mask.reshape(*expected.shape[:2], -1)
    assert fused.mask is not None and torch.equal(fused.mask, expected)


def test_early_fusion_refuses_unaligned_dates() -> None:
    with pytest.raises(ValueError, match=r"same dates.*resample") as info:
        early()(make_batch())
    assert "PASTIS(" in str(info.value) and "S1A" in str(info.value)
    # same T but a date moved
    batch = aligned_batch()
    s1d = batch["S1D"]
    dates = s1d.dates.clone()
    dates[1, 0] += 1
    series = {**batch.series, "S1D": PaddedSeries(s1d.values, dates, s1d.pad_mask, s1d.mask)}
    with pytest.raises(ValueError, match="sample 1"):
        early()(series)


def test_early_fusion_refuses_auxiliary_supervision() -> None:
    with pytest.raises(ValueError, match="auxiliary supervision"):
        early(aux_decoders={"S2": nn.Linear(D, K)})
    assert early()(aligned_batch()).aux == {}
    assert not early().has_aux


# --------------------------------------------------------------------------------------------
# mid fusion
# --------------------------------------------------------------------------------------------


def date_coded_batch() -> Batch:
    """One channel whose value is ``date + modality index / 10``; some dates shared."""
    g = torch.Generator().manual_seed(3)
    samples = []
    for _ in range(5):
        series = {}
        shared = int(torch.randint(0, 50, (1,), generator=g))
        for j, name in enumerate(CHANNELS):
            t = int(torch.randint(2, 7, (1,), generator=g))
            dates = torch.unique(torch.cat([random_dates(t, g, start=j), torch.tensor([shared])]))
            values = (dates.float() + j / 10).view(-1, 1, 1).expand(-1, 1, PIXELS).clone()
            series[name] = TimeSeries(values, dates)
        samples.append(Sample(series))
    return collate(samples)


def test_mid_time_merge_interleaves_by_date() -> None:
    batch = date_coded_batch()
    spatial = {m: PoolSpatial(1, 1, linear=False) for m in CHANNELS}
    model = MidFusion(spatial, MeanTemporal(1, D), nn.Linear(D, K))
    x, dates, pad = model.merged_sequence(batch)
    total = sum(batch[m].values.shape[1] for m in CHANNELS)
    assert x.shape == (len(batch), total, 1) and dates.shape == pad.shape == (len(batch), total)
    for i in range(len(batch)):
        n = sum(int(batch[m].lengths[i]) for m in CHANNELS)
        assert not pad[i, :n].any() and pad[i, n:].all()  # real dates first, padding last
        real_dates, real_x = dates[i, :n], x[i, :n, 0]
        assert bool((real_dates[1:] >= real_dates[:-1]).all())  # sorted by date
        torch.testing.assert_close(real_x.floor(), real_dates.float())  # features follow
        # equal dates keep the mapping order (S2 < S1A < S1D) -> codes increase
        assert bool((real_x[1:] > real_x[:-1]).all())
        expected = sorted(
            float(batch[m].dates[i, j]) + k / 10
            for k, m in enumerate(CHANNELS)
            for j in range(int(batch[m].lengths[i]))
        )
        torch.testing.assert_close(real_x, torch.tensor(expected))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_merge_by_date_properties(data: st.DataObject) -> None:
    b = data.draw(st.integers(1, 3))
    m = data.draw(st.integers(1, 3))
    feats, dates, pads = [], [], []
    for _ in range(m):
        t = data.draw(st.integers(1, 5))
        d = torch.tensor(data.draw(st.lists(st.integers(-50, 50), min_size=b * t, max_size=b * t)))
        lengths = torch.tensor(data.draw(st.lists(st.integers(0, t), min_size=b, max_size=b)))
        pad = torch.arange(t).unsqueeze(0) >= lengths.unsqueeze(1)
        d = d.view(b, t)
        dates.append(d)
        pads.append(pad)
        feats.append(torch.stack([d.float(), torch.randn(b, t)], dim=-1))  # [B, T, 2]
    x, md, mp = merge_by_date(feats, dates, pads)
    assert x.shape[1] == md.shape[1] == mp.shape[1] == sum(f.shape[1] for f in feats)
    all_d = torch.cat(dates, 1)
    all_p = torch.cat(pads, 1)
    for i in range(b):
        n = int((~all_p[i]).sum())
        assert not mp[i, :n].any() and mp[i, n:].all()
        assert torch.equal(md[i, :n], torch.sort(all_d[i][~all_p[i]]).values)
        assert torch.equal(x[i, :, 0], md[i].float())  # features moved with their dates
    # the merge is a permutation of the input rows
    torch.testing.assert_close(
        torch.sort(x[..., 1].flatten()).values,
        torch.sort(torch.cat([f[..., 1] for f in feats], 1).flatten()).values,
    )


def test_mid_channels_merge_is_pse_fusion() -> None:
    batch = aligned_batch()
    model = mid("channels")
    x, _, pad = model.merged_sequence(batch)
    assert x.shape == (len(batch), batch["S2"].values.shape[1], F * len(CHANNELS))
    s2 = model.spatial["S2"](batch["S2"].values, batch["S2"].mask)
    torch.testing.assert_close(x[..., :F], s2)
    assert torch.equal(pad, batch["S2"].pad_mask)
    with pytest.raises(ValueError, match="same dates"):
        model(make_batch())


def test_mid_fusion_configuration_errors() -> None:
    spatial = {"S2": PoolSpatial(4, 8), "S1A": PoolSpatial(3, 6)}
    with pytest.raises(ValueError, match="same F"):
        MidFusion(spatial, MeanTemporal(8, D), nn.Linear(D, K))
    with pytest.raises(ValueError, match="14"):
        MidFusion(spatial, MeanTemporal(8, D), nn.Linear(D, K), merge="channels")
    with pytest.raises(ValueError, match="separate"):
        mid("channels", aux=True)
    with pytest.raises(ValueError, match="one temporal encoder per"):
        mid(aux=True, aux_temporal="separate", aux_temporal_encoders={"S2": MeanTemporal(F, D)})
    with pytest.raises(ValueError, match="does not read"):
        MidFusion(
            {"S2": PoolSpatial(4, F)},
            MeanTemporal(F, D),
            nn.Linear(D, K),
            aux_decoders={"S1": nn.Linear(D, K)},
        )


def test_mid_fusion_aux_shared_and_separate() -> None:
    batch = make_batch()
    shared = mid(aux=True).eval()
    out = shared(batch)
    s1a = batch["S1A"]
    own = shared.aux_decoders["S1A"](
        shared.temporal(shared.spatial["S1A"](s1a.values, None), s1a.dates, s1a.pad_mask)
    )
    torch.testing.assert_close(out.aux["S1A"], own)

    temporals = {m: MeanTemporal(F, D) for m in CHANNELS}
    sep = mid(aux=True, aux_temporal="separate", aux_temporal_encoders=temporals).eval()
    out = sep(batch)
    own = sep.aux_decoders["S1A"](
        temporals["S1A"](sep.spatial["S1A"](s1a.values, None), s1a.dates, s1a.pad_mask)
    )
    torch.testing.assert_close(out.aux["S1A"], own)
    # aux gradients reach the separate temporal encoders, not the shared one
    sep.zero_grad()
    sum(a.sum() for a in out.aux.values()).backward()
    assert all(p.grad is None for p in sep.temporal.parameters())
    assert all(p.grad is not None for p in temporals["S2"].parameters())


def test_require_separable() -> None:
    enc = separable(4)
    assert require_separable(enc, "S2") is enc
    with pytest.raises(TypeError, match=r"SeparableEncoder.*U-TAE.*Sec\. 3\.4") as info:
        require_separable(DenseEncoder(4, D), "S1A")
    assert "'S1A'" in str(info.value)


# --------------------------------------------------------------------------------------------
# decision fusion
# --------------------------------------------------------------------------------------------


def test_decision_mean_is_the_mean_of_probabilities() -> None:
    out = decision("mean", aux=True).eval()(make_batch())
    probs = torch.softmax(out.logits, dim=1)
    expected = torch.stack([torch.softmax(a, 1) for a in out.aux.values()]).mean(0)
    torch.testing.assert_close(probs, expected)
    torch.testing.assert_close(out.logits.exp().sum(1), torch.ones(len(probs)))


def test_decision_product_is_the_normalised_product() -> None:
    out = decision("product", aux=True).eval()(make_batch())
    product = torch.stack([torch.softmax(a, 1) for a in out.aux.values()]).prod(0)
    expected = product / product.sum(1, keepdim=True)
    torch.testing.assert_close(torch.softmax(out.logits, 1), expected)
    torch.testing.assert_close(out.logits.exp().sum(1), torch.ones(len(expected)))


def test_decision_logits_are_log_probabilities() -> None:
    out = decision()(make_batch())
    assert not out.aux  # aux off by default
    y = torch.arange(out.logits.shape[0]) % K
    ce = nn.functional.cross_entropy(out.logits, y)
    torch.testing.assert_close(ce, nn.functional.nll_loss(out.logits, y))


def test_decision_fusion_refuses_a_shared_decoder() -> None:
    shared = nn.Linear(D, K)
    with pytest.raises(ValueError, match="own decoder"):
        DecisionFusion({"S2": separable(4), "S1A": separable(3)}, {"S2": shared, "S1A": shared})
    with pytest.raises(ValueError, match="one encoder and one decoder"):
        DecisionFusion({"S2": separable(4)}, {"S1A": nn.Linear(D, K)})
    with pytest.raises(ValueError, match="rule"):
        DecisionFusion({"S2": separable(4)}, {"S2": nn.Linear(D, K)}, rule="max")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# auxiliary loss
# --------------------------------------------------------------------------------------------


def test_auxiliary_loss_value() -> None:
    batch = make_batch()
    out = late(aux=True)(batch)
    ce = nn.CrossEntropyLoss()
    expected = sum(0.5 * ce(out.aux[m], batch.label) for m in CHANNELS)
    torch.testing.assert_close(auxiliary_loss(out, batch.label, ce), expected)
    weights = {"S2": 1.0, "S1A": 0.25, "S1D": 0.0, "other": 9.0}
    expected = ce(out.aux["S2"], batch.label) + 0.25 * ce(out.aux["S1A"], batch.label)
    torch.testing.assert_close(auxiliary_loss(out, batch.label, ce, weights), expected)
    with pytest.raises(ValueError, match="S1D"):
        auxiliary_loss(out, batch.label, ce, {"S2": 1.0, "S1A": 1.0})
    no_aux = late()(batch)
    assert float(auxiliary_loss(no_aux, batch.label, ce)) == 0.0


# --------------------------------------------------------------------------------------------
# dense models
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["late", "decision_mean", "decision_product"])
def test_dense_shapes(scheme: str) -> None:
    hw = (4, 5)
    batch = make_batch(b=2, patch=hw, masks=False)
    encoders = {m: DenseEncoder(c, D) for m, c in CHANNELS.items()}
    if scheme == "late":
        aux = {m: nn.Conv2d(D, K, 1) for m in CHANNELS}
        model: nn.Module = LateFusion(encoders, nn.Conv2d(D * len(CHANNELS), K, 1), aux)
    else:
        decoders = {m: nn.Conv2d(D, K, 1) for m in CHANNELS}
        model = DecisionFusion(encoders, decoders, rule=scheme.split("_")[1], aux=True)  # type: ignore[arg-type]
    out = model(batch)
    assert out.logits.shape == (2, K, *hw)
    assert all(a.shape == (2, K, *hw) for a in out.aux.values()) and len(out.aux) == 3
    target = torch.randint(0, K, (2, *hw))
    loss = nn.functional.cross_entropy(out.logits, target) + auxiliary_loss(
        out, target, nn.CrossEntropyLoss()
    )
    assert torch.isfinite(loss)
    if scheme != "late":
        torch.testing.assert_close(out.logits.exp().sum(1), torch.ones(2, *hw))


def test_dense_early_fusion_shape() -> None:
    samples = make_samples(b=2, patch=(3, 3), masks=False)
    samples = [resample(resample(s, "S1A", "S2"), "S1D", "S2") for s in samples]
    model = EarlyFusion(DenseEncoder(sum(CHANNELS.values()), D), nn.Conv2d(D, K, 1), NAMES)
    assert model(collate(samples)).logits.shape == (2, K, 3, 3)


# --------------------------------------------------------------------------------------------
# errors, gradients, parameter counts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCHEMES))
def test_missing_modality(name: str) -> None:
    build, data = SCHEMES[name]
    batch = data()
    partial = {m: s for m, s in batch.series.items() if m != "S1D"}
    with pytest.raises(KeyError) as info:
        build()(partial)
    assert isinstance(info.value, ValueError) and isinstance(info.value, MissingModalityError)
    message = str(info.value)
    assert "['S1D']" in message and "['S2', 'S1A']" in message


def test_late_fusion_gradients_reach_every_encoder() -> None:
    model = late()
    batch = make_batch()
    out = model(batch)
    nn.functional.cross_entropy(out.logits, batch.label).backward()
    for m in CHANNELS:
        grads = [p.grad for p in model.encoders[m].parameters()]
        assert all(g is not None for g in grads), m
        assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0, m


def test_parameter_counts_are_the_sum_of_the_parts() -> None:
    spatial = {m: PoolSpatial(c, F) for m, c in CHANNELS.items()}
    temporal, decoder = MeanTemporal(F, D), nn.Linear(D, K)
    parts = sum(n_params(s) for s in spatial.values()) + n_params(temporal) + n_params(decoder)
    model = MidFusion(spatial, temporal, decoder)
    # only the modules of mid fusion: no branch of another scheme (contrast CropTypeMapping's
    # PseTae, which instantiates every branch whatever the fusion type)
    assert n_params(model) == parts
    assert {name for name, _ in model.named_children()} == {
        "spatial",
        "temporal",
        "decoder",
        "aux_decoders",
        "aux_temporal_encoders",
    }
    aux = {m: nn.Linear(D, K) for m in CHANNELS}
    with_aux = MidFusion(spatial, temporal, decoder, aux_decoders=aux)
    assert n_params(with_aux) == parts + sum(n_params(a) for a in aux.values())
    # late and decision fusion: M encoders (+ M decoders), nothing else
    enc = {m: separable(c) for m, c in CHANNELS.items()}
    decs = {m: nn.Linear(D, K) for m in CHANNELS}
    enc_params = sum(n_params(e) for e in enc.values())
    fused_decoder = nn.Linear(3 * D, K)
    assert n_params(LateFusion(enc, fused_decoder)) == enc_params + n_params(fused_decoder)
    dec_params = sum(n_params(d) for d in decs.values())
    assert n_params(DecisionFusion(enc, decs)) == enc_params + dec_params
    assert n_params(DecisionFusion(enc, decs, aux=True)) == enc_params + dec_params


def test_parameters_are_not_counted_twice_for_the_paper_ratio() -> None:
    """Decision fusion with aux adds nothing; late with aux adds M decoders (seed 001 Sec. 3.2)."""
    late_plain, late_aux = late(), late(aux=True)
    extra = n_params(late_aux) - n_params(late_plain)
    assert extra == len(CHANNELS) * n_params(nn.Linear(D, K))
    assert n_params(decision(aux=True)) == n_params(decision())
