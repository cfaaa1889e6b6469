"""Phenology: daily fractions of green vegetation, dry vegetation and flowers of a unit.

Class-specific double-logistic curves (green-up, peak, senescence, harvest; winter crops emerge
in autumn; meadows are mown; vines and orchards are perennial; vegetables are short cycles)
with their parameters in ``params/phenology.json``, shifted per region, year and parcel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from sitsfusion.simulate.layout import appearance_code
from sitsfusion.simulate.params import load_params, season_day

__all__ = ["PHENOLOGY", "Phenology", "sigmoid", "unit_curves"]


@dataclass(frozen=True)
class Phenology:
    """Greenness model of one appearance (days of the reference season, west region)."""

    kind: str  # "annual", "meadow", "perennial", "veg", "static"
    sos: float = 0.0  # main green-up inflection
    r_up: float = 10.0
    gmax: float = 0.9
    eos: float = 400.0  # senescence inflection
    r_down: float = 8.0
    harvest: float = 999.0
    dry: float = 0.0  # peak fraction of dry standing vegetation (annual) / wood (perennial)
    emerg: float = 999.0  # autumn emergence (winter crops)
    aut: float = 0.0  # autumn/winter plateau of winter crops
    winter: float = 0.0  # winter green level (meadow, perennial)
    flower: tuple[float, float, float] | None = None  # (day, width, amplitude)
    cuts: tuple[float, float, int, int, float] | None = None  # first, interval, nmin, nmax, depth
    jitter: float = 6.0  # per-parcel timing standard deviation (days)


_DATES = ("sos", "eos", "harvest", "emerg")


def _phenology(entry: Mapping[str, Any]) -> Phenology:
    values = {k: v for k, v in entry.items() if k != "name"}
    for key in _DATES:
        if key in values:
            values[key] = season_day(values[key])
    if "flower" in values:
        f = values["flower"]
        values["flower"] = (season_day(f["day"]), f["width"], f["amplitude"])
    if "cuts" in values:
        c = values["cuts"]
        values["cuts"] = (season_day(c["first"]), c["interval"], c["min"], c["max"], c["depth"])
    return Phenology(**values)


PHENOLOGY: Mapping[int, Phenology] = MappingProxyType(
    {appearance_code(k): _phenology(v) for k, v in load_params("phenology").items()}
)
"""Appearance code -> its phenology (``params/phenology.json``)."""


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, computed as ``(1 + tanh(x / 2)) / 2`` (no overflow)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def unit_curves(
    app: int, rng: np.random.Generator, days: np.ndarray, shift: float, drought: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Daily (green, dry, flower) fractions ``[n_days]`` of one unit, and its timing offset.

    Args:
        app: the unit's appearance code.
        rng: the generator of the patch's units (draws in a fixed order).
        days: ``[n_days]`` days of the season.
        shift: the region's (and year's) phenology shift (days).
        drought: the region's summer drought depth on grassland.
    """
    p = PHENOLOGY[app]
    d = days.astype(np.float64)
    off = shift + float(np.clip(rng.normal(0.0, p.jitter), -2.5 * p.jitter, 2.5 * p.jitter))
    zeros = np.zeros_like(d)
    flower = zeros
    if p.kind == "static":
        green = np.full_like(d, p.gmax * rng.uniform(0.6, 1.4))
        return green, zeros, zeros, off
    if p.kind == "annual":
        sos, eos = p.sos + off, p.eos + off
        harvest = p.harvest + off + rng.normal(0.0, 4.0)
        emerg = p.emerg + 0.5 * off + rng.normal(0.0, 4.0)
        gmax = p.gmax * rng.uniform(0.92, 1.04)
        main = gmax * sigmoid((d - sos) / p.r_up) * (1.0 - sigmoid((d - eos) / p.r_down))
        aut = p.aut * rng.uniform(0.8, 1.2)
        winter = aut * sigmoid((d - emerg) / 8.0) * (1.0 - sigmoid((d - eos) / p.r_down))
        if app == 5:  # rapeseed loses leaves to frost in January
            winter = winter * (1.0 - 0.25 * np.exp(-(((d - 140.0) / 20.0) ** 2)))
        green = np.maximum(main, winter)
        # Before the crop: previous crop / stubble / winter cover crop.
        last = min(emerg, sos - 25.0) - 5.0
        pre_end = rng.uniform(10.0, max(12.0, min(70.0, last)))
        pre_green = rng.choice([0.0, 0.0, rng.uniform(0.3, 0.7)])
        green = np.maximum(green, pre_green * (1.0 - sigmoid((d - pre_end) / 4.0)))
        if p.aut == 0.0 and rng.random() < 0.4:  # cover crop over winter, ploughed in spring
            cc_end = min(sos - 30.0, rng.uniform(150.0, 220.0))
            cc = rng.uniform(0.3, 0.6) * sigmoid((d - pre_end - 25.0) / 8.0)
            green = np.maximum(green, cc * (1.0 - sigmoid((d - cc_end) / 4.0)))
        alive = 1.0 - sigmoid((d - harvest) / 1.5)
        green = green * alive + sigmoid((d - harvest - 35.0) / 8.0) * (rng.random() < 0.4) * 0.35
        dry = p.dry * rng.uniform(0.85, 1.05) * sigmoid((d - eos) / p.r_down) * alive
        stubble = 0.3 * sigmoid((d - harvest) / 1.5) * np.exp(-np.clip(d - harvest, 0, None) / 25.0)
        pre_dry = 0.3 * (pre_green == 0.0) * (1.0 - sigmoid((d - pre_end) / 4.0))
        dry = np.maximum(np.maximum(dry, stubble), pre_dry)
        if p.flower is not None:
            fday, fw, famp = p.flower
            flower = famp * rng.uniform(0.8, 1.2) * np.exp(-(((d - fday - off) / fw) ** 2))
            flower = flower * green
            green = green - flower
    elif p.kind == "meadow":
        w, s = p.winter * rng.uniform(0.85, 1.15), p.gmax * rng.uniform(0.93, 1.05)
        up = sigmoid((d - p.sos - off) / 15.0) * (1.0 - sigmoid((d - p.eos - off) / 20.0))
        up = up + (1.0 - sigmoid((d - p.eos + 365.0) / 20.0))
        green = w + (s - w) * np.clip(up, 0, 1)
        dip = drought * rng.uniform(0.6, 1.4) * np.exp(-(((d - 340.0 - off) / 28.0) ** 2))
        green = green * (1.0 - dip)
        dry = 0.6 * dip
        if p.cuts is not None:
            first, step, nmin, nmax, depth = p.cuts
            m = first + off + rng.normal(0.0, 10.0)
            for _ in range(int(rng.integers(nmin, nmax + 1))):
                depth_k = depth * rng.uniform(0.75, 1.25)
                since = np.clip(d - m, 0, None)
                cut = (d >= m) * np.exp(-since / 12.0)
                green = green * (1.0 - depth_k * cut)
                dry = dry + depth_k * 0.6 * (d >= m) * np.exp(-since / 3.0)
                m += step * rng.uniform(0.8, 1.25)
    elif p.kind == "perennial":
        leaf = sigmoid((d - p.sos - off) / p.r_up) * (1.0 - sigmoid((d - p.eos - off) / p.r_down))
        leaf = leaf + (1.0 - sigmoid((d - p.eos - off + 365.0) / p.r_down))
        w = p.winter * rng.uniform(0.7, 1.3)
        green = w + (p.gmax * rng.uniform(0.85, 1.1) - w) * np.clip(leaf, 0, 1)
        dry = np.full_like(d, p.dry)
    else:  # "veg": one or two short crops (vegetables, flowers), sometimes a winter one
        green = np.zeros_like(d)
        starts = [rng.uniform(p.sos, p.eos)]
        if rng.random() < 0.5:
            starts.append(starts[0] + rng.uniform(75.0, 120.0))
        if rng.random() < 0.3:
            starts.append(rng.uniform(0.0, 40.0))
        for st in starts:
            length = rng.uniform(55.0, 95.0)
            cyc = (
                rng.uniform(0.55, 0.9)
                * sigmoid((d - st) / 6.0)
                * (1.0 - sigmoid((d - st - length) / 4.0))
            )
            green = np.maximum(green, cyc)
        dry = 0.1 * green
    dry = np.minimum(dry, 1.0 - green - flower)
    return green, np.clip(dry, 0, None), flower, off
