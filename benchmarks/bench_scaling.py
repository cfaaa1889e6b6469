"""What this machine allows for 1 -> 2 map workers: the same work in 1 and in 2 processes at once.

``sitsfusion map`` runs one model per Dask worker, one thread each (docs/mapping.md). Its
speed-up from 1 to 2 workers cannot exceed what two processes of the same forward get from the
hardware (shared caches, memory bandwidth, the cores being whole or shared). This benchmark
measures that bound without Dask, sitsfusion's reading or writing:

* ``gemm``: a 1024 x 1024 float32 matrix product (``torch.mm``), a compute-bound reference;
* ``utae-fp32`` / ``utae-bf16``: U-TAE S2-only as ``configs/garnot2021/semantic/s2.yaml``
  builds it, random weights (seed 0), ``prepare_for_inference`` at that precision, on a batch
  of 4 random windows of 128 x 128 px x 43 dates x 10 bands (random values: the time does not
  depend on them).

Each is run by 1 process for ``--seconds``, then by 2 processes at once (started together,
each with ``torch.set_num_threads(1)``); the speed-up is the sum of the two processes'
throughputs over the one process's. Nothing here reads data (no dataset, no result on one).

Usage: ``python benchmarks/bench_scaling.py [--seconds 20] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "garnot2021" / "semantic" / "s2.yaml"
T_DATES = 43  # seed 001 Sec. 4.1: PASTIS S2 series of 38-61 dates; the T = 43
WINDOW = 128  # the window size of configs/garnot2021 (PASTIS patches)


def _work(kind: str, seconds: float, start: mp.Event, out: mp.Queue) -> None:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    if kind == "gemm":
        a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)

        def step() -> None:
            torch.mm(a, b)

    else:
        from sitsfusion.config import load_config
        from sitsfusion.data.sample import Sample, TimeSeries, collate
        from sitsfusion.inference.precision import prepare_for_inference
        from sitsfusion.models.builder import build_semantic_model

        model = build_semantic_model(load_config(CONFIG).model, {"S2": 10}).eval()
        model = prepare_for_inference(model, kind.split("-")[1])
        days = torch.arange(T_DATES) * 8  # days since the reference date
        batch = collate(
            [
                Sample({"S2": TimeSeries(torch.randn(T_DATES, 10, WINDOW, WINDOW), days)})
                for _ in range(4)
            ]
        )

        def step() -> None:
            with torch.inference_mode():
                model(batch)

    step()  # warm-up
    start.wait()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    out.put(n / (time.perf_counter() - t0))


def throughput(kind: str, processes: int, seconds: float) -> list[float]:
    """Steps per second of each of ``processes`` processes running ``kind`` at once."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_work, args=(kind, seconds, start, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(1.0)
    start.set()
    rates = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--kinds", default="gemm,utae-fp32,utae-bf16")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for kind in args.kinds.split(","):
        one = throughput(kind, 1, args.seconds)[0]
        two = throughput(kind, 2, args.seconds)
        row = {
            "kind": kind,
            "one_per_s": round(one, 3),
            "two_per_s": [round(r, 3) for r in two],
            "speed_up": round(sum(two) / one, 2),
        }
        rows.append(row)
        print(row, flush=True)
    if args.json:
        args.json.write_text(json.dumps({"cpus": mp.cpu_count(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
