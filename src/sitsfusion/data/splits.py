"""Train / validation / test splits: stratified, k-fold, and by region × year groups.

All functions return sorted int64 index arrays into the sample list. ``clusters`` (one key per
sample: a polygon, a patch) keeps samples that must stay together in the same part, so that
pixels of one field or sub-patches of one patch never leak between training and test.

Region × year groups (seed 004, Table II) are strings ``"<region>/<year>"``, e.g.
``"catalonia/2019"``; a pattern is matched with shell wildcards, and a pattern without ``/``
names a region (``"france"`` = ``"france/*"``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import numpy as np

from sitsfusion.errors import ConfigError

__all__ = [
    "group_key",
    "group_split",
    "kfold_split",
    "match_groups",
    "stratified_split",
]


def group_key(region: object, year: object) -> str:
    """The group string ``"<region>/<year>"`` (lower-case region)."""
    return f"{str(region).strip().lower()}/{str(year).strip()}"


def match_groups(groups: Sequence[str] | np.ndarray, patterns: Sequence[str]) -> np.ndarray:
    """Bool ``[N]``: which ``groups`` match any of ``patterns`` (shell wildcards)."""
    pats = [p.strip().lower() if "/" in p else f"{p.strip().lower()}/*" for p in patterns]
    uniq, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    hit = np.array([any(fnmatch.fnmatchcase(g.lower(), p) for p in pats) for g in uniq], bool)
    return hit[inverse.reshape(-1)] if uniq.size else np.zeros(0, dtype=bool)


def _cluster_view(labels: np.ndarray, clusters: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(cluster label = majority label of its samples, cluster index of every sample)."""
    if clusters is None:
        return labels, np.arange(labels.size)
    _, inverse = np.unique(np.asarray(clusters).astype(str), return_inverse=True)
    n = int(inverse.max()) + 1 if inverse.size else 0
    _, lab_inv = np.unique(labels, return_inverse=True)
    votes = np.zeros((n, int(lab_inv.max()) + 1 if lab_inv.size else 1), dtype=np.int64)
    np.add.at(votes, (inverse, lab_inv), 1)
    uniq = np.unique(labels)
    return uniq[votes.argmax(axis=1)], inverse


def _expand(parts: list[np.ndarray], inverse: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(np.isin(inverse, p)).astype(np.int64) for p in parts]


def stratified_split(
    labels: Sequence[int] | np.ndarray,
    fractions: Sequence[float],
    seed: int,
    clusters: Sequence[object] | np.ndarray | None = None,
) -> list[np.ndarray]:
    """Indices of a per-class random split into ``len(fractions)`` parts (e.g. 60/20/20).

    With ``clusters``, whole clusters are assigned (stratified by their majority label).
    """
    labels = np.asarray(labels)
    frac = np.asarray(fractions, dtype=float)
    if frac.min() < 0 or not np.isclose(frac.sum(), 1.0):
        raise ConfigError(f"data.split_fractions: must be >= 0 and sum to 1, got {fractions}")
    unit_labels, inverse = _cluster_view(labels, None if clusters is None else np.asarray(clusters))
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in frac]
    for cls in np.unique(unit_labels):
        idx = rng.permutation(np.flatnonzero(unit_labels == cls))
        cuts = np.round(np.cumsum(frac)[:-1] * len(idx)).astype(int)
        for part, chunk in zip(parts, np.split(idx, cuts), strict=True):
            part.extend(chunk.tolist())
    # Few units per class round to empty parts: give every part with a positive fraction at
    # least one unit (taken from the largest part) when there are enough units.
    for k in np.argsort(-frac, kind="stable"):
        sizes = [len(p) for p in parts]
        donor = int(np.argmax(sizes))
        if frac[k] > 0 and not parts[k] and sizes[donor] > 1:
            parts[k].append(parts[donor].pop(int(rng.integers(sizes[donor]))))
    units = [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
    return units if clusters is None else _expand(units, inverse)


def kfold_split(
    labels: Sequence[int] | np.ndarray,
    n_folds: int,
    fold: int,
    seed: int,
    clusters: Sequence[object] | np.ndarray | None = None,
) -> list[np.ndarray]:
    """Stratified k-fold: ``[train, val, test]`` with test = fold ``fold``, validation = fold
    ``fold + 1`` (mod k) and training = the other k − 2 folds (the PASTIS rotation scheme)."""
    if n_folds < 3:
        raise ConfigError(f"data.n_folds: k-fold with a validation fold needs >= 3, got {n_folds}")
    if not 0 <= fold < n_folds:
        raise ConfigError(f"data.fold: must be in 0..{n_folds - 1}, got {fold}")
    folds = stratified_split(labels, [1.0 / n_folds] * n_folds, seed, clusters)
    test, val = folds[fold], folds[(fold + 1) % n_folds]
    train = np.sort(
        np.concatenate([f for k, f in enumerate(folds) if k not in (fold, (fold + 1) % n_folds)])
    )
    return [train, val, test]


def group_split(
    groups: Sequence[str] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    train: Sequence[str],
    test: Sequence[str],
    val: Sequence[str] | None = None,
    val_fraction: float = 0.25,
    seed: int = 0,
    clusters: Sequence[object] | np.ndarray | None = None,
) -> list[np.ndarray]:
    """Train on some region × year groups, test on others (seed 004, Table II, scenarios 2–3).

    Validation: the ``val`` groups, or else a stratified ``val_fraction`` of the training
    groups' samples (0.25 of the training pool = seed 004's 60/20 ratio).

    Raises:
        ConfigError: a part is empty, or one sample falls in two parts.
    """
    groups = np.asarray(groups).astype(str)
    labels = np.asarray(labels)
    in_train, in_test = match_groups(groups, train), match_groups(groups, test)
    present = sorted(set(groups.tolist()))
    if val:
        in_val = match_groups(groups, val)
        parts = [np.flatnonzero(in_train), np.flatnonzero(in_val), np.flatnonzero(in_test)]
    else:
        pool = np.flatnonzero(in_train)
        sub = None if clusters is None else np.asarray(clusters)[pool]
        keep, held = stratified_split(labels[pool], [1.0 - val_fraction, val_fraction], seed, sub)
        parts = [pool[keep], pool[held], np.flatnonzero(in_test)]
    for name, part in zip(("train", "val", "test"), parts, strict=True):
        if part.size == 0:
            raise ConfigError(
                f"data.{name}_groups: no sample falls in the {name} part; groups present: {present}"
            )
    for (a, pa), (b, pb) in (
        (("train", parts[0]), ("test", parts[2])),
        (("train", parts[0]), ("val", parts[1])),
        (("val", parts[1]), ("test", parts[2])),
    ):
        both = np.intersect1d(pa, pb)
        if both.size:
            raise ConfigError(
                f"data.*_groups: {both.size} samples are in both {a} and {b} (groups "
                f"{sorted(set(groups[both].tolist()))}); the parts must not overlap"
            )
    return [np.sort(p).astype(np.int64) for p in parts]
