"""sitsfusion: crop and land-cover mapping from multi-sensor satellite image time series."""

__version__ = "0.1.0"
