"""Parcel classifiers: inference and training throughput at the papers' sizes.

B = 128 parcels, S = 64 pixels, T ≈ 43 S2 dates (10 bands) and ≈ 70 dates per S1 orbit
(3 channels), PSE + L-TAE (seed 001 configs). For every fusion level: inference parcels/s
(eval, no grad) and training parcels/s (forward + backward + Adam step); for early fusion, the
share of a training step (data preparation included) spent resampling S1 onto the S2 dates;
mid vs late fusion inference speed (seed 001 Sec. 4.3 reports mid fusion 20 % faster).

Model inputs are random tensors with realistic irregular dates (the speed does not depend on
the values); the loading cost is measured on a small simulated (synthetic) PASTIS-R dataset.
Usage: ``python benchmarks/bench_parcel.py [--threads 2] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from timing import median_time, step_times

from sitsfusion.config import load_config
from sitsfusion.data import transforms as T
from sitsfusion.data.readers.pastis import PASTISParcels
from sitsfusion.data.sample import Sample, TimeSeries, collate
from sitsfusion.losses import build_loss
from sitsfusion.models.builder import build_parcel_model, count_parameters
from sitsfusion.models.fusion import auxiliary_loss
from sitsfusion.simulate import simulate_pastis

CONFIGS = Path(__file__).parents[1] / "configs" / "garnot2021" / "parcel"
RUNS = {
    "S2 only": ("s2", ("S2",)),
    "early": ("early", ("S2", "S1A", "S1D")),
    "mid": ("mid", ("S2", "S1A", "S1D")),
    "mid + aux": ("mid_aux", ("S2", "S1A", "S1D")),
    "late": ("late", ("S2", "S1A", "S1D")),
    "late + aux": ("late_aux", ("S2", "S1A", "S1D")),
    "decision": ("decision", ("S2", "S1A", "S1D")),
}
SHAPES = {"S2": (43, 10), "S1A": (70, 3), "S1D": (70, 3)}


def _dates(t: int, gen: torch.Generator) -> torch.Tensor:
    return torch.sort(torch.randperm(420, generator=gen)[:t]).values + 20


def make_samples(b: int, s: int, gen: torch.Generator) -> list[Sample]:
    out = []
    for i in range(b):
        series = {}
        for m, (t, c) in SHAPES.items():
            t_i = t - int(torch.randint(0, 4, (1,), generator=gen))  # T varies a little
            series[m] = TimeSeries(torch.randn(t_i, c, s, generator=gen), _dates(t_i, gen))
        out.append(Sample(series, label=i % 18))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--pixels", type=int, default=64)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sitsfusion-bench"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    samples = make_samples(args.batch, args.pixels, gen)
    aligned = [
        T.resample(T.resample(x, "S1A", "S2"), "S1D", "S2") for x in samples
    ]  # early fusion's input
    results = {}
    for label, (config, mods) in RUNS.items():
        cfg = load_config(CONFIGS / f"{config}.yaml")
        model = build_parcel_model(cfg.model, {m: SHAPES[m][1] for m in mods})
        data = aligned if cfg.model.fusion == "early" else samples
        batch = collate([x.replace(series={m: x[m] for m in mods}) for x in data])
        criterion = build_loss("cross_entropy", num_classes=18)

        def loss_fn(out, batch, cfg=cfg, criterion=criterion):
            loss = criterion(out.logits, batch.label)
            if cfg.model.auxiliary > 0:
                loss = loss + auxiliary_loss(out, batch.label, criterion, cfg.model.auxiliary)
            return loss

        t_inf, t_train = step_times(model, batch, loss_fn, args.repeats)
        results[label] = {
            "params": count_parameters(model),
            "inference_parcels_per_s": args.batch / t_inf,
            "training_parcels_per_s": args.batch / t_train,
            "train_step_s": t_train,
        }

    # early fusion: resampling S1A and S1D onto the S2 dates, (a) as a transform on the
    # batch's samples, (b) on load in the reader (PASTIS(resample=...)) on simulated files
    def resample_batch() -> None:
        for x in samples:
            T.resample(T.resample(x, "S1A", "S2"), "S1D", "S2")

    t_res = median_time(resample_batch, args.repeats)
    early_step = results["early"]["train_step_s"]
    root = args.workdir / "pastis_r_parcels"
    if root.exists():
        shutil.rmtree(root)
    simulate_pastis(root, patches=8, size=128, seed=0)
    mods = ("S2", "S1A", "S1D")
    plain = PASTISParcels(root, modalities=mods, n_pixels=args.pixels)
    fused = PASTISParcels(
        root,
        modalities=mods,
        n_pixels=args.pixels,
        resample={"S1A": "S2", "S1D": "S2"},
    )
    index = list(range(min(args.batch, len(plain))))
    t_load = median_time(lambda: [plain[i] for i in index], args.repeats) * args.batch / len(index)
    t_load_fused = (
        median_time(lambda: [fused[i] for i in index], args.repeats) * args.batch / len(index)
    )
    share = t_res / (t_load + t_res + early_step)
    share_on_load = (t_load_fused - t_load) / (t_load_fused + early_step)
    mid_vs_late = (
        results["mid"]["inference_parcels_per_s"] / results["late"]["inference_parcels_per_s"]
    )

    console = Console()
    table = Table(
        title=f"PSE + L-TAE, B={args.batch}, S={args.pixels}, T=43/70/70, {args.threads} threads"
    )
    for col in ("model", "parameters", "inference parcels/s", "training parcels/s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for label, r in results.items():
        table.add_row(
            label,
            f"{r['params']:,}",
            f"{r['inference_parcels_per_s']:.0f}",
            f"{r['training_parcels_per_s']:.0f}",
        )
    console.print(table)
    console.print(
        f"early fusion, one step of {args.batch} parcels: loading {1e3 * t_load:.0f} ms, "
        f"model step {1e3 * early_step:.0f} ms; resampling S1A+S1D as a transform "
        f"{1e3 * t_res:.1f} ms = {100 * share:.1f} % of the step with its data preparation; "
        f"on load (PASTIS(resample=...)) {1e3 * (t_load_fused - t_load):+.1f} ms = "
        f"{100 * share_on_load:+.1f} %"
    )
    console.print(f"mid vs late fusion inference speed: {mid_vs_late:.2f}x")
    if args.json:
        summary = {
            "runs": results,
            "load_s": t_load,
            "resample_transform_s": t_res,
            "resample_share": share,
            "resample_on_load_share": share_on_load,
            "mid_over_late": mid_vs_late,
        }
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
