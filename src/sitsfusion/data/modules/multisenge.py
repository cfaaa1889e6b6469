"""MultiSenGE: the tile-based split of seed 003."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from sitsfusion.data.modules.base import SITSDataModule, Split, register_datamodule
from sitsfusion.data.readers.multisenge import PAPER_SPLIT, MultiSenGE, parse_patch_id, tile_split
from sitsfusion.errors import ConfigError

__all__ = ["MultiSenGEDataModule"]


@register_datamodule
class MultiSenGEDataModule(SITSDataModule):
    """Patches of ``data.train_tiles`` / ``val_tiles`` / ``test_tiles`` (None: the paper's).

    ``data.class_scheme``: 14, 10 or 6 classes (seed 003 Table 3). Normalised by default with
    the per-band statistics of every date and pixel of the training patches.
    """

    format: ClassVar[str] = "multisenge"
    # seed 003 Sec. 3.4: multitemporal per-band z-score with the training set's statistics
    normalize_default: ClassVar[Literal["none", "zscore"]] = "zscore"
    statistics_samples: ClassVar[int | None] = None  # seed 003 Sec. 3.4: the whole training set

    def _splits(self) -> dict[str, Split]:
        cfg = self.cfg
        every = MultiSenGE(cfg.root, modalities=tuple(cfg.modalities), classes=cfg.class_scheme)
        split = tile_split(
            every.patch_ids,
            val_tiles=cfg.val_tiles if cfg.val_tiles is not None else PAPER_SPLIT["val"],
            test_tiles=cfg.test_tiles if cfg.test_tiles is not None else PAPER_SPLIT["test"],
            train_tiles=cfg.train_tiles if cfg.train_tiles is not None else PAPER_SPLIT["train"],
        )
        empty = [k for k in ("train", "val", "test") if not split[k]]
        if empty:
            raise ConfigError(
                f"data.*_tiles: no patch of {cfg.root} falls in the {empty} split(s); tiles "
                f"present: {sorted({parse_patch_id(p)[0] for p in every.patch_ids})}"
            )
        position = {pid: i for i, pid in enumerate(every.patch_ids)}
        return {
            k: Split(every, np.array([position[p] for p in split[k]], dtype=np.int64))
            for k in ("train", "val", "test")
        }

    def _where(self) -> str:
        return self.cfg.root
