"""Experiments on real data, runnable as ``python -m sitsfusion.experiments.<name>``.

* :mod:`sitsfusion.experiments.real_pixelset`: PSE + L-TAE against a random forest on a small
  real dataset (369 parcels, Karnataka, HLS), on the same stratified splits.

Nothing is imported here, so that ``python -m`` runs each module exactly once.
"""
