"""Parcel models: PSE, TAE, L-TAE, MLP decoder, day positional encoding.

Parameter counts pin the layer shapes to seed 000 Table 2 and seed 001 Table 1 (see
``reference/param-counts.md``); the other tests check the padding, pixel-mask and date contracts
of :mod:`sitsfusion.models.base`.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from sitsfusion.data.sample import PaddedSeries
from sitsfusion.models.base import SeparableEncoder, SpatialEncoder, TemporalEncoder
from sitsfusion.models.heads.mlp import MLPDecoder
from sitsfusion.models.positional import DayPositionalEncoding
from sitsfusion.models.spatial.pse import PixelSetEncoder
from sitsfusion.models.temporal.ltae import (
    LTAE,
    LightweightTemporalAttentionEncoder,
    masked_group_norm,
)
from sitsfusion.models.temporal.tae import TemporalAttentionEncoder


def n_params(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad)


def small_tae(in_channels: int = 8) -> TemporalAttentionEncoder:
    return TemporalAttentionEncoder(in_channels, n_head=2, d_k=4, mlp=(2 * in_channels, 8, 6))


def small_ltae(in_channels: int = 8) -> LightweightTemporalAttentionEncoder:
    return LTAE(in_channels, n_head=4, d_k=3, d_model=16, mlp=(16, 8))


TEMPORAL = {"tae": small_tae, "ltae": small_ltae}


def sequence(b: int = 3, t: int = 5, f: int = 8, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Random ``x [B, T, F]``, increasing ``dates [B, T]``, no padding."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, f, generator=g)
    dates = torch.sort(torch.randperm(400, generator=g)[: b * t].view(b, t), dim=1).values
    return x, dates, torch.zeros(b, t, dtype=torch.bool)


def warm_up(model: nn.Module, *inputs: object) -> nn.Module:
    """A few train-mode passes so BatchNorm running statistics are not the identity, then eval."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(*inputs)
    return model.eval()


# --------------------------------------------------------------------------------------------
# parameter counts (seed 000 Table 2, seed 001 Table 1, reference/param-counts.md)
# --------------------------------------------------------------------------------------------


def test_param_counts_of_the_parts() -> None:
    assert n_params(PixelSetEncoder(2)) == 19_168
    assert n_params(PixelSetEncoder(10)) == 19_424
    assert n_params(TemporalAttentionEncoder()) == 132_992
    assert n_params(MLPDecoder(128, (64, 32), 12)) == 10_924
    assert n_params(LTAE(128, n_head=16, d_k=4, d_model=256, mlp=(256, 128))) == 83_200


@pytest.mark.parametrize(("c", "total"), [(2, 163_084), (10, 163_340), (12, 163_404)])
def test_seed000_single_sensor_totals(c: int, total: int) -> None:
    encoder = SeparableEncoder(PixelSetEncoder(c), TemporalAttentionEncoder())
    assert n_params(encoder, MLPDecoder(encoder.out_channels, (64, 32), 12)) == total


def test_seed000_pse_fusion_total() -> None:
    tae = TemporalAttentionEncoder(256, n_head=4, d_k=32, mlp=(1024, 512, 256))
    assert n_params(tae) == 741_248
    parts = (PixelSetEncoder(2), PixelSetEncoder(10), tae, MLPDecoder(256, (64, 32), 12))
    assert n_params(*parts) == 798_956


def test_seed001_pse_ltae_total_is_114k() -> None:
    encoder = SeparableEncoder(PixelSetEncoder(10), LTAE())
    total = n_params(encoder, MLPDecoder(encoder.out_channels, (64, 32), 18))
    assert total == 113_746
    assert abs(total - 114_000) / 114_000 < 0.003


# --------------------------------------------------------------------------------------------
# shapes and interfaces
# --------------------------------------------------------------------------------------------


