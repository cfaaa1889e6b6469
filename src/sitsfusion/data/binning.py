"""Monthly median binning: one median observation per calendar month (seed 004, Sec. VI).

Sen4AgriNet (seed 004 = Sykas et al. 2022) aggregates each series "into 12 time-bins by
calculating the median of each month" and trains on a fixed window of months, April (4) to
September (9). Its code (S4A-Models, ``/work/shared/reference/anchors-code.md`` §3.5) bins with
xarray ``'1MS'`` and fills missing months by linear interpolation. :func:`monthly_median` does
the same on a :class:`Sample`, vectorised over pixels and channels (a loop over months only).

Differences from the S4A code, on purpose: the ends are *held* (nearest non-empty month)
rather than linearly extrapolated, and the median is taken per pixel over that pixel's *valid*
observations (the validity mask, e.g. clouds, is respected).
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from sitsfusion.data.sample import Sample, SampleError, TimeSeries

__all__ = ["EmptyMonths", "MonthlyMedian", "monthly_median"]

EmptyMonths = Literal["interpolate", "error", "mask"]
_EMPTY = ("interpolate", "error", "mask")


def _reference(sample: Sample, reference_date: str | _dt.date | None) -> _dt.date:
    ref = reference_date if reference_date is not None else sample.meta.get("reference_date")
    if ref is None:
        raise SampleError(
            f"monthly_median: sample {sample.meta.get('id')!r} has no meta['reference_date'] "
            "and no reference_date was given; dates are days since it"
        )
    if isinstance(ref, _dt.datetime):
        return ref.date()
    if isinstance(ref, _dt.date):
        return ref
    try:
        return _dt.date.fromisoformat(str(ref))
    except ValueError:
        raise SampleError(f"monthly_median: reference_date {ref!r} is not YYYY-MM-DD") from None


def _check_months(months: Sequence[int]) -> list[int]:
    out = [int(m) for m in months]
    if not out or any(m < 1 or m > 12 for m in out) or len(set(out)) != len(out):
        raise SampleError(f"months must be distinct integers in 1..12, got {list(months)}")
    return out


def _bins(
    calendar: list[tuple[int, int]], months: Sequence[int] | None, year: int | None
) -> list[tuple[int, int]]:
    """The (year, month) of every output bin, in time order."""
    if months is None:
        if year is not None:
            return [(int(year), m) for m in range(1, 13)]
        first, last = min(calendar), max(calendar)
        span = (last[0] - first[0]) * 12 + last[1] - first[1] + 1
        if span > 12:
            raise SampleError(
                f"monthly_median: the series span {span} months ({first[0]}-{first[1]:02d} to "
                f"{last[0]}-{last[1]:02d}); give `year` (or `months`) to choose 12 of them"
            )
        if first[0] == last[0]:
            return [(first[0], m) for m in range(1, 13)]
        y, m = first  # a season across the new year, e.g. September to August
        return [(y + (m - 1 + k) // 12, (m - 1 + k) % 12 + 1) for k in range(12)]
    ms = _check_months(months)
    if year is None:
        counts = Counter(y for y, _ in calendar)
        year = min(counts, key=lambda y: (-counts[y], y))  # most observations, ties: earliest
    out, y = [], int(year)
    for i, m in enumerate(ms):
        if i > 0 and m <= ms[i - 1]:
            y += 1  # a window such as (10, 11, 12, 1, 2) runs into the next year
        out.append((y, m))
    return out


def _median(x: Tensor) -> Tensor:
    """Median over dim 0 ignoring NaN, averaging the two middle values (as numpy.median)."""
    n = (~torch.isnan(x)).sum(dim=0, keepdim=True)
    s = torch.sort(x, dim=0).values  # NaN sort last
    lo = torch.gather(s, 0, ((n - 1) // 2).clamp(min=0))
    hi = torch.gather(s, 0, (n // 2).clamp(max=x.shape[0] - 1))
    med = (lo + hi) / 2
    return torch.where(n > 0, med, torch.full_like(med, float("nan")))[0]


def _fill_linear(v: Tensor, t: Tensor) -> Tensor:
    """Linear interpolation over dim 0 of NaN entries of ``v [K, ...]`` at times ``t [K]``.

    Leading / trailing gaps hold the nearest valid value; entries with no valid value at all
    stay NaN.
    """
    k = v.shape[0]
    valid = ~torch.isnan(v)
    shape = (k, *([1] * (v.ndim - 1)))
    ar = torch.arange(k, device=v.device).view(shape).expand_as(v)
    prev = torch.where(valid, ar, torch.full_like(ar, -1)).cummax(dim=0).values
    nxt = torch.where(valid, ar, torch.full_like(ar, k)).flip(0).cummin(dim=0).values.flip(0)
    has_p, has_n = prev >= 0, nxt < k
    p = torch.where(has_p, prev, nxt).clamp(0, k - 1)
    q = torch.where(has_n, nxt, prev).clamp(0, k - 1)
    tt = t.to(v.dtype).view(shape).expand_as(v)
    tp, tq = torch.gather(tt, 0, p), torch.gather(tt, 0, q)
    vp, vq = torch.gather(v, 0, p), torch.gather(v, 0, q)
    w = torch.where(tq > tp, (tt - tp) / (tq - tp).clamp(min=1e-12), torch.zeros_like(tt))
    return torch.where(valid, v, vp + w * (vq - vp))


def _bin_series(
    ts: TimeSeries,
    name: str,
    obs_bin: list[int],
    bin_days: list[int],
    bins: list[tuple[int, int]],
    empty: str,
) -> TimeSeries:
    v = ts.values
    t, c = v.shape[0], v.shape[1]
    spatial = tuple(v.shape[2:])
    x = v.clone()
    if ts.mask is not None:
        m = ts.mask.to(v.device)
        m = m.view(t, *([1] * len(spatial))) if m.ndim == 1 else m
        x = torch.where(m.unsqueeze(1), x, torch.full_like(x, float("nan")))
    index = torch.tensor(obs_bin, device=v.device)
    frames = []
    for k in range(len(bins)):
        sel = torch.nonzero(index == k).flatten()
        if sel.numel() == 0:
            frames.append(torch.full((c, *spatial), float("nan"), dtype=v.dtype, device=v.device))
        else:
            frames.append(_median(x[sel]))
    out = torch.stack(frames)  # [K, C, *spatial], NaN where no valid observation
    ok = ~torch.isnan(out).any(dim=1)  # [K, *spatial] pixel has a value in every channel
    month_empty = ~ok.flatten(1).any(dim=1)  # [K]
    dates = torch.tensor(bin_days, dtype=torch.int64, device=v.device)
    if empty == "error" and bool(month_empty.any()):
        where = f" ({ts.source})" if ts.source else ""
        names = [f"{y}-{m:02d}" for (y, m), e in zip(bins, month_empty.tolist(), strict=True) if e]
        raise SampleError(
            f"monthly_median: modality {name!r}{where} has no valid observation in month(s) {names}"
        )
    mask = None
    if empty == "mask":
        out = torch.nan_to_num(out, nan=0.0)
        if bool(ok.all()):
            mask = None
        elif bool((ok == ok.flatten(1)[:, :1].view(-1, *([1] * len(spatial)))).all()):
            mask = ~month_empty  # every month wholly valid or wholly empty: a [T] mask
        else:
            mask = ok
    else:
        out = _fill_linear(out, dates)
        never = torch.isnan(out).any(dim=1)  # [K, *spatial]: pixel with no value in any month
        if bool(never.all()):
            raise SampleError(
                f"monthly_median: modality {name!r} has no valid observation in months "
                f"{[f'{y}-{m:02d}' for y, m in bins]}"
            )
        if bool(never.any()):
            out = torch.nan_to_num(out, nan=0.0)
            mask = ~never
    return TimeSeries(out, dates, mask, ts.source)


def monthly_median(
    sample: Sample,
    modalities: Sequence[str] | None = None,
    months: Sequence[int] | None = None,
    year: int | None = None,
    empty: EmptyMonths = "interpolate",
    reference_date: str | _dt.date | None = None,
) -> Sample:
    """One observation per calendar month: the per-pixel, per-channel median of the month.

    Args:
        sample: the sample; its ``dates`` are days since ``reference_date``.
        modalities: the modalities to bin (all when None); the others are left unchanged.
        months: the window of months in time order, e.g. ``(4, 5, 6, 7, 8, 9)`` (seed 004:
            April–September). A month not greater than the previous one starts the next
            year, so ``(10, 11, 12, 1, 2)`` is an autumn-to-winter window. None = 12 months:
            January–December of ``year`` when given; otherwise January–December of the
            data's year if all observations fall in one calendar year, else the 12 months
            from the first observation's month (a season across the new year; a
            :class:`SampleError` if the data span more than 12 months).
        year: the calendar year of the (first) month of the window. Default: the year
            holding most observations of the binned modalities, pooled (ties: the earliest),
            so every modality gets the same dates.
        empty: what to do with a month without any valid observation:
            ``"interpolate"`` (default) — linear interpolation in time between the
            neighbouring non-empty months, the ends held at the nearest one (the S4A code
            fills missing months; it extrapolates linearly at the ends instead);
            ``"error"`` — a :class:`SampleError` naming the modality and the months;
            ``"mask"`` — the month is kept with zeros and marked False in the output mask.
        reference_date: ``"YYYY-MM-DD"`` or a date; default ``sample.meta["reference_date"]``.

    Returns:
        A new sample whose binned series have one observation per month, dated on the 15th of
        the month (days since the reference date), ``[K, C, H, W]`` / ``[K, C, N]`` values.

    Observations are excluded where the validity mask (``[T]`` or dense) is False, and NaN
    values are ignored too. A pixel without a valid observation in a month (e.g. always
    cloudy) is treated like an empty month at that pixel: interpolated in time from its own
    neighbouring months (also in ``"error"`` mode, which only rejects wholly empty months), or
    set to 0 and masked False in ``"mask"`` mode. The output mask is None when every value is
    valid, ``[K]`` when months are wholly valid or empty, else dense ``[K, H, W]`` /
    ``[K, N]``; a pixel with no valid observation in any month of the window is set to 0 and
    masked False. Observations outside the window are dropped. The input is not modified.
    """
    if empty not in _EMPTY:
        raise SampleError(f"empty must be one of {_EMPTY}, got {empty!r}")
    names = sample.resolve(modalities)
    ref = _reference(sample, reference_date)
    calendars: dict[str, list[tuple[int, int]]] = {}
    for name in names:
        days = sample[name].dates.tolist()
        cal = [ref + _dt.timedelta(days=int(d)) for d in days]
        calendars[name] = [(d.year, d.month) for d in cal]
    pooled = [ym for cal in calendars.values() for ym in cal]
    bins = _bins(pooled, months, year)
    bin_days = [(_dt.date(y, m, 15) - ref).days for y, m in bins]
    position = {ym: k for k, ym in enumerate(bins)}
    series = dict(sample.series)
    for name in names:
        obs_bin = [position.get(ym, -1) for ym in calendars[name]]
        series[name] = _bin_series(series[name], name, obs_bin, bin_days, bins, empty)
    return sample.replace(series=series)


class MonthlyMedian:
    """:func:`monthly_median` as a callable transform for a Dataset."""

    def __init__(
        self,
        months: Sequence[int] | None = (4, 5, 6, 7, 8, 9),
        empty: EmptyMonths = "interpolate",
        modalities: Sequence[str] | None = None,
        year: int | None = None,
        reference_date: str | None = None,
    ) -> None:
        if empty not in _EMPTY:
            raise SampleError(f"empty must be one of {_EMPTY}, got {empty!r}")
        self.months = None if months is None else tuple(_check_months(months))
        self.empty = empty
        self.modalities = None if modalities is None else tuple(modalities)
        self.year = year
        self.reference_date = reference_date

    def __call__(self, sample: Sample) -> Sample:
        return monthly_median(
            sample, self.modalities, self.months, self.year, self.empty, self.reference_date
        )

    def __repr__(self) -> str:
        return f"MonthlyMedian(months={self.months}, empty={self.empty!r})"
