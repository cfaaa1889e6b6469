"""Spatial folds of an area: blocks, stratification by class, parcel ownership."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sitsfusion.geo.folds import block_index, owner_folds, stratified_folds


def test_block_index_groups_neighbouring_patches():
    blocks = block_index(3, 5, 2)
    assert blocks.tolist() == [[0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [3, 3, 4, 4, 5]]


@settings(max_examples=60, deadline=None)
@given(
    counts=arrays(
        np.int64, st.tuples(st.integers(1, 30), st.integers(0, 6)), elements=st.integers(0, 500)
    ),
    folds=st.integers(1, 6),
)
def test_every_block_gets_a_fold_and_no_fold_is_empty(counts, folds):
    fold = stratified_folds(counts, folds)
    assert fold.shape == (counts.shape[0],)
    assert fold.min() >= 1 and fold.max() <= folds
    if counts.shape[0] >= folds:
        assert set(fold.tolist()) == set(range(1, folds + 1))


def test_stratified_is_more_even_than_dealing_in_turn():
    """On random class mixtures, the worst class share of a fold stays nearer 1/5 than when
    blocks take the folds in turn (the row-major dealing of the first prepare)."""
    worse = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        counts = rng.poisson(50, (20, 6)) * (rng.random((20, 6)) < 0.5)
        counts[:, counts.sum(0) == 0] = 0

        def spread(fold, counts=counts):
            total = counts.sum(0)
            keep = total > 0
            shares = np.array([counts[fold == k].sum(0)[keep] / total[keep] for k in range(1, 6)])
            return np.abs(shares - 0.2).max()

        turn = np.arange(20) % 5 + 1
        worse += spread(stratified_folds(counts, 5)) > spread(turn)
    assert worse <= 2


def test_a_class_of_one_block_lands_in_one_fold():
    counts = np.zeros((6, 2))
    counts[:, 0] = 10
    counts[3, 1] = 7
    fold = stratified_folds(counts, 3)
    assert np.bincount(fold, minlength=4)[1:].tolist() == [2, 2, 2]


def test_owner_is_the_fold_with_most_pixels():
    owners = owner_folds(
        [(1, 2, 5), (1, 3, 6), (2, 1, 3), (2, 4, 3), (3, 2, 4), (3, 1, 2), (3, 1, 3)]
    )
    assert owners == {1: 3, 2: 1, 3: 1}
