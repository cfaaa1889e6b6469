"""The bf16 / fp32 inference paths of ``sitsfusion.inference.precision``: same predictions as
the plain float32 model, and the fast path really taken (dtypes, chunked per-date encoder).

Inputs are synthetic PASTIS-R patches (``pastis_r``: simulated, 32 x 32) or random tensors; the
U-TAE has random weights (seed 0), which makes the agreement test a weak one: the benchmark
(``benchmarks/bench_bf16.py --ckpt``) also checks trained weights.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from paths import CONFIGS
from sitsfusion.config import load_config
from sitsfusion.data import transforms as T
from sitsfusion.data.readers.pastis import PASTIS
from sitsfusion.data.sample import Batch, collate
from sitsfusion.errors import ConfigError
from sitsfusion.inference.precision import FRAME_CHUNK, cast_floats, prepare_for_inference
from sitsfusion.models.builder import build_semantic_model
from sitsfusion.models.positional import DayPositionalEncoding
from sitsfusion.models.spatiotemporal.utae import UTAEEncoder
from sitsfusion.models.temporal.ltae import LightweightTemporalAttentionEncoder


@pytest.fixture(scope="module")
def batch(pastis_r: Path) -> Batch:
    """The 6 synthetic S2 patches ``[6, T, 10, 32, 32]``, z-scored, padded to the longest T."""
    norm = T.Normalize(PASTIS(pastis_r, modalities=["S2"]).statistics())
    ds = PASTIS(pastis_r, modalities=["S2"], target="semantic", transform=norm)
    return collate([ds[i] for i in range(len(ds))])


@pytest.fixture(scope="module")
def utae() -> nn.Module:
    """U-TAE S2-only as ``configs/garnot2021/semantic/s2.yaml`` builds it (random weights)."""
    torch.manual_seed(0)
    cfg = load_config(CONFIGS / "garnot2021" / "semantic" / "s2.yaml")
    return build_semantic_model(cfg.model, {"S2": 10}).eval()


def _logits(model: nn.Module, batch: Batch) -> Tensor:
    with torch.inference_mode():
        return model(batch).logits


def test_bf16_predictions_agree_with_fp32(utae: nn.Module, batch: Batch) -> None:
    reference = _logits(utae, batch)
    fast = prepare_for_inference(copy.deepcopy(utae), "bf16")
    logits = _logits(fast, batch)
    assert logits.dtype == torch.float32  # callers keep receiving float32
    assert logits.shape == reference.shape
    agreement = (logits.argmax(1) == reference.argmax(1)).float().mean().item()
    assert agreement >= 0.99
    assert not torch.equal(logits, reference)  # it really ran in bf16


def test_bf16_path_is_taken(utae: nn.Module, batch: Batch) -> None:
    """Weights and activations in bfloat16 (no autocast needed), the per-date encoder on
    chunks of at most FRAME_CHUNK frames; the L-TAE (and its day positional code) kept in
    float32 with its exact weights."""
    fast = prepare_for_inference(copy.deepcopy(utae), "bf16")
    ltae = next(m for m in fast.modules() if isinstance(m, LightweightTemporalAttentionEncoder))
    in_ltae = {id(p) for p in ltae.parameters()}
    assert {p.dtype for p in fast.parameters() if id(p) not in in_ltae} == {torch.bfloat16}
    original = next(m for m in utae.modules() if isinstance(m, type(ltae)))
    for kept, p in zip(ltae.state_dict().values(), original.state_dict().values(), strict=True):
        assert kept.dtype == p.dtype and torch.equal(kept, p)
    ltae_io: list[torch.dtype] = []
    ltae.inconv.register_forward_pre_hook(lambda m, args: ltae_io.append(args[0].dtype))
    ltae.register_forward_hook(lambda m, args, out: ltae_io.append(out[0].dtype))
    encoder = next(m for m in fast.modules() if isinstance(m, UTAEEncoder))
    assert encoder.frame_chunk == FRAME_CHUNK
    seen: list[tuple[torch.dtype, int]] = []
    first_conv = encoder.in_conv[0][0]
    handle = first_conv.register_forward_hook(
        lambda m, args, out: seen.append((out.dtype, out.shape[0]))
    )
    try:
        _logits(fast, batch)
    finally:
        handle.remove()
    n_frames = int((~batch.series["S2"].pad_mask).sum())
    assert {dtype for dtype, _ in seen} == {torch.bfloat16}
    assert max(n for _, n in seen) <= FRAME_CHUNK
    assert sum(n for _, n in seen) == n_frames
    assert ltae_io == [torch.float32, torch.bfloat16]  # float32 inside, bfloat16 out


def test_positional_code_stays_exact(utae: nn.Module) -> None:
    """bfloat16 frequencies would shift the phase of late days by about a radian."""
    before = [m.inv_freq.clone() for m in utae.modules() if isinstance(m, DayPositionalEncoding)]
    fast = prepare_for_inference(copy.deepcopy(utae), "bf16")
    after = [m.inv_freq for m in fast.modules() if isinstance(m, DayPositionalEncoding)]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_fp32_chunks_change_nothing(utae: nn.Module, batch: Batch) -> None:
    reference = _logits(utae, batch)
    for chunk in (1, 5):
        model = prepare_for_inference(copy.deepcopy(utae), "fp32", frame_chunk=chunk)
        assert {p.dtype for p in model.parameters()} == {torch.float32}
        torch.testing.assert_close(_logits(model, batch), reference, rtol=1e-4, atol=1e-4)


def test_training_mode_ignores_the_frame_chunk(utae: nn.Module, batch: Batch) -> None:
    model = prepare_for_inference(copy.deepcopy(utae), "fp32", frame_chunk=2)
    model.train()
    sizes: list[int] = []
    encoder = next(m for m in model.modules() if isinstance(m, UTAEEncoder))
    encoder.in_conv.register_forward_hook(lambda m, args, out: sizes.append(out.shape[0]))
    with torch.no_grad():
        model(batch)
    assert sizes == [int((~batch.series["S2"].pad_mask).sum())]


def test_prepare_twice_is_harmless(utae: nn.Module, batch: Batch) -> None:
    fast = prepare_for_inference(copy.deepcopy(utae), "bf16")
    once = _logits(fast, batch)
    again = prepare_for_inference(fast, "bf16")
    assert again is fast
    assert len(fast._forward_pre_hooks) == 1 and len(fast._forward_hooks) == 1
    assert torch.equal(_logits(fast, batch), once)


@pytest.mark.parametrize(
    ("precision", "chunk", "match"),
    [("fp16", 8, "precision must be one of fp32, bf16"), ("bf16", 0, "frame_chunk must be")],
)
def test_bad_arguments(utae: nn.Module, precision: str, chunk: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        prepare_for_inference(copy.deepcopy(utae), precision, frame_chunk=chunk)  # type: ignore[arg-type]


def test_no_way_back_from_bf16(utae: nn.Module) -> None:
    fast = prepare_for_inference(copy.deepcopy(utae), "bf16")
    with pytest.raises(ConfigError, match="cannot go back to fp32"):
        prepare_for_inference(fast, "fp32")


def test_cast_floats_walks_batches(batch: Batch) -> None:
    cast = cast_floats(batch, torch.bfloat16)
    series, original = cast.series["S2"], batch.series["S2"]
    assert series.values.dtype == torch.bfloat16
    assert series.dates.dtype == original.dates.dtype  # integers and masks untouched
    assert series.pad_mask.dtype == torch.bool
    assert cast.semantic is batch.semantic
    assert original.values.dtype == torch.float32  # the input batch is not changed
    nested = cast_floats(
        {"a": (torch.ones(2), [torch.zeros(1, dtype=torch.int64)])}, torch.bfloat16
    )
    assert nested["a"][0].dtype == torch.bfloat16 and nested["a"][1][0].dtype == torch.int64
