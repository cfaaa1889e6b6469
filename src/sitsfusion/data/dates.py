"""Calendar helpers shared by the readers: dates are days since a reference date."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np

__all__ = ["DateLike", "reference_day"]

DateLike = str | date | datetime | np.datetime64


def reference_day(reference_date: DateLike) -> np.datetime64:
    """``reference_date`` as a ``datetime64[D]``; a clear error for anything else."""
    try:
        return np.datetime64(reference_date, "D")
    except (TypeError, ValueError):
        raise ValueError(
            f"reference_date must be an ISO date such as '2018-09-01', got {reference_date!r}"
        ) from None
