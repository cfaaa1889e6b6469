"""``sitsfusion reproduce``: the papers' experiments by one command each.

* :mod:`~sitsfusion.reproduce.registry` — the experiments as data (configs, run grid per
  preset, published numbers, claims);
* :mod:`~sitsfusion.reproduce.runner` — runs (or resumes) a grid through ``fit``, writes
  ``results.csv``;
* :mod:`~sitsfusion.reproduce.report` — ``report.md``, ``report.html`` and the figure.

Nothing is imported here: torch loads when an experiment runs.
"""