def test_shapes_and_protocols() -> None:
    b, t, c, s = 2, 4, 3, 5
    pse = PixelSetEncoder(c, mlp1=(8, 16), mlp2=(12,))
    assert isinstance(pse, SpatialEncoder)
    assert pse(torch.randn(b, t, c, s)).shape == (b, t, 12)
    x, dates, pad = sequence(b, t, 8)
    for make, n_head in ((small_tae, 2), (small_ltae, 4)):
        enc = make()
        assert isinstance(enc, TemporalEncoder)
        out, att = enc(x, dates, pad, return_attention=True)
        assert out.shape == (b, enc.out_channels)
        assert att.shape == (n_head, b, t)
        assert torch.allclose(att.sum(-1), torch.ones(n_head, b))
    dec = MLPDecoder(6, (5,), num_classes=7)
    assert dec(torch.randn(b, 6)).shape == (b, 7)
    no_projection = LTAE(8, n_head=4, d_k=2, d_model=None, mlp=(8, 12))
    assert no_projection.inconv is None
    assert no_projection(x, dates, pad).shape == (b, 12)


def test_separable_encoder_on_a_padded_series() -> None:
    b, t, c, s = 3, 4, 2, 6
    series = PaddedSeries(
        values=torch.randn(b, t, c, s),
        dates=torch.tensor([[0, 5, 9, 0], [1, 2, 3, 4], [7, 0, 0, 0]]),
        pad_mask=torch.tensor([[0, 0, 0, 1], [0, 0, 0, 0], [0, 1, 1, 1]], dtype=torch.bool),
        mask=torch.rand(b, t, s) > 0.3,
    )
    for temporal in (TemporalAttentionEncoder(), LTAE()):
        encoder = SeparableEncoder(PixelSetEncoder(c), temporal)
        out = encoder(series)
        assert out.shape == (b, 128)
        assert torch.isfinite(out).all()


def test_ltae_dense_input_matches_per_pixel_sequences() -> None:
    b, t, f, h, w = 2, 5, 8, 3, 4
    enc = warm_up(small_ltae(), *sequence(6, t, f))
    x = torch.randn(b, t, f, h, w)
    _, dates, _ = sequence(b, t, f, seed=1)
    pad = torch.zeros(b, t, dtype=torch.bool)
    pad[1, 3:] = True
    out, att = enc(x, dates, pad, return_attention=True)
    assert out.shape == (b, enc.out_channels, h, w)
    assert att.shape == (4, b, t, h, w)
    i, j = 2, 1
    ref, ref_att = enc(x[:, :, :, i, j], dates, pad, return_attention=True)
    assert torch.allclose(out[:, :, i, j], ref, atol=1e-5)
    assert torch.allclose(att[:, :, :, i, j], ref_att, atol=1e-6)


def test_decoder_dense_input_is_a_1x1_convolution() -> None:
    dec = warm_up(MLPDecoder(6, (5, 4), 3), torch.randn(10, 6))
    x = torch.randn(2, 6, 3, 2)
    out = dec(x)
    assert out.shape == (2, 3, 3, 2)
    assert torch.allclose(out[1, :, 2, 0], dec(x[1:2, :, 2, 0])[0], atol=1e-6)


# --------------------------------------------------------------------------------------------
# padding invariance of the temporal encoders
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TEMPORAL))
def test_padding_invariance(name: str) -> None:
    x, dates, pad = sequence(3, 5, 8)
    enc = warm_up(TEMPORAL[name](), x, dates, pad)
    ref, ref_att = enc(x, dates, pad, return_attention=True)
    n_pad = 4
    garbage = 1e3 * torch.randn(3, n_pad, 8)
    garbage[0, 0, 0] = float("nan")
    garbage[1, 1, 2] = float("inf")
    bad_dates = torch.randint(-10_000, 10_000, (3, n_pad))
    for where in ("append", "prepend"):
        cat = [x, garbage] if where == "append" else [garbage, x]
        cat_d = [dates, bad_dates] if where == "append" else [bad_dates, dates]
        cat_p = [pad, torch.ones(3, n_pad, dtype=torch.bool)]
        cat_p = cat_p if where == "append" else cat_p[::-1]
        out, att = enc(torch.cat(cat, 1), torch.cat(cat_d, 1), torch.cat(cat_p, 1), True)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
        real = att[..., :5] if where == "append" else att[..., n_pad:]
        padded = att[..., 5:] if where == "append" else att[..., :n_pad]
        torch.testing.assert_close(real, ref_att, atol=1e-6, rtol=1e-5)
        assert (padded == 0).all()


