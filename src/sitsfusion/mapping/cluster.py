"""Blocks and tiles as tasks of a Dask distributed cluster: :func:`run_blocks`,
:class:`TileRunner`, both through :func:`run_on_cluster`.

Every worker builds one :class:`~sitsfusion.mapping.predictor.BlockPredictor` (the model
loaded once, the imagery opened once) in a worker plugin when the run starts, then runs the
blocks it is given; each block writes its own result file, so the order in which workers
finish changes nothing in the maps. The cluster is a ``LocalCluster`` of ``workers`` processes
with one thread each (:data:`THREADS_PER_WORKER`), or a running cluster at ``scheduler``
(its workers must see the checkpoint, the imagery, the training data and the output folder
at the same paths). ``workers=0`` runs the blocks in this process, without Dask.

A parcel model's map reads its parcels' pixels tile by tile
(:func:`~sitsfusion.geo.pixelsets.prepare_pixelsets`): :class:`TileRunner` runs those tile
tasks on the same kind of cluster (each tile task reads its own extent and writes its own
files and record).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from sitsfusion.mapping.predictor import BlockPredictor, MapSpec
from sitsfusion.mapping.windows import Block

__all__ = [
    "IN_FLIGHT",
    "THREADS_PER_WORKER",
    "WORKER_ENVIRON",
    "TileRunner",
    "run_blocks",
    "run_on_cluster",
]

THREADS_PER_WORKER = 1
"""Own choice (and the issue's benchmark setting): one Dask thread and one torch thread per
worker process; more workers rather than more threads (a block's forward pass is one
sequence of convolutions that threads share poorly on a few cores)."""
IN_FLIGHT = 4
"""Own choice: tasks given to the cluster at a time, per worker thread: enough that no worker
waits for its next task, few enough that the tasks not yet started (a tile task carries its
slice of the parcels' raster) are not all held at once."""


WORKER_ENVIRON: dict[str, str | None] = {"MALLOC_TRIM_THRESHOLD_": None}
"""The environment of the ``LocalCluster``'s worker processes, over Dask's
``distributed.nanny.pre-spawn-environ`` (None: not set). Dask sets
``MALLOC_TRIM_THRESHOLD_=65536`` in the processes its nannies start, so that freed memory goes
back to the OS; glibc then also stops adapting its mmap threshold, and every large tensor a
forward pass allocates is a fresh ``mmap`` whose pages fault in again. Measured on one block of
the synthetic 20 km scene (U-TAE S2, bf16, one thread): 1.79 s of model per window with the
variable, 1.11 s without; the block's read 6.7 s against 4.7 s. A running cluster
(``--scheduler``) keeps its own setting (docs/mapping.md)."""


class _PredictorPlugin(WorkerPlugin):
    """The worker plugin that builds each worker's predictor once."""

    def __init__(self, spec: MapSpec, name: str) -> None:
        self.spec = spec
        self.name = name
        self.predictor: BlockPredictor | None = None

    def setup(self, worker: Any) -> None:
        self.predictor = BlockPredictor(self.spec)

    def teardown(self, worker: Any) -> None:
        self.predictor = None


def _run_on_worker(block: Block, plugin: str) -> dict[str, Any]:
    """A block, run by the predictor of the worker it lands on."""
    from distributed import get_worker

    predictor = get_worker().plugins[plugin].predictor
    return predictor.run(block)


def _plugin_name(spec: MapSpec) -> str:
    digest = hashlib.sha1(json.dumps(spec.record(), sort_keys=True, default=str).encode())
    return f"sitsfusion-map-{digest.hexdigest()[:12]}"


def run_blocks(
    spec: MapSpec,
    blocks: Sequence[Block],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    local: BlockPredictor | None = None,
    on_block: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``blocks`` (their result files written) and return what each reported.

    Args:
        spec: what the predictors are built from.
        blocks: the blocks to run (those without a result file).
        workers: processes of the ``LocalCluster`` (0: in this process, with ``local``).
        scheduler: the address of a running Dask scheduler (``tcp://host:8786``); then
            ``workers`` is not used.
        local: the predictor of this process (``workers=0``), built from ``spec`` if None.
        on_block: called with each block's report as it finishes (progress).
    """
    reports = []
    if not blocks:
        return reports
    if scheduler is None and workers == 0:
        predictor = local if local is not None else BlockPredictor(spec)
        for block in blocks:
            report = predictor.run(block)
            reports.append(report)
            if on_block is not None:
                on_block(report)
        return reports
    spec = replace(spec, threads=THREADS_PER_WORKER)
    name = _plugin_name(spec)
    run = functools.partial(_run_on_worker, plugin=name)
    plugin = (name, _PredictorPlugin(spec, name))
    for report in run_on_cluster(run, blocks, workers=workers, scheduler=scheduler, plugin=plugin):
        reports.append(report)
        if on_block is not None:
            on_block(report)
    return reports


def run_on_cluster(
    fn: Callable[..., Any],
    items: Iterable[Any],
    *,
    workers: int,
    scheduler: str | None = None,
    shared: dict[str, Any] | None = None,
    plugin: tuple[str, WorkerPlugin] | None = None,
) -> Iterator[Any]:
    """``fn(item, **shared)`` of every item as tasks of a Dask cluster, yielded as each one
    finishes (in any order).

    The cluster is a ``LocalCluster`` of ``workers`` processes with
    :data:`THREADS_PER_WORKER` thread each, started here and closed when the results are all
    yielded (or the caller stops: the tasks left are cancelled), or the running cluster at
    ``scheduler`` (``workers`` then unused). At most :data:`IN_FLIGHT` tasks per worker
    thread are given to it at a time, ``items`` taken as they are needed.

    Args:
        fn: a function the workers can import (picklable), called as ``fn(item, **shared)``.
        items: its first arguments (picklable, small: each goes with its task).
        workers: processes of the ``LocalCluster`` (>= 1 without ``scheduler``).
        scheduler: the address of a running Dask scheduler (``tcp://host:8786``).
        shared: keyword arguments every task gets, sent to every worker once (scattered).
        plugin: ``(name, worker plugin)`` registered on every worker for the run.
    """
    import distributed

    if scheduler is None and workers < 1:
        raise ValueError(f"workers must be >= 1 without a scheduler, got {workers}")
    cluster = None
    if scheduler is None:
        import dask

        environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENVIRON.items()}
        with dask.config.set(environ):  # read by the nannies as they start, here
            cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=THREADS_PER_WORKER,
                processes=True,
                dashboard_address=None,
                silence_logs=40,  # errors only: the progress is ours
            )
    try:
        with distributed.Client(cluster if cluster is not None else scheduler) as client:
            if plugin is not None:
                client.register_plugin(plugin[1], name=plugin[0])
            try:
                kwargs = {k: client.scatter(v, broadcast=True) for k, v in (shared or {}).items()}
                todo = iter(items)
                running = distributed.as_completed()

                def submit(n: int) -> None:
                    for item in itertools.islice(todo, n):
                        running.add(client.submit(fn, item, pure=False, **kwargs))

                submit(IN_FLIGHT * max(1, sum(client.nthreads().values())))
                for future in running:
                    result = future.result()
                    submit(1)
                    yield result
            finally:
                if plugin is not None:
                    client.unregister_worker_plugin(plugin[0])
    finally:
        if cluster is not None:
            cluster.close()


@dataclass(frozen=True)
class TileRunner:
    """The tile tasks of :func:`~sitsfusion.geo.pixelsets.prepare_pixelsets` (its
    ``run_tiles``) on a Dask cluster: a ``LocalCluster`` of ``workers`` processes or the
    running cluster at ``scheduler`` (:func:`run_on_cluster`); the run's shared part
    (``job``: the grid, the imagery's items, the dates) sent to every worker once."""

    workers: int = 1
    scheduler: str | None = None

    def __call__(self, fn: Callable[..., Any], tasks: Iterable[Any], job: Any) -> Iterator[Any]:
        """``fn(task, job=job)`` of every task, yielded as each finishes."""
        return run_on_cluster(
            fn, tasks, workers=self.workers, scheduler=self.scheduler, shared={"job": job}
        )
