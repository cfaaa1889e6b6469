"""Pixel-Set Encoder (PSE): a per-date embedding of a parcel from an unordered set of its pixels.

Seed 000, Sec. 4.1 ("pixel set encoder", Garnot et al. 2020): a shared MLP on every pixel, a
masked statistical pooling over the pixels (mean and standard deviation), optional geometric
features, a second MLP. Layer shapes follow Table 2 (19,168 parameters for 2 channels).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from sitsfusion.models.registry import register_model

__all__ = ["PixelSetEncoder"]

_POOLINGS = ("mean", "std", "max", "min")
# Added under the square root of the standard deviation (the reference's guard against sqrt(0)).
_STD_EPS = 1e-31
# Pixels per chunk of the per-pixel MLP (eval mode) and of the std pass: ~4 MB per temporary.
_CHUNK_PIXELS = 1 << 14


def _linear_bn(in_features: int, out_features: int, relu: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(in_features, out_features), nn.BatchNorm1d(out_features)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class _MaskedMeanStd(torch.autograd.Function):
    """Masked mean and std over pixels with a fused backward: ``h [N, S, F], m [N, S]``.

    ``mean = Σ m·h / n``, ``std = sqrt(Σ m·(h - mean)² / max(n - 1, 1) + 1e-31)`` (reference
    §2.1 convention, ``n = Σ m``; ``mean = 0`` for ``n = 0``). Autograd through the plain ops
    stores two ``[N, S, F]`` temporaries and runs half a dozen passes over them; the gradient is
    ``m · (g_mean / n + g_std · (h - mean) / (max(n - 1, 1) · std))`` (the term through the mean
    vanishes since ``Σ m·(h - mean) = 0``): one new tensor, updated in place.
    """

    @staticmethod
    def forward(ctx: Any, h: Tensor, m: Tensor, overwrite: bool = False) -> tuple[Tensor, Tensor]:
        count = m.sum(dim=1, keepdim=True)
        wm = m.unsqueeze(1)  # [N, 1, S]: weighted sums as batched matmuls, no [N, S, F] product
        mean = torch.bmm(wm, h).squeeze(1) / count.clamp_min(1.0)
        if ctx.needs_input_grad[0] or not overwrite:
            # Squared deviations by chunks of a few MB (h is kept for the backward).
            step = max(1, _CHUNK_PIXELS // max(1, h.shape[1]))
            ssq = torch.cat(
                [
                    torch.bmm(
                        wm[i : i + step], (h[i : i + step] - mean[i : i + step, None]).square_()
                    )
                    for i in range(0, h.shape[0], step)
                ]
            )
        else:
            # No gradient and the caller's h is a dead temporary: reuse its memory.
            ssq = torch.bmm(wm, h.sub_(mean.unsqueeze(1)).square_())
        var = ssq.squeeze(1) / (count - 1.0).clamp_min(1.0)
        std = torch.sqrt(var + max(_STD_EPS, torch.finfo(var.dtype).tiny))
        ctx.save_for_backward(h, m, mean, std, count)
        return mean, std

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_mean: Tensor, g_std: Tensor) -> tuple[Tensor | None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        h, m, mean, std, count = ctx.saved_tensors
        a = g_mean / count.clamp_min(1.0)
        b = g_std / ((count - 1.0).clamp_min(1.0) * std)
        # m · (a + b · (h - mean)), in this order: b is huge when std ~ 0 (identical pixels),
        # where expanding the product would cancel catastrophically.
        grad = (h - mean.unsqueeze(1)).mul_(b.unsqueeze(1)).add_(a.unsqueeze(1))
        return grad.mul_(m.unsqueeze(-1)), None, None


@register_model("spatial", "pse")
class PixelSetEncoder(nn.Module):
    """PSE: ``x [B, T, C, S], valid [B, T, S] | None -> [B, T, F]`` with ``F = mlp2[-1]``.

    Every (sample, date) is one pixel set; all ``B·T`` sets are processed together, so the
    BatchNorm statistics of ``mlp1`` are taken over all ``B·T·S`` pixels and those of ``mlp2``
    over all ``B·T`` sets (as in the reference code).

    Args:
        in_channels: number of bands ``C``.
        mlp1: output widths of the per-pixel MLP (Linear + BatchNorm1d + ReLU each).
        pooling: any of ``"mean"``, ``"std"``, ``"max"``, ``"min"``, all masked by ``valid``;
            their outputs are concatenated in this order. ``std`` is the unbiased one, with
            ``n - 1`` replaced by 1 for single-pixel sets (reference convention).
        mlp2: output widths of the set MLP (Linear + BatchNorm1d, ReLU between layers but not
            after the last one).
        extra_features: size ``E`` of extra (geometric) features concatenated after pooling.
    """

    def __init__(
        self,
        in_channels: int,
        mlp1: Sequence[int] = (32, 64),
        pooling: Sequence[str] = ("mean", "std"),
        mlp2: Sequence[int] = (128,),
        extra_features: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(pooling, str):
            pooling = pooling.replace("_", " ").split()
        unknown = [p for p in pooling if p not in _POOLINGS]
        if unknown or not pooling:
            raise ValueError(f"pooling must be a non-empty subset of {_POOLINGS}, got {pooling}")
        if not mlp1 or not mlp2:
            raise ValueError("mlp1 and mlp2 need at least one layer each")
        if extra_features < 0:
            raise ValueError(f"extra_features must be >= 0, got {extra_features}")
        self.in_channels = int(in_channels)
        self.pooling = tuple(pooling)
        self.extra_features = int(extra_features)

        widths1 = [self.in_channels, *mlp1]
        layers1: list[nn.Module] = []
        for a, b in pairwise(widths1):
            layers1 += _linear_bn(a, b, relu=True)
        self.mlp1 = nn.Sequential(*layers1)
        widths2 = [widths1[-1] * len(self.pooling) + self.extra_features, *mlp2]
        layers2: list[nn.Module] = []
        for i, (a, b) in enumerate(pairwise(widths2)):
            layers2 += _linear_bn(a, b, relu=i < len(mlp2) - 1)
        self.mlp2 = nn.Sequential(*layers2)
        self.out_channels: int = int(widths2[-1])

    def forward(
        self, x: Tensor, valid: Tensor | None = None, extra: Tensor | None = None
    ) -> Tensor:
        """Encode every date's pixel set.

        Args:
            x: ``[B, T, C, S]`` pixel values.
            valid: ``[B, T, S]`` (or ``[B, S]``, shared by all dates) bool/0-1 mask of real
                pixels; None = all pixels are real. A date without any valid pixel (padding)
                pools to zeros.
            extra: ``[B, E]`` or ``[B, T, E]`` extra features, required iff ``extra_features``.

        Returns:
            ``[B, T, out_channels]``.
        """
        if x.ndim != 4:
            raise ValueError(f"PixelSetEncoder expects x [B, T, C, S], got shape {tuple(x.shape)}")
        b, t, c, s = x.shape
        if c != self.in_channels:
            raise ValueError(
                f"PixelSetEncoder expects {self.in_channels} channels (x [B, T, C, S]), "
                f"got C={c} (shape {tuple(x.shape)})"
            )
        m = self._valid_weights(valid, b, t, s, x)
        x = x.reshape(b * t, c, s)
        if m is not None:
            # Invalid pixels may hold anything (NaN included): zero them so they stay finite.
            x = x.masked_fill((m == 0).unsqueeze(1), 0.0)
        pixels = x.transpose(1, 2)  # [B·T, S, C]: channels last, one matmul per layer
        if any(bn.training for bn in self.mlp1 if isinstance(bn, nn.BatchNorm1d)):
            # Train-mode BatchNorm needs the statistics of all B·T·S pixels at once.
            h = self._apply_mlp1(pixels.reshape(b * t * s, c)).view(b * t, s, -1)
            feats = self._pool(h, m)
        else:
            # Rows are independent: go by chunks that stay in cache (and allocator-friendly).
            step = max(1, _CHUNK_PIXELS // s)
            parts = []
            for i in range(0, b * t, step):
                chunk = pixels[i : i + step]
                h = self._apply_mlp1(chunk.reshape(-1, c)).view(chunk.shape[0], s, -1)
                parts.append(self._pool(h, None if m is None else m[i : i + step]))
            feats = [torch.cat(stat, dim=0) for stat in zip(*parts, strict=True)]
        if self.extra_features:
            if extra is None:
                raise ValueError(
                    f"PixelSetEncoder built with extra_features={self.extra_features} "
                    "needs `extra` [B, E] or [B, T, E]"
                )
            if extra.ndim == 2:
                extra = extra.unsqueeze(1).expand(b, t, extra.shape[-1])
            if extra.shape != (b, t, self.extra_features):
                raise ValueError(
                    f"extra must be [B, E] or [B, T, E] with B={b}, T={t}, "
                    f"E={self.extra_features}, got {tuple(extra.shape)}"
                )
            feats.append(extra.reshape(b * t, -1).to(h.dtype))
        elif extra is not None:
            raise ValueError("extra features given but the PSE was built with extra_features=0")
        out = self.mlp2(torch.cat(feats, dim=1))
        return out.view(b, t, -1)

    @staticmethod
    def _valid_weights(valid: Tensor | None, b: int, t: int, s: int, x: Tensor) -> Tensor | None:
        """The valid mask as ``[B·T, S]`` 0/1 weights in ``x``'s dtype (None: all valid)."""
        if valid is None:
            return None
        if valid.ndim == 2:
            valid = valid.unsqueeze(1).expand(b, t, s)
        if valid.shape != (b, t, s):
            raise ValueError(
                f"valid must be [B, T, S] = {(b, t, s)} (or [B, S]), got {tuple(valid.shape)}"
            )
        return (valid.reshape(b * t, s) != 0).to(x.dtype)

    def _apply_mlp1(self, x: Tensor) -> Tensor:
        """Per-pixel MLP on rows ``[P, C] -> [P, F]``.

        With BatchNorm in eval mode, it is folded into the preceding Linear (one matmul, no
        extra ``[P, F]`` pass): the main cost of the PSE is these ``B·T·S`` rows.
        """
        h = x
        layers = list(self.mlp1)
        for i in range(0, len(layers), 3):
            linear, bn = layers[i], layers[i + 1]
            assert isinstance(linear, nn.Linear) and isinstance(bn, nn.BatchNorm1d)
            if bn.training or bn.running_mean is None or bn.running_var is None:
                # addmm with a contiguous W^T: autograd then gets dW as h^T @ g, several times
                # faster than F.linear's g^T @ h for these tall, narrow matrices.
                weight_t = linear.weight.t().contiguous()
                h = (
                    torch.mm(h, weight_t)
                    if linear.bias is None
                    else torch.addmm(linear.bias, h, weight_t)
                )
                h = bn(h)
            else:
                scale = torch.rsqrt(bn.running_var + bn.eps)
                shift = -bn.running_mean * scale
                if bn.affine:
                    scale = scale * bn.weight
                    shift = shift * bn.weight + bn.bias
                bias = shift if linear.bias is None else linear.bias * scale + shift
                h = nn.functional.linear(h, linear.weight * scale.unsqueeze(1), bias)
            h = torch.relu_(h)
        return h

    def _pool(self, h: Tensor, m: Tensor | None) -> list[Tensor]:
        """Masked statistics over pixels: ``h [N, S, F], m [N, S] | None`` → list of ``[N, F]``.

        ``h`` is this module's own temporary: without autograd, ``std`` overwrites it (computed
        last, so the other statistics see the original values).
        """
        stats: dict[str, Tensor] = {}
        for name in ("max", "min"):
            if name in self.pooling:
                stats[name] = self._extremum(h, m, name)
        weights = h.new_ones(h.shape[:2]) if m is None else m
        if "std" in self.pooling:
            stats["mean"], stats["std"] = _MaskedMeanStd.apply(h, weights, True)
        else:
            count = weights.sum(dim=1, keepdim=True).clamp_min(1.0)
            stats["mean"] = torch.bmm(weights.unsqueeze(1), h).squeeze(1) / count
        return [stats[name] for name in self.pooling]

    @staticmethod
    def _extremum(h: Tensor, m: Tensor | None, name: str) -> Tensor:
        """Masked max or min over pixels; 0 for a set without valid pixel."""
        reduce = torch.amax if name == "max" else torch.amin
        if m is None:
            return reduce(h, dim=1)
        invalid = (m == 0).unsqueeze(-1)
        fill = torch.finfo(h.dtype).min if name == "max" else torch.finfo(h.dtype).max
        value = reduce(h.masked_fill(invalid, fill), dim=1)
        return torch.where(m.sum(dim=1, keepdim=True) > 0, value, torch.zeros_like(value))
