"""(Bi)LSTM sequence encoder over the real dates of each sample.

Seed 004, Sec. VI-B (OAD LSTM: 3 bidirectional layers, hidden 1024, a linear layer on the last
hidden state; ~60M parameters with its classifier). Written from the paper's description.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from sitsfusion.models.registry import register_model
from sitsfusion.models.temporal.tae import check_sequence_inputs

__all__ = ["LSTMEncoder"]


# seed 004, Sec. VI-B
@register_model("temporal", "lstm")
class LSTMEncoder(nn.Module):
    """LSTM: ``x [B, T, F], dates [B, T], pad_mask [B, T] -> [B, hidden·dirs]``.

    The sequences are packed with their real lengths (padding must be at the end of each
    sequence), so padded dates are never read; the output is the last layer's final hidden
    state of each direction, concatenated (forward after the last real date, backward after the
    first). ``dates`` are not used (order only).

    Args:
        in_channels: per-date features ``F``.
        hidden: hidden size per direction.
        layers: stacked LSTM layers.
        bidirectional: also run the sequence backwards.
        dropout: dropout between LSTM layers (ignored when ``layers == 1``).
    """

    def __init__(
        self,
        in_channels: int,
        hidden: int = 1024,
        layers: int = 3,
        bidirectional: bool = True,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.dirs = 2 if bidirectional else 1
        self.out_channels: int = int(hidden) * self.dirs
        self.lstm = nn.LSTM(
            in_channels,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )

    def forward(self, x: Tensor, dates: Tensor, pad_mask: Tensor | None = None) -> Tensor:
        """``x [B, T, F]``, ``dates [B, T]``, ``pad_mask [B, T]`` (suffix padding) → ``[B, D]``."""
        mask = check_sequence_inputs("LSTMEncoder", self.in_channels, x, dates, pad_mask)
        if bool((mask[:, :-1] & ~mask[:, 1:]).any()):
            raise ValueError("LSTMEncoder needs padding at the end: a real date follows a pad")
        lengths = (~mask).sum(dim=1)
        if bool((lengths == 0).any()):
            raise ValueError("LSTMEncoder: a sample has no real date")
        x = x.masked_fill(mask.unsqueeze(-1), 0.0)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)  # h_n [layers·dirs, B, hidden], original batch order
        return torch.cat(list(h_n[-self.dirs :]), dim=-1)
