"""U-TAE: U-Net with Temporal Attention Encoder (Garnot & Landrieu 2021), padding-aware.

Seed 001 (Garnot et al. 2021), Sec. 3.4 "Semantic segmentation": U-TAE is the spatio-temporal
encoder of the dense models, followed by a 2-layer conv decoder (:class:`ConvDecoder`); its
spatial and temporal encoders are intertwined, so mid fusion does not apply (Sec. 4.4). The
structure, widths and per-block parameter counts are those of ``utae-paps:src/backbones/utae.py``
(anchors-code §2.4-2.5; 1,087,260 parameters with 10 inputs and 20 classes):

* ``in_conv``: two 3×3 convs (``C → w0 → w0``) + norm + ReLU, shared over dates (43,008);
* ``down_blocks``: strided conv (k4 s2 p1) + norm + ReLU, 3×3 conv to the next width + norm +
  ReLU, plus a residual 3×3 conv + norm + ReLU (139,840 / 139,840 / 287,680);
* ``temporal_encoder``: the L-TAE (:class:`LightweightTemporalAttentionEncoder`, 83,200) on the
  lowest-resolution maps → one map and per-head attention ``[n_head, B, T, h, w]``;
* the skip connections are aggregated over time with that attention (``att_group``: head ``i``'s
  weights on channel group ``i``, masks bilinearly upsampled to the skip's resolution);
* ``up_blocks``: 1×1 conv + BN + ReLU on the skip, transposed conv (k4 s2 p1) + BN + ReLU,
  concatenation, 3×3 conv + BN + ReLU, residual 3×3 conv + BN + ReLU (246,528 / 74,208 / 57,824).

Differences from the reference (same outputs on unpadded inputs):

* The per-date encoder runs on the real (non-padded) frames only, selected with ``pad_mask``;
  there is no dummy forward on a zero batch (anchors-code §1 item 2), so BatchNorm statistics
  (``encoder_norm="batch"``) never see padding, and a frame is padding because ``pad_mask``
  says so, never because its values equal a ``pad_value``.
* Skip aggregation is computed on the real frames only (padded dates have weight exactly 0,
  never materialised), accumulated in at least float32.
* ``checkpoint_dates=True`` recomputes the per-date encoder in the backward pass (activation
  checkpointing) to fit long sequences in memory.
* The valid-pixel ``mask`` of a :class:`PaddedSeries` (clouds) is not used, as in the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from sitsfusion.data.sample import PaddedSeries
from sitsfusion.models.heads.conv import ConvDecoder
from sitsfusion.models.registry import register_model
from sitsfusion.models.temporal.ltae import LightweightTemporalAttentionEncoder

__all__ = ["UTAE", "UTAEEncoder", "UTAEFeatures"]

AggMode = Literal["att_group", "att_mean", "mean"]
EncoderNorm = Literal["group", "batch", "instance"]

# GroupNorm groups of the per-date encoder in the reference (``ConvLayer``, ``n_groups=4``).
ENCODER_GROUPS = 4


class UTAEFeatures(NamedTuple):
    """What :meth:`UTAEEncoder.forward_features` returns.

    Attributes:
        out: ``[B, decoder_widths[0], H, W]``, the full-resolution decoder map (the embedding).
        maps: the decoder maps from the lowest resolution to the full one: the L-TAE output
            ``[B, decoder_widths[-1], H / 2^(n-1), W / 2^(n-1)]``, then every up block's output
            (the last one is ``out``); the reference's ``maps`` (used by PaPs).
        attention: the L-TAE attention ``[n_head, B, T, H / 2^(n-1), W / 2^(n-1)]`` (0 on
            padded dates; before attention dropout).
    """

    out: Tensor
    maps: list[Tensor]
    attention: Tensor


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(ENCODER_GROUPS, channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":  # reference: nn.InstanceNorm2d defaults (no affine parameters)
        return nn.InstanceNorm2d(channels)
    raise ValueError(f"encoder_norm must be 'group', 'batch' or 'instance', got {kind!r}")


def _conv_norm_relu(
    c_in: int,
    c_out: int,
    norm: str,
    padding_mode: str,
    kernel: int = 3,
    stride: int = 1,
    padding: int = 1,
) -> nn.Sequential:
    """Conv2d + norm + ReLU: ``[N, c_in, H, W] -> [N, c_out, H', W']``."""
    conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, padding_mode=padding_mode)
    return nn.Sequential(conv, _norm(norm, c_out), nn.ReLU(inplace=True))


class _DownBlock(nn.Module):
    """``[N, c_in, H, W] -> [N, c_out, H / s, W / s]``: strided conv, conv, + residual conv."""

    def __init__(
        self, c_in: int, c_out: int, str_conv: Sequence[int], norm: str, padding_mode: str
    ) -> None:
        super().__init__()
        k, s, p = str_conv
        self.down = _conv_norm_relu(c_in, c_in, norm, padding_mode, k, s, p)
        self.conv1 = _conv_norm_relu(c_in, c_out, norm, padding_mode)
        self.conv2 = _conv_norm_relu(c_out, c_out, norm, padding_mode)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(self.down(x))
        return out + self.conv2(out)


class _UpBlock(nn.Module):
    """``x [B, c_in, h, w], skip [B, c_skip, h·s, w·s] -> [B, c_out, h·s, w·s]`` (BatchNorm)."""

    def __init__(
        self, c_in: int, c_out: int, c_skip: int, str_conv: Sequence[int], padding_mode: str
    ) -> None:
        super().__init__()
        k, s, p = str_conv
        self.skip_conv = _conv_norm_relu(c_skip, c_skip, "batch", padding_mode, 1, 1, 0)
        self.up = nn.Sequential(
            nn.ConvTranspose2d(c_in, c_out, k, s, p), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
        )
        self.conv1 = _conv_norm_relu(c_out + c_skip, c_out, "batch", padding_mode)
        self.conv2 = _conv_norm_relu(c_out, c_out, "batch", padding_mode)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        out = self.conv1(torch.cat([self.up(x), self.skip_conv(skip)], dim=1))
        return out + self.conv2(out)


class _NoStatsUpdate:
    """Run a module with its BatchNorm running statistics restored afterwards (recomputation)."""

    def __init__(self, module: nn.Module) -> None:
        self.bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.saved: list[list[Tensor | None]] = []

    def __enter__(self) -> None:
        self.saved = [
            [
                None if b is None else b.clone()
                for b in (m.running_mean, m.running_var, m.num_batches_tracked)
            ]
            for m in self.bns
        ]

    def __exit__(self, *exc: object) -> None:
        for m, bufs in zip(self.bns, self.saved, strict=True):
            for b, v in zip(
                (m.running_mean, m.running_var, m.num_batches_tracked), bufs, strict=True
            ):
                if b is not None and v is not None:
                    b.copy_(v)


def _checkpointed(
    fn: Callable[[Tensor], list[Tensor]], modules: Sequence[nn.Module]
) -> Callable[[Tensor], list[Tensor]]:
    """``fn`` under non-reentrant activation checkpointing; the recomputation in the backward
    pass does not update the BatchNorm running statistics of ``modules`` a second time."""
    calls = [0]
    guard = _NoStatsUpdate(nn.ModuleList(modules))
    training = any(m.training for m in modules)

    def run(x: Tensor) -> list[Tensor]:
        calls[0] += 1
        if calls[0] == 1 or not guard.bns or not training:
            return fn(x)
        with guard:
            return fn(x)

    return lambda x: checkpoint(run, x, use_reentrant=False)


@register_model("spatiotemporal", "utae")
class UTAEEncoder(nn.Module):
    """U-TAE as a spatio-temporal encoder: ``PaddedSeries -> [B, decoder_widths[0], H, W]``.

    ``series.values [B, T, C, H, W]``, ``series.dates [B, T]`` (days), ``series.pad_mask
    [B, T]`` (True = padding). ``H`` and ``W`` must be divisible by ``s^(n-1)`` (``s`` the
    stride of ``str_conv``, ``n = len(encoder_widths)``; 8 with the defaults).

    A sample whose dates are all padding gets finite features (no NaN): zero skips, the L-TAE
    output of an empty sequence; its prediction is meaningless but does not poison the batch.

    Args:
        in_channels: ``C``.
        encoder_widths: per-date encoder widths, one per resolution (``n`` stages).
        decoder_widths: decoder widths; ``decoder_widths[-1] == encoder_widths[-1]``.
        str_conv: ``(kernel, stride, padding)`` of the strided down convs and transposed up
            convs; ``kernel - 2·padding == stride`` (exact halving / doubling).
        agg_mode: skip aggregation over time: ``"att_group"`` (head ``i``'s attention weighs
            channel group ``i``), ``"att_mean"`` (head-averaged attention for all channels),
            ``"mean"`` (mean over the real dates).
        encoder_norm: norm of the per-date encoder: ``"group"`` (GroupNorm, 4 groups),
            ``"batch"``, ``"instance"`` (no affine parameters, as the reference). The decoder
            always uses BatchNorm.
        n_head, d_model, d_k: the L-TAE's (``mlp = (d_model, encoder_widths[-1])``).
        padding_mode: spatial padding of the encoder / decoder convs (transposed convs pad
            with zeros, as in PyTorch).
        checkpoint_dates: run the per-date encoder stages under activation checkpointing
            (``torch.utils.checkpoint``, non-reentrant): same outputs and gradients, less memory
            (the intermediate activations of every date are recomputed in the backward pass).
        checkpoint_chunk: with ``checkpoint_dates``, the frames go through the per-date
            encoder (and are recomputed) ``checkpoint_chunk`` at a time, which bounds the
            recomputation's peak memory. Ignored with ``encoder_norm="batch"`` (BatchNorm
            statistics need all frames at once: one chunk).
        channels_last: run the per-date encoder on channels-last (NHWC) tensors — about 1.8×
            faster convolutions on CPU (oneDNN) and the layout of tensor cores on CUDA; the
            parameters are unchanged, the outputs equal up to float round-off.
    """

    def __init__(
        self,
        in_channels: int,
        encoder_widths: Sequence[int] = (64, 64, 64, 128),
        decoder_widths: Sequence[int] = (32, 32, 64, 128),
        str_conv: Sequence[int] = (4, 2, 1),
        agg_mode: AggMode = "att_group",
        encoder_norm: EncoderNorm = "group",
        n_head: int = 16,
        d_model: int = 256,
        d_k: int = 4,
        padding_mode: str = "reflect",
        checkpoint_dates: bool = False,
        checkpoint_chunk: int = 16,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if checkpoint_chunk < 1:
            raise ValueError(f"checkpoint_chunk must be >= 1, got {checkpoint_chunk}")
        enc, dec = [int(w) for w in encoder_widths], [int(w) for w in decoder_widths]
        if len(enc) < 2 or len(enc) != len(dec):
            raise ValueError(
                f"encoder_widths and decoder_widths need the same length >= 2, got {enc}, {dec}"
            )
        if dec[-1] != enc[-1]:
            raise ValueError(f"decoder_widths[-1] must equal encoder_widths[-1], got {dec}, {enc}")
        if len(str_conv) != 3 or str_conv[0] - 2 * str_conv[2] != str_conv[1] or str_conv[1] < 1:
            raise ValueError(
                f"str_conv = (kernel, stride, padding) needs kernel - 2*padding == stride >= 1 "
                f"so that every stage exactly halves / doubles H, W; got {tuple(str_conv)}"
            )
        if agg_mode not in ("att_group", "att_mean", "mean"):
            raise ValueError(
                f"agg_mode must be 'att_group', 'att_mean' or 'mean', got {agg_mode!r}"
            )
        if agg_mode == "att_group":
            bad = [w for w in enc[:-1] if w % n_head]
            if bad:
                raise ValueError(
                    f"agg_mode='att_group' splits skip channels into n_head={n_head} groups: "
                    f"encoder_widths[:-1] = {enc[:-1]} must be divisible by it"
                )
        _norm(encoder_norm, 4)  # validates the name
        self.in_channels = int(in_channels)
        self.encoder_widths, self.decoder_widths = tuple(enc), tuple(dec)
        self.str_conv = tuple(int(v) for v in str_conv)
        self.agg_mode: AggMode = agg_mode
        self.n_head = int(n_head)
        self.checkpoint_dates = bool(checkpoint_dates)
        self.checkpoint_chunk = int(checkpoint_chunk)
        self.encoder_norm = encoder_norm
        self.channels_last = bool(channels_last)
        self.out_channels: int = dec[0]
        # Inference only (eval mode): frames per chunk of the per-date encoder, None = all at
        # once; set by sitsfusion.inference.precision (cache-sized chunks run ~2x faster).
        self.frame_chunk: int | None = None

        self.in_conv = nn.Sequential(
            _conv_norm_relu(in_channels, enc[0], encoder_norm, padding_mode),
            _conv_norm_relu(enc[0], enc[0], encoder_norm, padding_mode),
        )
        self.down_blocks = nn.ModuleList(
            _DownBlock(a, b, self.str_conv, encoder_norm, padding_mode) for a, b in pairwise(enc)
        )
        self.temporal_encoder = LightweightTemporalAttentionEncoder(
            in_channels=enc[-1], n_head=n_head, d_k=d_k, d_model=d_model, mlp=(d_model, enc[-1])
        )
        self.up_blocks = nn.ModuleList(
            _UpBlock(dec[i], dec[i - 1], enc[i - 1], self.str_conv, padding_mode)
            for i in range(len(dec) - 1, 0, -1)
        )

    @property
    def divisor(self) -> int:
        """``H`` and ``W`` must be multiples of this (``stride^(stages - 1)``)."""
        return self.str_conv[1] ** (len(self.encoder_widths) - 1)

    def _stages(self) -> list[nn.Module]:
        return [self.in_conv, *self.down_blocks]

    def _encode_frames(self, x: Tensor) -> list[Tensor]:
        """Per-date encoder: frames ``[n, C, H, W]`` → one map per stage, ``[n, w_i, H/2^i,
        W/2^i]``."""
        maps: list[Tensor] = []
        for stage in self._stages():
            x = stage(x)
            maps.append(x)
        return maps

    def _check(self, series: PaddedSeries) -> None:
        v = series.values
        if v.ndim != 5:
            raise ValueError(
                f"UTAEEncoder expects values [B, T, C, H, W], got shape {tuple(v.shape)}"
            )
        b, t, c, h, w = v.shape
        if c != self.in_channels:
            raise ValueError(f"UTAEEncoder expects C = {self.in_channels} channels, got {c}")
        if h % self.divisor or w % self.divisor:
            raise ValueError(
                f"UTAEEncoder with {len(self.encoder_widths)} stages of stride "
                f"{self.str_conv[1]} needs H and W divisible by {self.divisor}, got "
                f"H×W = {h}×{w}; crop or pad the patches"
            )
        for name, m in (("dates", series.dates), ("pad_mask", series.pad_mask)):
            if tuple(m.shape) != (b, t):
                raise ValueError(
                    f"UTAEEncoder: {name} must be [B, T] = {(b, t)}, got {tuple(m.shape)}"
                )

    def _aggregate(self, x: Tensor, segments: Tensor, attn_real: Tensor | None) -> Tensor:
        """Weighted temporal sum of one skip, on the real frames only.

        ``x [N, Cs, Hs, Ws]`` (the real frames), ``segments [B, N]`` (row ``b``: the weight of
        each frame in sample ``b``'s sum — 1, or 1 / T_b for ``"mean"``; 0 for other samples'
        frames), ``attn_real [N, n_head, h, w]`` → ``[B, Cs, Hs, Ws]``. The sum over frames is a
        matrix product (accumulated in float32 by the BLAS even in bfloat16).
        """
        n, c, hs, ws = x.shape
        if self.agg_mode != "mean" and attn_real is not None:
            a = attn_real.mean(dim=1, keepdim=True) if self.agg_mode == "att_mean" else attn_real
            h = a.shape[-2]
            if hs > h:
                a = F.interpolate(a, size=(hs, ws), mode="bilinear", align_corners=False)
            elif hs < h:
                a = F.avg_pool2d(a, kernel_size=h // hs)
            # [N, Hs, Ws, g] -> every channel of its group (head i: channels i·Cs/g ...): a plain
            # elementwise product, several times faster on CPU than a broadcast over Cs/g.
            a = a.to(x.dtype).permute(0, 2, 3, 1).repeat_interleave(c // a.shape[1], dim=-1)
            prod = x.permute(0, 2, 3, 1) * a  # [N, Hs, Ws, Cs]
        else:
            prod = x.permute(0, 2, 3, 1)
        # Channels-last rows [N, Hs·Ws·Cs]: no copy when ``x`` is channels-last already.
        rows = prod.reshape(n, hs * ws * c)
        out = torch.mm(segments.to(rows.dtype), rows)
        return out.view(-1, hs, ws, c).permute(0, 3, 1, 2)

    def forward_features(self, series: PaddedSeries) -> UTAEFeatures:
        """Encode a batch: the full-resolution map, the decoder maps and the L-TAE attention.

        Args:
            series: ``values [B, T, C, H, W]``, ``dates [B, T]``, ``pad_mask [B, T]``.

        Returns:
            :class:`UTAEFeatures` (``out [B, decoder_widths[0], H, W]``).
        """
        self._check(series)
        values, pad = series.values, series.pad_mask.to(torch.bool)
        b, t = pad.shape
        real = ~pad.reshape(-1)
        idx = real.nonzero().squeeze(1)  # sample-major order: frames of sample 0, then 1, ...
        # [B, N] sample membership of the real frames (mean mode: weight 1 / T_b).
        segments = (idx // t).unsqueeze(0) == torch.arange(b, device=idx.device).unsqueeze(1)
        segments = segments.to(torch.float32)
        if self.agg_mode == "mean":
            segments = segments / segments.sum(dim=1, keepdim=True).clamp_min(1.0)
        # Per-date shared encoder on the real frames only: [N, C, H, W] -> feature pyramid.
        x = values.reshape(b * t, *values.shape[2:]).index_select(0, idx)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        use_ckpt = self.checkpoint_dates and torch.is_grad_enabled()
        n = int(idx.numel())
        if use_ckpt and self.encoder_norm != "batch":
            chunk = self.checkpoint_chunk
        elif self.frame_chunk is not None and not self.training:
            chunk = self.frame_chunk  # eval: every norm is per frame, chunks change nothing
        else:
            chunk = n
        encode = _checkpointed(self._encode_frames, self._stages()) if use_ckpt else None
        pieces: list[tuple[int, list[Tensor]]] = []  # (first frame, maps of every stage)
        for start in range(0, n, max(chunk, 1)):
            xc = x[start : start + chunk]
            pieces.append((start, encode(xc) if encode is not None else self._encode_frames(xc)))
        if n == 0:  # no real frame in the batch: empty maps of the known shapes, no conv
            hw = values.shape[-2:]
            s = self.str_conv[1]
            empty = [
                values.new_zeros(0, w, hw[0] // s**i, hw[1] // s**i)
                for i, w in enumerate(self.encoder_widths)
            ]
            pieces.append((0, empty))
        # L-TAE on the lowest resolution, padded frames scattered back as zeros.
        low = torch.cat([fm[-1] for _, fm in pieces])
        dense = low.new_zeros(b * t, *low.shape[1:]).index_copy(0, idx, low)
        out, attn = self.temporal_encoder(
            dense.view(b, t, *low.shape[1:]), series.dates, pad, return_attention=True
        )
        attn_real = attn.permute(1, 2, 0, 3, 4).reshape(b * t, *attn.shape[:1], *attn.shape[3:])
        attn_real = attn_real.index_select(0, idx)  # [N, n_head, h, w]
        if self.channels_last:  # the skips' layout: ~1.5x faster upsampling and weighting
            attn_real = attn_real.contiguous(memory_format=torch.channels_last)
        maps = [out]
        for level, up in zip(range(len(self.up_blocks) - 1, -1, -1), self.up_blocks, strict=True):
            skip: Tensor | None = None
            for start, fm in pieces:  # sum of the chunks' partial temporal sums
                stop = start + fm[level].shape[0]
                part = self._aggregate(fm[level], segments[:, start:stop], attn_real[start:stop])
                skip = part if skip is None else skip + part
            assert skip is not None
            out = up(out, skip)
            maps.append(out)
        return UTAEFeatures(out, maps, attn)

    def forward(self, series: PaddedSeries) -> Tensor:
        """``series`` (``values [B, T, C, H, W]``) → ``[B, decoder_widths[0], H, W]``."""
        return self.forward_features(series).out


class UTAE(nn.Module):
    """U-TAE semantic segmentation model: ``PaddedSeries -> [B, num_classes, H, W]`` logits.

    :class:`UTAEEncoder` followed by ``ConvDecoder(decoder_widths[0], out_widths,
    num_classes)``. With ``in_channels=10, num_classes=20`` and ``legacy_logit_norm=True`` the
    model has exactly the reference's 1,087,260 parameters (1,083,228 with 3 inputs); with the
    default ``legacy_logit_norm=False`` (plain logits) 40 fewer (1,087,220 / 1,083,188).

    Args:
        in_channels: ``C``.
        num_classes: ``K``.
        out_widths: hidden widths of the decoder (the reference ``out_conv`` minus ``K``).
        legacy_logit_norm: BatchNorm + ReLU after the class conv, as the reference.
        encoder_widths, decoder_widths, str_conv, agg_mode, encoder_norm, n_head, d_model,
            d_k, padding_mode, checkpoint_dates, checkpoint_chunk, channels_last: see
            :class:`UTAEEncoder`.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int = 20,
        out_widths: Sequence[int] = (32,),
        legacy_logit_norm: bool = False,
        encoder_widths: Sequence[int] = (64, 64, 64, 128),
        decoder_widths: Sequence[int] = (32, 32, 64, 128),
        str_conv: Sequence[int] = (4, 2, 1),
        agg_mode: AggMode = "att_group",
        encoder_norm: EncoderNorm = "group",
        n_head: int = 16,
        d_model: int = 256,
        d_k: int = 4,
        padding_mode: str = "reflect",
        checkpoint_dates: bool = False,
        checkpoint_chunk: int = 16,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = UTAEEncoder(
            in_channels,
            encoder_widths=encoder_widths,
            decoder_widths=decoder_widths,
            str_conv=str_conv,
            agg_mode=agg_mode,
            encoder_norm=encoder_norm,
            n_head=n_head,
            d_model=d_model,
            d_k=d_k,
            padding_mode=padding_mode,
            checkpoint_dates=checkpoint_dates,
            checkpoint_chunk=checkpoint_chunk,
            channels_last=channels_last,
        )
        self.decoder = ConvDecoder(
            self.encoder.out_channels,
            out_widths,
            num_classes,
            legacy_logit_norm=legacy_logit_norm,
            padding_mode=padding_mode,
        )
        self.num_classes = int(num_classes)
        self.out_channels: int = int(num_classes)

    def forward(self, series: PaddedSeries) -> Tensor:
        """``series`` (``values [B, T, C, H, W]``) → logits ``[B, K, H, W]``."""
        return self.decoder(self.encoder(series))
