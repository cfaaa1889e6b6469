"""Tiny synthetic class maps for the assessment tests (written, never read from disk)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sitsfusion.inference.maps import write_cog

PIXEL = 10.0  # metres: a Sentinel-2 10 m grid
TRANSFORM = (PIXEL, 0.0, 500_000.0, 0.0, -PIXEL, 4_800_000.0)
CRS = "EPSG:32631"


def write_class_map(path: Path, classes: np.ndarray, names: Sequence[str]) -> Path:
    """``classes [H, W]`` uint8 (255 = nodata) as a COG with predict's ``classes`` tag."""
    tags = {"classes": json.dumps(dict(enumerate(names))), "synthetic": "true"}
    bands = np.asarray(classes, dtype=np.uint8)[None]
    return write_cog(path, bands, CRS, TRANSFORM, nodata=255, band_names=["class"], tags=tags)


def blocky_map(height: int, width: int, num_classes: int, seed: int) -> np.ndarray:
    """A synthetic map: random class fields of 4 x 4 pixels, a nodata border column."""
    rng = np.random.default_rng(seed)
    fields = rng.integers(0, num_classes, size=(-(-height // 4), -(-width // 4)))
    out = np.kron(fields, np.ones((4, 4), dtype=np.int64))[:height, :width].astype(np.uint8)
    out[:, 0] = 255
    return out
