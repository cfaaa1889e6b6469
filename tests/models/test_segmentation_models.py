"""Dense segmentation models: ConvLSTM, ConvSTAR, U-Nets, Inception, ConvLSTM+Inception-S1S2.

Tiny shapes (H = W = 12 or 32, T <= 5, small widths). Parameter counts are checked against
hand computations and printed (``pytest -s``).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from sitsfusion.data.sample import PaddedSeries, Sample, TimeSeries, collate
from sitsfusion.models.base import SpatioTemporalEncoder
from sitsfusion.models.fusion import LateFusion
from sitsfusion.models.spatial.inception import NaiveInception
from sitsfusion.models.spatiotemporal.convlstm import ConvLSTM, ConvLSTMCell, ConvLSTMSegmenter
from sitsfusion.models.spatiotemporal.convlstm_inception import (
    ConvLSTMInceptionS1S2,
    first_real_date,
)
from sitsfusion.models.spatiotemporal.convstar import ConvSTAR, ConvSTARSegmenter
from sitsfusion.models.spatiotemporal.unet import TemporalStackUNet, UNet, VGG16UNet

B, C, HW, K = 2, 3, 12, 5


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def series(
    lengths: tuple[int, ...], channels: int = C, size: int = HW, seed: int = 0
) -> PaddedSeries:
    """A collated patch series with ``lengths[i]`` real dates for sample i (padding at the end)."""
    g = torch.Generator().manual_seed(seed)
    samples = [
        Sample(
            {
                "S2": TimeSeries(
                    torch.randn(t, channels, size, size, generator=g),
                    torch.arange(t, dtype=torch.long) * 10 + 3,
                )
            }
        )
        for t in lengths
    ]
    return collate(samples)["S2"]


def with_garbage_padding(s: PaddedSeries, extra: int) -> PaddedSeries:
    """``s`` with ``extra`` more padded dates (True in pad_mask) holding large random values."""
    b, _, c, h, w = s.values.shape
    garbage = 1e3 * torch.randn(b, extra, c, h, w)
    values = torch.cat([s.values, garbage], dim=1)
    # Also overwrite the padding already there.
    values[torch.cat([s.pad_mask, torch.ones(b, extra, dtype=torch.bool)], dim=1)] = 1e3
    dates = torch.cat([s.dates, torch.zeros(b, extra, dtype=torch.long)], dim=1)
    pad = torch.cat([s.pad_mask, torch.ones(b, extra, dtype=torch.bool)], dim=1)
    return PaddedSeries(values, dates, pad)


def assert_all_grads(model: nn.Module, loss: Tensor) -> None:
    loss.backward()
    dead = [
        name
        for name, p in model.named_parameters()
        if p.grad is None or not bool(p.grad.abs().sum() > 0)
    ]
    assert not dead, f"parameters without gradient: {dead}"


# --------------------------------------------------------------------------------------------
# ConvLSTM / ConvSTAR encoders
# --------------------------------------------------------------------------------------------


def test_convlstm_cell_parameter_count() -> None:
    for c_in, hidden, k in [(10, 32, 3), (2, 32, 3), (4, 16, 5)]:
        expected = 4 * hidden * (c_in + hidden) * k * k + 4 * hidden
        assert n_params(ConvLSTMCell(c_in, hidden, k)) == expected
    print("ConvLSTM(10, hidden=32) default:", n_params(ConvLSTM(10)))  # 48,512


def test_convstar_parameter_count_matches_s4a() -> None:
    # Per cell: gate h(C+h)k² + h, input h·C·k² + h; + 1×1 head (reference §2.8: 263,820).
    def cell(c: int, h: int = 64) -> int:
        return h * (c + h) * 9 + h + h * c * 9 + h

    expected = cell(4) + 2 * cell(64)
    assert n_params(ConvSTAR(4)) == expected == 263_040
    assert n_params(ConvSTARSegmenter(4, 12)) == expected + 64 * 12 + 12 == 263_820


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", ["convlstm", "convstar"])
def test_recurrent_encoder_shapes_and_protocol(kind: str, bidirectional: bool) -> None:
    cls = ConvLSTM if kind == "convlstm" else ConvSTAR
    enc = cls(C, hidden=6, layers=2, bidirectional=bidirectional)
    assert isinstance(enc, SpatioTemporalEncoder)
    assert enc.out_channels == (12 if bidirectional else 6)
    out = enc(series((3, 5)))
    assert out.shape == (B, enc.out_channels, HW, HW)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", ["convlstm", "convstar", "segmenter"])
def test_recurrent_models_ignore_padding(kind: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    if kind == "convlstm":
        model: nn.Module = ConvLSTM(C, hidden=4, layers=2, bidirectional=bidirectional)
    elif kind == "convstar":
        model = ConvSTAR(C, hidden=4, layers=2, bidirectional=bidirectional)
    else:
        model = ConvLSTMSegmenter(C, K, hidden=4, widths=(6,), bidirectional=bidirectional)
    model.train()  # padded frames must not reach BatchNorm statistics either
    s = series((2, 4))
    ref = model(s)
    out = model(with_garbage_padding(s, extra=3))
    torch.testing.assert_close(out, ref)
    # Different T per sample: each sample alone gives the same result as in the batch
    # (eval mode, so BatchNorm does not depend on the batch).
    model.eval()
    batched = model(s)
    for i, t in enumerate((2, 4)):
        alone = PaddedSeries(
            s.values[i : i + 1, :t], s.dates[i : i + 1, :t], s.pad_mask[i : i + 1, :t]
        )
        torch.testing.assert_close(model(alone), batched[i : i + 1], rtol=1e-5, atol=1e-6)


def test_padding_at_any_position_is_skipped() -> None:
    torch.manual_seed(0)
    enc = ConvLSTM(C, hidden=4, bidirectional=True)
    s = series((3,), size=6)
    ref = enc(s)
    # Insert a padded garbage frame between the first and second date and one before the first.
    v = s.values
    g = torch.full_like(v[:, :1], 7.0)
    values = torch.cat([g, v[:, :1], g, v[:, 1:]], dim=1)
    pad = torch.tensor([[True, False, True, False, False]])
    dates = torch.tensor([[0, 3, 0, 13, 23]])
    torch.testing.assert_close(enc(PaddedSeries(values, dates, pad)), ref)


def test_convlstm_is_not_constant_in_time() -> None:
    # Sanity: the last real date matters (the state is not frozen at the first date).
    torch.manual_seed(0)
    enc = ConvLSTM(C, hidden=4)
    s = series((3,), size=6)
    changed = s.values.clone()
    changed[:, 2] += 1.0
    assert not torch.allclose(enc(s), enc(PaddedSeries(changed, s.dates, s.pad_mask)))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_convlstm_segmenter_every_parameter_gets_gradient(bidirectional: bool) -> None:
    torch.manual_seed(0)
    model = ConvLSTMSegmenter(C, K, hidden=6, widths=(5, 7), layers=2, bidirectional=bidirectional)
    model.train()
    s = series((2, 4))
    logits = model(s)
    assert logits.shape == (B, K, HW, HW)
    assert model.out_channels == K and model.encoder.out_channels == (12 if bidirectional else 6)
    assert_all_grads(
        model, torch.nn.functional.cross_entropy(logits, torch.randint(K, (B, HW, HW)))
    )


def test_convstar_segmenter_every_parameter_gets_gradient() -> None:
    torch.manual_seed(0)
    model = ConvSTARSegmenter(C, K, hidden=6, layers=3)
    logits = model(series((2, 4)))
    assert logits.shape == (B, K, HW, HW)
    assert_all_grads(
        model, torch.nn.functional.cross_entropy(logits, torch.randint(K, (B, HW, HW)))
    )


def test_default_parameter_counts() -> None:
    counts = {
        "ConvLSTMSegmenter(4, 12)": n_params(ConvLSTMSegmenter(4, 12)),
        "ConvSTARSegmenter(4, 12)": n_params(ConvSTARSegmenter(4, 12)),
        "TemporalStackUNet(4, 6, 12)": n_params(TemporalStackUNet(4, 6, 12)),
        "NaiveInception(12)": n_params(NaiveInception(12)),
    }
    print(counts)
    # Per-date conv 4->32 (no bias) + BN; ConvLSTM 32->64; conv 64->64 (no bias) + BN; 1x1 -> 12.
    expected_seg = (
        4 * 32 * 9 + 2 * 32 + 4 * 64 * (32 + 64) * 9 + 4 * 64 + 64 * 64 * 9 + 2 * 64 + 64 * 12 + 12
    )
    assert counts["ConvLSTMSegmenter(4, 12)"] == expected_seg == 260_428
    # 1x1, 3x3, 5x5 branches of 32 (with bias) on 12 channels.
    assert counts["NaiveInception(12)"] == sum(32 * 12 * k * k + 32 for k in (1, 3, 5)) == 13_536
    # S4A's PAD U-Net (reference §2.8) has 1,878,220 = ours + the 1,280 conv biases under BN.
    assert counts["TemporalStackUNet(4, 6, 12)"] == 1_878_220 - 1_280


# --------------------------------------------------------------------------------------------
# U-Nets
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 13])
def test_unet_shapes_and_gradients(size: int) -> None:
    torch.manual_seed(0)
    model = UNet(C, K, widths=(4, 8, 16))
    x = torch.randn(B, C, size, size)
    logits = model(x)
    assert logits.shape == (B, K, size, size)
    assert_all_grads(model, logits.square().mean())
    assert UNet(C, None, widths=(4, 8)).out_channels == 4


def test_vgg16unet_structure_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    with torch.device("meta"):  # full size: count only, no memory or init cost
        full = VGG16UNet(172, 10)
    convs = [m for m in full.down.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6
    # Hand count: 3x3 convs without bias + BN (2 per channel); decoder = 2x2 transposed conv
    # (with bias) + two 3x3 convs; 1x1 head.
    widths, per_stage = (64, 128, 256, 512, 512), (2, 2, 3, 3, 3)
    expected, c_in = 0, 172
    for w, n in zip(widths, per_stage, strict=True):
        for _ in range(n):
            expected += c_in * w * 9 + 2 * w
            c_in = w
    for deep, w in zip(widths[:0:-1], widths[-2::-1], strict=True):
        expected += deep * w * 4 + w + (2 * w * w * 9 + 2 * w) + (w * w * 9 + 2 * w)
    expected += 64 * 10 + 10
    assert n_params(full) == expected
    print("VGG16UNet(172, 10):", expected)
    model = VGG16UNet(C, K, widths=(4, 4, 8, 8, 8))
    x = torch.randn(B, C, 32, 32)
    logits = model(x)
    assert logits.shape == (B, K, 32, 32)
    assert all(p.requires_grad for p in model.parameters())  # not frozen
    assert_all_grads(model, logits.square().mean())
    assert model(torch.randn(B, C, 20, 20)).shape == (B, K, 20, 20)  # not a multiple of 16


def test_temporal_stack_unet() -> None:
    torch.manual_seed(0)
    model = TemporalStackUNet(C, num_dates=4, num_classes=K, widths=(4, 8))
    s = series((4, 4), size=16)
    logits = model(s)
    assert logits.shape == (B, K, 16, 16)
    assert model.unet.in_channels == 4 * C
    assert_all_grads(model, logits.square().mean())
    with pytest.raises(ValueError, match="exactly 4 dates"):
        model(series((3, 3), size=16))
    with pytest.raises(ValueError, match=r"real dates per sample \[4, 3\]"):
        model(series((4, 3), size=16))


# --------------------------------------------------------------------------------------------
# Inception and ConvLSTM+Inception-S1S2
# --------------------------------------------------------------------------------------------


def test_naive_inception() -> None:
    torch.manual_seed(0)
    mod = NaiveInception(12, (3, 5, 7))
    assert mod.out_channels == 3 + 5 + 7 + 12
    x = torch.randn(B, 12, 9, 9)
    out = mod(x)
    assert out.shape == (B, 27, 9, 9)
    torch.testing.assert_close(out[:, 15:], nn.functional.max_pool2d(x, 3, 1, 1))
    assert NaiveInception(12, (3, 5, 7), pool=False).out_channels == 15
    with pytest.raises(ValueError):
        NaiveInception(12, (3, 5))


def s1s2_batch(t_s2: tuple[int, ...], t_s1: tuple[int, ...], size: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for a, b in zip(t_s2, t_s1, strict=True):
        s2 = TimeSeries(torch.randn(a, 4, size, size, generator=g), torch.arange(a) * 5 + 1)
        s1 = TimeSeries(torch.randn(b, 2, size, size, generator=g), torch.arange(b) * 3 + 2)
        samples.append(Sample({"S2": s2, "S1A": s1}))
    return collate(samples)


def test_convlstm_inception_s1s2() -> None:
    torch.manual_seed(0)
    model = ConvLSTMInceptionS1S2(
        s2_channels=4,
        s1_channels=2,
        num_classes=K,
        hidden=5,
        inception_branches=(2, 3, 4),
        unet_widths=(4, 4, 8, 8, 8),
        s1_name="S1A",
    )
    assert model.fused_channels == 5 + 5 + (2 + 3 + 4 + 6)
    batch = s1s2_batch((3, 5), (4, 2))
    logits = model(batch)
    assert logits.shape == (B, K, 32, 32)
    assert not torch.allclose(logits.softmax(1).sum(1), logits.sum(1))  # raw logits
    assert_all_grads(model, logits.square().mean())
    # Padding ignored: the same model on the samples one at a time (eval mode).
    model.eval()
    batched = model(batch)
    for i, (a, b) in enumerate([(3, 4), (5, 2)]):
        alone = {
            "S2": PaddedSeries(
                batch["S2"].values[i : i + 1, :a],
                batch["S2"].dates[i : i + 1, :a],
                batch["S2"].pad_mask[i : i + 1, :a],
            ),
            "S1A": PaddedSeries(
                batch["S1A"].values[i : i + 1, :b],
                batch["S1A"].dates[i : i + 1, :b],
                batch["S1A"].pad_mask[i : i + 1, :b],
            ),
        }
        torch.testing.assert_close(model(alone), batched[i : i + 1], rtol=1e-4, atol=1e-5)
    with pytest.raises(KeyError, match="S1A"):
        model({"S2": batch["S2"]})


def test_convlstm_inception_without_inception_and_defaults() -> None:
    model = ConvLSTMInceptionS1S2(
        s2_channels=4,
        s1_channels=2,
        num_classes=K,
        hidden=3,
        use_inception=False,
        unet_widths=(4, 4, 4, 4, 4),
        s1_name="S1A",
    )
    assert model.inception is None and model.fused_channels == 6
    model.eval()  # one sample: the 1x1 bottom of a 16x16 input has one value per channel
    assert model(s1s2_batch((2,), (3,), size=16)).shape == (1, K, 16, 16)
    with torch.device("meta"):
        default = ConvLSTMInceptionS1S2()
    # 2 ConvLSTMs (10 and 2 bands -> 32) + Inception on 12 channels (96 + 12 pooled) = 172.
    assert default.fused_channels == 172
    print("ConvLSTMInceptionS1S2() default:", n_params(default))


def test_first_real_date_skips_leading_padding() -> None:
    v = torch.arange(3.0).view(1, 3, 1, 1, 1).expand(1, 3, 1, 2, 2)
    s = PaddedSeries(v, torch.tensor([[0, 5, 9]]), torch.tensor([[True, False, False]]))
    assert bool((first_real_date(s) == 1.0).all())


def test_encoders_in_late_fusion() -> None:
    torch.manual_seed(0)
    batch = s1s2_batch((3, 5), (4, 2), size=8)
    fusion = LateFusion(
        {"S2": ConvLSTM(4, hidden=3), "S1A": ConvSTAR(2, hidden=4, layers=1)},
        UNet(7, K, widths=(4, 8)),
    )
    assert fusion.embedding_channels == 7
    assert fusion(batch).logits.shape == (B, K, 8, 8)
    seg = ConvLSTMSegmenter(4, K, hidden=4, widths=(3,))
    split = LateFusion({"S2": seg.encoder}, seg.decoder)
    seg.eval()
    torch.testing.assert_close(split(batch).logits, seg(batch["S2"]))


def test_nan_in_padding_does_not_leak_into_outputs_or_gradients() -> None:
    torch.manual_seed(0)
    model = ConvLSTMSegmenter(C, K, hidden=4, widths=(3,), bidirectional=True)
    s = series((2, 4), size=6)
    values = s.values.clone()
    values[s.pad_mask] = float("nan")
    logits = model(PaddedSeries(values, s.dates, s.pad_mask))
    assert bool(torch.isfinite(logits).all())
    logits.sum().backward()
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
