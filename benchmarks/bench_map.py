"""``sitsfusion map`` throughput: km² per hour, the model's share of the time, peak memory
per worker, and the speed-up from 1 to 2 Dask workers.

A **synthetic** own-area scene of ``--size`` x ``--size`` pixels at 10 m (default 2000: a
20 km x 20 km area, the issue's; COGs + static STAC catalog written by ``sitsfusion simulate
--format scene``, once, reused) is mapped by
U-TAE S2-only (``configs/garnot2021/semantic/s2.yaml``) and U-TAE late fusion S2 + S1A +
S1D (``late_td.yaml``) at the paper's size, fp32 and bf16, on a ``LocalCluster`` of 1 and 2
workers (one thread each). The weights are random (seed 0): speed does not depend on them.
The "training data" the windows are normalised with is a
256-px corner of the scene prepared in 128-px patches (the window size).

Each configuration runs ``map_scene`` in a child process; measured: the wall time of the
whole map (cluster start, model loading, reading, windows, blending, COG writing), the time
inside the model's forward, reading the blocks and making the windows' samples (each summed
over the workers, reported by each block), the peak RSS
of each worker process (``ru_maxrss``, reported by the worker) and of the client. The
overhead is what the workers spend outside the model: ``workers x wall / forward - 1``.
``--memory`` also maps a quarter of the scene (AOI) and the whole scene with one worker, to
show that a worker's memory does not grow with the scene. Nothing here is a result on real
data.

Usage: ``python benchmarks/bench_map.py [--size 2000] [--work /tmp/bench_map]
[--models s2,late] [--precisions fp32,bf16] [--workers 1,2] [--memory]``; results also go
to ``WORK/bench_map.json``, after each configuration: a run started again keeps the
configurations measured there (the long ones take hours) and measures the others.
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

from sitsfusion.config import load_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "s2": REPO / "configs" / "garnot2021" / "semantic" / "s2.yaml",
    "late": REPO / "configs" / "garnot2021" / "semantic" / "late_td.yaml",
}
TILE_KM2 = 110.0 * 110.0  # one Sentinel-2 tile (MGRS, 109.8 km; overlaps ignored)
CORNER = 256  # px of the scene prepared as the normalisation ("training") data

CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from sitsfusion.config import load_config
from sitsfusion.mapping.scene import map_scene
a = json.loads(sys.argv[1])
cfg = load_config(a["config"], a["overrides"])
t0 = time.perf_counter()
r = map_scene(cfg, a["ckpt"], a["imagery"], a["out"], aoi=a["aoi"], workers=a["workers"],
              precision=a["precision"], overwrite=True, progress=False)
import resource
print(json.dumps({"wall": time.perf_counter() - t0, "forward": r.forward_seconds,
                  "read": r.read_seconds, "samples": r.sample_seconds,
                  "assemble": r.assemble_seconds,
                  "windows": r.windows, "blocks": r.blocks,
                  "worker_rss": sorted(r.peak_rss.values()),
                  "client_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "km2": r.grid.shape[0] * r.grid.shape[1] * r.grid.resolution ** 2 / 1e6}))
"""


def _sitsfusion(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "sitsfusion", *args], check=True)


def _aoi(path: Path, scene: Path, pixels: int) -> Path:
    """A GeoJSON of the scene's top-left ``pixels`` x ``pixels`` (its parcels' CRS)."""
    import geopandas as gpd
    from shapely.geometry import box

    parcels = gpd.read_file(scene / "parcels.gpkg")
    minx, _, _, maxy = parcels.total_bounds
    side = pixels * 10.0
    frame = gpd.GeoDataFrame(geometry=[box(minx, maxy - side, minx + side, maxy)], crs=parcels.crs)
    frame.to_file(path, driver="GeoJSON")
    return path