@pytest.mark.parametrize("name", sorted(TEMPORAL))
@pytest.mark.parametrize("train", [False, True])
def test_one_real_date_gives_no_nan(name: str, train: bool) -> None:
    x, dates, pad = sequence(3, 5, 8)
    pad[0, 1:] = True  # one real date
    pad[1, :] = True  # no real date at all: finite, never NaN
    x[pad] = float("nan")
    enc = TEMPORAL[name]().train(train)
    out = enc(x, dates, pad)
    assert torch.isfinite(out).all()
    if train:
        out.sum().backward()
        assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)


def test_pse_padded_dates_give_no_nan() -> None:
    b, t, c, s = 2, 3, 4, 5
    valid = torch.rand(b, t, s) > 0.3
    valid[0, 2] = False  # a padded date: no valid pixel
    valid[1, 0] = False
    valid[1, 0, 3] = True  # a single valid pixel: std guard (n - 1 -> 1)
    x = torch.randn(b, t, c, s)
    x[0, 2] = 0.0
    pse = PixelSetEncoder(c, mlp1=(8, 8), pooling=("mean", "std", "max", "min"), mlp2=(16, 8))
    for train in (True, False):
        pse.train(train)
        out = pse(x.requires_grad_(True), valid)
        assert torch.isfinite(out).all()
        out.sum().backward()
        assert torch.isfinite(x.grad).all()
        x.grad = None


# --------------------------------------------------------------------------------------------
# dates, not indices
# --------------------------------------------------------------------------------------------


