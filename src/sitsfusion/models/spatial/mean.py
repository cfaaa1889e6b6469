"""Pixel statistics as the spatial encoder of object-level models (OAD, parcel means).

Seed 004, Sec. VI-B: the OAD classifiers (LSTM, Transformer, TempCNN) read per-parcel
statistics, not pixel sets. With :class:`PixelStatistics` they plug into the same
:class:`~sitsfusion.models.base.SeparableEncoder` as PSE + L-TAE: on object-level data (one
"pixel" per parcel, ``S = 1``) the mean is the identity, and on pixel sets it computes the
parcel statistics on the fly. No parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sitsfusion.models.registry import register_model

__all__ = ["PixelStatistics"]

_STATS = ("mean", "std")


# the spatial part of the object-level (OAD) classifiers (seed 004 Sec. VI-B)
@register_model("spatial", "mean")
class PixelStatistics(nn.Module):
    """Masked per-date statistics over pixels: ``x [B, T, C, S], valid -> [B, T, C·len(stats)]``.

    Args:
        in_channels: ``C``.
        stats: ``"mean"`` and / or ``"std"`` (population std), concatenated in this order
            along the channels (all channels of the first statistic, then the second).
    """

    def __init__(self, in_channels: int, stats: Sequence[str] = ("mean",)) -> None:
        super().__init__()
        unknown = [s for s in stats if s not in _STATS]
        if unknown or not stats:
            raise ValueError(f"stats must be a non-empty subset of {_STATS}, got {list(stats)}")
        self.in_channels = int(in_channels)
        self.stats = tuple(stats)
        self.out_channels: int = self.in_channels * len(self.stats)

    def forward(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        """``x [B, T, C, S]``, ``valid [B, T, S]`` or ``[B, S]`` (None: all real) → ``[B, T, F]``.

        A date without any valid pixel (padding) gives zeros.
        """
        if x.ndim != 4 or x.shape[2] != self.in_channels:
            raise ValueError(
                f"PixelStatistics expects x [B, T, {self.in_channels}, S], got {tuple(x.shape)}"
            )
        if valid is None:
            mean = x.mean(dim=-1)
            parts = {"mean": mean}
            if "std" in self.stats:
                parts["std"] = x.var(dim=-1, unbiased=False).clamp_min(0).sqrt()
        else:
            w = valid.to(x.dtype)
            if w.ndim == 2:
                w = w.unsqueeze(1).expand(-1, x.shape[1], -1)
            w = w.unsqueeze(2)  # [B, T, 1, S]
            count = w.sum(dim=-1).clamp_min(1.0)
            mean = (x * w).sum(dim=-1) / count
            parts = {"mean": mean}
            if "std" in self.stats:
                var = ((x - mean.unsqueeze(-1)).square() * w).sum(dim=-1) / count
                parts["std"] = var.clamp_min(0).sqrt()
        return torch.cat([parts[s] for s in self.stats], dim=-1)
