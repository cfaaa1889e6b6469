"""Readers: one module per on-disk format, each producing :class:`~sitsfusion.data.Sample`.

Every reader follows the contract of :mod:`sitsfusion.data.readers.base`.
"""

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
