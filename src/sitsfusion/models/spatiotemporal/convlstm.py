"""Convolutional LSTM over a padded image time series, and a small ConvLSTM segmenter.

ConvLSTM (Shi et al. 2015, as written in seed 003 Sec. 3.1 eq. 3, without the peephole terms
``W_c ⊙ C``, like Keras' ``ConvLSTM2D`` the seed used): the four gates are one convolution of
the concatenated input and previous hidden state. Seed 003 uses one layer, a 3×3 kernel and 32
filters per sensor and keeps the last state (Fig. 5-6); seed 004 Sec. VI-A segments monthly
medians with a ConvLSTM encoder-decoder.

Padding (``PaddedSeries.pad_mask`` True) never changes the state: at a padded date the update
is ``h, c = where(pad, h_prev, h_new)``, so the returned state is the one after the last
*real* date of every sample. (utae-paps' ConvLSTM returns the state after the padded zero
frames, reference §2.5; S4A's PAD ConvLSTM leaves 83 % of its parameters without gradient,
reference §2.8 - neither is reproduced here.)

:class:`StackedConvRNN` holds the masked, optionally bidirectional recurrence shared with
:mod:`~sitsfusion.models.spatiotemporal.convstar`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from sitsfusion.data.sample import PaddedSeries
from sitsfusion.models.registry import register_model

__all__ = ["ConvLSTM", "ConvLSTMCell", "ConvLSTMSegmenter", "PerDateCNN", "StackedConvRNN"]

State = tuple[Tensor, ...]


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step: ``x [B, C, H, W], (h, c) [B, hidden, H, W] -> (h', c')``.

    Gates ``i, f, o, g = conv_k([x, h])`` (one conv, ``4·hidden`` outputs, same padding);
    ``c' = σ(f)·c + σ(i)·tanh(g)``, ``h' = σ(o)·tanh(c')`` (seed 003 Sec. 3.1, eq. 3, no
    peepholes). Parameters: ``4·hidden·(C + hidden)·k² + 4·hidden``. The forget-gate bias starts
    at 1 (a common LSTM initialisation) so that early training keeps the memory.
    """

    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(
                f"ConvLSTMCell: kernel_size must be odd (same padding), got {kernel_size}"
            )
        self.in_channels = int(in_channels)
        self.hidden = int(hidden)
        self.gates = nn.Conv2d(
            in_channels + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2
        )
        with torch.no_grad():
            self.gates.bias.zero_()
            self.gates.bias[hidden : 2 * hidden].fill_(1.0)

    def init_state(self, x: Tensor) -> State:
        """Zero ``(h, c)`` ``[B, hidden, H, W]`` on ``x``'s device and dtype."""
        h = x.new_zeros((x.shape[0], self.hidden, *x.shape[2:]))
        return h, torch.zeros_like(h)

    def forward(self, x: Tensor, state: State) -> State:
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class StackedConvRNN(nn.Module):
    """Stacked (optionally bidirectional) convolutional RNN over a :class:`PaddedSeries`.

    ``forward(series)``: ``values [B, T, C, H, W]`` -> the last layer's hidden state after the
    last real date ``[B, out_channels, H, W]`` (forward and backward states concatenated when
    bidirectional; the backward direction's "last" date is the first real one). Padded dates
    (``pad_mask`` True, anywhere in the sequence) leave every state unchanged and their values
    are zeroed before entering the cells, so garbage or NaN there cannot leak. Layer ``l > 0``
    reads layer ``l - 1``'s hidden states at every date. The valid-pixel ``mask`` (clouds) is
    not used.

    Args:
        make_cell: ``make_cell(in_channels) -> cell``; a cell has ``hidden``,
            ``init_state(x) -> state`` (a tuple whose first item is ``h``) and
            ``forward(x, state) -> state``.
        in_channels: C.
        hidden: width of every cell's hidden state.
        layers: number of stacked cells per direction.
        bidirectional: add a backward pass over time.
    """

    def __init__(
        self,
        make_cell: Callable[[int], nn.Module],
        in_channels: int,
        hidden: int,
        layers: int = 1,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"{type(self).__name__}: layers must be >= 1, got {layers}")
        self.in_channels = int(in_channels)
        self.hidden = int(hidden)
        self.layers = int(layers)
        self.bidirectional = bool(bidirectional)
        directions = 2 if bidirectional else 1
        self.forward_cells = nn.ModuleList(
            [make_cell(in_channels if i == 0 else hidden * directions) for i in range(layers)]
        )
        self.backward_cells = (
            nn.ModuleList(
                [make_cell(in_channels if i == 0 else hidden * directions) for i in range(layers)]
            )
            if bidirectional
            else None
        )
        self.out_channels: int = hidden * directions

    @staticmethod
    def _run(
        cell: nn.Module, xs: Sequence[Tensor], pad_mask: Tensor, reverse: bool
    ) -> list[Tensor]:
        """Hidden states ``[B, hidden, H, W]`` at every date (carried over padded dates)."""
        state: State = cell.init_state(xs[0])
        outputs: list[Tensor] = [xs[0]] * len(xs)
        order = range(len(xs) - 1, -1, -1) if reverse else range(len(xs))
        for t in order:
            new = cell(xs[t], state)
            keep = pad_mask[:, t].view(-1, 1, 1, 1)
            state = tuple(torch.where(keep, old, upd) for old, upd in zip(state, new, strict=True))
            outputs[t] = state[0]
        return outputs

    def forward(self, series: PaddedSeries) -> Tensor:
        x, pad_mask = series.values, series.pad_mask
        if x.ndim != 5:
            raise ValueError(
                f"{type(self).__name__} takes patches [B, T, C, H, W], got {tuple(x.shape)}"
            )
        if x.shape[2] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects {self.in_channels} channels, got {x.shape[2]}"
            )
        pad_mask = pad_mask.to(device=x.device, dtype=torch.bool)
        x = x.masked_fill(pad_mask.view(*pad_mask.shape, 1, 1, 1), 0.0)
        xs = list(x.unbind(dim=1))
        fwd: list[Tensor] = []
        bwd: list[Tensor] = []
        for layer in range(self.layers):
            fwd = self._run(self.forward_cells[layer], xs, pad_mask, reverse=False)
            if self.backward_cells is None:
                xs = fwd
                continue
            bwd = self._run(self.backward_cells[layer], xs, pad_mask, reverse=True)
            xs = [torch.cat(pair, dim=1) for pair in zip(fwd, bwd, strict=True)]
        # The carried state at the last date is the state after the last real date; the
        # backward direction ends at date 0, after the first real date.
        if self.backward_cells is None:
            return fwd[-1]
        return torch.cat([fwd[-1], bwd[0]], dim=1)


