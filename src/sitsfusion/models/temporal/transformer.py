"""Transformer-encoder sequence encoder with a day-based positional code.

Seed 004, Sec. VI-B (OAD "transformer-encoder classifier": sinusoidal positional encoding,
2 heads, 3 layers, feed-forward 1024, ~270k parameters with its head); sizes from anchors-code
§2.9 (S4A-Models: d_model = 26 input features without projection, nhead 2, 3 layers,
dim_feedforward 1024, dropout 0.1, input × √d_model, mean over time). Differences: the code is
of acquisition days (``DayPositionalEncoding``), not of indices, and the mean is over real dates
only. Written from the papers' descriptions.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from sitsfusion.models.positional import DayPositionalEncoding
from sitsfusion.models.registry import register_model
from sitsfusion.models.temporal.tae import check_sequence_inputs

__all__ = ["TransformerEncoder"]


# seed 004, Sec. VI-B
@register_model("temporal", "transformer")
class TransformerEncoder(nn.Module):
    """Transformer: ``x [B, T, F], dates [B, T], pad_mask [B, T] -> [B, d_model]``.

    ``Linear(F, d_model)`` (identity when ``d_model`` is None, as in S4A) → ``× √d_model`` → +
    ``DayPositionalEncoding(d_model)`` of ``dates`` → ``nn.TransformerEncoder`` (post-norm
    layers, ReLU) with ``src_key_padding_mask = pad_mask`` → mean over the real dates.

    Args:
        in_channels: per-date features ``F``.
        d_model: model width; None = ``in_channels`` without projection.
        n_head: attention heads (must divide ``d_model``).
        layers: encoder layers.
        dim_feedforward: feed-forward width of each layer.
        dropout: dropout inside the layers.
        period: period of the positional code, in days.
    """

    def __init__(
        self,
        in_channels: int,
        d_model: int | None = None,
        n_head: int = 2,
        layers: int = 3,
        dim_feedforward: int = 1024,
        dropout: float = 0.1,
        period: float = 1000.0,
    ) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        d = self.in_channels if d_model is None else int(d_model)
        if d % n_head != 0:
            raise ValueError(f"n_head={n_head} must divide d_model={d}")
        self.out_channels: int = d
        self.proj: nn.Module = nn.Identity() if d_model is None else nn.Linear(in_channels, d)
        self.scale = math.sqrt(d)
        self.pos = DayPositionalEncoding(d, period=period)
        layer = nn.TransformerEncoderLayer(
            d, n_head, dim_feedforward=dim_feedforward, dropout=dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x: Tensor, dates: Tensor, pad_mask: Tensor | None = None) -> Tensor:
        """``x [B, T, F]``, ``dates [B, T]`` days, ``pad_mask [B, T]`` → ``[B, d_model]``."""
        mask = check_sequence_inputs("TransformerEncoder", self.in_channels, x, dates, pad_mask)
        keep = (~mask).unsqueeze(-1)
        x = x.masked_fill(~keep, 0.0)
        h = self.proj(x) * self.scale + self.pos(dates.masked_fill(mask, 0)).to(x.dtype)
        h = self.encoder(h, src_key_padding_mask=mask)
        h = h.masked_fill(~keep, 0.0)
        return h.sum(dim=1) / keep.sum(dim=1).clamp_min(1).to(h.dtype)
