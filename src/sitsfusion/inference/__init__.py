"""Inference: trained models over whole datasets → GeoTIFF maps, area mosaics and GeoPackage
parcels."""

from sitsfusion.inference.area_maps import MOSAIC_NAME
from sitsfusion.inference.maps import parcel_polygons, write_cog, write_parcels
from sitsfusion.inference.mosaic import MOSAIC_MAX_BYTES, patch_weights, taper
from sitsfusion.inference.predict import (
    MAPS_FOLDER,
    NODATA,
    PARCELS_FILE,
    PredictionResult,
    predict_maps,
)

__all__ = [
    "MAPS_FOLDER",
    "MOSAIC_MAX_BYTES",
    "MOSAIC_NAME",
    "NODATA",
    "PARCELS_FILE",
    "PredictionResult",
    "parcel_polygons",
    "patch_weights",
    "predict_maps",
    "taper",
    "write_cog",
    "write_parcels",
]
