"""The papers' multi-run protocols and experiments on small real datasets.

Each is run by a ``sitsfusion experiment`` subcommand (``sitsfusion.cli.experiments``) or from
Python through its ``run_*`` function, and writes to ``runs/<experiment name>`` by default:

* :mod:`sitsfusion.experiments.cloud_robustness`: varying cloud cover (seed 001 Fig. 8),
  ``sitsfusion experiment robustness`` (also ``sitsfusion robustness``);
* :mod:`sitsfusion.experiments.real_sequences`: sequence classifiers against a random forest
  on two small real datasets, ``sitsfusion experiment real-sequences``;
* :mod:`sitsfusion.experiments.real_pixelset`: PSE + L-TAE against a random forest on a small
  real dataset (369 parcels, Karnataka, HLS), ``sitsfusion experiment real-pixelset``.

Nothing is imported here: each experiment's dependencies load when it runs.
"""
