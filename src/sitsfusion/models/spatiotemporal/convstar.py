"""ConvSTAR: the STAR recurrent unit (Turkoglu et al. 2019) in convolutional form.

Seed 004 Sec. VI-A uses a 3-layer ConvSTAR (~260 k parameters; from MS-ConvSTAR, seed 004
ref. [32]): three stacked cells, hidden 64, 3×3 kernels, a 1×1 convolution of the last hidden
state to the classes. The STAR cell has one gate and no separate memory:

    z_t = tanh(W_z * x_t + b_z)
    k_t = σ(W_k * [x_t, h_{t-1}] + b_k)
    h_t = tanh((1 - k_t) ⊙ h_{t-1} + k_t ⊙ z_t)

Parameters per cell: ``hidden·(C + hidden)·k² + hidden`` (gate) ``+ hidden·C·k² + hidden``
(input). The gate bias starts at 1 (reference §2.8: S4A's cell); other weights use PyTorch's
default initialisation (S4A uses orthogonal init). Padded dates leave the state unchanged
(see :class:`~sitsfusion.models.spatiotemporal.convlstm.StackedConvRNN`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sitsfusion.data.sample import PaddedSeries
from sitsfusion.models.registry import register_model
from sitsfusion.models.spatiotemporal.convlstm import StackedConvRNN, State

__all__ = ["ConvSTAR", "ConvSTARCell", "ConvSTARSegmenter"]


class ConvSTARCell(nn.Module):
    """One ConvSTAR step: ``x [B, C, H, W], (h,) [B, hidden, H, W] -> (h',)``."""

    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(
                f"ConvSTARCell: kernel_size must be odd (same padding), got {kernel_size}"
            )
        pad = kernel_size // 2
        self.in_channels = int(in_channels)
        self.hidden = int(hidden)
        self.gate = nn.Conv2d(in_channels + hidden, hidden, kernel_size, padding=pad)
        self.update = nn.Conv2d(in_channels, hidden, kernel_size, padding=pad)
        with torch.no_grad():
            self.gate.bias.fill_(1.0)

    def init_state(self, x: Tensor) -> State:
        """Zero ``(h,)`` ``[B, hidden, H, W]``."""
        return (x.new_zeros((x.shape[0], self.hidden, *x.shape[2:])),)

    def forward(self, x: Tensor, state: State) -> State:
        (h,) = state
        k = torch.sigmoid(self.gate(torch.cat([x, h], dim=1)))
        z = torch.tanh(self.update(x))
        return (torch.tanh(h + k * (z - h)),)


@register_model("spatiotemporal", "convstar")
class ConvSTAR(StackedConvRNN):
    """ConvSTAR SpatioTemporalEncoder: ``PaddedSeries [B, T, C, H, W] -> h [B, D, H, W]``.

    ``D = out_channels = hidden`` (``2·hidden`` if bidirectional): the last layer's state after
    each sample's last real date (seed 004 Sec. VI-A: 3 layers, hidden 64, k = 3).
    """

    def __init__(
        self,
        in_channels: int,
        hidden: int = 64,
        kernel_size: int = 3,
        layers: int = 3,
        bidirectional: bool = False,
    ) -> None:
        super().__init__(
            lambda c: ConvSTARCell(c, hidden, kernel_size),
            in_channels,
            hidden,
            layers=layers,
            bidirectional=bidirectional,
        )


class ConvSTARSegmenter(nn.Module):
    """Standalone ConvSTAR model of seed 004: ConvSTAR encoder + 1×1 conv to K raw logits.

    ``PaddedSeries [B, T, C, H, W] -> [B, K, H, W]`` (no LogSoftmax). With C = 4, K = 12 and the
    defaults it has 263,820 parameters, the count reference §2.8 gives for S4A's PAD ConvSTAR.
    ``out_channels = num_classes`` (usable as an encoder with an ``nn.Identity`` decoder).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden: int = 64,
        kernel_size: int = 3,
        layers: int = 3,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = ConvSTAR(in_channels, hidden, kernel_size, layers, bidirectional)
        self.decoder = nn.Conv2d(self.encoder.out_channels, num_classes, 1)
        self.num_classes = int(num_classes)
        self.out_channels: int = int(num_classes)

    def forward(self, series: PaddedSeries) -> Tensor:
        return self.decoder(self.encoder(series))
