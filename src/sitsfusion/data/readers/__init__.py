"""Readers: one module per on-disk format, each producing :class:`~sitsfusion.data.Sample`."""
