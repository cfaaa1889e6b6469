"""Sen4AgriNet patches (PAD): one pool of (sub-)patches split by indices."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from sitsfusion.data.modules.base import register_datamodule
from sitsfusion.data.modules.pool import PoolDataModule
from sitsfusion.data.readers.base import Reader
from sitsfusion.data.readers.sen4agrinet import Sen4AgriNet

__all__ = ["Sen4AgriNetDataModule"]


@register_datamodule
class Sen4AgriNetDataModule(PoolDataModule):
    """Sen4AgriNet netCDF patches; ``data.nomenclature`` picks the class list and
    ``data.reader`` the reader options (``subpatch``, ``bands``, ...)."""

    format: ClassVar[str] = "sen4agrinet"
    reader: ClassVar[type[Reader]] = Sen4AgriNet
    # seed 004 describes no normalisation: reflectances (digital numbers / 10^4, as its loader)
    normalize_default: ClassVar[Literal["none", "zscore"]] = "none"

    def _reader_options(self) -> dict[str, Any]:
        nomenclature = self.cfg.nomenclature
        return {} if nomenclature is None else {"nomenclature": nomenclature}
