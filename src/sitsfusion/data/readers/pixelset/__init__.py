"""Reader and writer of the pixel-set layout of pytorch-psetae and its variants.

:class:`PixelSetDataset` (:mod:`.dataset`) reads one sample per parcel from ``DATA/<id>.npy``
arrays of shape ``(T, C, N)`` and the ``META/*.json`` files beside them, in three layouts
(:mod:`.layout`): the original S2-Agri layout (one global date list), the per-parcel dates
variant (e.g. the real Karnataka HLS folder used by the tests), and the two-sensor layout of
CropTypeMapping (Ofori-Ampofo et al. 2021, seed 000). :mod:`.metadata` parses the dates and
labels, :mod:`.meanstd` the mean/std pickle, and :func:`export_pixelsets` (:mod:`.export`)
writes any parcel dataset in that layout so that it reads back with :class:`PixelSetDataset`.

Every problem with the files on disk raises :class:`~sitsfusion.errors.DatasetError`, whose
message starts with the offending file.
"""

from sitsfusion.data.readers.pixelset.dataset import PixelSetDataset
from sitsfusion.data.readers.pixelset.export import export_pixelsets
from sitsfusion.data.readers.pixelset.meanstd import read_meanstd

__all__ = ["PixelSetDataset", "export_pixelsets", "read_meanstd"]
