"""An area's mosaic → map bands and parcels: the AOI mask, class / confidence, one row per
parcel aggregated from the blended probabilities.

Inputs beside a prepared dataset (``docs/own-area.md``): ``aoi.geojson`` (the area of
interest, one feature) and ``parcels.gpkg`` (layer ``parcels``: ``parcel_id``,
``class_value``, ``class_id``, polygons), both optional.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.errors import DatasetError
from sitsfusion.inference.maps import parcel_polygons
from sitsfusion.inference.mosaic import Blended
from sitsfusion.optional import require

__all__ = [
    "AOI_FILE",
    "USER_PARCELS_FILE",
    "USER_PARCELS_LAYER",
    "aoi_mask",
    "area_parcels",
    "mosaic_bands",
    "read_aoi",
    "read_user_parcels",
]

AOI_FILE = "aoi.geojson"
"""The area of interest of a prepared dataset (``data.root / AOI_FILE``)."""
USER_PARCELS_FILE = "parcels.gpkg"
"""The labelled parcels of a prepared dataset (``data.root / USER_PARCELS_FILE``) ..."""
USER_PARCELS_LAYER = "parcels"
"""... in this layer."""


def read_aoi(path: str | Path) -> Any:  # geopandas.GeoDataFrame
    """The area of interest of ``path`` as a one-row GeoDataFrame (its geometries unioned).

    Raises:
        DatasetError: unreadable, without a CRS, or empty.
    """
    gpd = require("geopandas", "geo", "reading the area of interest")
    path = Path(path)
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for a bad file
        raise DatasetError(path, f"cannot be read as GeoJSON ({exc})") from None
    if frame.crs is None:
        raise DatasetError(
            path, "has no CRS; expected a top-level 'crs' member like metadata.geojson"
        )
    geoms = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty]
    if geoms.empty:
        raise DatasetError(path, "holds no polygon; expected one feature, the area of interest")
    from shapely.ops import unary_union  # GeoSeries.union_all needs geopandas >= 1.0

    return gpd.GeoDataFrame(geometry=[unary_union(list(geoms))], crs=frame.crs)


def aoi_mask(aoi: Any, crs: str, transform: Sequence[float], shape: tuple[int, int]) -> np.ndarray:
    """bool ``[H, W]``: the pixels of the grid (``crs``, ``transform``, ``shape``) whose centre
    lies inside ``aoi`` (a :func:`read_aoi` frame, reprojected to ``crs`` when needed)."""
    features = require("rasterio.features", "raster", "rasterising the area of interest")
    from affine import Affine

    geoms = list(aoi.to_crs(crs).geometry)
    return features.geometry_mask(geoms, out_shape=shape, transform=Affine(*transform), invert=True)


def mosaic_bands(blended: Blended, inside: np.ndarray | None, nodata: int) -> np.ndarray:
    """uint8 ``[2, H, W]``: ``class`` (arg-max of the blended probabilities; ``nodata`` where
    no patch predicted or outside ``inside``) and ``confidence`` (its probability in percent,
    0 where no data)."""
    valid = blended.covered if inside is None else blended.covered & inside
    cls = np.where(valid, blended.probs.argmax(axis=0), nodata).astype(np.uint8)
    conf = np.where(valid, np.rint(100.0 * blended.probs.max(axis=0)), 0).astype(np.uint8)
    return np.stack([cls, conf])


def read_user_parcels(path: str | Path) -> Any:  # geopandas.GeoDataFrame
    """The ``parcels`` layer of a prepared dataset's ``parcels.gpkg`` (``parcel_id``,
    ``class_value``, geometry).

    Raises:
        DatasetError: unreadable, no such layer, or a missing column.
    """
    gpd = require("geopandas", "geo", "reading the parcels")
    path = Path(path)
    try:
        frame = gpd.read_file(path, layer=USER_PARCELS_LAYER)
    except Exception as exc:
        raise DatasetError(path, f"cannot read layer {USER_PARCELS_LAYER!r} ({exc})") from None
    missing = [c for c in ("parcel_id", "class_value") if c not in frame.columns]
    if missing:
        raise DatasetError(path, f"layer {USER_PARCELS_LAYER!r} has no column {', '.join(missing)}")
    return frame


def area_parcels(
    blended: Blended,
    valid: np.ndarray,
    class_names: Sequence[str],
    crs: str,
    polygons: Any | None = None,
) -> Any:  # geopandas.GeoDataFrame
    """One row per parcel of the mosaic, aggregated once over its ``valid`` pixels.

    Args:
        blended: the mosaic (probabilities ``[K, H, W]``, parcel ids, reference classes).
        valid: bool ``[H, W]``, the pixels mapped (covered and inside the AOI).
        class_names: the K class names.
        crs: the mosaic's CRS.
        polygons: the user's parcels (:func:`read_user_parcels`): their geometry and
            ``class_value`` are joined on ``parcel_id``; None: the mosaic's parcel ids are
            polygonised (:func:`~sitsfusion.inference.maps.parcel_polygons`).

    Returns:
        columns ``parcel``, ``pred_class`` / ``pred_name`` (arg-max of the mean probability
        over the parcel's pixels), ``confidence`` (that mean probability), ``pixels``,
        ``ref_class`` / ``ref_name`` (majority reference class of its pixels with a known
        class; -1 / "" when none), ``class_value`` (with ``polygons``), geometry.
    """
    gpd = require("geopandas", "geo", "writing parcels")
    ids = blended.parcels
    keep = valid & (ids > 0)
    uniq, index = np.unique(ids[keep], return_inverse=True)
    k = len(class_names)
    pixels = np.bincount(index, minlength=uniq.size)
    mean = (
        np.stack(
            [
                np.bincount(index, weights=blended.probs[c][keep], minlength=uniq.size)
                for c in range(k)
            ],
            axis=1,
        )
        / np.maximum(pixels, 1)[:, None]
    )
    truth = blended.truth[keep]
    known = truth >= 0
    ref = np.bincount(index[known] * k + truth[known], minlength=uniq.size * k).reshape(-1, k)
    pred = mean.argmax(axis=1) if uniq.size else np.zeros(0, dtype=np.int64)
    ref_class = np.where(ref.sum(axis=1) > 0, ref.argmax(axis=1), -1)
    rows = {
        "parcel": uniq.astype(np.int64),
        "pred_class": pred,
        "pred_name": [class_names[c] for c in pred],
        "confidence": mean.max(axis=1) if uniq.size else np.zeros(0),
        "pixels": pixels,
        "ref_class": ref_class,
        "ref_name": [class_names[c] if c >= 0 else "" for c in ref_class],
    }
    if polygons is not None:
        user = polygons.to_crs(crs).drop_duplicates("parcel_id").set_index("parcel_id")
        at = user.reindex(uniq)
        found = at.geometry.notna().to_numpy()
        rows["class_value"] = at["class_value"].astype("string").fillna("").to_numpy()
        geometry = list(at.geometry)
        frame = gpd.GeoDataFrame(rows, geometry=geometry, crs=crs)
        if not found.all():  # ids the user's file lacks: their pixels, polygonised
            shapes = parcel_polygons(
                np.where(np.isin(ids, uniq[~found]) & keep, ids, 0), crs, blended.transform
            ).set_index("parcel")
            frame.loc[~found, "geometry"] = list(shapes.geometry.reindex(uniq[~found]))
        return frame
    shapes = parcel_polygons(np.where(keep, ids, 0), crs, blended.transform).set_index("parcel")
    return gpd.GeoDataFrame(rows, geometry=list(shapes.geometry.reindex(uniq)), crs=crs)
