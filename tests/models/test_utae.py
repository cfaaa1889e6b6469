"""Tests for U-TAE (:mod:`sitsfusion.models.spatiotemporal.utae`) and :class:`ConvDecoder`.

Parameter counts are those of the reference ``utae-paps`` U-TAE (anchors-code §2.5,
param-counts.md); everything else runs on tiny models and 32 × 32 patches.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from torch import Tensor, nn

from sitsfusion.data.sample import PaddedSeries, Sample, TimeSeries, collate
from sitsfusion.models.fusion import LateFusion
from sitsfusion.models.heads.conv import ConvDecoder
from sitsfusion.models.spatiotemporal.utae import UTAE, UTAEEncoder

SMALL = {
    "encoder_widths": (16, 16, 32),
    "decoder_widths": (16, 16, 32),
    "n_head": 4,
    "d_model": 32,
    "d_k": 4,
}
H = W = 32


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def make_series(
    lengths: tuple[int, ...], c: int = 5, t_max: int | None = None, seed: int = 0
) -> PaddedSeries:
    """A batch with ``lengths[i]`` real dates for sample ``i``; padding filled with garbage."""
    g = torch.Generator().manual_seed(seed)
    t_max = t_max or max(lengths)
    b = len(lengths)
    values = torch.randn(b, t_max, c, H, W, generator=g)
    dates = torch.sort(torch.randint(0, 365, (b, t_max), generator=g), dim=1).values
    pad = torch.arange(t_max).expand(b, t_max) >= torch.tensor(lengths).unsqueeze(1)
    values[pad] = 1e4 * torch.randn(int(pad.sum()), c, H, W, generator=g)
    dates = dates.masked_fill(pad, 9999)
    return PaddedSeries(values, dates, pad)


def pad_more(s: PaddedSeries, extra: int) -> PaddedSeries:
    """``s`` with ``extra`` more padded dates holding garbage values and days."""
    b, _, c, h, w = s.values.shape
    values = torch.cat([s.values, 1e4 * torch.randn(b, extra, c, h, w)], dim=1)
    dates = torch.cat([s.dates, torch.full((b, extra), -777)], dim=1)
    pad = torch.cat([s.pad_mask, torch.ones(b, extra, dtype=torch.bool)], dim=1)
    return PaddedSeries(values, dates, pad)


def small_encoder(c: int = 5, **kwargs: object) -> UTAEEncoder:
    torch.manual_seed(0)
    return UTAEEncoder(c, **{**SMALL, **kwargs})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# parameter counts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("c", "expected"), [(10, 1_087_260), (3, 1_083_228)])
def test_reference_parameter_count(c: int, expected: int) -> None:
    assert n_params(UTAE(c, 20, legacy_logit_norm=True)) == expected
    # Without BN + ReLU on the logits: 2 × 20 BatchNorm parameters fewer.
    assert n_params(UTAE(c, 20)) == expected - 40


def test_reference_block_counts() -> None:
    model = UTAE(10, 20, legacy_logit_norm=True)
    enc = model.encoder
    assert n_params(enc.in_conv) == 43_008
    assert [n_params(b) for b in enc.down_blocks] == [139_840, 139_840, 287_680]
    assert n_params(enc.temporal_encoder) == 83_200
    assert [n_params(b) for b in enc.up_blocks] == [246_528, 74_208, 57_824]
    assert n_params(model.decoder) == 15_132
    assert n_params(ConvDecoder(32, (32,), 20)) == 15_092


# --------------------------------------------------------------------------------------------
# shapes, errors
# --------------------------------------------------------------------------------------------


def test_shapes_and_features() -> None:
    enc = small_encoder().eval()
    s = make_series((3, 5))
    out = enc(s)
    assert out.shape == (2, 16, H, W) and enc.out_channels == 16
    feats = enc.forward_features(s)
    assert torch.equal(feats.out, out)
    assert [tuple(m.shape) for m in feats.maps] == [
        (2, 32, 8, 8),
        (2, 16, 16, 16),
        (2, 16, 32, 32),
    ]
    assert feats.attention.shape == (4, 2, 5, 8, 8)
    # Attention is a distribution over the real dates, 0 on padding.
    assert torch.allclose(feats.attention.sum(dim=2), torch.ones(4, 2, 8, 8), atol=1e-5)
    assert feats.attention[:, 0, 3:].abs().max() == 0
    torch.manual_seed(0)
    model = UTAE(5, 7, **SMALL).eval()  # type: ignore[arg-type]
    assert model(s).shape == (2, 7, H, W)


def test_spatial_size_must_be_divisible() -> None:
    enc = small_encoder()
    v = torch.randn(1, 2, 5, 30, 32)
    s = PaddedSeries(v, torch.tensor([[1, 2]]), torch.zeros(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="divisible by 4"):
        enc(s)
    with pytest.raises(ValueError, match="C = 5"):
        enc(PaddedSeries(torch.randn(1, 2, 4, 32, 32), s.dates, s.pad_mask))


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError, match="decoder_widths"):
        UTAEEncoder(3, encoder_widths=(16, 32), decoder_widths=(16, 16))
    with pytest.raises(ValueError, match="str_conv"):
        UTAEEncoder(3, str_conv=(3, 2, 1))
    with pytest.raises(ValueError, match="divisible"):
        UTAEEncoder(3, encoder_widths=(12, 12, 32), decoder_widths=(16, 16, 32), n_head=8)
    with pytest.raises(ValueError, match="encoder_norm"):
        UTAEEncoder(3, encoder_norm="layer")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# padding and dates
# --------------------------------------------------------------------------------------------


def count_frames(enc: UTAEEncoder) -> list[int]:
    seen: list[int] = []
    enc.in_conv.register_forward_hook(lambda m, i, o: seen.append(int(i[0].shape[0])))
    return seen


@pytest.mark.parametrize("agg_mode", ["att_group", "att_mean", "mean"])
def test_padding_invariance_eval(agg_mode: str) -> None:
    enc = small_encoder(agg_mode=agg_mode).eval()
    seen = count_frames(enc)
    s = make_series((3, 4), t_max=4)
    longer = pad_more(s, 2)  # same real frames, 2 more garbage dates
    with torch.no_grad():
        ref, out = enc(s), enc(longer)
        alone = enc(PaddedSeries(s.values[:1, :3], s.dates[:1, :3], s.pad_mask[:1, :3]))
    assert seen == [7, 7, 3]  # padded frames never enter the per-date encoder
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.allclose(alone[0], ref[0], atol=1e-5)
    assert torch.isfinite(out).all()


def test_padding_invariance_batchnorm_training() -> None:
    """With ``encoder_norm="batch"`` the BatchNorm statistics only see real frames."""
    enc = small_encoder(encoder_norm="batch").train()
    enc.temporal_encoder.eval()  # its dropout
    s = make_series((2, 4), t_max=4)
    longer = pad_more(s, 3)
    torch.manual_seed(1)
    ref = enc(s)
    stats = enc.in_conv[0][1].running_mean.clone()
    enc.in_conv[0][1].reset_running_stats()
    torch.manual_seed(1)
    out = enc(longer)
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.allclose(enc.in_conv[0][1].running_mean, stats, atol=1e-6)


def test_dates_matter() -> None:
    enc = small_encoder().eval()
    s = make_series((4, 4))
    shifted = PaddedSeries(s.values, s.dates * 2 + 5, s.pad_mask)
    with torch.no_grad():
        assert not torch.allclose(enc(s), enc(shifted), atol=1e-4)


def test_all_padding_sample_is_finite() -> None:
    """Documented choice: a sample without any real date gives finite features, no error."""
    enc = small_encoder().eval()
    seen = count_frames(enc)
    s = make_series((0, 3))
    with torch.no_grad():
        out = enc(s)
        nothing = enc(make_series((0, 0), t_max=2))
    assert torch.isfinite(out).all() and torch.isfinite(nothing).all()
    assert seen == [3]  # the all-padding batch runs no conv at all
    # Sample 1 is unaffected by its all-padding neighbour.
    with torch.no_grad():
        alone = enc(PaddedSeries(s.values[1:], s.dates[1:], s.pad_mask[1:]))
    assert torch.allclose(out[1], alone[0], atol=1e-5)


@pytest.mark.parametrize("agg_mode", ["att_group", "att_mean", "mean"])
def test_agg_modes_differ_and_run(agg_mode: str) -> None:
    s = make_series((3, 5))
    enc = small_encoder(agg_mode=agg_mode).eval()
    other = small_encoder(agg_mode="att_group" if agg_mode != "att_group" else "mean").eval()
    with torch.no_grad():
        out = enc(s)
        assert out.shape == (2, 16, H, W) and torch.isfinite(out).all()
        assert not torch.allclose(out, other(s), atol=1e-5)  # same weights, other aggregation


# --------------------------------------------------------------------------------------------
# gradients, checkpointing, precision
# --------------------------------------------------------------------------------------------


def biases_before_batchnorm(model: nn.Module) -> set[str]:
    """Biases of convs / linears directly followed by BatchNorm (in a Sequential)."""
    names = {id(p): n for n, p in model.named_parameters()}
    out: set[str] = set()
    for seq in model.modules():
        if isinstance(seq, nn.Sequential):
            mods = list(seq)
            for a, b in pairwise(mods):
                if (
                    isinstance(b, nn.modules.batchnorm._BatchNorm)
                    and getattr(a, "bias", None) is not None
                ):
                    out.add(names[id(a.bias)])
    return out


def test_gradient_reaches_all_parameters() -> None:
    """Every parameter gets a gradient. The only zero ones (up to round-off) are the biases of
    the convs / linears followed by BatchNorm in training mode: BN subtracts the batch mean of
    each channel, which cancels any per-channel constant, so these biases have no effect; and
    the L-TAE key bias ``fc1_k.bias``: it adds ``q · b`` to the logits of every date alike, and
    the softmax over dates is invariant to that."""
    torch.manual_seed(0)
    model = UTAE(5, 7, legacy_logit_norm=True, **SMALL).train()  # type: ignore[arg-type]
    y = torch.randint(0, 7, (2, H, W))
    loss = nn.functional.cross_entropy(model(make_series((3, 5))), y)
    loss.backward()
    dead = biases_before_batchnorm(model) | {"encoder.temporal_encoder.fc1_k.bias"}
    assert "decoder.layers.3.bias" in dead and "encoder.up_blocks.0.up.0.bias" in dead
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        g = p.grad.abs().max().item()
        if name in dead:
            assert g < 1e-5, (name, g)
        else:
            assert g > 1e-7, (name, g)


@pytest.mark.parametrize(("encoder_norm", "chunk"), [("group", 64), ("group", 3), ("batch", 3)])
def test_checkpointing_same_outputs_and_gradients(encoder_norm: str, chunk: int) -> None:
    """Bit-identical outputs when the 8 frames are one chunk (batch norm always is); equal up
    to float round-off when split into chunks (other conv / matmul batch sizes)."""
    s = make_series((3, 5))
    y = torch.randint(0, 7, (2, H, W))
    results = []
    for ckpt in (False, True):
        torch.manual_seed(0)
        model = UTAE(
            5,
            7,
            encoder_norm=encoder_norm,
            checkpoint_dates=ckpt,
            checkpoint_chunk=chunk,
            **SMALL,  # type: ignore[arg-type]
        ).train()
        torch.manual_seed(1)  # dropout masks
        out = model(s)
        nn.functional.cross_entropy(out, y).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        results.append((out.detach(), grads, {k: v.clone() for k, v in model.state_dict().items()}))
    (o0, g0, s0), (o1, g1, s1) = results
    if chunk >= 8 or encoder_norm == "batch":
        assert torch.equal(o0, o1)
    torch.testing.assert_close(o0, o1, rtol=1e-4, atol=1e-5)  # chunked GEMMs: round-off
    for n in g0:
        assert torch.allclose(g0[n], g1[n], rtol=1e-3, atol=1e-5), n
    for k in s0:  # BatchNorm running statistics updated once, not twice
        assert torch.allclose(s0[k].float(), s1[k].float(), atol=1e-6), k


def test_bf16_autocast_close_to_fp32() -> None:
    torch.manual_seed(0)
    model = UTAE(5, 7, **SMALL).eval()  # type: ignore[arg-type]
    s = make_series((3, 5))
    with torch.no_grad():
        ref = model(s)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(s)
    assert torch.isfinite(out).all()
    err = (out.float() - ref).abs().max() / ref.abs().max()
    assert err < 0.1, err
    # and a training step under autocast
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = nn.functional.cross_entropy(model(s), torch.randint(0, 7, (2, H, W)))
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# decoder and fusion
# --------------------------------------------------------------------------------------------


def test_conv_decoder() -> None:
    dec = ConvDecoder(8, (6, 5), 3).eval()
    assert dec(torch.randn(2, 8, 4, 6)).shape == (2, 3, 4, 6)
    legacy = ConvDecoder(8, (6,), 3, legacy_logit_norm=True).eval()
    assert (legacy(torch.randn(2, 8, 4, 4)) >= 0).all()  # BN + ReLU on the logits
    with pytest.raises(ValueError, match="ConvDecoder expects"):
        dec(torch.randn(2, 7, 4, 4))


def _series(t: int, c: int, first_day: int) -> TimeSeries:
    values: Tensor = torch.randn(t, c, H, W)
    return TimeSeries(values, torch.arange(t) * 5 + first_day)


def test_late_fusion_on_collated_batch() -> None:
    samples = [
        Sample(
            {"S2": _series(3, 10, 2), "S1A": _series(5, 3, 0)},
            semantic=torch.zeros(H, W, dtype=torch.long),
        ),
        Sample(
            {"S2": _series(4, 10, 1), "S1A": _series(2, 3, 3)},
            semantic=torch.zeros(H, W, dtype=torch.long),
        ),
    ]
    batch = collate(samples)
    torch.manual_seed(0)
    model = LateFusion(
        {"S2": UTAEEncoder(10, **SMALL), "S1A": UTAEEncoder(3, **SMALL)},  # type: ignore[arg-type]
        ConvDecoder(2 * 16, (32,), 20),
    ).eval()
    assert model.embedding_channels == 32
    with torch.no_grad():
        out = model(batch)
    assert out.logits.shape == (2, 20, H, W) and torch.isfinite(out.logits).all()


def test_channels_last_is_only_a_layout() -> None:
    enc = small_encoder().eval()
    s = make_series((3, 5))
    with torch.no_grad():
        fast = enc(s)
        enc.channels_last = False
        plain = enc(s)
    assert torch.allclose(fast, plain, atol=1e-5)


@pytest.mark.parametrize("agg_mode", ["att_group", "att_mean"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_skip_weighting_is_the_grouped_attention_sum(agg_mode: str, channels_last: bool) -> None:
    """``_aggregate`` = sum over frames of ``segment · attention(head of the channel) · skip``,
    attention bilinearly upsampled to the skip's size, written out with einsum."""
    enc = small_encoder(agg_mode=agg_mode, channels_last=channels_last)
    g = torch.Generator().manual_seed(3)
    n, c, hs, h = 5, 16, 16, 8
    x = torch.randn(n, c, hs, hs, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    attn = torch.rand(n, SMALL["n_head"], h, h, generator=g)
    segments = torch.tensor([[1.0, 1, 1, 0, 0], [0, 0, 0, 1, 1]])
    a = attn.mean(dim=1, keepdim=True) if agg_mode == "att_mean" else attn
    a = nn.functional.interpolate(a, size=(hs, hs), mode="bilinear", align_corners=False)
    a = a.repeat_interleave(c // a.shape[1], dim=1)  # head i weighs its c / n_head channels
    expected = torch.einsum("bn,nchw,nchw->bchw", segments, a, x)
    torch.testing.assert_close(enc._aggregate(x, segments, attn), expected)
