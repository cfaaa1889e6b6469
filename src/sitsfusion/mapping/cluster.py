"""Blocks as tasks of a Dask distributed cluster: :func:`run_blocks`.

Every worker builds one :class:`~sitsfusion.mapping.predictor.BlockPredictor` (the model
loaded once, the imagery opened once) in a worker plugin when the run starts, then runs the
blocks it is given; each block writes its own result file, so the order in which workers
finish changes nothing in the maps. The cluster is a ``LocalCluster`` of ``workers`` processes
with one thread each (:data:`THREADS_PER_WORKER`), or a running cluster at ``scheduler``
(its workers must see the checkpoint, the imagery, the training data and the output folder
at the same paths). ``workers=0`` runs the blocks in this process, without Dask.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from sitsfusion.mapping.predictor import BlockPredictor, MapSpec
from sitsfusion.mapping.windows import Block

__all__ = ["THREADS_PER_WORKER", "run_blocks"]

THREADS_PER_WORKER = 1
"""Own choice (and the issue's benchmark setting): one Dask thread and one torch thread per
worker process; more workers rather than more threads (a block's forward pass is one
sequence of convolutions that threads share poorly on a few cores)."""


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
    for report in _distributed(spec, blocks, workers, scheduler):
        reports.append(report)
        if on_block is not None:
            on_block(report)
    return reports


def _distributed(
    spec: MapSpec, blocks: Sequence[Block], workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    import distributed

    spec = replace(spec, threads=THREADS_PER_WORKER)
    cluster = None
    if scheduler is None:
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=THREADS_PER_WORKER,
            processes=True,
            dashboard_address=None,
            silence_logs=40,  # errors only: the progress is ours
        )
    try:
        with distributed.Client(cluster if cluster is not None else scheduler) as client:
            name = _plugin_name(spec)
            plugin = _PredictorPlugin(spec, name)
            client.register_plugin(plugin, name=name)
            try:
                futures = client.map(_run_on_worker, list(blocks), plugin=name, pure=False)
                for future in distributed.as_completed(futures):
                    yield future.result()
            finally:
                client.unregister_worker_plugin(name)
    finally:
        if cluster is not None:
            cluster.close()
