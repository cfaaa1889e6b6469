"""Data: the sample contract, transforms over dates, readers, data modules and normalisation."""

from sitsfusion.data.sample import (
    Batch,
    PaddedSeries,
    Sample,
    SampleError,
    TimeSeries,
    collate,
    unpad,
)

__all__ = ["Batch", "PaddedSeries", "Sample", "SampleError", "TimeSeries", "collate", "unpad"]
