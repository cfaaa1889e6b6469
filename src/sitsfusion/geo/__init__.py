"""Your own area: imagery and parcels of a region, onto one grid.

``grid`` (the target grid: CRS, resolution, bounds), ``imagery`` (Sentinel-1 / Sentinel-2 time
series from a STAC catalog or a folder of GeoTIFFs, lazily, per sensor) and ``labels``
(parcel polygons from a vector file, mapped to a nomenclature and rasterised). Needs the
``geo`` extra (rioxarray, dask, pystac, odc-stac).
"""
