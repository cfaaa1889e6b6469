"""Naive Inception module (Szegedy et al. 2015, "naive" version; seed 003 Sec. 3.2, Fig. 7).

Parallel branches on the same input, concatenated along channels: 1×1, 3×3 and 5×5 convolutions
(each followed by ReLU, seed 003 Sec. 3.2) and a 3×3 max-pooling (stride 1, same padding,
which passes the input's C channels through). No 1×1 reductions: those belong to the
dimension-reduced Inception that the PyTorch port of seed 003 uses instead (reference §2.10).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["NaiveInception"]


class NaiveInception(nn.Module):
    """``x [B, C, H, W] -> [B, out_channels, H, W]``, ``out_channels = sum(branch_channels) + C``.

    Args:
        in_channels: C.
        branch_channels: output widths of the 1×1, 3×3 and 5×5 convolution branches.
        pool: keep the 3×3 max-pool branch (its C channels come last).
    """

    def __init__(
        self,
        in_channels: int,
        branch_channels: Sequence[int] = (32, 32, 32),
        pool: bool = True,
    ) -> None:
        super().__init__()
        if len(branch_channels) != 3 or min(branch_channels) < 1:
            raise ValueError(
                "NaiveInception: branch_channels are the widths of the 1x1, 3x3 and 5x5 "
                f"branches (three positive ints), got {tuple(branch_channels)}"
            )
        self.convs = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(in_channels, width, k, padding=k // 2), nn.ReLU())
                for width, k in zip(branch_channels, (1, 3, 5), strict=True)
            ]
        )
        self.pool = nn.MaxPool2d(3, stride=1, padding=1) if pool else None
        self.in_channels = int(in_channels)
        self.out_channels: int = int(sum(branch_channels)) + (in_channels if pool else 0)

    def forward(self, x: Tensor) -> Tensor:
        branches = [conv(x) for conv in self.convs]
        if self.pool is not None:
            branches.append(self.pool(x))
        return torch.cat(branches, dim=1)