def test_positional_encoding_formula_and_buffer() -> None:
    enc = DayPositionalEncoding(6, period=1000.0, repeat=2)
    dates = torch.tensor([[0, 37, -5], [460, 10_000, 3]])
    code = enc(dates)
    assert code.shape == (2, 3, 12)
    i = torch.arange(6)
    freq = 1000.0 ** (2 * (i // 2) / 6)
    day = 37.0
    expected = torch.where(i % 2 == 0, torch.sin(day / freq), torch.cos(day / freq))
    torch.testing.assert_close(code[0, 1, :6], expected)
    torch.testing.assert_close(code[..., :6], code[..., 6:])  # repeated per head
    assert torch.isfinite(code).all()
    assert "inv_freq" not in enc.state_dict()  # non-persistent
    torch.testing.assert_close(enc(dates.double()), code)  # float days work too


@pytest.mark.parametrize("name", sorted(TEMPORAL))
def test_encoders_use_days_not_indices(name: str) -> None:
    x, dates, pad = sequence(3, 5, 8)
    enc = warm_up(TEMPORAL[name](), x, dates, pad)
    ref = enc(x, dates, pad)
    # same values on other days: another output
    assert not torch.allclose(enc(x, dates + 40, pad), ref, atol=1e-4)
    # same (value, day) pairs at other indices: the same output
    perm = torch.tensor([3, 0, 4, 1, 2])
    torch.testing.assert_close(enc(x[:, perm], dates[:, perm], pad), ref, atol=1e-5, rtol=1e-5)
    # any day works: negative, beyond the 460 of a fixed table
    for shift in (-1000, 5000, 100_000):
        assert torch.isfinite(enc(x, dates + shift, pad)).all()


# --------------------------------------------------------------------------------------------
# PSE: pixel sets
# --------------------------------------------------------------------------------------------


ALL_POOLINGS = ("mean", "std", "max", "min")


def test_pse_masked_pixels_do_not_matter() -> None:
    b, t, c, s, extra = 2, 3, 4, 6, 5
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, t, c, s, generator=g)
    valid = torch.rand(b, t, s, generator=g) > 0.3
    valid[..., 0] = True
    pse = warm_up(PixelSetEncoder(c, mlp1=(8, 8), pooling=ALL_POOLINGS, mlp2=(16, 8)), x, valid)
    ref = pse(x, valid)
    # garbage in the masked pixels, and extra masked pixels
    x_bad = torch.where(valid.unsqueeze(2), x, 1e4 * torch.randn(b, t, c, s, generator=g))
    x_bad[0, 0, 0, ~valid[0, 0]] = float("nan")
    torch.testing.assert_close(pse(x_bad, valid), ref, atol=1e-5, rtol=1e-5)
    more = 1e4 * torch.randn(b, t, c, extra, generator=g)
    valid_more = torch.cat([valid, torch.zeros(b, t, extra, dtype=torch.bool)], -1)
    out = pse(torch.cat([x_bad, more], -1), valid_more)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # a 0/1 float mask and a [B, S] mask shared by all dates are accepted
    torch.testing.assert_close(pse(x, valid.float()), ref)
    torch.testing.assert_close(pse(x, valid[:, 0]), pse(x, valid[:, :1].expand(b, t, s)))


def test_pse_pooling_statistics() -> None:
    """mean and unbiased std over the valid pixels (seed 000 Sec. 4.1, reference §2.1)."""
    pse = PixelSetEncoder(3, mlp1=(4,), pooling=ALL_POOLINGS, mlp2=(5,)).eval()
    h = torch.randn(2, 6, 4)
    m = torch.tensor([[1, 1, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0]], dtype=torch.float)
    mean, std, mx, mn = pse._pool(h.clone(), m)
    sel = h[0, m[0] > 0]
    torch.testing.assert_close(mean[0], sel.mean(0))
    torch.testing.assert_close(std[0], sel.std(0))
    torch.testing.assert_close(mx[0], sel.amax(0))
    torch.testing.assert_close(mn[0], sel.amin(0))
    torch.testing.assert_close(mean[1], h[1, 3])
    assert (std[1] < 1e-10).all()  # one pixel: std 0 (n - 1 replaced by 1), finite


@settings(max_examples=20, deadline=None)
@given(
    b=st.integers(1, 3),
    t=st.integers(1, 3),
    s=st.integers(1, 7),
    seed=st.integers(0, 2**31 - 1),
    masked=st.booleans(),
)
def test_pse_is_invariant_to_pixel_order(b: int, t: int, s: int, seed: int, masked: bool) -> None:
    g = torch.Generator().manual_seed(seed)
    c = 3
    x = torch.randn(b, t, c, s, generator=g, dtype=torch.float64)
    valid = (torch.rand(b, t, s, generator=g) > 0.4) if masked else None
    pse = PixelSetEncoder(c, mlp1=(6, 8), pooling=ALL_POOLINGS, mlp2=(8, 4)).double()
    pse = warm_up(pse, torch.randn(2, 2, c, 4, generator=g, dtype=torch.float64))
    perm = torch.randperm(s, generator=g)
    out = pse(x[..., perm], None if valid is None else valid[..., perm])
    torch.testing.assert_close(out, pse(x, valid))


def test_pse_extra_features() -> None:
    b, t, c, s, e = 2, 3, 4, 5, 3
    pse = PixelSetEncoder(c, mlp1=(8, 8), mlp2=(10, 6), extra_features=e)
    assert pse.mlp2[0].in_features == 2 * 8 + e
    x, extra = torch.randn(b, t, c, s), torch.randn(b, e)
    pse.eval()
    out = pse(x, None, extra)
    assert out.shape == (b, t, 6)
    torch.testing.assert_close(pse(x, None, extra.unsqueeze(1).expand(b, t, e)), out)
    with pytest.raises(ValueError, match="extra"):
        pse(x)


def test_wrong_channel_count_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"expects 10 channels .* got C=3"):
        PixelSetEncoder(10)(torch.randn(2, 4, 3, 5))
    with pytest.raises(ValueError, match=r"expects 8 input features .* got F=7"):
        small_tae()(torch.randn(2, 4, 7), torch.zeros(2, 4), None)
    with pytest.raises(ValueError, match=r"expects 8 input features .* got F=7"):
        small_ltae()(torch.randn(2, 4, 7), torch.zeros(2, 4), None)
    with pytest.raises(ValueError, match="mlp\\[0\\]"):
        TemporalAttentionEncoder(128, n_head=4, mlp=(128, 128))
    with pytest.raises(ValueError, match="divisible"):
        LTAE(100, n_head=16)


# --------------------------------------------------------------------------------------------
# training: gradients, group norm, dtypes and devices
# --------------------------------------------------------------------------------------------


class ParcelClassifier(nn.Module):
    def __init__(self, spatial: nn.Module, temporal: nn.Module, classes: int = 5) -> None:
        super().__init__()
        self.encoder = SeparableEncoder(spatial, temporal)
        self.decoder = MLPDecoder(self.encoder.out_channels, (8,), classes)

    def forward(self, series: PaddedSeries) -> Tensor:
        return self.decoder(self.encoder(series))


