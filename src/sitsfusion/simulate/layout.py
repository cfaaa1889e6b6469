"""The landscape of a patch: Voronoi fields in blocks between roads, background covers, labels,
and the PASTIS annotations (semantic target with void borders, instances, PaPs centerness).

A patch is a map of *units* (fields, background cells and one road unit); every unit has an
*appearance* (which phenology, spectra and radar it takes: a crop code 1..18 or one of the
non-crop codes below), a semantic label and a parcel flag.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from scipy.spatial import cKDTree

from sitsfusion.data.centerness import centerness_targets
from sitsfusion.simulate.params import load_params
from sitsfusion.simulate.regions import Region

__all__ = [
    "APPEARANCES",
    "BACKGROUND_COVERS",
    "CLASS_FREQUENCIES",
    "CLASS_NAMES",
    "FOREST",
    "GRASS",
    "PEAS",
    "ROAD",
    "URBAN",
    "VOID",
    "VOID_PARCEL_RATE",
    "WATER",
    "Layout",
    "annotations",
    "appearance_code",
    "make_layout",
]

# Appearance codes of units: 1..18 crops (PASTIS codes), then non-agricultural covers.
FOREST, URBAN, WATER, GRASS, ROAD = 20, 21, 22, 23, 24
PEAS = 25  # an extra crop appearance used by the Sen4AgriNet format: field peas
APPEARANCES: Mapping[str, int] = MappingProxyType(
    {"forest": FOREST, "urban": URBAN, "water": WATER, "grass": GRASS, "road": ROAD, "peas": PEAS}
)
"""Names of the non-crop appearances, as used as keys in ``params/*.json``."""

_CLASSES = load_params("classes")
CLASS_NAMES: tuple[str, ...] = tuple(_CLASSES["class_names"])
"""PASTIS class names, indexed by label (0 background, 1..18 crops, 19 void)."""
VOID: int = _CLASSES["void"]
CLASS_FREQUENCIES: Mapping[int, float] = MappingProxyType(
    {int(k): v for k, v in _CLASSES["class_frequencies"].items()}
)
"""Parcel-level crop class frequencies of the ``west`` region (``params/classes.json``)."""
VOID_PARCEL_RATE: float = _CLASSES["void_parcel_rate"]
BACKGROUND_COVERS: Mapping[int, float] = MappingProxyType(
    {APPEARANCES[k]: v for k, v in _CLASSES["background_covers"].items()}
)
"""Non-crop appearance -> share among background cells."""


def appearance_code(key: str) -> int:
    """Appearance code of a key of the params files: ``"7"`` -> 7, ``"forest"`` -> 20."""
    return APPEARANCES[key] if key in APPEARANCES else int(key)


@dataclass
class Layout:
    """The units of one patch."""

    unit_map: np.ndarray  # [H, W] unit index
    appearance: np.ndarray  # [U] appearance code (1..18 crops, 20..25 other covers)
    label: np.ndarray  # [U] semantic label of the unit (0 background, 1..18, 19 void)
    is_parcel: np.ndarray  # [U] bool


def _voronoi(
    rng: np.random.Generator, size: int, cell_area: float, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Anisotropic Voronoi partition of a size×size grid with cells of mean area cell_area.

    Returns the ``[H, W]`` cell map and the cell seeds ``[n, 2]`` in pixel coordinates.
    """
    angle = rng.uniform(0, np.pi)
    stretch = rng.uniform(1.0, 1.8)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lo, hi = -margin, size + margin
    n = max(2, rng.poisson((hi - lo) ** 2 / cell_area))
    pts = rng.uniform(lo, hi, (n, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    pix = np.stack([yy.ravel(), xx.ravel()], 1).astype(np.float64)
    scale = np.array([1.0, 1.0 / stretch])
    tree = cKDTree((pts @ rot) * scale)
    _, idx = tree.query((pix @ rot) * scale)
    return idx.reshape(size, size), pts


def _relabel(a: np.ndarray) -> np.ndarray:
    _, inv = np.unique(a, return_inverse=True)
    return inv.reshape(a.shape)


def make_layout(rng: np.random.Generator, size: int, reg: Region, probs: np.ndarray) -> Layout:
    """Fields, roads, background and class labels of one ``size × size`` patch.

    Args:
        rng: the patch's layout generator.
        size: patch side H = W (pixels of 10 m).
        reg: the region (its ``field_scale``).
        probs: ``[18]`` probabilities of the crop classes 1..18.
    """
    for attempt in range(12):
        relaxed = attempt >= 6
        scale = reg.field_scale * float(np.exp(rng.normal(0.0, 0.3)))
        cell_area = 350.0 * scale  # ≈ 2 ha fields (seed 000 Sec. 3.1) after roads and borders
        cell_area = min(cell_area, size * size / (4.0 + attempt))  # tiny patches: still fields
        cells, pts = _voronoi(rng, size, cell_area, margin=0.6 * math.sqrt(cell_area))
        # Blocks (groups of fields between roads): cells grouped around coarser seeds.
        n_blocks = max(1, rng.poisson(len(pts) / rng.uniform(5.0, 12.0)))
        bseeds = pts[rng.choice(len(pts), size=min(n_blocks, len(pts)), replace=False)]
        _, block_of_cell = cKDTree(bseeds).query(pts)
        if attempt == 11:  # last resort: two fields side by side
            cells = (np.arange(size)[None, :] >= size // 2).repeat(size, 0).astype(np.int64)
            block_of_cell = np.zeros(2, dtype=np.int64)
        blocks = np.asarray(block_of_cell)[cells]
        unit = _relabel(cells)
        # Roads along block borders: 1 px, 2 px around "major" blocks.
        major = rng.random(blocks.max() + 1) < 0.3
        road = np.zeros((size, size), dtype=bool)
        for axis in (0, 1):
            a = blocks
            b = np.roll(blocks, -1, axis=axis)
            diff = a != b
            if axis == 0:
                diff[-1, :] = False
            else:
                diff[:, -1] = False
            road |= diff
            road |= np.roll(diff & (major[a] | major[b]), 1, axis=axis)  # wide roads: 2 px
        if relaxed:
            road[:] = False
        n_units = int(unit.max()) + 1
        # Background cells: whole blocks (villages, woods) and scattered cells.
        p_bg = 0.0 if relaxed else rng.beta(2.0, 5.0)
        bg_block = rng.random(blocks.max() + 1) < 0.5 * p_bg
        first_block = np.zeros(n_units, dtype=np.int64)
        first_block[unit.ravel()] = blocks.ravel()
        is_bg = bg_block[first_block] | (rng.random(n_units) < 0.5 * p_bg)
        cover = rng.choice(
            np.array(list(BACKGROUND_COVERS)), n_units, p=list(BACKGROUND_COVERS.values())
        )
        crop = rng.choice(np.arange(1, 19), n_units, p=probs)
        void = rng.random(n_units) < VOID_PARCEL_RATE
        present = np.zeros(n_units, dtype=bool)
        present[unit[~road]] = True
        n_parcels = int((present & ~is_bg).sum())
        if n_parcels >= 2:
            break
    appearance = np.where(is_bg, cover, crop)
    label = np.where(is_bg, 0, np.where(void, VOID, crop))
    # Road pixels become one extra unit.
    unit = np.where(road, n_units, unit)
    appearance = np.append(appearance, ROAD)
    label = np.append(label, 0)
    is_parcel = np.append(~is_bg, False)
    # Drop units that lost all their pixels; renumber.
    used, inv = np.unique(unit, return_inverse=True)
    return Layout(inv.reshape(unit.shape), appearance[used], label[used], is_parcel[used])


def annotations(
    lay: Layout, first_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The PASTIS annotations of a layout.

    Returns:
        ``TARGET`` uint8 ``[3, H, W]`` (semantic labels with 1-pixel void borders, 3 copies),
        ``ParcelIDs`` int32 ``[H, W]`` (``first_id`` onwards, 0 = none), ``INSTANCES`` int64
        ``[H, W]`` (1..N), ``HEATMAP`` float64 ``[H, W]`` and ``ZONES`` int64 ``[H, W]``
        (PaPs centerness), and the number of parcels N.
    """
    size = lay.unit_map.shape[0]
    parcel_units = np.flatnonzero(lay.is_parcel)
    inst_of_unit = np.zeros(lay.is_parcel.size, dtype=np.int64)
    inst_of_unit[parcel_units] = np.arange(1, parcel_units.size + 1)
    instances = inst_of_unit[lay.unit_map]
    parcel_ids = np.where(instances > 0, first_id - 1 + instances, 0).astype(np.int32)
    sem = lay.label[lay.unit_map].astype(np.uint8)
    # 1-pixel void border: parcel pixels touching background/roads, and one side of the line
    # between two touching parcels.
    border = np.zeros(sem.shape, dtype=bool)
    for axis in (0, 1):
        for step in (1, -1):
            nb = np.roll(instances, step, axis=axis)
            edge = np.zeros(sem.shape, dtype=bool)
            sl = [slice(None), slice(None)]
            sl[axis] = slice(0, 1) if step == 1 else slice(size - 1, size)
            edge[tuple(sl)] = True  # the patch edge is not a border
            touch_bg = (nb == 0) & (instances > 0)
            touch_other = (nb > 0) & (nb != instances) & (instances > 0) & (step == 1)
            border |= (touch_bg | touch_other) & ~edge
    sem[border] = VOID
    target = np.stack([sem, sem, sem])
    # Centerness (PaPs) ground truth as the PASTIS script makes it: Eq. 6 Gaussians on the
    # bounding-box centres of the instances (background removed), zones = dominating parcel.
    heat_t, zones_t = centerness_targets(torch.from_numpy(instances * (sem != 0)))
    heat = heat_t.numpy().astype(np.float64)
    zones = zones_t.numpy().astype(np.int64)
    return target, parcel_ids, instances, heat, zones, int(parcel_units.size)
