"""Stratified, k-fold and region x year splits (seed 004 Table II scenarios)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitsfusion.config import ConfigError
from sitsfusion.data.splits import (
    group_key,
    group_split,
    kfold_split,
    match_groups,
    stratified_split,
)


def _check_partition(parts: list[np.ndarray], n: int) -> None:
    allidx = np.concatenate(parts)
    assert np.array_equal(np.sort(allidx), np.arange(n))  # disjoint and complete


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 3), min_size=6, max_size=80),
    n_clusters=st.integers(2, 20),
    seed=st.integers(0, 1000),
)
def test_stratified_split_partitions_and_keeps_clusters(
    labels: list[int], n_clusters: int, seed: int
) -> None:
    labels_a = np.asarray(labels)
    clusters = np.arange(labels_a.size) % n_clusters
    parts = stratified_split(labels_a, [0.6, 0.2, 0.2], seed, clusters)
    _check_partition(parts, labels_a.size)
    owner = {}
    for k, part in enumerate(parts):
        for c in np.unique(clusters[part]):
            assert owner.setdefault(int(c), k) == k  # a cluster never spans two parts
    # enough units: no part with a positive fraction is left empty
    if len(np.unique(clusters)) >= 3:
        assert all(p.size for p in parts)


def test_stratified_split_keeps_class_proportions() -> None:
    labels = np.repeat([0, 1, 2], [100, 50, 10])
    train, _, test = stratified_split(labels, [0.6, 0.2, 0.2], seed=0)
    assert np.bincount(labels[train]).tolist() == [60, 30, 6]
    assert np.bincount(labels[test]).tolist() == [20, 10, 2]
    with pytest.raises(ConfigError, match="sum to 1"):
        stratified_split(labels, [0.5, 0.2], seed=0)


def test_kfold_rotates_test_and_validation_folds() -> None:
    labels = np.repeat([0, 1], [50, 25])
    tests = []
    for fold in range(5):
        train, val, test = kfold_split(labels, 5, fold, seed=1)
        _check_partition([train, val, test], labels.size)
        tests.append(test)
        assert np.bincount(labels[test]).tolist() == [10, 5]
    _check_partition(tests, labels.size)  # every sample is tested exactly once
    next_val = kfold_split(labels, 5, 0, seed=1)[1]
    assert np.array_equal(next_val, kfold_split(labels, 5, 1, seed=1)[2])
    with pytest.raises(ConfigError, match="fold"):
        kfold_split(labels, 5, 5, seed=1)


def test_group_patterns_and_scenarios() -> None:
    groups = np.array(["catalonia/2019"] * 4 + ["catalonia/2020"] * 4 + ["france/2019"] * 4)
    assert group_key(" Catalonia", 2019) == "catalonia/2019"
    assert match_groups(groups, ["france"]).sum() == 4
    assert match_groups(groups, ["*/2019"]).sum() == 8
    assert match_groups(groups, ["catalonia/*"]).sum() == 8
    labels = np.zeros(12, dtype=int)
    # scenario 2: train Catalonia (validation carved from it), test France
    train, val, test = group_split(groups, labels, ["catalonia"], ["france/2019"], seed=0)
    assert set(groups[test]) == {"france/2019"}
    assert set(groups[np.r_[train, val]]) == {"catalonia/2019", "catalonia/2020"}
    assert val.size == 2 and train.size == 6
    # scenario 3: train France 2019, test Catalonia 2020
    train, val, test = group_split(groups, labels, ["france/2019"], ["catalonia/2020"])
    assert set(groups[test]) == {"catalonia/2020"} and set(groups[train]) == {"france/2019"}
    with pytest.raises(ConfigError, match="both train and test"):
        group_split(groups, labels, ["catalonia"], ["*/2019"])
    with pytest.raises(ConfigError, match="no sample falls in the test part"):
        group_split(groups, labels, ["catalonia"], ["germany"])
