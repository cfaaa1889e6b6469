"""2-D U-Nets: a plain U-Net, the time-stacked U-Net of seed 004, the VGG-16 U-Net of seed 003.

* :class:`UNet` (Ronneberger et al. 2015): stages of 3×3 conv (+BN) + ReLU, 2×2 max-pool between
  stages; decoder stages = 2×2 transposed conv, concatenation with the skip, two 3×3 convs;
  a 1×1 conv to K raw logits. Odd sizes (61×61) work: the up-sampled map is zero-padded to
  its skip's size.
* :class:`TemporalStackUNet`: a U-Net on the dates concatenated along channels (seed 004
  Sec. VI-A: 6 monthly medians × 4 bands = 24 input channels, 3-layer U-Net ~1.9 M
  parameters); needs a fixed number of dates.
* :class:`VGG16UNet`: the VGG-16 convolution stack as encoder (blocks of 2, 2, 3, 3, 3 convs,
  widths 64, 128, 256, 512, 512, max-pool between blocks; the 5th block is the bridge) with a
  U-Net decoder 512/256/128/64 (seed 003 Sec. 3.1; its Keras original, reference §2.10). No
  ImageNet weights can be downloaded here, and they would not fit the 160+ input channels
  anyway: the encoder is randomly initialised and **trained** (the PyTorch port's frozen random
  encoder, reference §2.10 bug #24, is not reproduced). BatchNorm is on by default
  (``batch_norm=False`` gives the original VGG convs with biases).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sitsfusion.data.sample import PaddedSeries
from sitsfusion.models.registry import register_model

__all__ = ["TemporalStackUNet", "UNet", "VGG16UNet"]


def _convs(in_channels: int, out_channels: int, n: int, batch_norm: bool) -> nn.Sequential:
    """``n`` × (3×3 conv [+ BN] + ReLU); no conv bias under BN (it would get no gradient)."""
    layers: list[nn.Module] = []
    for i in range(n):
        c_in = in_channels if i == 0 else out_channels
        layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Up(nn.Module):
    """2×2 transposed conv ``C_deep -> C``, pad to the skip, concat ``[skip, up]``, 3×3 convs."""

    def __init__(self, deep: int, width: int, n_convs: int, batch_norm: bool) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(deep, width, 2, stride=2)
        self.convs = _convs(2 * width, width, n_convs, batch_norm)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x)
        dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
        if dy or dx:
            x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.convs(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """2-D U-Net: ``x [B, C, H, W] -> logits [B, K, H, W]`` (raw, no softmax).

    Args:
        in_channels: C.
        num_classes: K; ``None`` drops the 1×1 head and returns the ``widths[0]`` features.
        widths: stage widths, shallow to deep (``len(widths) - 1`` down-samplings).
        convs_per_stage: 3×3 convs per encoder stage (an int for all, or one per stage).
        decoder_convs: 3×3 convs per decoder stage.
        batch_norm: BatchNorm after every 3×3 conv.

    Attributes:
        out_channels: K (or ``widths[0]`` without head). Being ``[B, C, H, W] -> [B, K, H, W]``,
            a U-Net is also a dense decoder (e.g. of :class:`~sitsfusion.models.fusion.LateFusion`).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int | None,
        widths: Sequence[int] = (64, 128, 256),
        convs_per_stage: int | Sequence[int] = 2,
        decoder_convs: int = 2,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 1 or min(widths) < 1:
            raise ValueError(f"{type(self).__name__}: widths must be positive, got {widths}")
        per_stage = (
            (int(convs_per_stage),) * len(widths)
            if isinstance(convs_per_stage, int)
            else tuple(int(n) for n in convs_per_stage)
        )
        if len(per_stage) != len(widths) or min(per_stage) < 1:
            raise ValueError(
                f"{type(self).__name__}: convs_per_stage must be a positive int or one per "
                f"stage ({len(widths)}), got {convs_per_stage}"
            )
        self.in_channels = int(in_channels)
        self.widths = widths
        self.down = nn.ModuleList(
            [
                _convs(c_in, c_out, n, batch_norm)
                for c_in, c_out, n in zip(
                    (in_channels, *widths[:-1]), widths, per_stage, strict=True
                )
            ]
        )
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(
            [
                _Up(widths[i + 1], widths[i], decoder_convs, batch_norm)
                for i in reversed(range(len(widths) - 1))
            ]
        )
        self.head = nn.Conv2d(widths[0], num_classes, 1) if num_classes is not None else None
        self.num_classes = num_classes
        self.out_channels: int = int(num_classes) if num_classes is not None else widths[0]

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} takes [B, {self.in_channels}, H, W], got {tuple(x.shape)}"
            )
        skips: list[Tensor] = []
        for i, stage in enumerate(self.down):
            x = stage(self.pool(x) if i > 0 else x)
            skips.append(x)
        for up, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = up(x, skip)
        return self.head(x) if self.head is not None else x


