"""Accuracy assessment and area estimation of a class map (Olofsson et al. 2014).

``classmap`` reads a class map block by block; ``design`` sizes and draws a stratified
random sample; ``sample`` writes it for labelling and reads the labels back; ``estimates``
computes the area-weighted error matrix, accuracies and areas with their standard errors;
``report`` prints and saves them. The CLI is ``sitsfusion assess`` (``sitsfusion.cli.assess``).
"""

from sitsfusion.assessment.classmap import ClassMap, class_counts, open_class_map
from sitsfusion.assessment.design import (
    SamplePoints,
    allocate,
    cochran_sample_size,
    draw_sample,
    sample_sizes,
)
from sitsfusion.assessment.estimates import Z95, Assessment, estimate

__all__ = [
    "Z95",
    "Assessment",
    "ClassMap",
    "SamplePoints",
    "allocate",
    "class_counts",
    "cochran_sample_size",
    "draw_sample",
    "estimate",
    "open_class_map",
    "sample_sizes",
]
