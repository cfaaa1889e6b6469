"""Inference: trained models over whole datasets → GeoTIFF maps and GeoPackage parcels."""

from sitsfusion.inference.maps import parcel_polygons, write_cog, write_parcels
from sitsfusion.inference.predict import (
    MAPS_FOLDER,
    NODATA,
    PARCELS_FILE,
    PredictionResult,
    predict_maps,
)

__all__ = [
    "MAPS_FOLDER",
    "NODATA",
    "PARCELS_FILE",
    "PredictionResult",
    "parcel_polygons",
    "predict_maps",
    "write_cog",
    "write_parcels",
]