class VGG16UNet(UNet):
    """U-Net with a VGG-16 encoder (seed 003 Sec. 3.1): ``[B, C, H, W] -> [B, K, H, W]`` logits.

    Encoder blocks of ``(2, 2, 3, 3, 3)`` 3×3 convs, widths ``(64, 128, 256, 512, 512)``, four
    max-pools (H, W need not be multiples of 16). Randomly initialised and trainable; see the
    module docstring. ``widths`` may be scaled down (tests).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int | None,
        widths: Sequence[int] = (64, 128, 256, 512, 512),
        convs_per_stage: Sequence[int] = (2, 2, 3, 3, 3),
        batch_norm: bool = True,
    ) -> None:
        super().__init__(in_channels, num_classes, widths, convs_per_stage, 2, batch_norm)


# seed 004 Sec. VI-A: U-Net on T·C stacked channels
@register_model("spatiotemporal", "unet_stack")
class TemporalStackUNet(nn.Module):
    """U-Net on the time-concatenated series (seed 004 Sec. VI-A): ``PaddedSeries -> [B, K, H, W]``.

    ``values [B, T, C, H, W]`` is reshaped to ``[B, T·C, H, W]`` (date-major: all bands of the
    first date, then the second, ...), so every sample must have exactly ``num_dates`` real
    dates (e.g. 6 monthly medians, April-September) and no padding; anything else raises a
    ``ValueError``. ``num_classes=None`` drops the 1×1 head: the module is then a dense encoder
    with ``out_channels = widths[0]`` (the builder's ``unet_stack``, followed by a 1×1 head).
    """

    def __init__(
        self,
        in_channels: int,
        num_dates: int,
        num_classes: int | None = None,
        widths: Sequence[int] = (64, 128, 256),
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if num_dates < 1:
            raise ValueError(f"TemporalStackUNet: num_dates must be >= 1, got {num_dates}")
        self.in_channels = int(in_channels)
        self.num_dates = int(num_dates)
        self.unet = UNet(in_channels * num_dates, num_classes, widths, batch_norm=batch_norm)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.out_channels: int = int(widths[0]) if num_classes is None else int(num_classes)

    def forward(self, series: PaddedSeries) -> Tensor:
        x = series.values
        if x.ndim != 5 or x.shape[2] != self.in_channels:
            raise ValueError(
                f"TemporalStackUNet takes [B, T, {self.in_channels}, H, W], got {tuple(x.shape)}"
            )
        lengths = series.lengths.tolist()
        if x.shape[1] != self.num_dates or any(n != self.num_dates for n in lengths):
            raise ValueError(
                f"TemporalStackUNet stacks exactly {self.num_dates} dates along channels, but "
                f"the batch has T = {x.shape[1]} with real dates per sample {lengths}; resample "
                "the series to fixed dates first (e.g. monthly medians, seed 004)"
            )
        return self.unet(x.flatten(1, 2))
