"""Temporal Attention Encoder (TAE, Garnot et al. 2020), with per-sample days and padding.

Seed 000, Sec. 4.1 (TAE of PSE-TAE) and Table 2 (132,992 parameters for the default
configuration, 741,248 for the PSE-fusion one with 256 input channels). Differences from the
reference code: the positional code is computed from each sample's acquisition days (not the
index in a fixed date list), and padded dates are excluded from the master query and from the
attention, so any sequence length works.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Literal, overload

import torch
from torch import Tensor, nn

from sitsfusion.models.positional import DayPositionalEncoding
from sitsfusion.models.registry import register_model

__all__ = ["TemporalAttentionEncoder", "masked_softmax", "mlp_bn_relu"]

# Attention dropout of the reference implementations (TAE and L-TAE alike).
ATTENTION_DROPOUT = 0.1


def masked_softmax(logits: Tensor, pad: Tensor) -> Tensor:
    """Softmax over the last axis with ``pad`` (True = excluded) positions at exactly 0.

    ``logits [..., T]``, ``pad`` broadcastable to it. A row that is all padding gives zeros
    (never NaN).
    """
    logits = logits.masked_fill(pad, torch.finfo(logits.dtype).min)
    return torch.softmax(logits, dim=-1).masked_fill(pad, 0.0)


def mlp_bn_relu(widths: Sequence[int]) -> nn.Sequential:
    """``widths[0] -> ... -> widths[-1]``, each layer Linear + BatchNorm1d + ReLU."""
    layers: list[nn.Module] = []
    for a, b in pairwise(widths):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def check_sequence_inputs(
    name: str, in_channels: int, x: Tensor, dates: Tensor, pad_mask: Tensor | None
) -> Tensor:
    """Validate ``x [B, T, F], dates [B, T], pad_mask [B, T] | None``; return the bool mask."""
    if x.shape[-1] != in_channels:
        raise ValueError(
            f"{name} expects {in_channels} input features (x [B, T, F]), got F={x.shape[-1]} "
            f"(shape {tuple(x.shape)})"
        )
    bt = tuple(x.shape[:2])
    if tuple(dates.shape) != bt:
        raise ValueError(f"{name}: dates must be [B, T] = {bt}, got {tuple(dates.shape)}")
    if pad_mask is None:
        return torch.zeros(bt, dtype=torch.bool, device=x.device)
    if tuple(pad_mask.shape) != bt:
        raise ValueError(f"{name}: pad_mask must be [B, T] = {bt}, got {tuple(pad_mask.shape)}")
    return pad_mask.to(torch.bool)


@register_model("temporal", "tae")
class TemporalAttentionEncoder(nn.Module):
    """TAE: ``x [B, T, F], dates [B, T], pad_mask [B, T] -> [B, mlp[-1]]``.

    LayerNorm(F) + day positional code (dim F) → per head a master query (masked mean over time
    of ``fc1_q``, then BatchNorm1d + Linear ``fc2``) against keys ``fc1_k`` (F → n_head·d_k);
    values are the whole input, repeated per head; scaled dot product, softmax over the real
    dates, attention dropout 0.1 → heads concatenated (n_head·F) → ``mlp`` (Linear + BatchNorm1d
    + ReLU each) → Dropout → LayerNorm.

    Args:
        in_channels: per-date features ``F``.
        n_head: attention heads.
        d_k: key / query dimension per head.
        mlp: the output MLP's widths *including its input*, so ``mlp[0] == n_head·in_channels``
            (reference ``mlp3 = [512, 128, 128]``).
        dropout: dropout after the MLP.
        period: period of the positional code, in days.
    """

    def __init__(
        self,
        in_channels: int = 128,
        n_head: int = 4,
        d_k: int = 32,
        mlp: Sequence[int] = (512, 128, 128),
        dropout: float = 0.2,
        period: float = 1000.0,
    ) -> None:
        super().__init__()
        if len(mlp) < 2:
            raise ValueError(f"mlp lists the input and output widths, got {tuple(mlp)}")
        if mlp[0] != n_head * in_channels:
            raise ValueError(
                f"mlp[0] must be n_head * in_channels = {n_head * in_channels} (heads "
                f"concatenated), got {mlp[0]}"
            )
        self.in_channels = int(in_channels)
        self.n_head = int(n_head)
        self.d_k = int(d_k)
        self.in_norm = nn.LayerNorm(in_channels)
        self.positional = DayPositionalEncoding(in_channels, period=period)
        self.fc1_q = nn.Linear(in_channels, n_head * d_k)
        self.fc1_k = nn.Linear(in_channels, n_head * d_k)
        self.fc2 = nn.Sequential(
            nn.BatchNorm1d(n_head * d_k), nn.Linear(n_head * d_k, n_head * d_k)
        )
        self.attention_dropout = nn.Dropout(ATTENTION_DROPOUT)
        self.mlp = mlp_bn_relu(mlp)
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(mlp[-1])
        self.out_channels: int = int(mlp[-1])
        nn.init.normal_(self.fc1_q.weight, mean=0.0, std=math.sqrt(2.0 / d_k))
        nn.init.normal_(self.fc1_k.weight, mean=0.0, std=math.sqrt(2.0 / d_k))

    @overload
    def forward(
        self,
        x: Tensor,
        dates: Tensor,
        pad_mask: Tensor | None = ...,
        return_attention: Literal[False] = ...,
    ) -> Tensor: ...

    @overload
    def forward(
        self, x: Tensor, dates: Tensor, pad_mask: Tensor | None, return_attention: Literal[True]
    ) -> tuple[Tensor, Tensor]: ...

    def forward(
        self,
        x: Tensor,
        dates: Tensor,
        pad_mask: Tensor | None = None,
        return_attention: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Encode a padded sequence.

        Args:
            x: ``[B, T, F]`` per-date features.
            dates: ``[B, T]`` acquisition days (int or float).
            pad_mask: ``[B, T]`` True on padded dates (None: no padding).
            return_attention: also return the attention ``[n_head, B, T]``.

        Returns:
            ``[B, out_channels]`` (and the attention).
        """
        if x.ndim != 3:
            raise ValueError(f"TemporalAttentionEncoder expects x [B, T, F], got {tuple(x.shape)}")
        pad = check_sequence_inputs(
            "TemporalAttentionEncoder", self.in_channels, x, dates, pad_mask
        )
        b, t, f = x.shape
        # Padded dates may hold anything: zero them so nothing non-finite can leak.
        x = x.masked_fill(pad.unsqueeze(-1), 0.0)
        e = self.in_norm(x) + self.positional(dates.masked_fill(pad, 0)).to(x.dtype)

        # Master query: mean of fc1_q over the real dates == fc1_q of the masked mean (linear).
        keep = (~pad).to(e.dtype)
        weights = keep / keep.sum(dim=1, keepdim=True).clamp_min(1.0)
        mean = torch.bmm(weights.unsqueeze(1), e).squeeze(1)  # [B, F]
        q = self.fc2(self.fc1_q(mean)).view(b, self.n_head, self.d_k)
        k = self.fc1_k(e).view(b, t, self.n_head, self.d_k)
        logits = torch.einsum("bhk,bthk->bht", q, k) / math.sqrt(self.d_k)
        attn = masked_softmax(logits, pad.unsqueeze(1))  # [B, n_head, T]
        # Values = the input, the same for every head: [B, n_head, T] @ [B, T, F].
        out = torch.bmm(self.attention_dropout(attn), e).reshape(b, self.n_head * f)
        out = self.out_norm(self.dropout(self.mlp(out)))
        if return_attention:
            return out, attn.transpose(0, 1)
        return out
