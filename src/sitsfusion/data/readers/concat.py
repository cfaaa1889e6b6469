"""Several readers of one format as one reader (e.g. the training roots of a config)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import ConcatDataset

from sitsfusion.data.readers.base import Indices, Reader
from sitsfusion.data.sample import Sample
from sitsfusion.data.statistics import ChannelStatistics
from sitsfusion.errors import DatasetError

__all__ = ["ConcatReader", "concat_readers"]


class ConcatReader(Reader):
    """The samples of ``parts`` one after the other, with the contract of the first part.

    Per-sample information (``labels``, ``groups``, ``clusters``) is concatenated when every
    part has it; :meth:`label_counts` and :meth:`statistics` ask each part about its own
    samples.

    Raises:
        DatasetError: no part, or parts whose class lists differ (their labels would not mean
            the same classes).
    """

    def __init__(self, parts: Sequence[Reader]) -> None:
        if not parts:
            raise ValueError("ConcatReader needs at least one reader")
        self.parts = list(parts)
        first = self.parts[0]
        for part in self.parts[1:]:
            if list(part.class_names) != list(first.class_names):
                raise DatasetError(
                    part.root,
                    f"the class lists differ between {first.root} ({list(first.class_names)}) "
                    f"and this dataset ({list(part.class_names)}); fix one class order",
                )
        self._concat = ConcatDataset(self.parts)
        self.root = first.root
        self.modalities = tuple(first.modalities)
        self.channels = dict(first.channels)
        self.class_names = list(first.class_names)
        self.synthetic = all(p.synthetic for p in self.parts)
        for name in ("labels", "groups", "clusters"):
            values = [getattr(p, name) for p in self.parts]
            if all(v is not None for v in values):
                setattr(self, name, np.concatenate([np.asarray(v) for v in values]))

    def __len__(self) -> int:
        return len(self._concat)

    def __getitem__(self, index: int) -> Sample:
        return self._concat[index]

    def _locate(self, indices: Indices) -> list[np.ndarray]:
        """The local indices of ``indices`` (default all) in each part."""
        ends = np.asarray(self._concat.cumulative_sizes, dtype=np.int64)
        chosen = np.arange(ends[-1]) if indices is None else np.asarray(indices, np.int64)
        part = np.searchsorted(ends, chosen, side="right")
        starts = np.r_[0, ends[:-1]]
        return [chosen[part == k] - starts[k] for k in range(len(self.parts))]

    def label_counts(self, indices: Indices = None) -> np.ndarray:
        counts = [
            np.asarray(p.label_counts(local))
            for p, local in zip(self.parts, self._locate(indices), strict=True)
        ]
        return np.sum(counts, axis=0).astype(np.int64)

    def statistics(self, indices: Indices = None) -> ChannelStatistics | None:
        """The parts' published statistics when every part asked publishes the same ones."""
        found: list[ChannelStatistics] = []
        for part, local in zip(self.parts, self._locate(indices), strict=True):
            if local.size:
                stats = part.statistics(local)
                if stats is None:
                    return None
                found.append(stats)
        if not found:
            return None
        first = found[0]
        for other in found[1:]:
            if set(other) != set(first) or not all(
                torch.equal(a, b) for m in first for a, b in zip(other[m], first[m], strict=True)
            ):
                return None
        return first

    def observation_dates(self, index: int) -> dict[str, np.ndarray]:
        k = int(np.searchsorted(self._concat.cumulative_sizes, index % len(self), side="right"))
        start = 0 if k == 0 else self._concat.cumulative_sizes[k - 1]
        return self.parts[k].observation_dates(index % len(self) - start)


def concat_readers(parts: Sequence[Reader]) -> Reader:
    """``parts[0]`` alone, or a :class:`ConcatReader` of several readers."""
    return parts[0] if len(parts) == 1 else ConcatReader(parts)
