"""Readers: one module per on-disk format, each producing :class:`~sitsfusion.data.Sample`.

Every reader follows the contract of :mod:`sitsfusion.data.readers.base` and registers itself
there; importing this package imports every built-in reader, so the registry is complete
whichever reader module is imported first (the base imports none of them).
"""

# the built-in readers register themselves (imported for that effect)
from sitsfusion.data.readers import (  # noqa: F401
    jrc,
    multisenge,
    oad,
    pastis,
    pixelset,
    sen4agrinet,
    tables,
)
from sitsfusion.data.readers.base import (
    PatchReader,
    Reader,
    detect_format,
    is_synthetic,
    reader_class,
    reader_formats,
    register_reader,
)

__all__ = [
    "PatchReader",
    "Reader",
    "detect_format",
    "is_synthetic",
    "reader_class",
    "reader_formats",
    "register_reader",
]
