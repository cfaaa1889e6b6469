"""Channel statistics for the z-score normalisation, from valid observations only.

:func:`compute_statistics` estimates per-channel mean and standard deviation over (a sample
of) a dataset, every date and pixel, **excluding masked observations**: cloudy or padded
pixels, never-observed months that :class:`~sitsfusion.data.binning.MonthlyMedian` filled
with zeros, repeated pixels of a small parcel. :class:`Moments` is the exact float64
accumulator behind it (also used to write PASTIS ``NORM`` files), :func:`pool_moments` the
moments of an equal-weight mixture of groups (folds, dates) given their means and stds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sitsfusion.data.sample import Sample, SampleError, TimeSeries

__all__ = ["ChannelStatistics", "Moments", "compute_statistics", "pool_moments", "valid_values"]

ChannelStatistics = dict[str, tuple[Tensor, Tensor]]
"""``{modality: (mean [C], std [C])}`` (float64 tensors)."""

MAX_SAMPLES = 2000
"""Training samples read to estimate the statistics (a random subset of larger sets)."""


class Moments:
    """Count, mean and sum of squared deviations of C channels, accumulated exactly in float64.

    Batches are merged with the pairwise update of Chan, Golub & LeVeque (1979), which, unlike
    ``E[x²] − E[x]²``, loses no precision when the mean is large compared with the spread.
    """

    def __init__(self, channels: int) -> None:
        self.count = 0
        self.mean = np.zeros(channels, dtype=np.float64)
        self.m2 = np.zeros(channels, dtype=np.float64)

    def add(self, x: np.ndarray) -> None:
        """Add the observations ``x [C, n]`` (any real dtype, read as float64)."""
        x = np.asarray(x, dtype=np.float64)
        n = int(x.shape[1])
        if n == 0:
            return
        mean = x.mean(axis=1)
        m2 = np.square(x - mean[:, None]).sum(axis=1)
        self._merge(n, mean, m2)

    def merge(self, other: Moments) -> None:
        """Add every observation ``other`` accumulated."""
        if other.count:
            self._merge(other.count, other.mean, other.m2)

    def _merge(self, n: int, mean: np.ndarray, m2: np.ndarray) -> None:
        if self.count == 0:
            self.count, self.mean, self.m2 = n, mean.copy(), m2.copy()
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean [C], std [C])``, the population std (denominator N)."""
        if self.count == 0:
            raise ValueError("no observation accumulated")
        return self.mean.copy(), np.sqrt(self.m2 / self.count)


def pool_moments(means: np.ndarray, stds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of an equal-weight mixture of K groups, from ``means`` / ``stds [K, C]``.

    ``mean = mean_k(mean_k)``, ``var = mean_k(std_k² + mean_k²) − mean²``: the exact moments of
    the union when the groups are of equal size (averaging the stds instead ignores the spread
    between the group means and underestimates the std).
    """
    means = np.asarray(means, dtype=np.float64)
    stds = np.asarray(stds, dtype=np.float64)
    if means.shape[0] == 1:
        return means[0].copy(), stds[0].copy()
    mean = means.mean(axis=0)
    var = (stds**2 + means**2).mean(axis=0) - mean**2
    return mean, np.sqrt(np.maximum(var, 0.0))


def valid_values(ts: TimeSeries) -> Tensor:
    """float64 ``[C, n]``: the values of every valid observation of ``ts``.

    An observation (date, pixel) is valid where ``ts.mask`` (``[T]``, ``[T, H, W]`` or
    ``[T, N]``) is True, or everywhere without a mask.
    """
    v = ts.values.detach()
    t, c = v.shape[:2]
    x = v.reshape(t, c, -1).transpose(0, 1).reshape(c, -1)  # [C, T·P]
    if ts.mask is None:
        return x.double()
    mask = ts.mask.to(v.device)
    p = x.shape[1] // t
    keep = mask.view(t, 1).expand(t, p) if mask.ndim == 1 else mask.reshape(t, p)
    return x[:, keep.reshape(-1)].double()


def compute_statistics(
    dataset: Dataset[Sample] | Sequence[Sample],
    modalities: Sequence[str],
    max_samples: int | None = MAX_SAMPLES,
    seed: int = 0,
) -> ChannelStatistics:
    """Per-channel mean and std of ``modalities`` over the valid observations of ``dataset``.

    Every date and pixel of each sample counts, except those its mask marks invalid; the
    moments are exact, accumulated in float64. A channel with zero std gets std 1 (it is then
    only centred).

    Args:
        dataset: samples as the model will see them before normalisation (e.g. the training
            split with the evaluation transforms).
        modalities: the modalities to describe.
        max_samples: read a random subset of this many samples (drawn with ``seed``) from a
            larger dataset; None reads every sample.
        seed: seed of that subset.

    Returns:
        ``{modality: (mean [C], std [C])}`` as float64 tensors.

    Raises:
        SampleError: a sample lacks one of ``modalities``, or a modality has no valid
            observation in the samples read.
    """
    n = len(dataset)  # type: ignore[arg-type]
    picks = np.arange(n)
    if max_samples is not None and n > max_samples:
        picks = np.random.default_rng(seed).permutation(n)[:max_samples]
    moments: dict[str, Moments] = {}
    for i in picks:
        sample = dataset[int(i)]
        for m in modalities:
            x = valid_values(sample[m])
            moments.setdefault(m, Moments(x.shape[0])).add(x.cpu().numpy())
    stats: ChannelStatistics = {}
    for m in modalities:
        acc = moments.get(m)
        if acc is None or acc.count == 0:
            raise SampleError(
                f"compute_statistics: modality {m!r} has no valid observation in the "
                f"{len(picks)} samples read; cannot estimate its mean and std"
            )
        mean, std = acc.result()
        std = np.where(std > 0, std, 1.0)
        stats[m] = (torch.from_numpy(mean), torch.from_numpy(std))
    return stats
