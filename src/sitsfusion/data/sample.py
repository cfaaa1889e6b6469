"""The data contract: :class:`TimeSeries`, :class:`Sample`, :class:`Batch`, :func:`collate`.

Everything that flows between readers, transforms and models is one of these. A reader
produces :class:`Sample` objects, a transform maps a ``Sample`` to a new ``Sample`` (never
mutating its input), and :func:`collate` pads a list of samples into a :class:`Batch` that a
model consumes. :func:`unpad` inverts :func:`collate`.

Shapes use the papers' symbols: T dates, C channels (bands), H × W pixels of a patch, N pixels of
a pixel set (one parcel), B samples in a batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

__all__ = ["Batch", "PaddedSeries", "Sample", "SampleError", "TimeSeries", "collate", "unpad"]


class SampleError(ValueError):
    """A sample, time series or batch violates the data contract."""


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


#: Dense per-pixel targets of a :class:`Sample` (``[H, W]``) / :class:`Batch` (``[B, H, W]``).
_MAP_TARGETS = ("semantic", "instances", "heatmap", "zones")


@dataclass(frozen=True, eq=False)
class TimeSeries:
    """One sensor's observations of one sample.

    Attributes:
        values: float tensor ``[T, C, H, W]`` (patch) or ``[T, C, N]`` (pixel set of one parcel).
        dates: int64 tensor ``[T]``, days since the dataset's reference date, strictly
            increasing (no duplicates).
        mask: optional bool tensor of *valid* observations, ``[T]`` or the values' shape
            without C (``[T, H, W]`` / ``[T, N]``): False marks a cloudy pixel, a padded pixel
            of a pixel set, a missing acquisition.
        source: where the series came from (a file path), used in error messages only.
    """

    values: Tensor
    dates: Tensor
    mask: Tensor | None = None
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        where = _where(self.source)
        v, d = self.values, self.dates
        if not isinstance(v, Tensor) or not isinstance(d, Tensor):
            raise SampleError(f"{where}values and dates must be torch tensors")
        if v.ndim not in (3, 4):
            raise SampleError(
                f"{where}values must be [T, C, H, W] (patch) or [T, C, N] (pixel set), "
                f"got rank {v.ndim} with shape {tuple(v.shape)}"
            )
        if not v.is_floating_point():
            raise SampleError(f"{where}values must be floating point, got {v.dtype}")
        if d.ndim != 1 or d.dtype not in (torch.int32, torch.int64):
            raise SampleError(
                f"{where}dates must be a 1-D integer tensor of days, got {d.dtype} {tuple(d.shape)}"
            )
        if d.shape[0] != v.shape[0]:
            raise SampleError(f"{where}{v.shape[0]} observations in values but {d.shape[0]} dates")
        if d.shape[0] == 0:
            raise SampleError(f"{where}time series has no observation (T = 0)")
        if d.shape[0] > 1:
            steps = d[1:] - d[:-1]
            if bool((steps <= 0).any()):
                i = int(torch.nonzero(steps <= 0)[0, 0])
                kind = "duplicate" if int(steps[i]) == 0 else "out of order"
                raise SampleError(
                    f"{where}dates must be strictly increasing; {kind} at positions "
                    f"{i}, {i + 1} (days {int(d[i])}, {int(d[i + 1])})"
                )
        if self.mask is not None:
            m = self.mask
            spatial = (v.shape[0], *v.shape[2:])
            if m.dtype != torch.bool or tuple(m.shape) not in ((v.shape[0],), spatial):
                raise SampleError(
                    f"{where}mask must be bool [T] or {list(spatial)}, "
                    f"got {m.dtype} {tuple(m.shape)}"
                )

    @property
    def is_patch(self) -> bool:
        """True for ``[T, C, H, W]`` patches, False for ``[T, C, N]`` pixel sets."""
        return self.values.ndim == 4

    @property
    def num_dates(self) -> int:
        return int(self.values.shape[0])

    @property
    def num_channels(self) -> int:
        return int(self.values.shape[1])

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape[2:])

    def replace(self, **changes: Any) -> TimeSeries:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def select(self, index: Tensor) -> TimeSeries:
        """The observations at ``index`` (a sorted int tensor of positions or a bool [T], on
        any device)."""
        index = index.to(self.values.device)
        mask = None if self.mask is None else self.mask[index]
        return TimeSeries(self.values[index], self.dates[index], mask, self.source)


@dataclass(frozen=True, eq=False)
class Sample:
    """One sample of any task: a patch or a parcel, seen by one or several sensors.

    Attributes:
        series: ``{modality name: TimeSeries}``, names such as ``"S2"``, ``"S1A"``, ``"S1D"``.
            Every modality has its own T and dates; patch modalities share H × W.
        label: parcel class (parcel classification), or None.
        semantic: long ``[H, W]`` class per pixel (semantic segmentation), or None.
        instances: long ``[H, W]`` instance id per pixel, 0 = no instance (panoptic), or None.
        meta: free metadata: ``id``, ``fold``, ``region``, ``year``, ``reference_date``,
            ``transform`` / ``crs`` when known.
        heatmap: float32 ``[H, W]`` centerness ground truth in [0, 1] (panoptic, PaPs), or
            None: 1 at each parcel's centre, one Gaussian per parcel, pixel-wise maximum.
        zones: long ``[H, W]`` id of the instance whose Gaussian dominates each pixel, 0 =
            none (panoptic, PaPs supervision zones), or None.

    ``heatmap`` and ``zones`` come after ``meta`` so that positional construction keeps working.
    """

    series: Mapping[str, TimeSeries]
    label: int | None = None
    semantic: Tensor | None = None
    instances: Tensor | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    heatmap: Tensor | None = None
    zones: Tensor | None = None

    def __post_init__(self) -> None:
        where = _where(str(self.meta.get("id"))) if self.meta.get("id") is not None else ""
        if not self.series:
            raise SampleError(f"{where}a sample needs at least one modality")
        spatial = {name: ts.spatial_shape for name, ts in self.series.items() if ts.is_patch}
        if len(set(spatial.values())) > 1:
            raise SampleError(f"{where}patch modalities differ in H x W: {spatial}")
        hw = next(iter(spatial.values()), None)
        maps: dict[str, tuple[int, ...]] = {}
        for name in _MAP_TARGETS:
            target = getattr(self, name)
            if target is None:
                continue
            if not isinstance(target, Tensor):
                raise SampleError(
                    f"{where}{name} must be a torch tensor, got {type(target).__name__}"
                )
            if name == "heatmap":
                if target.ndim != 2 or not target.is_floating_point():
                    raise SampleError(
                        f"{where}heatmap must be a floating-point [H, W] map, got "
                        f"{target.dtype} {tuple(target.shape)}"
                    )
            elif target.ndim != 2 or target.is_floating_point():
                raise SampleError(
                    f"{where}{name} must be an integer [H, W] map, got "
                    f"{target.dtype} {tuple(target.shape)}"
                )
            if hw is not None and tuple(target.shape) != hw:
                raise SampleError(
                    f"{where}{name} map is {tuple(target.shape)} but the images are {hw}"
                )
            maps[name] = tuple(target.shape)
        if len(set(maps.values())) > 1:
            raise SampleError(f"{where}target maps differ in H x W: {maps}")

    def __getitem__(self, modality: str) -> TimeSeries:
        try:
            return self.series[modality]
        except KeyError:
            raise SampleError(
                f"modality {modality!r} not in sample {self.meta.get('id')!r}; "
                f"it has {sorted(self.series)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.series)

    @property
    def modalities(self) -> list[str]:
        return list(self.series)

    def replace(self, **changes: Any) -> Sample:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def resolve(self, modalities: str | Sequence[str] | None) -> list[str]:
        """The requested modality names (all when None), each checked to be in the sample."""
        if modalities is None:
            return self.modalities
        names = [modalities] if isinstance(modalities, str) else list(modalities)
        for name in names:
            self[name]  # raises a SampleError naming the modality and the ones available
        return names

    def with_series(self, modality: str, ts: TimeSeries) -> Sample:
        """A copy in which ``modality`` is ``ts`` (added if new)."""
        return replace(self, series={**self.series, modality: ts})


@dataclass(frozen=True, eq=False)
class PaddedSeries:
    """One modality of a :class:`Batch`, padded along time to the longest T of the batch.

    Attributes:
        values: ``[B, T, C, H, W]`` or ``[B, T, C, N]``; padded dates are zeros.
        dates: ``[B, T]`` int64 days; padded dates are 0 (never read: see ``pad_mask``).
        pad_mask: bool ``[B, T]``, **True where the date is padding**, the convention of
            ``torch.nn.MultiheadAttention``'s ``key_padding_mask``.
        mask: optional bool valid-observation mask ``[B, T]`` or ``[B, T, H, W]`` /
            ``[B, T, N]`` (False on padding too).
    """

    values: Tensor
    dates: Tensor
    pad_mask: Tensor
    mask: Tensor | None = None

    @property
    def lengths(self) -> Tensor:
        """``[B]`` number of real (unpadded) dates per sample."""
        return (~self.pad_mask).sum(dim=1)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PaddedSeries:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return PaddedSeries(
            move(self.values), move(self.dates), move(self.pad_mask), move(self.mask)
        )


@dataclass(frozen=True, eq=False)
class Batch:
    """A collated list of samples: per modality a :class:`PaddedSeries`, targets stacked.

    Attributes:
        series: ``{modality: PaddedSeries}``.
        label: long ``[B]`` or None.
        semantic: long ``[B, H, W]`` or None.
        instances: long ``[B, H, W]`` or None.
        meta: list of the B samples' meta dicts.
        heatmap: float32 ``[B, H, W]`` centerness ground truth or None.
        zones: long ``[B, H, W]`` or None.
    """

    series: Mapping[str, PaddedSeries]
    label: Tensor | None = None
    semantic: Tensor | None = None
    instances: Tensor | None = None
    meta: Sequence[Mapping[str, Any]] = ()
    heatmap: Tensor | None = None
    zones: Tensor | None = None

    def __getitem__(self, modality: str) -> PaddedSeries:
        return self.series[modality]

    def __len__(self) -> int:
        return int(next(iter(self.series.values())).values.shape[0])

    @property
    def modalities(self) -> list[str]:
        return list(self.series)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The batch on ``device`` (Lightning calls this through ``transfer_batch_to_device``)."""

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return Batch(
            {m: s.to(device, non_blocking) for m, s in self.series.items()},
            move(self.label),
            move(self.semantic),
            move(self.instances),
            self.meta,
            move(self.heatmap),
            move(self.zones),
        )


