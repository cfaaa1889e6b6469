"""Lightweight Temporal Attention Encoder (L-TAE, Garnot & Landrieu 2020), LTAE2d semantics.

Seed 001, Sec. 3.4 and 4.2 (PSE + L-TAE for parcels, L-TAE inside U-TAE; Table 1 "114k"). The
semantics are those of the U-TAE version (GroupNorm instead of a LayerNorm tied to T, positional
code from each sample's acquisition days, padding mask), for sequences ``[B, T, F]`` and for
dense inputs ``[B, T, F, H, W]`` (pixels folded into the batch, as U-TAE uses it).
Differences from the reference: padded dates are masked with an exact zero weight and are
excluded from the input GroupNorm's statistics, so padding never changes the output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, overload

import torch
from torch import Tensor, nn

from sitsfusion.models.positional import DayPositionalEncoding
from sitsfusion.models.registry import register_model
from sitsfusion.models.temporal.tae import (
    ATTENTION_DROPOUT,
    check_sequence_inputs,
    masked_softmax,
    mlp_bn_relu,
)

__all__ = ["LTAE", "LightweightTemporalAttentionEncoder", "masked_group_norm"]


def masked_group_norm(x: Tensor, keep: Tensor, norm: nn.GroupNorm) -> Tensor:
    """GroupNorm of a sequence over (channels of the group × kept dates).

    ``x [N, T, C]`` (channels last), ``keep [N, T]`` 0/1 weights. Equals ``norm`` applied to
    ``x.transpose(1, 2)`` when every date is kept; padded dates do not enter the statistics.
    """
    n, t, c = x.shape
    g = norm.num_groups
    xg = x.reshape(n, t, g, c // g)
    w = keep.to(x.dtype).view(n, t, 1, 1)
    count = (keep.sum(dim=1).to(x.dtype) * (c // g)).clamp_min(1.0).view(n, 1, 1, 1)
    mean = (xg * w).sum(dim=(1, 3), keepdim=True) / count
    diff = xg - mean
    var = (diff.square() * w).sum(dim=(1, 3), keepdim=True) / count
    out = (diff * torch.rsqrt(var + norm.eps)).view(n, t, c)
    if norm.affine:
        out = torch.addcmul(norm.bias, out, norm.weight)
    return out


@register_model("temporal", "ltae")
class LightweightTemporalAttentionEncoder(nn.Module):
    """L-TAE: ``x [B, T, F], dates [B, T], pad_mask [B, T] -> [B, mlp[-1]]``.

    GroupNorm(n_head) on the input → Linear F → d_model (a 1×1 Conv1d in the reference) → + day
    positional code (``d_model / n_head`` dims repeated ``n_head`` times) → per head, a learned
    master query ``Q [n_head, d_k]`` against keys ``Linear(d_model, n_head·d_k)``; the values are
    the ``d_model`` channels split into ``n_head`` groups; softmax over the real dates, attention
    dropout 0.1 → groups concatenated (d_model) → ``mlp`` (Linear + BatchNorm1d + ReLU each) →
    Dropout → GroupNorm(n_head).

    ``forward`` also takes dense inputs ``x [B, T, F, H, W]`` (every pixel is a sequence) and then
    returns ``[B, D, H, W]`` (attention ``[n_head, B, T, H, W]``).

    Args:
        in_channels: per-date features ``F``; divisible by ``n_head``.
        n_head: attention heads (and GroupNorm groups).
        d_k: key / query dimension per head.
        d_model: width after the input projection; None = no projection (``in_channels``).
        mlp: the output MLP's widths *including its input*, ``mlp[0] == d_model``.
        dropout: dropout after the MLP.
        period: period of the positional code, in days.
    """

    def __init__(
        self,
        in_channels: int = 128,
        n_head: int = 16,
        d_k: int = 4,
        d_model: int | None = 256,
        mlp: Sequence[int] = (256, 128),
        dropout: float = 0.2,
        period: float = 1000.0,
    ) -> None:
        super().__init__()
        width = int(d_model) if d_model is not None else int(in_channels)
        if len(mlp) < 2:
            raise ValueError(f"mlp lists the input and output widths, got {tuple(mlp)}")
        if mlp[0] != width:
            raise ValueError(f"mlp[0] must equal d_model = {width}, got {mlp[0]}")
        for name, value in (("in_channels", in_channels), ("d_model", width), ("mlp[-1]", mlp[-1])):
            if value % n_head:
                raise ValueError(f"{name} = {value} must be divisible by n_head = {n_head}")
        self.in_channels = int(in_channels)
        self.n_head = int(n_head)
        self.d_k = int(d_k)
        self.d_model = width
        self.in_norm = nn.GroupNorm(n_head, in_channels)
        self.inconv = nn.Linear(in_channels, width) if d_model is not None else None
        self.positional = DayPositionalEncoding(width // n_head, period=period, repeat=n_head)
        self.query = nn.Parameter(torch.empty(n_head, d_k))
        self.fc1_k = nn.Linear(width, n_head * d_k)
        self.attention_dropout = nn.Dropout(ATTENTION_DROPOUT)
        self.mlp = mlp_bn_relu(mlp)
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.GroupNorm(n_head, mlp[-1])
        self.out_channels: int = int(mlp[-1])
        nn.init.normal_(self.query, mean=0.0, std=math.sqrt(2.0 / d_k))
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
        """Encode padded sequences, or every pixel of a dense series.

        Args:
            x: ``[B, T, F]`` per-date features, or ``[B, T, F, H, W]`` feature maps.
            dates: ``[B, T]`` acquisition days (int or float).
            pad_mask: ``[B, T]`` True on padded dates (None: no padding).
            return_attention: also return the attention, ``[n_head, B, T]`` (or
                ``[n_head, B, T, H, W]`` for dense inputs).

        Returns:
            ``[B, out_channels]`` or ``[B, out_channels, H, W]`` (and the attention).
        """
        name = "LightweightTemporalAttentionEncoder"
        if x.ndim == 3:
            pad = check_sequence_inputs(name, self.in_channels, x, dates, pad_mask)
            out, attn = self._encode(x, dates, pad)
            return (out, attn.transpose(0, 1)) if return_attention else out
        if x.ndim != 5:
            raise ValueError(f"{name} expects x [B, T, F] or [B, T, F, H, W], got {tuple(x.shape)}")
        b, t, f, h, w = x.shape
        pad = check_sequence_inputs(name, self.in_channels, x[..., 0, 0], dates, pad_mask)
        # Fold pixels into the batch: [B·H·W, T, F]; row b·H·W + j is pixel j of sample b.
        seq = x.permute(0, 3, 4, 1, 2).reshape(b * h * w, t, f)
        out, attn = self._encode(
            seq, dates.repeat_interleave(h * w, dim=0), pad.repeat_interleave(h * w, dim=0)
        )
        out = out.view(b, h, w, -1).permute(0, 3, 1, 2)
        if return_attention:
            return out, attn.view(b, h, w, self.n_head, t).permute(3, 0, 4, 1, 2)
        return out

    def _encode(self, x: Tensor, dates: Tensor, pad: Tensor) -> tuple[Tensor, Tensor]:
        """``x [N, T, F], dates [N, T], pad [N, T]`` → ``[N, D]``, attention ``[N, n_head, T]``."""
        n, t, _ = x.shape
        # Padded dates may hold anything: zero them so nothing non-finite can leak.
        x = x.masked_fill(pad.unsqueeze(-1), 0.0)
        e = masked_group_norm(x, ~pad, self.in_norm)
        if self.inconv is not None:
            e = self.inconv(e)
        e = e + self.positional(dates.masked_fill(pad, 0)).to(e.dtype)

        k = self.fc1_k(e).view(n, t, self.n_head, self.d_k)
        logits = torch.einsum("hk,nthk->nht", self.query, k) / math.sqrt(self.d_k)
        attn = masked_softmax(logits, pad.unsqueeze(1))  # [N, n_head, T]
        v = e.view(n, t, self.n_head, self.d_model // self.n_head)
        out = torch.einsum("nht,nthv->nhv", self.attention_dropout(attn), v)
        out = self.out_norm(self.dropout(self.mlp(out.reshape(n, self.d_model))))
        return out, attn


LTAE = LightweightTemporalAttentionEncoder
