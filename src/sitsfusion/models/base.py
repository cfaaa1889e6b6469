"""The interfaces every model part implements, so that fusion is written once.

Shapes use the papers' symbols: B batch, T dates, C channels, S pixels of a pixel set,
H × W pixels of a patch, F per-date features, D sequence embedding, K classes. ``*`` is the
spatial part: ``S`` for pixel sets (parcel classification), ``H, W`` for patches.

* :class:`SpatialEncoder` — applied to every date independently (PSE, a per-date CNN):
  ``x [B, T, C, *], valid [B, T, *] | None -> [B, T, F]`` (pixel sets pool their pixels away).
* :class:`TemporalEncoder` — a sequence of per-date features to one embedding (TAE, L-TAE,
  GRU, TempCNN): ``x [B, T, F], dates [B, T], pad_mask [B, T] -> [B, D]``. ``dates`` are days
  since the dataset's reference date (positional encodings use them, never the index);
  ``pad_mask`` is True on padded dates, which must neither attend nor be attended.
* :class:`SpatioTemporalEncoder` — one modality's whole series to an embedding
  (``PaddedSeries -> [B, D, *]``, ``*`` empty for parcels, ``H, W`` for U-TAE). A
  :class:`SeparableEncoder` is one built from a spatial and a temporal encoder; only those
  allow mid fusion.
* a decoder — any ``nn.Module`` mapping ``[B, D, *] -> [B, K, *]`` logits (an MLP for parcels,
  a small conv net for patches).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor, nn

from sitsfusion.data.sample import PaddedSeries

__all__ = ["SeparableEncoder", "SpatialEncoder", "SpatioTemporalEncoder", "TemporalEncoder"]


@runtime_checkable
class SpatialEncoder(Protocol):
    """Per-date encoder: ``(x [B, T, C, *], valid [B, T, *] | None) -> [B, T, F]``."""

    out_channels: int

    def __call__(self, x: Tensor, valid: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class TemporalEncoder(Protocol):
    """Sequence encoder: ``(x [B, T, F], dates [B, T], pad_mask [B, T]) -> [B, D]``."""

    out_channels: int

    def __call__(self, x: Tensor, dates: Tensor, pad_mask: Tensor) -> Tensor: ...


@runtime_checkable
class SpatioTemporalEncoder(Protocol):
    """One modality's series to an embedding: ``PaddedSeries -> [B, D, *]``."""

    out_channels: int

    def __call__(self, series: PaddedSeries) -> Tensor: ...


class SeparableEncoder(nn.Module):
    """A spatio-temporal encoder made of a spatial and a temporal encoder (PSE + TAE / L-TAE).

    ``forward(series)``: ``values [B, T, C, S]`` (with the valid-pixel mask ``[B, T, S]`` when
    the series has one) → spatial ``[B, T, F]`` → temporal ``[B, D]``.
    """

    def __init__(self, spatial: nn.Module, temporal: nn.Module) -> None:
        super().__init__()
        self.spatial = spatial
        self.temporal = temporal
        self.out_channels: int = int(temporal.out_channels)

    def encode_dates(self, series: PaddedSeries) -> Tensor:
        """The spatial encoder's per-date features ``[B, T, F]``."""
        valid = series.mask if series.mask is not None and series.mask.ndim > 2 else None
        return self.spatial(series.values, valid)

    def forward(self, series: PaddedSeries) -> Tensor:
        return self.temporal(self.encode_dates(series), series.dates, series.pad_mask)
