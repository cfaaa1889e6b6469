"""Spatial cross-validation folds for an area: blocks of patches, stratified by class.

Neighbouring pixels of one field look alike, so a random split of patches (or pixels) puts
near-copies of the test data into training and inflates the scores (spatial leakage). The
folds here are made of **spatial blocks** — squares of ``block`` x ``block`` patches that all
go to one fold — and the blocks are dealt to the folds so that every fold gets a similar share
of every class (**stratified where possible**: a class found in one block only lands in one
fold). A parcel whose pixels fall into blocks of different folds is **owned** by the fold
holding most of its pixels (:func:`owner_folds`); the caller labels it void elsewhere, so that
no parcel is scored in one fold and trained on in another.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

__all__ = ["block_index", "owner_folds", "stratified_folds"]


def block_index(rows: int, cols: int, block: int) -> np.ndarray:
    """``[rows, cols]`` int: the spatial block of every patch of a ``rows`` x ``cols`` grid of
    patches, blocks of ``block`` x ``block`` patches numbered row by row from 0."""
    if rows < 1 or cols < 1 or block < 1:
        raise ValueError(f"rows, cols and block must be >= 1, got {rows}, {cols}, {block}")
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return (r // block) * math.ceil(cols / block) + c // block


def stratified_folds(class_pixels: np.ndarray, folds: int) -> np.ndarray:
    """Deal blocks to folds 1..``folds`` so that each fold gets ~1/``folds`` of every class.

    Greedy, deterministic: blocks holding the largest share of some class (rare classes first)
    are placed first, each into the fold where adding it brings the class shares closest to
    ``1 / folds`` (the smallest increase of the sum of squared deviations over the classes
    present, i.e. the fold holding the least of the block's classes); ties go to the fold
    with fewer blocks, then the lower fold. When no more blocks remain than folds
    are still empty, the remaining blocks fill the empty folds, so that no fold is empty
    while there are at least ``folds`` blocks.

    Args:
        class_pixels: ``[n_blocks, K]`` pixels of each class (background / void excluded by
            the caller) in each block.
        folds: the number of folds.

    Returns:
        ``[n_blocks]`` int, the fold (1..``folds``) of each block.
    """
    counts = np.asarray(class_pixels, dtype=np.float64)
    if counts.ndim != 2 or (counts < 0).any():
        raise ValueError(f"class_pixels must be [n_blocks, K] counts >= 0, got {counts.shape}")
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    n_blocks = counts.shape[0]
    totals = counts.sum(axis=0)
    present = totals > 0
    share = counts[:, present] / totals[present]  # [n_blocks, K'] share of each class
    order = sorted(range(n_blocks), key=lambda b: (-share[b].max(initial=0.0), b))
    load = np.zeros((folds, share.shape[1]))
    n_in = np.zeros(folds, dtype=np.int64)
    fold = np.zeros(n_blocks, dtype=np.int64)
    for left, b in zip(range(n_blocks, 0, -1), order, strict=True):
        empty = np.flatnonzero(n_in == 0)
        candidates = empty if 0 < left <= empty.size else np.arange(folds)
        before = load[candidates] - 1.0 / folds
        cost = ((before + share[b]) ** 2 - before**2).sum(axis=1)
        best = min(zip(cost, n_in[candidates], candidates, strict=True))[2]
        fold[b] = best + 1
        load[best] += share[b]
        n_in[best] += 1
    return fold


def owner_folds(pixels: Iterable[tuple[int, int, int]]) -> dict[int, int]:
    """The fold that owns each parcel: the one holding most of its pixels (ties: the lower
    fold).

    Args:
        pixels: ``(parcel id, fold, pixel count)`` triples, a parcel possibly in several
            triples of one fold (summed).

    Returns:
        ``{parcel id: fold}``.
    """
    per: dict[int, dict[int, int]] = {}
    for parcel, fold, n in pixels:
        folds = per.setdefault(int(parcel), {})
        folds[int(fold)] = folds.get(int(fold), 0) + int(n)
    return {p: min(f.items(), key=lambda kv: (-kv[1], kv[0]))[0] for p, f in per.items()}
