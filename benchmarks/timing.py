"""Timing helpers shared by the benchmark scripts (run them from the repository root)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from sitsfusion.data.sample import Batch
from sitsfusion.models.fusion import FusionOutput


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def step_times(
    model: nn.Module,
    batch: Batch,
    loss_fn: Callable[[FusionOutput, Batch], Tensor],
    repeats: int,
    bf16: bool = False,
) -> tuple[float, float]:
    """``(inference s, training step s)`` of ``model`` on ``batch``: eval forward under
    ``inference_mode``; train forward + backward + Adam step; optional bf16 autocast."""
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)

    def autocast() -> torch.autocast:
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    def infer() -> None:
        model.eval()
        with torch.inference_mode(), autocast():
            model(batch)

    def train() -> None:
        model.train()
        optim.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(model(batch), batch)
        loss.backward()
        optim.step()

    return median_time(infer, repeats), median_time(train, repeats)
