"""bf16 U-TAE inference on the CPU: fp32 vs bf16 ms per patch, speed-up, agreement, profile.

U-TAE S2-only as ``configs/garnot2021/semantic/s2.yaml`` builds it (1,087,220 parameters) at
the paper size: B patches of 128 × 128, 10 bands, T ≈ 43 dates, read from a **synthetic**
PASTIS-R folder written by ``simulate_pastis`` (normalised as in training). Weights: random
(seed 0), or trained ones with ``--ckpt`` (a semantic S2 checkpoint written by
``sitsfusion fit``). Paths timed, interleaved (one forward of each per round, median over
``--repeats`` rounds after a warm-up), all under ``torch.inference_mode()``:

* ``fp32``: the model as it is (the baseline of docs/benchmarks.md);
* ``bf16 autocast``: ``torch.autocast("cpu", torch.bfloat16)``, as measured before;
* ``fp32 prepared`` / ``bf16 prepared``: ``sitsfusion.inference.precision.prepare_for_inference``.

Agreement: share of pixels whose arg-max class equals the fp32 one. ``--profile`` prints the
top operators (torch.profiler, self CPU time) of ``fp32`` and ``bf16 prepared``;
``--chunks 1,4,8,16`` times ``bf16 prepared`` with other frame chunks.

Usage: ``python benchmarks/bench_bf16.py [--batch 4] [--threads 2] [--repeats 3] [--profile]
[--ckpt best.ckpt] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn

from sitsfusion.config import load_config
from sitsfusion.data import transforms as T
from sitsfusion.data.readers.pastis import PASTIS
from sitsfusion.data.sample import Batch, collate
from sitsfusion.inference.precision import FRAME_CHUNK, prepare_for_inference
from sitsfusion.models.builder import build_semantic_model, count_parameters
from sitsfusion.simulate import simulate_pastis

S2_CONFIG = Path(__file__).parents[1] / "configs" / "garnot2021" / "semantic" / "s2.yaml"

Forward = Callable[[], Tensor]


def simulated_batch(folder: Path, b: int, size: int) -> Batch:
    """``b`` synthetic S2 patches ``[B, T, 10, size, size]``, z-scored with the folder's
    statistics, collated (padded to the longest T)."""
    root = simulate_pastis(folder / "sim", patches=b, size=size, seed=0, modalities=("S2",))
    norm = T.Normalize(PASTIS(root, modalities=["S2"]).statistics())
    ds = PASTIS(root, modalities=["S2"], target="semantic", transform=norm)
    return collate([ds[i] for i in range(b)])


def load_model(ckpt: Path | None) -> nn.Module:
    """The U-TAE S2 model: trained weights from ``ckpt``, else random ones (seed 0)."""
    if ckpt is not None:
        from sitsfusion.tasks.base import load_task

        return load_task(ckpt, map_location="cpu").model.eval()
    torch.manual_seed(0)
    cfg = load_config(S2_CONFIG)
    return build_semantic_model(cfg.model, {"S2": 10}).eval()


def forward_fn(model: nn.Module, batch: Batch, autocast: bool = False) -> Forward:
    """One inference forward of ``model`` on ``batch`` → float32 logits ``[B, K, H, W]``."""

    def run() -> Tensor:
        ctx = torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast)
        with torch.inference_mode(), ctx:
            return model(batch).logits.float()

    return run


def paths(base: nn.Module, batch: Batch, chunks: list[int]) -> dict[str, Forward]:
    """The timed inference paths, each on its own copy of ``base``."""
    out = {
        "fp32": forward_fn(copy.deepcopy(base), batch),
        "bf16 autocast": forward_fn(copy.deepcopy(base), batch, autocast=True),
        "fp32 prepared": forward_fn(prepare_for_inference(copy.deepcopy(base), "fp32"), batch),
        "bf16 prepared": forward_fn(prepare_for_inference(copy.deepcopy(base), "bf16"), batch),
    }
    for c in chunks:
        model = prepare_for_inference(copy.deepcopy(base), "bf16", frame_chunk=c)
        out[f"bf16 prepared, chunk {c}"] = forward_fn(model, batch)
    return out


def interleaved_times(fns: dict[str, Forward], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, timed in rounds (one call of each per round)
    so that the load of a shared machine hits them alike; one warm-up round first."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(repeats + 1):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            if r:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def profile_table(fn: Forward, rows: int = 12) -> str:
    """torch.profiler's top ``rows`` operators of one call of ``fn`` by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return prof.key_averages().table(
        sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=36
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ckpt", type=Path, default=None)
    parser.add_argument("--chunks", default="", help="extra frame chunks, e.g. 1,4,16")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        batch = simulated_batch(Path(tmp), args.batch, args.size)
    base = load_model(args.ckpt)
    chunks = [int(c) for c in args.chunks.split(",") if c]
    fns = paths(base, batch, chunks)
    reference = fns["fp32"]().argmax(1)
    agreement = {
        name: (fn().argmax(1) == reference).float().mean().item() for name, fn in fns.items()
    }
    seconds = interleaved_times(fns, args.repeats)
    b, t = batch.series["S2"].pad_mask.shape
    weights = f"trained ({args.ckpt})" if args.ckpt else "random (seed 0)"
    table = Table(
        title=f"U-TAE S2 ({count_parameters(base):,} parameters, {weights} weights), B = {b}, "
        f"T = {t}, {args.size}², {args.threads} threads, default chunk {FRAME_CHUNK}; "
        "synthetic input"
    )
    for col in ("path", "ms / patch", "speed-up over fp32", "agreement with fp32"):
        table.add_column(col, justify="left" if col == "path" else "right")
    results = {}
    for name, s in seconds.items():
        ms = 1e3 * s / b
        speedup = seconds["fp32"] / s
        results[name] = {"ms_per_patch": ms, "speedup": speedup, "agreement": agreement[name]}
        table.add_row(name, f"{ms:.0f}", f"{speedup:.2f}×", f"{100 * agreement[name]:.3f} %")
    console.print(table)
    ratio = seconds["fp32 prepared"] / seconds["bf16 prepared"]
    console.print(f"bf16 prepared over fp32 prepared: {ratio:.2f}×")
    if args.profile:
        for name in ("fp32", "bf16 prepared"):
            console.print(f"[bold]{name}[/bold]")
            print(profile_table(fns[name]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
