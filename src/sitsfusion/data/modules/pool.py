"""Formats read as one pool of samples and split by indices (tables, OAD, Sen4AgriNet)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from sitsfusion.data.modules.base import SITSDataModule, Split
from sitsfusion.data.readers.base import Reader
from sitsfusion.data.readers.concat import concat_readers
from sitsfusion.data.splits import group_split, kfold_split, match_groups, stratified_split
from sitsfusion.errors import ConfigError

__all__ = ["PoolDataModule"]


class PoolDataModule(SITSDataModule):
    """One reader (``data.root``), split by ``data.split``; or given training / test files.

    * ``data.split``: ``"stratified"`` (``split_fractions``; seed 004 scenario 1: 60/20/20),
      ``"kfold"`` (test = fold, val = fold + 1) or ``"groups"`` (train on ``train_groups``, test
      on ``test_groups``: seed 004 scenarios 2-3); ``data.groups`` keeps some region × year
      groups only. Samples of one cluster (polygon, patch) always stay in one part.
    * ``data.train_roots`` / ``test_roots`` (/ ``val_roots``): the files as they are; without
      validation files, a stratified part of the training files.

    Subclasses name their reader (:attr:`reader`) and its options from the config
    (:meth:`_reader_options`); ``data.reader`` adds or overrides options.
    """

    reader: ClassVar[type[Reader]]

    def _reader_options(self) -> dict[str, Any]:
        """Reader options taken from the config (``data.reader`` entries win)."""
        return {}

    def _open(self, root: str) -> Reader:
        options = {**self._reader_options(), **self.cfg.reader}
        try:
            return type(self).reader(root, **options)  # type: ignore[call-arg]
        except TypeError as exc:  # an unknown or duplicated data.reader option
            if "keyword argument" not in str(exc) and "multiple values" not in str(exc):
                raise
            raise ConfigError(f"data.reader: {exc}") from None

    def _split_pool(self, pool: Reader) -> list[np.ndarray]:
        """Train / val / test indices of one pool by ``data.split`` (and ``data.groups``)."""
        cfg = self.cfg
        n = len(pool)
        labels = np.zeros(n, dtype=np.int64) if pool.labels is None else np.asarray(pool.labels)
        groups, clusters = pool.groups, pool.clusters
        keep = np.arange(n)
        if cfg.groups is not None or cfg.split == "groups":
            if groups is None:
                raise ConfigError(
                    f"data.groups: {cfg.root} has no region / year groups (data.format "
                    f"{cfg.format!r}); use split: stratified or kfold"
                )
            if cfg.groups is not None:
                keep = keep[match_groups(groups, cfg.groups)]
                if keep.size == 0:
                    raise ConfigError(
                        f"data.groups: none of {cfg.groups} in {cfg.root}; groups present: "
                        f"{sorted(set(np.asarray(groups).tolist()))}"
                    )
        sub_clusters = None if clusters is None else np.asarray(clusters)[keep]
        if cfg.split == "groups":
            if not cfg.train_groups or not cfg.test_groups:
                raise ConfigError("data.split: 'groups' needs train_groups and test_groups")
            f_train, f_val = cfg.split_fractions[0], cfg.split_fractions[1]
            assert groups is not None
            parts = group_split(
                np.asarray(groups)[keep],
                labels[keep],
                cfg.train_groups,
                cfg.test_groups,
                cfg.val_groups,
                val_fraction=f_val / (f_train + f_val),
                seed=cfg.split_seed,
                clusters=sub_clusters,
            )
        elif cfg.split == "kfold":
            parts = kfold_split(labels[keep], cfg.n_folds, cfg.fold, cfg.split_seed, sub_clusters)
        else:
            parts = stratified_split(
                labels[keep], cfg.split_fractions, cfg.split_seed, sub_clusters
            )
        return [keep[p] for p in parts]

    def _splits(self) -> dict[str, Split]:
        cfg = self.cfg
        if not cfg.train_roots:
            pool = self._open(cfg.root)
            parts = self._split_pool(pool)
            return {
                k: Split(pool, idx) for k, idx in zip(("train", "val", "test"), parts, strict=True)
            }
        # given files: the test file(s) as they are, val from training unless given
        if not cfg.test_roots:
            raise ConfigError("data.train_roots: give test_roots too")
        if cfg.split != "stratified" or cfg.groups is not None:
            raise ConfigError(
                "data.train_roots: the roots already split the data; data.split "
                f"{cfg.split!r} / data.groups apply to a single data.root"
            )
        train_pool = concat_readers([self._open(r) for r in cfg.train_roots])
        test_pool = concat_readers([self._open(r) for r in cfg.test_roots])
        test = Split(test_pool, np.arange(len(test_pool)))
        if cfg.val_roots:
            val_pool = concat_readers([self._open(r) for r in cfg.val_roots])
            return {
                "train": Split(train_pool, np.arange(len(train_pool))),
                "val": Split(val_pool, np.arange(len(val_pool))),
                "test": test,
            }
        labels = train_pool.labels
        f_train, f_val = cfg.split_fractions[0], cfg.split_fractions[1]
        frac = f_val / (f_train + f_val)
        train_idx, val_idx = stratified_split(
            np.zeros(len(train_pool), np.int64) if labels is None else labels,
            [1.0 - frac, frac],
            cfg.split_seed,
            train_pool.clusters,
        )
        return {
            "train": Split(train_pool, train_idx),
            "val": Split(train_pool, val_idx),
            "test": test,
        }
