"""Transforms over dates: pure functions ``Sample -> Sample``, used the same way by every model.

A transform never mutates its input; randomness comes from an explicit ``torch.Generator``
so that runs are reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from sitsfusion.data.sample import Sample, SampleError

__all__ = ["ChannelStats", "normalize_zscore"]

ChannelStats = tuple[Sequence[float] | Tensor, Sequence[float] | Tensor]
"""``(mean, std)``, one value per channel."""


def _channel_view(stat: Tensor, ndim: int) -> Tensor:
    # [C] -> [1, C, 1, ...] broadcasting against [T, C, *spatial]
    return stat.view(1, -1, *([1] * (ndim - 2)))


def normalize_zscore(sample: Sample, stats: Mapping[str, ChannelStats]) -> Sample:
    """Channel-wise z-score ``(x - mean) / std`` of the modalities named in ``stats``.

    Args:
        sample: the sample to normalise.
        stats: ``{modality: (mean [C], std [C])}``; modalities not named are left unchanged.
            PASTIS ships these per fold in ``NORM_<modality>_patch.json``.
    """
    series = dict(sample.series)
    for name, (mean, std) in stats.items():
        if name not in series:
            continue
        ts = series[name]
        v = ts.values
        mean_t = torch.as_tensor(mean, dtype=v.dtype, device=v.device)
        std_t = torch.as_tensor(std, dtype=v.dtype, device=v.device)
        if mean_t.numel() != ts.num_channels or std_t.numel() != ts.num_channels:
            raise SampleError(
                f"{ts.source or name}: normalisation statistics have {mean_t.numel()} values "
                f"but modality {name!r} has {ts.num_channels} channels"
            )
        if bool((std_t <= 0).any()):
            raise SampleError(f"{name}: normalisation std must be > 0, got {std_t.tolist()}")
        v = (v - _channel_view(mean_t, v.ndim)) / _channel_view(std_t, v.ndim)
        series[name] = ts.replace(values=v)
    return sample.replace(series=series)
