"""Convolutional decoder of the dense (patch) models: U-TAE's ``out_conv`` and seed 001's decoder.

Seed 001 (Garnot et al. 2021), Sec. 3.4 "Semantic segmentation": "a 2-layer convolutional
neural net as decoder" on U-TAE's full-resolution feature map, the decoder of the late and
decision fusion models (Sec. 4.4, Table 2). It is also U-TAE's own ``out_conv`` (``[32, 20]``,
15,132 parameters in the reference, ``utae-paps:src/backbones/utae.py``), whose class conv is
followed by BatchNorm + ReLU there (``legacy_logit_norm``; anchors-code §1 item 3).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["ConvDecoder", "conv3x3"]


def conv3x3(in_channels: int, out_channels: int, padding_mode: str = "reflect") -> nn.Conv2d:
    """A 3×3 convolution, stride 1, padding 1 (``padding_mode``), with bias: same H × W."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode=padding_mode)


class ConvDecoder(nn.Module):
    """``[B, D, H, W] -> [B, K, H, W]`` logits: 3×3 conv + BatchNorm + ReLU per hidden width,
    then a 3×3 conv to ``num_classes``.

    With the defaults (``widths=(32,)``) and ``D = 32``, ``K = 20`` this has 15,092 parameters;
    with ``legacy_logit_norm=True`` (the reference U-TAE ``out_conv``) 15,132.

    Args:
        in_channels: input width ``D`` (U-TAE: ``decoder_widths[0]``; late fusion: ``ΣD_m``).
        widths: hidden widths, each a 3×3 conv + BatchNorm2d + ReLU.
        num_classes: ``K``.
        legacy_logit_norm: add BatchNorm2d + ReLU after the class conv, as the reference U-TAE
            does (its logits are post-BN and non-negative). Only for parameter / pretrained
            weight parity; leave False to train.
        padding_mode: spatial padding of the 3×3 convs (``"reflect"`` as the reference,
            ``"zeros"``, ``"replicate"``, ``"circular"``).
    """

    def __init__(
        self,
        in_channels: int,
        widths: Sequence[int] = (32,),
        num_classes: int = 20,
        legacy_logit_norm: bool = False,
        padding_mode: str = "reflect",
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = int(in_channels)
        for out in widths:
            layers += [
                conv3x3(width, out, padding_mode),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]
            width = int(out)
        layers.append(conv3x3(width, num_classes, padding_mode))
        if legacy_logit_norm:
            layers += [nn.BatchNorm2d(num_classes), nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.legacy_logit_norm = bool(legacy_logit_norm)
        self.out_channels: int = int(num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, D, H, W]`` → logits ``[B, K, H, W]``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ConvDecoder expects [B, {self.in_channels}, H, W], got {tuple(x.shape)}"
            )
        return self.layers(x)
