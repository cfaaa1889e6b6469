"""TempCNN (Pelletier et al. 2019) as a temporal encoder for per-date feature sequences.

Seed 004, Sec. VI-B (OAD TempCNN, ~719k trainable parameters); the layer sizes are those of the
S4A-Models OAD configuration (anchors-code §2.9: 3 × Conv1d 128 filters, kernel 7, BatchNorm,
ReLU, Dropout 0.2 → flatten → Linear 128·T → 512 + BatchNorm + ReLU + Dropout), which gives
719,755 parameters with a final ``Linear(512, 11)`` on 7 dates × 26 features. Pelletier et al.'s
original sizes (64 filters, kernel 5, FC 256) are ``kernels=(64, 64, 64), kernel_size=5,
hidden=256``. Written from the papers' descriptions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sitsfusion.models.registry import register_model
from sitsfusion.models.temporal.tae import check_sequence_inputs

__all__ = ["TempCNN"]


# seed 004, Sec. VI-B (Pelletier et al. 2019)
@register_model("temporal", "tempcnn")
class TempCNN(nn.Module):
    """TempCNN: ``x [B, T, F], dates [B, T], pad_mask [B, T] -> [B, hidden]``.

    Padded dates are zeroed, the sequence is zero-padded at the end to ``max_len`` dates (the
    flatten needs a fixed length; ``T > max_len`` is an error), then per conv block
    ``Conv1d(k, padding k//2) + BatchNorm1d + ReLU + Dropout`` over time → flatten
    ``[B, kernels[-1]·max_len]`` → ``Linear + BatchNorm1d + ReLU + Dropout`` → ``[B, hidden]``.
    ``dates`` are not used (the convolution sees the date index only).

    Args:
        in_channels: per-date features ``F``.
        max_len: fixed number of dates ``T`` after padding.
        kernels: filters of each conv block.
        kernel_size: temporal kernel size (odd, "same" padding).
        dropout: dropout after every block.
        hidden: width of the fully connected layer (= ``out_channels``).
    """

    def __init__(
        self,
        in_channels: int,
        max_len: int,
        kernels: Sequence[int] = (128, 128, 128),
        kernel_size: int = 7,
        dropout: float = 0.2,
        hidden: int = 512,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if max_len < 1 or not kernels:
            raise ValueError(f"need max_len >= 1 and at least one conv block, got {max_len}")
        self.in_channels = int(in_channels)
        self.max_len = int(max_len)
        self.out_channels: int = int(hidden)
        blocks: list[nn.Module] = []
        c_in = self.in_channels
        for c_out in kernels:
            blocks += [
                nn.Conv1d(c_in, c_out, kernel_size, padding=kernel_size // 2),
                nn.BatchNorm1d(c_out),
                nn.ReLU(),
                nn.Dropout(dropout),
            ]
            c_in = c_out
        self.convs = nn.Sequential(*blocks)
        self.fc = nn.Sequential(
            nn.Linear(c_in * self.max_len, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor, dates: Tensor, pad_mask: Tensor | None = None) -> Tensor:
        """``x [B, T <= max_len, F]``, ``dates [B, T]``, ``pad_mask [B, T]`` → ``[B, hidden]``."""
        mask = check_sequence_inputs("TempCNN", self.in_channels, x, dates, pad_mask)
        b, t, _ = x.shape
        if t > self.max_len:
            raise ValueError(
                f"TempCNN was built for at most max_len={self.max_len} dates, got T={t}; "
                "increase max_len or crop the sequence"
            )
        x = x.masked_fill(mask.unsqueeze(-1), 0.0)
        if t < self.max_len:
            x = torch.cat([x, x.new_zeros(b, self.max_len - t, x.shape[-1])], dim=1)
        h = self.convs(x.transpose(1, 2))  # [B, C, max_len]
        return self.fc(h.flatten(1))
