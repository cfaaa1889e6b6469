"""The spectra of the Sentinel-2 signal model, from ``params/spectra.json``: endmember
reflectances, cloud and haze, and per-appearance scalings of leaf NIR and dry vegetation."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from sitsfusion.simulate.layout import appearance_code
from sitsfusion.simulate.params import load_params

__all__ = ["BANDS_20M", "CLOUD", "DRY_BRIGHTNESS", "ENDMEMBERS", "HAZE", "LEAF_NIR", "S2_BANDS"]


def _frozen(values: list[float]) -> np.ndarray:
    arr = np.array(values)
    arr.flags.writeable = False
    return arr


_SPECTRA = load_params("spectra")
S2_BANDS: tuple[str, ...] = tuple(_SPECTRA["bands"])
"""The 10 simulated bands (B2 ... B12), in the order of every spectrum."""
BANDS_20M = np.array([S2_BANDS.index(b) for b in ("B5", "B6", "B7", "B8A", "B11", "B12")])
"""Indices of the 20 m bands of Sentinel-2 among :data:`S2_BANDS`."""
ENDMEMBERS: Mapping[str, np.ndarray] = MappingProxyType(
    {name: _frozen(v) for name, v in _SPECTRA["endmembers"].items()}
)
"""Endmember reflectances ``[10]``: green_leaf, dry_leaf, yellow_flower, soil, asphalt, built,
water, forest_floor."""
CLOUD = _frozen(_SPECTRA["cloud"])
HAZE = _frozen(_SPECTRA["haze"])
LEAF_NIR: Mapping[int, float] = MappingProxyType(
    {appearance_code(k): v for k, v in _SPECTRA["leaf_nir"].items()}
)
"""Canopy NIR / visible scaling per appearance (1.0 when absent)."""
DRY_BRIGHTNESS: Mapping[int, float] = MappingProxyType(
    {appearance_code(k): v for k, v in _SPECTRA["dry_brightness"].items()}
)
"""Dry-vegetation brightness per appearance (1.0 when absent)."""