def tiny_series(b: int = 4, t: int = 5, c: int = 3, s: int = 6, seed: int = 0) -> PaddedSeries:
    g = torch.Generator().manual_seed(seed)
    dates = torch.sort(torch.randperm(300, generator=g)[: b * t].view(b, t), dim=1).values
    pad = torch.zeros(b, t, dtype=torch.bool)
    pad[0, 3:] = True
    mask = (torch.rand(b, t, s, generator=g) > 0.3) & ~pad.unsqueeze(-1)
    values = torch.randn(b, t, c, s, generator=g) * mask.unsqueeze(2)
    return PaddedSeries(values, dates.masked_fill(pad, 0), pad, mask)


def cancelled_by_batch_statistics(model: nn.Module) -> set[str]:
    """Parameters whose exact gradient is 0 while BatchNorm uses batch statistics.

    A bias that only shifts the input of a train-mode BatchNorm is removed by its mean: the
    bias of every Linear followed by BatchNorm1d (PSE, TAE/L-TAE MLPs, decoder), TAE's query
    bias (``fc2`` starts with BatchNorm), and the temporal ``out_norm`` bias (the decoder starts
    with Linear + BatchNorm). The keys' bias shifts all logits of a head alike and softmax
    removes it, in any mode. The reference architectures have them all (their parameter
    counts include them).
    """
    names: set[str] = set()
    for prefix, module in model.named_modules():
        if isinstance(module, nn.Sequential):
            kids = list(module.named_children())
            for (name, a), (_, b) in pairwise(kids):
                if isinstance(a, nn.Linear) and isinstance(b, nn.BatchNorm1d):
                    names.add(f"{prefix}.{name}.bias")
    for name, _ in model.named_parameters():
        if name.endswith(("fc1_q.bias", "fc1_k.bias", "temporal.out_norm.bias")):
            names.add(name)
    return names


@pytest.mark.parametrize("name", sorted(TEMPORAL))
def test_every_parameter_gets_a_gradient(name: str) -> None:
    torch.manual_seed(0)
    pse = PixelSetEncoder(3, mlp1=(8, 8), pooling=ALL_POOLINGS, mlp2=(12, 8))
    model = ParcelClassifier(pse, TEMPORAL[name]()).double()
    s = tiny_series()
    series = PaddedSeries(s.values.double(), s.dates, s.pad_mask, s.mask)
    target = torch.tensor([0, 1, 2, 3])
    dead = cancelled_by_batch_statistics(model)
    assert len(dead) >= 8
    # train mode: every gradient exists and is finite; only the cancelled biases are 0
    nn.functional.cross_entropy(model.train()(series), target).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        size = float(p.grad.abs().max())
        assert (size < 1e-10) if pname in dead else (size > 1e-9), (pname, size)
    # eval mode (running statistics): only the keys' bias stays without effect
    model.zero_grad()
    nn.functional.cross_entropy(model.eval()(series), target).backward()
    for pname, p in model.named_parameters():
        size = float(p.grad.abs().max())
        assert (size < 1e-10) if pname.endswith("fc1_k.bias") else (size > 1e-9), (pname, size)


def test_masked_group_norm_matches_group_norm_without_padding() -> None:
    norm = nn.GroupNorm(4, 8)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    x = torch.randn(3, 5, 8)
    keep = torch.ones(3, 5, dtype=torch.bool)
    expected = norm(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(masked_group_norm(x, keep, norm), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(TEMPORAL))
def test_float64_and_meta_device(name: str) -> None:
    series = tiny_series()
    pse = PixelSetEncoder(3, mlp1=(8, 8), mlp2=(8,))
    model = warm_up(ParcelClassifier(pse, TEMPORAL[name]()), series)
    ref = model(series)
    model64 = model.to(torch.float64)
    s64 = PaddedSeries(series.values.double(), series.dates, series.pad_mask, series.mask)
    out = model64(s64)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), ref, atol=1e-4, rtol=1e-4)
    # no tensor is created on a hard-coded device: everything follows the input to "meta"
    meta = model64.float().to("meta")
    out_meta = meta(series.to("meta"))
    assert out_meta.device.type == "meta"
    assert out_meta.shape == ref.shape


