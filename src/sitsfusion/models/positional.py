"""Sinusoidal positional encoding of acquisition days (not of sequence indices).

Seed 000, Sec. 4.1 and 4.3 (TAE: sine/cosine code of the day, period 1000); seed 001, Sec. 3.4
(L-TAE: a ``d_model / n_head``-dim code repeated for every head, computed from per-sample days).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["DayPositionalEncoding"]


class DayPositionalEncoding(nn.Module):
    """Sinusoidal code of acquisition days: ``dates [B, T] -> [B, T, d·repeat]``, on the fly.

    Dimension ``i`` of the ``d``-dim code is ``sin(day / period^(2⌊i/2⌋/d))`` for even ``i`` and
    ``cos(...)`` for odd ``i``; the code is then tiled ``repeat`` times along the last axis (one
    copy per attention head for the L-TAE). There is no table: any day (negative, beyond a year,
    fractional) works. The inverse frequencies are a non-persistent buffer, so the module follows
    ``.to(device / dtype)`` and adds nothing to the ``state_dict``.

    Args:
        d: dimension of one copy of the code.
        period: the ``T`` of the papers (1000 days).
        repeat: number of copies concatenated along the last axis.
    """

    inv_freq: Tensor

    def __init__(self, d: int, period: float = 1000.0, repeat: int = 1) -> None:
        super().__init__()
        if d < 1 or repeat < 1:
            raise ValueError(f"d and repeat must be >= 1, got d={d}, repeat={repeat}")
        if period <= 0:
            raise ValueError(f"period must be > 0, got {period}")
        self.d = int(d)
        self.period = float(period)
        self.repeat = int(repeat)
        exponent = 2.0 * torch.div(torch.arange(d), 2, rounding_mode="floor").double() / d
        self.register_buffer(
            "inv_freq", torch.pow(self.period, -exponent).float(), persistent=False
        )

    @property
    def out_channels(self) -> int:
        return self.d * self.repeat

    def forward(self, dates: Tensor) -> Tensor:
        """``dates [*] `` days (int or float) → code ``[*, d·repeat]`` in the buffer's dtype."""
        out_dtype = self.inv_freq.dtype
        # Half precision loses the phase of large days; compute in at least float32.
        work_dtype = torch.promote_types(out_dtype, torch.float32)
        angles = dates.to(work_dtype).unsqueeze(-1) * self.inv_freq.to(work_dtype)
        even = torch.arange(self.d, device=dates.device) % 2 == 0
        code = torch.where(even, torch.sin(angles), torch.cos(angles))
        if self.repeat > 1:
            code = code.repeat(*([1] * (code.ndim - 1)), self.repeat)
        return code.to(out_dtype)

    def extra_repr(self) -> str:
        return f"d={self.d}, period={self.period:g}, repeat={self.repeat}"
