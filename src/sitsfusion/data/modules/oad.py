"""Object-level (OAD) tables: one pool of parcels split by indices."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from sitsfusion.data.modules.base import register_datamodule
from sitsfusion.data.modules.pool import PoolDataModule
from sitsfusion.data.readers.base import Reader
from sitsfusion.data.readers.oad import OADDataset

__all__ = ["OADDataModule"]


@register_datamodule
class OADDataModule(PoolDataModule):
    """An OAD table written by ``sitsfusion aggregate``: the ``data.modalities`` series of
    every parcel, ``data.classes`` (class ids, in label order) when given."""

    format: ClassVar[str] = "oad"
    reader: ClassVar[type[Reader]] = OADDataset
    # seed 004 describes no normalisation of the OAD statistics: values as aggregated
    normalize_default: ClassVar[Literal["none", "zscore"]] = "none"

    def _reader_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"modalities": list(self.cfg.modalities)}
        if self.cfg.classes is not None:
            options["classes"] = self.cfg.classes
        return options
