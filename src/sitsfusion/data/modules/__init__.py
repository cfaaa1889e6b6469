"""Data modules: one Lightning data module per format over one small base (as TorchGeo).

:func:`datamodule` builds the module of a config's ``data.format``; each module only says how
its samples split (PASTIS folds, MultiSenGE tiles, pixel-set roots, or one pool split by
indices for tables, OAD and Sen4AgriNet). The base holds the transforms, the one
normalisation and the loaders. Importing this package imports every built-in module (each
registers itself for its format; the base imports none of them).
"""

# the built-in data modules register themselves (imported for that effect)
from sitsfusion.data.modules import (  # noqa: F401
    multisenge,
    oad,
    pastis,
    pixelset,
    sen4agrinet,
    tables,
)
from sitsfusion.data.modules.base import (
    ReaderSubset,
    SITSDataModule,
    Split,
    datamodule,
    datamodule_class,
    datamodule_formats,
    register_datamodule,
)

__all__ = [
    "ReaderSubset",
    "SITSDataModule",
    "Split",
    "datamodule",
    "datamodule_class",
    "datamodule_formats",
    "register_datamodule",
]
