"""PASTIS / PASTIS-R: the official folds (patches, panoptic targets or parcels)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np

from sitsfusion.data.modules.base import SITSDataModule, Split, register_datamodule
from sitsfusion.data.readers.base import Reader
from sitsfusion.data.readers.pastis import PASTIS, PASTISParcels

__all__ = ["PASTISDataModule"]


@register_datamodule
class PASTISDataModule(SITSDataModule):
    """``data.train_folds`` / ``val_folds`` / ``test_folds`` of a PASTIS folder.

    Patches for ``"semantic"`` / ``"panoptic"``, parcels (``data.n_pixels`` pixels, drawn at
    random for training and once per parcel for evaluation) for ``"parcel"``. Normalised by
    default with the ``NORM`` files pooled over the training folds (validation and test too:
    the reference normalises them with their own folds' statistics, a small leak).
    """

    format: ClassVar[str] = "pastis"
    # seed 001 Sec. 4.2 / the PASTIS loader: channel z-score with the NORM_<m>_patch.json files
    normalize_default: ClassVar[Literal["none", "zscore"]] = "zscore"

    def _reader(self, folds: Sequence[int], train: bool) -> Reader:
        cfg = self.cfg
        common = {"folds": folds, "modalities": tuple(cfg.modalities), "cache": cfg.cache}
        if self.target == "parcel":
            sampling: Literal["random", "fixed"] = "random" if train else "fixed"
            return PASTISParcels(
                cfg.root, n_pixels=cfg.n_pixels, sample_pixels=sampling, seed=self.seed, **common
            )
        return PASTIS(cfg.root, target=self.target, **common)  # type: ignore[arg-type]

    def _splits(self) -> dict[str, Split]:
        cfg = self.cfg
        splits = {}
        for name, folds in (
            ("train", cfg.train_folds),
            ("val", cfg.val_folds),
            ("test", cfg.test_folds),
        ):
            reader = self._reader(folds, train=name == "train")
            twin = None
            if name == "train" and self.target == "parcel":
                twin = functools.partial(self._reader, folds, False)
            splits[name] = Split(reader, np.arange(len(reader)), twin)
        return splits

    def _where(self) -> str:
        return self.cfg.root