@register_model("spatiotemporal", "convlstm")
class ConvLSTM(StackedConvRNN):
    """ConvLSTM SpatioTemporalEncoder: ``PaddedSeries [B, T, C, H, W] -> h [B, D, H, W]``.

    ``D = out_channels = hidden`` (``2·hidden`` if bidirectional): the last layer's hidden state
    after each sample's last real date (seed 003 Sec. 3.1: one layer, k = 3, 32 filters).
    """

    def __init__(
        self,
        in_channels: int,
        hidden: int = 32,
        kernel_size: int = 3,
        layers: int = 1,
        bidirectional: bool = False,
    ) -> None:
        super().__init__(
            lambda c: ConvLSTMCell(c, hidden, kernel_size),
            in_channels,
            hidden,
            layers=layers,
            bidirectional=bidirectional,
        )


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> list[nn.Module]:
    # No conv bias: the BatchNorm shift replaces it (a bias there would get zero gradient).
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class PerDateCNN(nn.Module):
    """3×3 conv + BN + ReLU blocks applied to every **real** date: ``[B, T, C, H, W] -> [B, T, F,
    H, W]``.

    Only the unpadded frames go through the convolutions (padded frames stay zero and never
    enter the BatchNorm statistics). ``F = out_channels = widths[-1]``.
    """

    def __init__(self, in_channels: int, widths: Sequence[int] = (32,)) -> None:
        super().__init__()
        if len(widths) == 0:
            raise ValueError("PerDateCNN: widths must not be empty")
        layers: list[nn.Module] = []
        for c_in, c_out in zip((in_channels, *widths[:-1]), widths, strict=True):
            layers += _conv_bn_relu(c_in, c_out)
        self.net = nn.Sequential(*layers)
        self.in_channels = int(in_channels)
        self.out_channels: int = int(widths[-1])

    def forward(self, x: Tensor, pad_mask: Tensor) -> Tensor:
        b, t, _, h, w = x.shape
        real = ~pad_mask.to(device=x.device, dtype=torch.bool)
        features = self.net(x[real])
        out = features.new_zeros((b, t, self.out_channels, h, w))
        out[real] = features
        return out


class _ConvLSTMEncoder(nn.Module):
    """Per-date CNN then ConvLSTM: ``PaddedSeries -> [B, hidden, H, W]`` (a
    SpatioTemporalEncoder)."""

    def __init__(
        self,
        in_channels: int,
        widths: Sequence[int],
        hidden: int,
        kernel_size: int,
        layers: int,
        bidirectional: bool,
    ) -> None:
        super().__init__()
        self.per_date = PerDateCNN(in_channels, widths)
        self.convlstm = ConvLSTM(
            self.per_date.out_channels, hidden, kernel_size, layers, bidirectional
        )
        self.out_channels: int = self.convlstm.out_channels

    def forward(self, series: PaddedSeries) -> Tensor:
        features = self.per_date(series.values, series.pad_mask)
        return self.convlstm(PaddedSeries(features, series.dates, series.pad_mask, series.mask))


class ConvLSTMSegmenter(nn.Module):
    """Standalone ConvLSTM segmentation model: ``PaddedSeries -> logits [B, K, H, W]``.

    In the spirit of seed 004 Sec. VI-A (a ConvLSTM encoder-decoder on monthly medians), kept
    small and fully connected: ``encoder`` = per-date 3×3 conv+BN+ReLU blocks (``widths``) then
    a ConvLSTM (``hidden``, last real state) — a SpatioTemporalEncoder with
    ``out_channels = hidden``; ``decoder`` = 3×3 conv+BN+ReLU (``hidden``) then a 1×1 conv to K
    (raw logits, no LogSoftmax). Every parameter receives a gradient. Full resolution
    throughout (no down-sampling).

    ``out_channels = num_classes``, so the model also fits the SpatioTemporalEncoder protocol
    (e.g. in :class:`~sitsfusion.models.fusion.DecisionFusion` with an ``nn.Identity``
    decoder); ``LateFusion({m: seg.encoder}, seg.decoder)`` splits it.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden: int = 64,
        widths: Sequence[int] = (32,),
        kernel_size: int = 3,
        layers: int = 1,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = _ConvLSTMEncoder(
            in_channels, widths, hidden, kernel_size, layers, bidirectional
        )
        d = self.encoder.out_channels
        self.decoder = nn.Sequential(*_conv_bn_relu(d, hidden), nn.Conv2d(hidden, num_classes, 1))
        self.num_classes = int(num_classes)
        self.out_channels: int = int(num_classes)

    def forward(self, series: PaddedSeries) -> Tensor:
        return self.decoder(self.encoder(series))
