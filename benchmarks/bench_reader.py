"""Reader throughput and the cost of S1→S2 resampling (issue: foundation benchmark).

Simulates a synthetic PASTIS-R dataset at the real patch size (128 × 128; T ≈ 43 S2,
≈ 70 S1A, ≈ 70 S1D), then measures:

* patch mode (S2 + S1A + S1D, semantic target): samples/s, cold-ish (first read) and warm;
* parcel mode (S2 + S1A + S1D pixel sets, S = 64): samples/s;
* linear resampling of S1A onto the S2 dates as a fraction of loading that sample
  (target: ≤ 5 %; seed 001 Table 4 reports interpolation making early fusion 29 % slower).

Usage: ``python benchmarks/bench_reader.py [--patches 20] [--workdir /tmp/sitsfusion-bench]``.
The data are synthetic; the numbers measure sitsfusion's code on this machine, not a dataset.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sitsfusion.data import transforms as T
from sitsfusion.data.readers.pastis import PASTIS, PASTISParcels
from sitsfusion.simulate import simulate_pastis

MODALITIES = ("S2", "S1A", "S1D")


def _rate(ds: PASTIS, indices: list[int], repeats: int = 1) -> tuple[float, float]:
    """(samples/s, median seconds per sample) over ``indices``."""
    times = []
    for _ in range(repeats):
        for i in indices:
            t0 = time.perf_counter()
            ds[i]
            times.append(time.perf_counter() - t0)
    return len(times) / sum(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sitsfusion-bench"))
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one DataLoader worker's view: loading runs on one core

    console = Console()
    root = args.workdir / f"pastis_r_{args.patches}x{args.size}"
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    simulate_pastis(root, patches=args.patches, size=args.size, seed=0)
    sim_s = time.perf_counter() - t0

    # readers give values as stored; the data module's z-score (the NORM files pooled over
    # every fold here) is applied as the samples' last transform, as in training
    norm = T.Normalize(PASTIS(root, modalities=MODALITIES).statistics())
    patch_ds = PASTIS(root, modalities=MODALITIES, target="semantic", transform=norm)
    lengths = {m: [len(patch_ds.dates(m, p)) for p in patch_ds.patch_ids] for m in MODALITIES}
    idx = list(range(len(patch_ds)))
    patch_rate, patch_med = _rate(patch_ds, idx, repeats=2)

    parcel_ds = PASTISParcels(root, modalities=MODALITIES, n_pixels=64, transform=norm)
    pidx = list(range(min(len(parcel_ds), 400)))
    parcel_rate, parcel_med = _rate(parcel_ds, pidx)

    # resampling cost relative to loading the same sample: (a) as a transform after loading,
    # (b) on load (PASTIS(resample=...)), before normalisation, as early fusion uses it
    fused_ds = PASTIS(
        root, modalities=MODALITIES, target="semantic", resample={"S1A": "S2"}, transform=norm
    )
    load_times, resample_times, fused_times = [], [], []
    for _ in range(3):
        for i in idx:
            t0 = time.perf_counter()
            s = patch_ds[i]
            load_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            T.resample(s, source="S1A", target="S2", method="linear")
            resample_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            fused_ds[i]
            fused_times.append(time.perf_counter() - t0)
    load_med, res_med = statistics.median(load_times), statistics.median(resample_times)
    fused_med = statistics.median(fused_times)

    results = {
        "synthetic": True,
        "patches": args.patches,
        "size": args.size,
        "T_median": {m: statistics.median(v) for m, v in lengths.items()},
        "simulate_s": sim_s,
        "patch_samples_per_s": patch_rate,
        "patch_median_s": patch_med,
        "parcels": len(parcel_ds),
        "parcel_samples_per_s": parcel_rate,
        "parcel_median_s": parcel_med,
        "load_median_s": load_med,
        "resample_median_s": res_med,
        "resample_fraction_of_load": res_med / load_med,
        "load_with_resample_on_load_median_s": fused_med,
        "resample_on_load_extra_fraction": (fused_med - load_med) / load_med,
        "threads": torch.get_num_threads(),
    }
    table = Table(title="reader benchmark (synthetic PASTIS-R, 1 thread)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(
        "T median S2 / S1A / S1D", " / ".join(f"{v:g}" for v in results["T_median"].values())
    )
    table.add_row("patch mode S2+S1A+S1D", f"{patch_rate:.1f} samples/s ({1e3 * patch_med:.1f} ms)")
    table.add_row("parcel mode, S=64", f"{parcel_rate:.0f} samples/s ({1e3 * parcel_med:.2f} ms)")
    table.add_row("linear resample S1A→S2", f"{1e3 * res_med:.2f} ms")
    table.add_row("… as a transform after loading", f"{100 * res_med / load_med:.1f} % of loading")
    table.add_row(
        "… on load (resample={'S1A': 'S2'})",
        f"{100 * (fused_med - load_med) / load_med:+.1f} % of loading",
    )
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
