"""The simulator's parameter tables, kept as data in ``sitsfusion/simulate/params/*.json``.

Every table (phenology, radar and spectra per appearance, regions, class frequencies, the
Sen4AgriNet and MultiSenGE specifics) is a JSON file beside this module; ``params/README.md``
describes them. Keys starting with ``_`` (``"_comment"``, ``"_source"``, ...) are notes on the
values and their sources: :func:`load_params` drops them. Numbers are the decimal literals of
the tables, so they load as exactly the same floats.
"""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

__all__ = ["SEASON_ORIGIN", "load_params", "season_day"]

SEASON_ORIGIN = dt.date(2018, 9, 1)
"""Day 0 of the reference (2019) season of the phenology and radar tables."""


def _without_notes(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _without_notes(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [_without_notes(v) for v in obj]
    return obj


def load_params(name: str) -> dict[str, Any]:
    """The table ``params/<name>.json`` without its notes (a new dict on every call)."""
    text = (resources.files("sitsfusion.simulate") / "params" / f"{name}.json").read_text(
        encoding="utf-8"
    )
    return _without_notes(json.loads(text))


def season_day(day: str) -> int:
    """Day of the reference season (day 0 = 2018-09-01) of an ISO date of the 2019 season."""
    return (dt.date.fromisoformat(day) - SEASON_ORIGIN).days
