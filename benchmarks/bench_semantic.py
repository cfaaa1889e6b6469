"""Semantic segmentation models: speed at PASTIS size, and peak memory of a late-fusion step.

Speed (``--speed``): at 128 × 128, T = 43, 10 bands, for U-TAE and the other dense models:
inference patches/s (B = 2) and one training step (B = 2, forward + backward + Adam), fp32 and
bf16 autocast.

Memory (``--memory``): one training step of late-fusion U-TAE (S2 + S1A + S1D, T = 43 / 70 /
70 at 128 × 128, batch B) in a fresh subprocess per setting, peak resident memory from
``getrusage`` — with and without activation checkpointing of the per-date encoders and bf16
autocast. On the CPU the activations are the same tensors a GPU would hold.

Inputs are random tensors with realistic dates. Usage:
``python benchmarks/bench_semantic.py --speed --fusion --memory [--threads 2]``.

Fusion (``--fusion``): early, late and decision U-TAE at full PASTIS-R lengths, B = 2.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from timing import step_times

from sitsfusion.config import load_config
from sitsfusion.data.sample import Sample, TimeSeries, collate
from sitsfusion.losses import build_loss
from sitsfusion.models.builder import build_semantic_model, count_parameters

SEMANTIC = Path(__file__).parents[1] / "configs" / "garnot2021" / "semantic"
LENGTHS = {"S2": (43, 10), "S1A": (70, 3), "S1D": (70, 3)}


def make_batch(mods: dict[str, tuple[int, int]], b: int, size: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(b):
        series = {}
        for m, (t, c) in mods.items():
            dates = torch.sort(torch.randperm(400, generator=gen)[:t]).values + 10
            series[m] = TimeSeries(torch.randn(t, c, size, size, generator=gen), dates)
        samples.append(Sample(series, semantic=torch.randint(0, 20, (size, size), generator=gen)))
    return collate(samples)


_CRITERION = build_loss("cross_entropy", num_classes=20)


def semantic_loss(out, batch):
    """Cross-entropy of the (possibly bf16) logits against the semantic maps."""
    return _CRITERION(out.logits.float(), batch.semantic)


def dense_models(size: int) -> dict[str, tuple[torch.nn.Module, dict[str, tuple[int, int]]]]:
    """The models timed at T = 43, 10 bands (S2): U-TAE and the recurrent / U-Net baselines."""
    from sitsfusion.models.fusion import LateFusion
    from sitsfusion.models.spatiotemporal.convlstm import ConvLSTMSegmenter
    from sitsfusion.models.spatiotemporal.convstar import ConvSTARSegmenter

    s2 = {"S2": (43, 10)}
    cfg = load_config(SEMANTIC / "s2.yaml")
    models = {"U-TAE": (build_semantic_model(cfg.model, {"S2": 10}), s2)}
    lstm = ConvLSTMSegmenter(10, 20, hidden=64)
    models["ConvLSTM"] = (LateFusion({"S2": lstm.encoder}, lstm.decoder), s2)
    star = ConvSTARSegmenter(10, 20)
    models["ConvSTAR"] = (LateFusion({"S2": star.encoder}, star.decoder), s2)
    return models


def speed(args: argparse.Namespace, console: Console) -> dict:
    results = {}
    for name, (model, mods) in dense_models(args.size).items():
        batch = make_batch(mods, 2, args.size)
        row = {"params": count_parameters(model)}
        for precision in ("fp32", "bf16"):
            t_inf, t_train = step_times(
                model, batch, semantic_loss, args.repeats, bf16=precision == "bf16"
            )
            row[f"{precision}_patches_per_s"] = 2 / t_inf
            row[f"{precision}_train_step_s"] = t_train
        results[name] = row
        console.print(f"{name}: {row}")
    table = Table(title=f"dense models, 128×128, T=43, 10 bands, {args.threads} threads")
    for col in ("model", "params", "inference patches/s fp32 / bf16", "train step B=2 fp32 / bf16"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['params']:,}",
            f"{r['fp32_patches_per_s']:.3f} / {r['bf16_patches_per_s']:.3f}",
            f"{r['fp32_train_step_s']:.1f} s / {r['bf16_train_step_s']:.1f} s",
        )
    console.print(table)
    return results


def fusion_speed(args: argparse.Namespace, console: Console) -> dict:
    """Early / late / decision U-TAE at full PASTIS-R lengths (43 / 70 / 70), B = 2, bf16 and
    activation checkpointing (what fits this machine for every variant)."""
    results = {}
    for name in ("early", "late_td", "decision_td"):
        cfg = load_config(
            SEMANTIC / f"{name}.yaml", ["model.encoder={name: utae, checkpoint_dates: true}"]
        )
        model = build_semantic_model(cfg.model, {m: c for m, (_, c) in LENGTHS.items()})
        if cfg.model.fusion == "early":  # S1 resampled onto the 43 S2 dates
            mods = {"S2": (43, 10), "S1A": (43, 3), "S1D": (43, 3)}
            batch = make_batch(mods, 2, args.size)
            s2 = batch.series["S2"]
            batch = type(batch)(
                {m: type(s2)(ps.values, s2.dates, s2.pad_mask) for m, ps in batch.series.items()},
                semantic=batch.semantic,
            )
        else:
            batch = make_batch(LENGTHS, 2, args.size)
        t_inf, t_train = step_times(model, batch, semantic_loss, 1, bf16=True)
        results[name] = {
            "params": count_parameters(model),
            "patches_per_s": 2 / t_inf,
            "train_step_s": t_train,
        }
        console.print(f"{name}: {results[name]}")
    table = Table(title="U-TAE fusion, T = 43 / 70 / 70, 128×128, B = 2, bf16 + checkpointing")
    for col in ("fusion", "params", "inference patches/s", "train step"):
        table.add_column(col, justify="left" if col == "fusion" else "right")
    for name, r in results.items():
        table.add_row(
            name, f"{r['params']:,}", f"{r['patches_per_s']:.3f}", f"{r['train_step_s']:.1f} s"
        )
    console.print(table)
    return results


def _peak_rss_gb() -> float:
    """Peak resident memory of this process (``VmHWM``; unlike ``ru_maxrss`` it is not
    inherited from the parent across ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20  # kB -> GiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _memory_child(batch_size: int, checkpoint: bool, bf16: bool, size: int) -> None:
    """One late-fusion U-TAE training step; prints peak RSS (GB) and step time as JSON."""
    overrides = [f"model.encoder={{name: utae, checkpoint_dates: {str(checkpoint).lower()}}}"]
    cfg = load_config(SEMANTIC / "late_td.yaml", overrides)
    model = build_semantic_model(cfg.model, {m: c for m, (_, c) in LENGTHS.items()})
    batch = make_batch(LENGTHS, batch_size, size)
    criterion = build_loss("cross_entropy", num_classes=20)
    base = _peak_rss_gb()
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(batch)
        loss = criterion(out.logits.float(), batch.semantic)
    loss.backward()
    seconds = time.perf_counter() - t0
    print(json.dumps({"peak_gb": _peak_rss_gb(), "before_step_gb": base, "s": seconds}))


def memory(args: argparse.Namespace, console: Console) -> dict:
    # B = 1 in every setting; larger batches only with checkpointing: without it, B = 4 needs
    # about 4x the B = 1 activations, more than this 24 GB machine has (extrapolated, below).
    settings = [(1, ckpt, bf16) for ckpt, bf16 in ((False, False), (True, False), (True, True))]
    settings += [(b, True, bf16) for b in args.memory_batches if b > 1 for bf16 in (False, True)]
    results = {}
    table = Table(title="late-fusion U-TAE training step, T = 43 + 70 + 70, 128×128")
    for col in ("batch", "checkpointing", "bf16", "peak memory", "step"):
        table.add_column(col, justify="right")
    for b, ckpt, bf16 in settings:
        cmd = [sys.executable, __file__, "--child", str(b), str(int(ckpt)), str(int(bf16))]
        cmd += ["--size", str(args.size), "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        key = f"B{b}_ckpt{int(ckpt)}_bf16{int(bf16)}"
        if proc.returncode != 0:
            results[key] = {"error": proc.stderr.strip().splitlines()[-1:] or ["killed"]}
            table.add_row(str(b), str(ckpt), str(bf16), "did not fit (killed)", "-")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results[key] = r
        table.add_row(str(b), str(ckpt), str(bf16), f"{r['peak_gb']:.1f} GiB", f"{r['s']:.0f} s")
        console.print(f"{key}: {r}")
    console.print(table)
    one = results.get("B1_ckpt0_bf160", {})
    if "peak_gb" in one:
        activations = one["peak_gb"] - one["before_step_gb"]
        for b in args.memory_batches:
            if b > 1:
                estimate = one["before_step_gb"] + b * activations
                results[f"B{b}_ckpt0_bf160_extrapolated"] = {"peak_gb": estimate}
                console.print(f"B={b} without checkpointing (extrapolated): {estimate:.1f} GB")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--fusion", action="store_true")
    parser.add_argument("--memory-batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs=3, type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child is not None:
        b, ckpt, bf16 = args.child
        _memory_child(b, bool(ckpt), bool(bf16), args.size)
        return
    console = Console()
    out = {}
    if args.speed:
        out["speed"] = speed(args, console)
    if args.fusion:
        out["fusion"] = fusion_speed(args, console)
    if args.memory:
        out["memory"] = memory(args, console)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
