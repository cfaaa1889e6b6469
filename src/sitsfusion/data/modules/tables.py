"""Long and wide labelled time-series tables: one pool of samples split by indices."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from sitsfusion.data.modules.base import register_datamodule
from sitsfusion.data.modules.pool import PoolDataModule
from sitsfusion.data.readers.base import Reader
from sitsfusion.data.readers.tables import LongTableDataset, WideTableDataset

__all__ = ["LongTableDataModule", "WideTableDataModule"]


class _TableDataModule(PoolDataModule):
    """A table of one modality, named ``data.modalities[0]``; ``data.normalize: zscore``
    standardises it with training statistics (none by default: values as stored)."""

    normalize_default: ClassVar[Literal["none", "zscore"]] = "none"  # values as stored

    def _reader_options(self) -> dict[str, Any]:
        return {"modality": self.cfg.modalities[0]}


@register_datamodule
class LongTableDataModule(_TableDataModule):
    """A long table (one row per sample and date)."""

    format: ClassVar[str] = "long_table"
    reader: ClassVar[type[Reader]] = LongTableDataset


@register_datamodule
class WideTableDataModule(_TableDataModule):
    """A wide table (one row per sample)."""

    format: ClassVar[str] = "wide_table"
    reader: ClassVar[type[Reader]] = WideTableDataset
