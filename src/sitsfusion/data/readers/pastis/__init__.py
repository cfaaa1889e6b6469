"""Readers for PASTIS and PASTIS-R: patches (:class:`PASTIS`) and parcels (:class:`PASTISParcels`).

Both datasets stand on one :class:`PASTISIndex` of the folder and on pieces usable on their own:

* :mod:`.metadata`: :func:`read_metadata` parses ``metadata.geojson`` (dates as dicts or as JSON
  strings), :func:`dates_to_days` turns ``YYYYMMDD`` integers into days since a reference date;
* :mod:`.norm`: :func:`read_norm`, :func:`pool_norm`, :func:`compute_norm` and
  :func:`fold_statistics` read, combine and (re)compute the per-fold
  ``NORM_<modality>_patch.json`` statistics;
* :mod:`.arrays`: :func:`load_annotation`, :func:`load_target`, :func:`load_heatmap`,
  :func:`load_zones` and :func:`load_series_array` load and check one ``.npy`` file.

Every problem with the files on disk raises :class:`~sitsfusion.errors.DatasetError`, whose
message starts with the offending file.
"""

from sitsfusion.data.readers.pastis.arrays import (
    load_annotation,
    load_heatmap,
    load_series_array,
    load_target,
    load_zones,
)
from sitsfusion.data.readers.pastis.index import PASTISIndex
from sitsfusion.data.readers.pastis.metadata import (
    METADATA_FILE,
    REFERENCE_DATE,
    available_modalities,
    dates_to_days,
    read_metadata,
)
from sitsfusion.data.readers.pastis.norm import compute_norm, fold_statistics, pool_norm, read_norm
from sitsfusion.data.readers.pastis.patches import PASTIS  # registered first: the main reader

# isort: split
from sitsfusion.data.readers.pastis.parcels import PASTISParcels

__all__ = [
    "METADATA_FILE",
    "PASTIS",
    "REFERENCE_DATE",
    "PASTISIndex",
    "PASTISParcels",
    "available_modalities",
    "compute_norm",
    "dates_to_days",
    "fold_statistics",
    "load_annotation",
    "load_heatmap",
    "load_series_array",
    "load_target",
    "load_zones",
    "pool_norm",
    "read_metadata",
    "read_norm",
]
