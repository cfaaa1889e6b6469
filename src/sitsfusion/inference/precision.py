"""The fastest inference path of a model at a given precision (CPU: oneDNN, AVX-512 bf16).

``prepare_for_inference(model, "bf16")`` turns a trained model into a bfloat16 inference model
that takes and returns the usual float32 tensors. Why not autocast: on the CPU, autocast casts
the float32 weights and activations to bfloat16 before every convolution (a quarter of the
U-TAE's bf16 time went into these copies, and the reflect padding ran on float32 tensors
before the cast); with the whole model in bfloat16 every memory-bound op (padding, GroupNorm,
ReLU, the skips' temporal weighting) moves half the bytes too. The per-date encoder of U-TAE
is also run a few frames at a time (:data:`FRAME_CHUNK`) so that its activations stay in the
cache: that speeds up float32 as well (measured in docs/benchmarks.md, "bf16 inference").

Kept in float32: the day positional code (bfloat16 keeps 8 bits of mantissa: the phase of
day 300 would be off by a radian) — its frequencies stay float32 and the code is computed in
float32 before being added to the bfloat16 features.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sitsfusion.errors import ConfigError
from sitsfusion.models.positional import DayPositionalEncoding
from sitsfusion.models.spatiotemporal.utae import UTAEEncoder

__all__ = ["FRAME_CHUNK", "PRECISIONS", "Precision", "cast_floats", "prepare_for_inference"]

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")

# Frames per chunk of U-TAE's per-date encoder at inference: 8 frames of 64 × 128 × 128
# bfloat16 maps are 17 MB; measured fastest of 1 / 2 / 4 / 8 / 16 / all (docs/benchmarks.md,
# "bf16 inference").
FRAME_CHUNK = 8

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


def _cast_inputs(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return cast_floats(args, torch.bfloat16)


def _outputs_to_float32(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
    return cast_floats(output, torch.float32)


def prepare_for_inference(
    model: nn.Module, precision: Precision = "fp32", frame_chunk: int | None = FRAME_CHUNK
) -> nn.Module:
    """Put ``model`` (in place) in eval mode on its fastest inference path and return it.

    * ``"bf16"``: parameters and buffers in bfloat16 (the day positional code's frequencies
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
    codes = [m for m in model.modules() if isinstance(m, DayPositionalEncoding)]
    kept = [m.inv_freq for m in codes]
    model.to(torch.bfloat16)
    for m, inv_freq in zip(codes, kept, strict=True):
        m.inv_freq = inv_freq
    model.register_forward_pre_hook(_cast_inputs)
    model.register_forward_hook(_outputs_to_float32)
    model._sitsfusion_precision = precision  # type: ignore[assignment]
    return model