def test_folded_batch_norm_is_the_same_function() -> None:
    """Eval mode folds mlp1's BatchNorm into its Linear: same result as the plain layers."""
    pse = warm_up(PixelSetEncoder(3, mlp1=(8, 8)), torch.randn(4, 2, 3, 5))
    rows = torch.randn(40, 3)
    torch.testing.assert_close(pse._apply_mlp1(rows), pse.mlp1(rows), atol=1e-5, rtol=1e-5)


def test_inference_mode_matches_eval_with_grad() -> None:
    """The no-grad fast path (in-place std) is the same function."""
    series = tiny_series()
    pse = PixelSetEncoder(3, mlp1=(8, 8), pooling=ALL_POOLINGS, mlp2=(8,))
    model = warm_up(ParcelClassifier(pse, small_ltae()), series)
    with_grad = model(series)
    with torch.inference_mode():
        fast = model(series)
    torch.testing.assert_close(fast, with_grad.detach(), atol=1e-5, rtol=1e-5)


def test_attention_weights_sum_to_one_over_real_dates() -> None:
    series = tiny_series()
    x = torch.randn(*series.dates.shape, 8)
    for enc in (small_tae(), small_ltae()):
        _, att = enc.eval()(x, series.dates, series.pad_mask, return_attention=True)
        assert (att[:, series.pad_mask] == 0).all()
        torch.testing.assert_close(att.sum(-1), torch.ones(att.shape[:2]))
        assert float(att.detach().min()) >= 0.0


# --------------------------------------------------------------------------------------------
# the fast PSE paths against a plain implementation of the same equations
# --------------------------------------------------------------------------------------------


def plain_pse(pse: PixelSetEncoder, x: Tensor, valid: Tensor) -> Tensor:
    """PSE with mean + std pooling from plain modules and autograd (reference §2.1)."""
    b, t, c, s = x.shape
    x = x * valid.unsqueeze(2)  # invalid pixels enter the train-mode statistics as zeros
    h = pse.mlp1(x.permute(0, 1, 3, 2).reshape(-1, c)).view(b * t, s, -1)
    m = valid.reshape(b * t, s, 1).to(h.dtype)
    n = m.sum(1)
    mean = (h * m).sum(1) / n.clamp_min(1)
    var = ((h - mean.unsqueeze(1)) ** 2 * m).sum(1) / (n - 1).clamp_min(1)
    return pse.mlp2(torch.cat([mean, torch.sqrt(var + 1e-31)], 1)).view(b, t, -1)


@pytest.mark.parametrize("train", [True, False])
def test_pse_matches_the_plain_equations(train: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    import sitsfusion.models.spatial.pse as pse_module

    monkeypatch.setattr(pse_module, "_CHUNK_PIXELS", 8)  # several chunks even at tiny sizes
    b, t, c, s = 3, 4, 2, 6
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, t, c, s, generator=g, dtype=torch.float64)
    valid = torch.rand(b, t, s, generator=g) > 0.3
    valid[0, 0] = False
    valid[1, 1, :] = False
    valid[1, 1, 2] = True
    pse = warm_up(PixelSetEncoder(c, mlp1=(5, 7), mlp2=(9, 4)).double(), x, valid).train(train)
    outs, grads = [], []
    for fn in (pse, lambda x_, v_: plain_pse(pse, x_, v_)):
        pse.zero_grad()
        xx = x.clone().requires_grad_(True)
        out = fn(xx, valid)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        outs.append(out.detach())
        grads.append([xx.grad, *(p.grad.clone() for p in pse.parameters())])
    torch.testing.assert_close(outs[0], outs[1])
    for fast, plain in zip(*grads, strict=True):
        torch.testing.assert_close(fast, plain)
    with torch.inference_mode():
        torch.testing.assert_close(pse(x, valid), outs[1])


def test_masked_mean_std_gradcheck() -> None:
    from sitsfusion.models.spatial.pse import _MaskedMeanStd

    g = torch.Generator().manual_seed(1)
    h = torch.randn(4, 5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    m = (torch.rand(4, 5, generator=g) > 0.4).double()
    m[0] = 0.0  # no valid pixel
    m[1] = 0.0
    m[1, 2] = 1.0  # one valid pixel
    m[2] = 1.0
    assert torch.autograd.gradcheck(lambda h_: _MaskedMeanStd.apply(h_, m), (h,))
