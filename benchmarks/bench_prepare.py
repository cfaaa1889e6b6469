"""``sitsfusion prepare`` throughput: km² of area per minute and peak memory.

A **synthetic** own-area scene of ``--size`` x ``--size`` pixels at 10 m (default 1000: a
10 km x 10 km area, about 1,600 parcels), Sentinel-2 L2A COGs (10 bands + SCL) and Sentinel-1
RTC COGs (VV, VH, ascending and descending orbits) with a static STAC catalog, is written by
``sitsfusion simulate --format scene`` (once; reused), then cut by ``sitsfusion prepare``
into 128-px patches with S2 + S1A + S1D over one season (``--start`` / ``--end``). The prepare
command runs in a child process: wall time and its peak resident memory (``ru_maxrss`` of the
child) are measured by this script, not by sitsfusion.

Usage: ``python benchmarks/bench_prepare.py [--size 1000] [--work /tmp/bench_prepare]``;
results also go to ``WORK/bench_prepare.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

SEASON = ("2019-03-01", "2019-10-31")  # own choice: one growing season of the simulated year


def _run(args: list[str]) -> tuple[float, float]:
    """Run ``sitsfusion ARGS`` in a child process: (wall seconds, peak RSS in MiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "sitsfusion", *args])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"sitsfusion {' '.join(args)} failed")
    return wall, usage.ru_maxrss / 1024  # Linux: kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="scene side in pixels (10 m)")
    parser.add_argument("--patch-size", type=int, default=128)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_prepare"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console()
    scene, out = args.work / f"scene_{args.size}", args.work / f"dataset_{args.size}"
    if not (scene / "catalog.json").is_file():
        console.print(f"simulating a synthetic {args.size} x {args.size} px scene in {scene}")
        sim_wall, _ = _run(
            ["simulate", "--format", "scene", "--out", str(scene), "--size", str(args.size),
             "--seed", str(args.seed)]
        )  # fmt: skip
        console.print(f"simulated in {sim_wall:.0f} s")
    again = ["--overwrite"] if out.exists() else []  # clears only a dataset sitsfusion wrote
    wall, rss = _run(
        ["prepare", "--imagery", str(scene / "catalog.json"), "--labels",
         str(scene / "parcels.gpkg"), "--out", str(out), "--patch-size", str(args.patch_size),
         "--start", SEASON[0], "--end", SEASON[1], *again]
    )  # fmt: skip
    mark = json.loads((out / ".sitsfusion.json").read_text())
    km2 = (args.size * 10 / 1000) ** 2
    result = {
        "scene_px": args.size,
        "area_km2": km2,
        "patch_size": args.patch_size,
        "patches": mark["patches"],
        "season": list(SEASON),
        "wall_s": round(wall, 1),
        "km2_per_min": round(km2 / (wall / 60), 2),
        "peak_rss_mib": round(rss),
        "cpus": os.cpu_count(),
        "synthetic": True,
    }
    table = Table(title="sitsfusion prepare on a synthetic scene (S2 + S1A + S1D, one season)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, str(value))
    console.print(table)
    (args.work / "bench_prepare.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
