"""The Dask cluster the map starts: its worker processes' environment."""

from __future__ import annotations

import os

import pytest

from sitsfusion.mapping.cluster import WORKER_ENVIRON, run_on_cluster


@pytest.mark.slow  # starts a LocalCluster
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_workers_run_without_dask_malloc_trim_threshold() -> None:
    """Dask's default ``MALLOC_TRIM_THRESHOLD_=65536`` made the model ~60 % slower in the
    workers (every large tensor a fresh mmap); the LocalCluster's workers must not have it."""
    import dask

    assert dask.config.get("distributed.nanny.pre-spawn-environ")["MALLOC_TRIM_THRESHOLD_"]
    names = list(WORKER_ENVIRON)
    got = dict(zip(names, run_on_cluster(os.getenv, names, workers=1), strict=True))
    assert got == {"MALLOC_TRIM_THRESHOLD_": None}
    # the setting is the cluster's: Dask's own config is left as it was
    assert dask.config.get("distributed.nanny.pre-spawn-environ")["MALLOC_TRIM_THRESHOLD_"]