def _stack_target(samples: Sequence[Sample], name: str) -> Tensor | None:
    present = [getattr(s, name) is not None for s in samples]
    if not any(present):
        return None
    if not all(present):
        missing = [s.meta.get("id", i) for i, s in enumerate(samples) if getattr(s, name) is None]
        raise SampleError(f"cannot collate: target {name!r} missing in samples {missing}")
    if name == "label":
        labels = [s.label for s in samples]
        bad = [lab for lab in labels if int(lab) != lab]
        if bad:
            raise SampleError(f"cannot collate: parcel labels must be integers, got {bad}")
        return torch.tensor([int(lab) for lab in labels], dtype=torch.long)
    maps = [getattr(s, name) for s in samples]
    shapes = {tuple(m.shape) for m in maps}
    if len(shapes) > 1:
        raise SampleError(f"cannot collate: {name} maps of different sizes {sorted(shapes)}")
    if name == "heatmap":
        return torch.stack([m.float() for m in maps])
    return torch.stack([m.long() for m in maps])


def collate(samples: Sequence[Sample]) -> Batch:
    """Pad each modality along time to the batch's longest T and stack the targets.

    All samples must have the same modalities and, per modality, the same C and spatial
    shape (patches of one size, or pixel sets sampled to one S). Use as a DataLoader's
    ``collate_fn``.
    """
    if len(samples) == 0:
        raise SampleError("cannot collate an empty list of samples")
    names = samples[0].modalities
    for s in samples[1:]:
        if sorted(s.modalities) != sorted(names):
            raise SampleError(
                f"cannot collate: sample {s.meta.get('id')!r} has modalities "
                f"{sorted(s.modalities)}, the first has {sorted(names)}"
            )
    series: dict[str, PaddedSeries] = {}
    for name in names:
        items = [s[name] for s in samples]
        shapes = {(ts.num_channels, *ts.spatial_shape) for ts in items}
        if len(shapes) > 1:
            raise SampleError(
                f"cannot collate modality {name!r}: samples differ in [C, spatial] shape "
                f"{sorted(shapes)}; crop patches to one size (or sample pixel sets to one S)"
            )
        t_max = max(ts.num_dates for ts in items)
        b = len(items)
        first = items[0].values
        dtype = first.dtype
        for ts in items[1:]:
            dtype = torch.promote_types(dtype, ts.values.dtype)
        values = first.new_zeros((b, t_max, *first.shape[1:]), dtype=dtype)
        dates = torch.zeros((b, t_max), dtype=torch.long, device=first.device)
        pad_mask = torch.ones((b, t_max), dtype=torch.bool, device=first.device)
        with_mask = any(ts.mask is not None for ts in items)
        mask = None
        if with_mask:
            dense = any(ts.mask is not None and ts.mask.ndim > 1 for ts in items)
            mshape = (b, t_max, *first.shape[2:]) if dense else (b, t_max)
            mask = torch.zeros(mshape, dtype=torch.bool, device=first.device)
        for i, ts in enumerate(items):
            t = ts.num_dates
            values[i, :t] = ts.values
            dates[i, :t] = ts.dates
            pad_mask[i, :t] = False
            if mask is not None:
                m = ts.mask
                if m is None:
                    m = torch.ones(t, dtype=torch.bool, device=first.device)
                if mask.ndim > 2 and m.ndim == 1:
                    m = m.view(t, *([1] * (mask.ndim - 2))).expand(t, *mask.shape[2:])
                mask[i, :t] = m
        series[name] = PaddedSeries(values, dates, pad_mask, mask)
    return Batch(
        series,
        _stack_target(samples, "label"),
        _stack_target(samples, "semantic"),
        _stack_target(samples, "instances"),
        [dict(s.meta) for s in samples],
        _stack_target(samples, "heatmap"),
        _stack_target(samples, "zones"),
    )


def unpad(batch: Batch) -> list[Sample]:
    """Split a :class:`Batch` back into the samples it was collated from.

    A per-sample ``[T]`` mask that :func:`collate` broadcast to ``[T, H, W]`` comes back in its
    broadcast form, and a sample without a mask in a batch where others have one comes back
    with an all-True mask (same information in both cases).
    """
    n = len(batch)
    out: list[Sample] = []
    for i in range(n):
        series = {}
        for name, ps in batch.series.items():
            t = int((~ps.pad_mask[i]).sum())
            mask = None if ps.mask is None else ps.mask[i, :t]
            series[name] = TimeSeries(ps.values[i, :t], ps.dates[i, :t], mask)
        out.append(
            Sample(
                series,
                label=None if batch.label is None else int(batch.label[i]),
                semantic=None if batch.semantic is None else batch.semantic[i],
                instances=None if batch.instances is None else batch.instances[i],
                meta=dict(batch.meta[i]) if batch.meta else {},
                heatmap=None if batch.heatmap is None else batch.heatmap[i],
                zones=None if batch.zones is None else batch.zones[i],
            )
        )
    return out
