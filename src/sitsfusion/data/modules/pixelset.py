"""Pixel sets: one folder split by its folds or at random per class, or folders per split."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from sitsfusion.data.modules.base import SITSDataModule, Split, register_datamodule
from sitsfusion.data.readers.base import Reader
from sitsfusion.data.readers.concat import concat_readers
from sitsfusion.data.readers.pixelset import PixelSetDataset
from sitsfusion.data.splits import stratified_split
from sitsfusion.errors import ConfigError

__all__ = ["PixelSetDataModule"]


@register_datamodule
class PixelSetDataModule(SITSDataModule):
    """``data.root`` split by its folds when it has them (``META/folds.json``, written by
    ``sitsfusion prepare --mode parcels``: ``data.train_folds`` / ``val_folds`` /
    ``test_folds``, as PASTIS), else per class (``split_fractions``, ``split_seed``); or
    ``data.train_roots`` / ``val_roots`` / ``test_roots`` (seed 000: regions Chateaulin +
    Quimper / Morlaix / Brest, with one ``reference_date``).

    Training parcels draw ``data.n_pixels`` pixels at random at each access; evaluation
    parcels draw them once per parcel.
    """

    format: ClassVar[str] = "pixelset"
    # values as stored, as pytorch-psetae's loader without a mean/std file (seed 000 Sec. 3.4
    # normalises every image beforehand, 2-98 % min-max)
    normalize_default: ClassVar[Literal["none", "zscore"]] = "none"

    def _reader(self, root: str, train: bool) -> PixelSetDataset:
        cfg = self.cfg
        return PixelSetDataset(
            Path(root),
            nomenclature=cfg.nomenclature,
            classes=cfg.classes,
            modality=cfg.modalities[0],
            n_pixels=cfg.n_pixels,
            sample_pixels="random" if train else "fixed",
            seed=self.seed,
            reference_date=cfg.reference_date,
            duplicate_dates=cfg.duplicate_dates,
        )

    def _readers(self, roots: Sequence[str], train: bool) -> Reader:
        return concat_readers([self._reader(r, train) for r in roots])

    def _splits(self) -> dict[str, Split]:
        cfg = self.cfg
        if cfg.train_roots:
            if not (cfg.val_roots and cfg.test_roots):
                raise ConfigError("data: give train_roots, val_roots and test_roots together")
            if cfg.reference_date is None and len(cfg.train_roots + cfg.val_roots) > 1:
                raise ConfigError(
                    "data.reference_date: several roots need one common time origin, e.g. "
                    "'2018-10-01'"
                )
            splits = {}
            for name, roots in (
                ("train", cfg.train_roots),
                ("val", cfg.val_roots),
                ("test", cfg.test_roots),
            ):
                train = name == "train"
                reader = self._readers(roots, train)
                twin = functools.partial(self._readers, roots, False) if train else None
                splits[name] = Split(reader, np.arange(len(reader)), twin)
            return splits
        training, evaluation = self._reader(cfg.root, True), self._reader(cfg.root, False)
        if training.folds is not None:
            parts = self._fold_parts(training.folds)
        else:
            parts = stratified_split(training.labels, cfg.split_fractions, cfg.split_seed)
        return {
            "train": Split(training, parts[0], lambda: evaluation),
            "val": Split(evaluation, parts[1]),
            "test": Split(evaluation, parts[2]),
        }

    def _fold_parts(self, folds: np.ndarray) -> list[np.ndarray]:
        """Indices of the train / val / test parcels by ``data.*_folds``."""
        cfg = self.cfg
        parts = []
        for name, chosen in (
            ("train", cfg.train_folds),
            ("val", cfg.val_folds),
            ("test", cfg.test_folds),
        ):
            part = np.flatnonzero(np.isin(folds, chosen))
            if part.size == 0:
                values, counts = np.unique(folds, return_counts=True)
                present = dict(zip(values.tolist(), counts.tolist(), strict=True))
                raise ConfigError(
                    f"data.{name}_folds: no parcel of {cfg.root} in folds {chosen}; "
                    f"parcels per fold: {present}"
                )
            parts.append(part)
        return parts

    def _where(self) -> str:
        cfg = self.cfg
        return cfg.train_roots[0] if cfg.train_roots else cfg.root
