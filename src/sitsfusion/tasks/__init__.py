"""LightningModules: a model, its loss and its metrics for one task.

Each task registers itself in :mod:`sitsfusion.tasks.base` by its ``task_name``; this package
imports the three task modules, so :func:`~sitsfusion.tasks.base.task_class` knows them
whichever module of the package was imported first.
"""

# imported for their side effect: each module registers its task
from sitsfusion.tasks import panoptic, parcel, semantic  # noqa: F401
