"""The fastest inference path of a model at a given precision (CPU: oneDNN, AVX-512 bf16).

``prepare_for_inference(model, "bf16")`` turns a trained model into a bfloat16 inference model
that takes and returns the usual float32 tensors. Why not autocast: on the CPU, autocast casts
the float32 weights and activations to bfloat16 before every convolution (a quarter of the
U-TAE's bf16 time went into these copies, and the reflect padding ran on float32 tensors
before the cast); with the whole model in bfloat16 every memory-bound op (padding, GroupNorm,
ReLU, the skips' temporal weighting) moves half the bytes too. The per-date encoder of U-TAE
is also run a few frames at a time (:data:`FRAME_CHUNK`) so that its activations stay in the
cache: that speeds up float32 as well (measured in docs/benchmarks.md, "bf16 inference").

Kept in float32 (:data:`KEEP_FLOAT32`): the L-TAE — its GroupNorm, attention softmax and day
positional code run on the lowest-resolution maps only (about 3 % of the bf16 time); in bf16
they flipped about twice as many pixels of a trained U-TAE (0.75 % instead of 0.45 %) — and
the day positional code wherever it is used (bfloat16 keeps 8 bits of mantissa: the phase of
day 300 would be off by about a radian).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import partial
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sitsfusion.errors import ConfigError
from sitsfusion.models.positional import DayPositionalEncoding
from sitsfusion.models.spatiotemporal.utae import UTAEEncoder
from sitsfusion.models.temporal.ltae import LightweightTemporalAttentionEncoder

__all__ = [
    "FRAME_CHUNK",
    "KEEP_FLOAT32",
    "PRECISIONS",
    "Precision",
    "cast_floats",
    "prepare_for_inference",
]

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")

# Frames per chunk of U-TAE's per-date encoder at inference: 8 frames of 64 × 128 × 128
# bfloat16 maps are 17 MB; measured fastest of 1 / 2 / 4 / 8 / 16 / all (docs/benchmarks.md,
# "bf16 inference").
FRAME_CHUNK = 8

# Modules that stay float32 in a bf16 model (inputs cast up, outputs cast down), see above.
KEEP_FLOAT32: tuple[type[nn.Module], ...] = (
    LightweightTemporalAttentionEncoder,
    DayPositionalEncoding,
)

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def cast_floats(obj: Any, dtype: torch.dtype) -> Any:
    """``obj`` with every floating-point tensor cast to ``dtype``: tensors, (named) tuples,
    lists, mappings and dataclasses (:class:`~sitsfusion.data.sample.Batch`,
    :class:`~sitsfusion.data.sample.PaddedSeries`) are walked; anything else is returned as is.
    """
    if isinstance(obj, Tensor):
        return obj.to(dtype) if obj.is_floating_point() and obj.dtype != dtype else obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: cast_floats(getattr(obj, f.name), dtype)
            for f in dataclasses.fields(obj)
            if f.init
        }
        return dataclasses.replace(obj, **changes)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # NamedTuple (FusionOutput)
        return type(obj)(*(cast_floats(v, dtype) for v in obj))
    if isinstance(obj, list | tuple):
        return type(obj)(cast_floats(v, dtype) for v in obj)
    if isinstance(obj, Mapping):
        return {k: cast_floats(v, dtype) for k, v in obj.items()}
    return obj


def _cast_inputs(module: nn.Module, args: tuple[Any, ...], *, dtype: torch.dtype) -> Any:
    return cast_floats(args, dtype)


def _cast_output(
    module: nn.Module, args: tuple[Any, ...], output: Any, *, dtype: torch.dtype
) -> Any:
    return cast_floats(output, dtype)


def _cast_at_borders(module: nn.Module, inputs: torch.dtype, outputs: torch.dtype) -> None:
    """Cast the floating-point inputs of every call of ``module`` to ``inputs`` and its
    outputs to ``outputs`` (forward hooks; picklable)."""
    module.register_forward_pre_hook(partial(_cast_inputs, dtype=inputs))
    module.register_forward_hook(partial(_cast_output, dtype=outputs))


def _kept_float32(model: nn.Module) -> list[nn.Module]:
    """The outermost submodules of ``model`` of a :data:`KEEP_FLOAT32` type."""
    kept: list[nn.Module] = []
    inside: set[int] = set()
    for m in model.modules():  # parents before children
        if id(m) in inside:
            continue
        if isinstance(m, KEEP_FLOAT32):
            kept.append(m)
            inside.update(id(c) for c in m.modules())
    return kept


def _to_bf16_model(model: nn.Module) -> None:
    """``model`` in bfloat16 except its :data:`KEEP_FLOAT32` parts (their exact float32
    weights and buffers, bfloat16 in and out); float32 in and out."""
    kept = _kept_float32(model)
    saved = [[t.detach().clone() for t in (*m.parameters(), *m.buffers())] for m in kept]
    model.to(torch.bfloat16)
    with torch.no_grad():
        for m, tensors in zip(kept, saved, strict=True):
            m.float()
            for t, original in zip((*m.parameters(), *m.buffers()), tensors, strict=True):
                t.copy_(original)
            _cast_at_borders(m, torch.float32, torch.bfloat16)
    _cast_at_borders(model, torch.bfloat16, torch.float32)


def prepare_for_inference(
    model: nn.Module, precision: Precision = "fp32", frame_chunk: int | None = FRAME_CHUNK
) -> nn.Module:
    """Put ``model`` (in place) in eval mode on its fastest inference path and return it.

    * ``"bf16"``: parameters and buffers in bfloat16 (those of :data:`KEEP_FLOAT32` modules
      stay float32); the floating-point inputs of every call are cast to bfloat16 and the
      outputs (logits ``[B, K, H, W]``, ...) back to float32, so callers keep passing and
      receiving float32. Run it under ``torch.inference_mode()``, without autocast.
    * ``"fp32"``: the weights are left as they are.
    * both: every U-TAE per-date encoder runs ``frame_chunk`` frames at a time in eval mode
      (``None``: all frames at once, as in training). Exact: GroupNorm works per frame and
      BatchNorm uses its running statistics in eval mode.

    Calling it again with the same precision changes nothing; the model should not be trained
    afterwards (bfloat16 weights).

    Raises:
        ConfigError: an unknown precision, a ``frame_chunk`` below 1, or a bf16 model asked
            back to fp32.
    """
    if precision not in _DTYPES:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if frame_chunk is not None and frame_chunk < 1:
        raise ConfigError(f"frame_chunk must be >= 1 (or None), got {frame_chunk}")
    model.eval()
    for m in model.modules():
        if isinstance(m, UTAEEncoder):
            m.frame_chunk = frame_chunk
    current = getattr(model, "_sitsfusion_precision", "fp32")
    if precision == current:
        return model
    if current == "bf16":
        raise ConfigError("a model prepared for bf16 inference cannot go back to fp32")
    _to_bf16_model(model)
    model._sitsfusion_precision = precision  # type: ignore[assignment]
    return model
