"""Sen4AgriNet throughput: netCDF sub-patch reads and OAD aggregation (issue 5 benchmark).

Simulates synthetic Sen4AgriNet patches at the real size (366 × 366 at 10 m, 13 bands at 10 /
20 / 60 m, T ≈ 40–55 dates of one year), then measures on one thread:

* **reads**: 61 × 61 sub-patches (seed 004 Sec. VI-A) with all 13 bands and with the four 10 m
  bands of the PAD configs; whole 366 × 366 patches; samples/s and MB/s of float32 output;
* **aggregation** of a whole patch (13 bands resampled to 10 m) into per-parcel, per-date,
  per-band statistics (:func:`sitsfusion.data.oad.aggregate_sample`): mean + std, and with
  median / skewness / pixel count; parcels/s and pixels/s (pixel × date × band values/s).
  Target: a 366 × 366 × T=40 × 13-band patch in under 1 s on one core.

Usage: ``python benchmarks/bench_sen4agrinet.py [--patches 3] [--workdir /tmp/...]``.
The data are synthetic; the numbers measure sitsfusion's code on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sitsfusion.data.oad import aggregate_sample
from sitsfusion.data.readers.sen4agrinet import Sen4AgriNet
from sitsfusion.simulate import simulate_sen4agrinet


def _read_rate(ds: Sen4AgriNet, indices: list[int]) -> tuple[float, float, float]:
    """(samples/s, median s per sample, MB/s of float32 output)."""
    times, size = [], 0
    for i in indices:
        t0 = time.perf_counter()
        sample = ds[i]
        times.append(time.perf_counter() - t0)
        size += sample["S2"].values.numel() * 4
    total = sum(times)
    return len(times) / total, statistics.median(times), size / total / 1e6


def _truncate(sample, t: int):  # the first ``t`` dates: the benchmark's T = 40
    ts = sample["S2"]
    return sample.with_series("S2", ts.select(torch.arange(min(t, ts.num_dates))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=3)
    parser.add_argument("--dates", type=int, default=40)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sitsfusion-bench-s4a"))
    parser.add_argument("--out", type=Path, default=None, help="Write the numbers as JSON.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    console = Console()

    root = args.workdir
    files = sorted(root.glob("*.nc")) if root.is_dir() else []
    if len(files) < args.patches:
        console.print(f"simulating {args.patches} synthetic 366 x 366 patches in {root} ...")
        files = simulate_sen4agrinet(root, patches=args.patches, size=366, seed=0, region="france")
    results: dict[str, dict[str, float]] = {}

    reads = Table(title="Sen4AgriNet netCDF reads, 1 thread (synthetic files)")
    for col in ("what", "samples/s", "median ms", "MB/s"):
        reads.add_column(col, justify="right" if col != "what" else "left")
    cases = {
        "61x61 sub-patch, 13 bands": Sen4AgriNet(root, subpatch=61),
        "61x61 sub-patch, B02 B03 B04 B08": Sen4AgriNet(
            root, bands=["B02", "B03", "B04", "B08"], subpatch=61
        ),
        "366x366 patch, 13 bands": Sen4AgriNet(root, subpatch=None),
    }
    for name, ds in cases.items():
        ds[0]  # open the file handles
        rate, med, mbs = _read_rate(ds, list(range(len(ds))))
        results[name] = {"samples_per_s": rate, "median_s": med, "mb_per_s": mbs}
        reads.add_row(name, f"{rate:.1f}", f"{1000 * med:.1f}", f"{mbs:.0f}")
        ds.close()
    console.print(reads)

    agg = Table(title=f"OAD aggregation of one 366 x 366 x T={args.dates} x 13 patch, 1 thread")
    for col in ("statistics", "s / patch", "parcels/s", "Mvalues/s"):
        agg.add_column(col, justify="right" if col != "statistics" else "left")
    whole = cases["366x366 patch, 13 bands"]
    samples = [_truncate(whole[i], args.dates) for i in range(len(whole))]
    for label, extra in (("mean, std", ()), ("+ median, skew, count", ("median", "skew", "count"))):
        times, parcels, values = [], 0, 0
        for sample in samples:
            t0 = time.perf_counter()
            table = aggregate_sample(sample, extra=extra)
            times.append(time.perf_counter() - t0)
            parcels += table["parcel_id"].nunique()
            ts = sample["S2"]
            values += int((sample.instances > 0).sum()) * ts.num_dates * ts.num_channels
        total = sum(times)
        results[f"aggregate {label}"] = {
            "s_per_patch": statistics.median(times),
            "parcels_per_s": parcels / total,
            "values_per_s": values / total,
        }
        agg.add_row(
            label,
            f"{statistics.median(times):.3f}",
            f"{parcels / total:.0f}",
            f"{values / total / 1e6:.1f}",
        )
    console.print(agg)
    console.print(
        f"patches: {len(samples)}, dates used: {args.dates}, parcels per patch: "
        f"{parcels / len(samples):.0f} (synthetic data)"
    )
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
