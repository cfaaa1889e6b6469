"""MLP classification head of the parcel models (PSE-TAE / PSE+L-TAE decoder).

Seed 000, Sec. 4.1 and Table 2 (decoder ``[128, 64, 32, K]``: Linear + BatchNorm1d + ReLU
blocks and a final Linear; 10,924 parameters for K = 12); seed 001, Sec. 3.4 ("all decoders are
simple MLPs").
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["MLPDecoder"]


class MLPDecoder(nn.Module):
    """``[B, D] -> [B, K]`` logits (or ``[B, D, H, W] -> [B, K, H, W]``, i.e. 1×1 convolutions).

    Args:
        in_channels: embedding size ``D``.
        widths: hidden widths, each Linear + BatchNorm1d + ReLU.
        num_classes: ``K``, the final Linear's output (no normalisation or activation after it).
    """

    def __init__(
        self, in_channels: int, widths: Sequence[int] = (64, 32), num_classes: int = 20
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = int(in_channels)
        for out in widths:
            layers += [nn.Linear(width, out), nn.BatchNorm1d(out), nn.ReLU(inplace=True)]
            width = int(out)
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.out_channels: int = int(num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, D]`` or ``[B, D, H, W]`` → logits ``[B, K]`` or ``[B, K, H, W]``."""
        if x.ndim not in (2, 4) or x.shape[1] != self.in_channels:
            raise ValueError(
                f"MLPDecoder expects [B, {self.in_channels}] or [B, {self.in_channels}, H, W], "
                f"got {tuple(x.shape)}"
            )
        if x.ndim == 2:
            return self.layers(x)
        b, d, h, w = x.shape
        # Pixels as rows: BatchNorm1d over [B·H·W, C] has the statistics of BatchNorm2d.
        out = self.layers(x.permute(0, 2, 3, 1).reshape(b * h * w, d))
        return out.view(b, h, w, -1).permute(0, 3, 1, 2)