def _checkpoint(name: str, data: Path, work: Path) -> Path:
    """A checkpoint of the config ``name`` with random weights (seed 0) on ``data``."""
    import lightning as L
    import torch

    from sitsfusion.training import build_task, datamodule

    path = work / f"{name}.ckpt"
    if path.is_file():
        return path
    cfg = load_config(CONFIGS[name], _overrides(data))
    torch.manual_seed(0)
    task = build_task(cfg, datamodule(cfg))
    state = {"epoch": 0, "global_step": 0, "pytorch-lightning_version": L.__version__,
             "state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}  # fmt: skip
    torch.save(state, path)
    return path


def _overrides(data: Path) -> list[str]:
    return [f"data.root={data}", "data.train_folds=[1]", "data.val_folds=[2]",
            "data.test_folds=[3]"]  # fmt: skip


def _run(args: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000, help="scene side in pixels (10 m)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_map"))
    parser.add_argument("--models", default="s2,late")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--memory", action="store_true", help="also a quarter scene, 1 worker")
    args = parser.parse_args()
    console = Console(width=220)  # the table's 14 columns on one line
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    scene = work / f"scene_{args.size}"
    if not (scene / "catalog.json").is_file():
        console.print(f"simulating a synthetic {args.size} x {args.size} px scene in {scene}")
        _sitsfusion("simulate", "--format", "scene", "--out", str(scene), "--size", str(args.size))
    data = work / "train_corner"
    if not (data / "metadata.geojson").is_file():
        corner = _aoi(work / "corner.geojson", scene, CORNER)
        _sitsfusion("prepare", "--imagery", str(scene / "catalog.json"), "--labels",
                    str(scene / "parcels.gpkg"), "--aoi", str(corner), "--out", str(data),
                    "--folds", "3", "--block", "1", "--overwrite")  # fmt: skip
    whole = _aoi(work / "whole.geojson", scene, args.size)
    record = work / "bench_map.json"
    done = json.loads(record.read_text())["runs"] if record.is_file() else []
    rows = []
    runs = [
        (m, p, int(w), whole)
        for m in args.models.split(",")
        for p in args.precisions.split(",")
        for w in args.workers.split(",")
    ]
    if args.memory:
        runs.append(("s2", "bf16", 1, _aoi(work / "quarter.geojson", scene, args.size // 2)))
    for model, precision, workers, aoi in runs:
        key = (model, precision, workers, aoi.stem)
        kept = [r for r in done if (r["model"], r["precision"], r["workers"], r["aoi"]) == key]
        if kept:  # measured by an earlier, interrupted run of the same work folder
            rows.append(kept[0])
            console.print(f"{model} {precision} {workers} worker(s), {aoi.stem}: kept {kept[0]}")
            continue
        ckpt = _checkpoint(model, data, work)
        t0 = time.perf_counter()
        got = _run({
            "config": str(CONFIGS[model]), "overrides": _overrides(data), "ckpt": str(ckpt),
            "imagery": str(scene / "catalog.json"), "out": str(work / "maps"),
            "aoi": str(aoi), "workers": workers, "precision": precision,
        })  # fmt: skip
        wall = got["wall"]
        row = {
            "model": model,
            "precision": precision,
            "workers": workers,
            "aoi": aoi.stem,
            "area_km2": round(got["km2"], 1),
            "windows": got["windows"],
            "wall_s": round(wall, 1),
            "km2_per_h": round(got["km2"] / (wall / 3600), 1),
            "forward_s": round(got["forward"], 1),
            "read_s": round(got["read"], 1),
            "samples_s": round(got["samples"], 1),
            "assemble_s": round(got["assemble"], 1),
            "overhead": round(workers * wall / got["forward"] - 1, 3),
            "worker_rss_mib": [round(r / 2**20) for r in got["worker_rss"]],
            "client_rss_mib": round(got["client_rss"] / 2**20),
            "tile_h": round(TILE_KM2 / (got["km2"] / (wall / 3600)), 1),
        }
        rows.append(row)
        console.print(
            f"{model} {precision} {workers} worker(s): {row} ({time.perf_counter() - t0:.0f} s)"
        )
        kept = [r for r in done if r not in rows]  # of other configurations
        tmp = record.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"synthetic": True, "cpus": os.cpu_count(),
                                   "runs": kept + rows}, indent=1))  # fmt: skip
        os.replace(tmp, record)
    table = Table(title="sitsfusion map on a synthetic scene (random weights; synthetic data)")
    for key in rows[0]:
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    largest = max(r["area_km2"] for r in rows)
    for model in sorted({r["model"] for r in rows}):
        for precision in sorted({r["precision"] for r in rows}):
            same = (model, precision, largest)
            by = {
                r["workers"]: r for r in rows if (r["model"], r["precision"], r["area_km2"]) == same
            }
            if 1 in by and 2 in by:
                console.print(f"{model} {precision}: speed-up 1 -> 2 workers "
                              f"{by[1]['wall_s'] / by[2]['wall_s']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
