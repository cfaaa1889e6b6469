"""The sample as a GeoPackage: written for labelling, read back labelled.

Layer :data:`LAYER`, one point per sample pixel centre, in the map's CRS, with columns
``point_id``, ``map_class`` (the class name: the stratum), ``map_code`` (its pixel value),
``row``, ``col`` (the pixel) and an empty :data:`REFERENCE` column: the labeller writes the
reference class name of each point there (QGIS or any GIS edits GeoPackages).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sitsfusion.assessment.classmap import ClassMap
from sitsfusion.assessment.design import SamplePoints
from sitsfusion.errors import DatasetError
from sitsfusion.io import require_regular_file
from sitsfusion.optional import require

__all__ = ["LAYER", "REFERENCE", "is_sample_file", "read_labels", "write_sample"]

LAYER = "assessment_sample"
"""The GeoPackage layer of the sample (how ``--overwrite`` recognises sitsfusion's file)."""
REFERENCE = "reference"
"""The column the labeller fills with the reference class of each point."""


def write_sample(path: str | Path, cmap: ClassMap, points: SamplePoints) -> Path:
    """Write ``points`` of ``cmap`` as the GeoPackage ``path`` (layer :data:`LAYER`), atomically."""
    gpd = require("geopandas", "geo", "writing the assessment sample")
    from sitsfusion.inference.maps import write_parcels

    x, y = points.centres(cmap.transform)
    names = np.array(cmap.class_names, dtype=object)
    frame = gpd.GeoDataFrame(
        {
            "point_id": np.arange(1, points.rows.size + 1, dtype=np.int64),
            "map_class": names[points.classes] if points.rows.size else [],
            "map_code": points.classes,
            "row": points.rows,
            "col": points.cols,
            REFERENCE: [""] * points.rows.size,
        },
        geometry=gpd.points_from_xy(x, y),
        crs=cmap.crs or None,
    )
    return write_parcels(path, {LAYER: frame})


def is_sample_file(path: str | Path) -> bool:
    """True when ``path`` is a GeoPackage holding the :data:`LAYER` layer (one this module
    wrote: ``--overwrite`` may replace it)."""
    try:
        pyogrio = require("pyogrio", "geo", "reading the assessment sample")
        return LAYER in {str(name) for name, _ in pyogrio.list_layers(path)}
    except Exception:  # not a GeoPackage, unreadable: not ours
        return False


def _read(path: Path) -> Any:  # geopandas.GeoDataFrame
    gpd = require("geopandas", "geo", "reading the assessment sample")
    pyogrio = require("pyogrio", "geo", "reading the assessment sample")
    require_regular_file(path)
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        layer = LAYER if LAYER in layers else layers[0]
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio raises DataSourceError and others
        raise DatasetError(path, f"not a readable vector file ({exc})") from None


def read_labels(
    path: str | Path, cmap: ClassMap, reference_column: str = REFERENCE
) -> tuple[np.ndarray, np.ndarray]:
    """The map and reference class of every labelled point, as class indices of ``cmap``.

    Args:
        path: the labelled sample (a GeoPackage from :func:`write_sample`, or any vector
            file with a ``map_class`` column and the reference column).
        cmap: the class map the sample was drawn from (its class names).
        reference_column: the column holding the reference class names.

    Returns:
        ``(map_idx, ref_idx)``: ``[n]`` int64 each.

    Raises:
        DatasetError: a missing column, an unlabelled point, a map or reference class that
            is not one of the map's classes.
    """
    path = Path(path)
    frame = _read(path)
    for column in ("map_class", reference_column):
        if column not in frame.columns:
            raise DatasetError(
                path, f"has no column {column!r}; columns: {', '.join(map(str, frame.columns))}"
            )
    ids = frame["point_id"] if "point_id" in frame.columns else frame.index.to_series() + 1
    index = {name: k for k, name in enumerate(cmap.class_names)}
    ref = frame[reference_column]
    blank = ref.isna() | (ref.astype(str).str.strip() == "")
    if blank.any():
        first = ", ".join(str(v) for v in ids[blank].head(5))
        raise DatasetError(
            path,
            f"{int(blank.sum())} of {len(frame)} points have no {reference_column!r} label "
            f"(point_id {first}...); label every point before estimating",
        )
    out = []
    for column, what in (("map_class", "map class"), (reference_column, "reference class")):
        values = frame[column].astype(str).str.strip()
        unknown = sorted(set(values) - set(index))
        if unknown:
            raise DatasetError(
                path,
                f"{what} {', '.join(map(repr, unknown[:5]))} (column {column!r}) is not a class "
                f"of the map {cmap.path.name} (classes: {', '.join(cmap.class_names)})",
            )
        out.append(values.map(index).to_numpy(dtype=np.int64))
    return out[0], out[1]
